package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
)

// decodeObject parses a body of a compatible API: one JSON object whose
// keys are read as spelled. Unknown keys are ignored, as Piston and
// codapi ignore them, but a key given twice is refused as on /execute
// (a proxy or a log may have seen the other value); so is a file name
// given twice in the object under the key nested, when nested is set.
func decodeObject(body []byte, nested string) (map[string]json.RawMessage, *apiError) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, badJSON("request body is empty; send a JSON object")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return nil, decodeError(err, nil)
	}
	if fields == nil {
		return nil, badJSON("request body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if _, err := dec.Token(); err != nil { // the opening brace
		return nil, badJSON("malformed JSON")
	}
	seen := make(map[string]bool, len(fields))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, badJSON("malformed JSON")
		}
		key, _ := tok.(string)
		if seen[key] {
			return nil, duplicateKey("duplicate_key", shorten(key), "field %s is given more than once", quote(key))
		}
		seen[key] = true
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, badJSON("malformed JSON")
		}
		if key == nested && nested != "" && value[0] == '{' {
			if e := checkFileKeys(json.NewDecoder(bytes.NewReader(value))); e != nil {
				return nil, e
			}
		}
	}
	return fields, nil
}

// jsonString is raw as a string, if it is a JSON string.
func jsonString(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// isNull reports whether a field is absent or null.
func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

// asBadRequest turns a 422 into the 400 that Piston and codapi answer to
// every bad input; any other status stands.
func asBadRequest(e *apiError) *apiError {
	if e != nil && e.status == http.StatusUnprocessableEntity {
		c := *e
		c.status = http.StatusBadRequest
		return &c
	}
	return e
}
