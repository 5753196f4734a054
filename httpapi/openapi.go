package httpapi

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
)

// openAPIDocument is GET /openapi.json: this API as an OpenAPI 3.1
// document, written by hand and kept true by openapi_test.go, which
// checks it against routes(), requestFields, the response types and
// every error code the package constructs. Its info.version is a
// placeholder that [withVersion] replaces.
//
//go:embed openapi.json
var openAPIDocument []byte

// withVersion returns doc with info.version set to version (the
// daemon's), compacted. Only the top level and info are decoded: every
// other part is kept as written, key order included.
func withVersion(doc []byte, version string) ([]byte, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(doc, &top); err != nil {
		return nil, fmt.Errorf("openapi.json: %w", err)
	}
	var info map[string]json.RawMessage
	if err := json.Unmarshal(top["info"], &info); err != nil {
		return nil, fmt.Errorf("openapi.json info: %w", err)
	}
	v, err := encode(version)
	if err != nil {
		return nil, err
	}
	info["version"] = v
	if top["info"], err = encode(info); err != nil {
		return nil, err
	}
	return encode(top)
}

// encode is json.Marshal without HTML escaping: the document's prose
// keeps its "<key>" readable.
func encode(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// openAPIBody is the document this server serves: the embedded one with
// Options.Version, or "dev" when that is empty (info.version is
// required). The embedded document is valid JSON, as openapi_test.go
// checks, so an error here is a build that skipped the tests: New
// panics, as regexp.MustCompile does on a constant.
func openAPIBody(version string) []byte {
	if version == "" {
		version = "dev"
	}
	body, err := withVersion(openAPIDocument, version)
	if err != nil {
		panic(err)
	}
	return append(body, '\n')
}

// GET /openapi.json
func (s *server) openAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(s.openAPIBody)
}
