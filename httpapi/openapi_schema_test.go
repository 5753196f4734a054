package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// What openapi_test.go needs to read the embedded OpenAPI document:
// JSON pointers, operations, a checker for the JSON Schema keywords the
// document uses, and a comparison of Go types with schemas.

// openAPIDoc is the embedded document, decoded.
type openAPIDoc struct {
	root map[string]any
}

// loadOpenAPI decodes the embedded document: exactly one JSON object.
func loadOpenAPI(t *testing.T) openAPIDoc {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(openAPIDocument))
	var root map[string]any
	if err := dec.Decode(&root); err != nil {
		t.Fatalf("openapi.json is not a JSON object: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		t.Fatal("openapi.json has data after its object")
	}
	return openAPIDoc{root: root}
}

// object walks keys down from v; nil when a step is missing or not an
// object.
func object(v any, keys ...string) map[string]any {
	m, _ := v.(map[string]any)
	for _, k := range keys {
		m, _ = m[k].(map[string]any)
	}
	return m
}

// stringList returns v as a list of strings (nil when it is not one).
func stringList(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, e := range list {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// pointer resolves a local reference ("#/components/schemas/Timing").
func (d openAPIDoc) pointer(ref string) (map[string]any, error) {
	path, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, fmt.Errorf("reference %q is not local", ref)
	}
	var node any = d.root
	for _, step := range strings.Split(path, "/") {
		step = strings.NewReplacer("~1", "/", "~0", "~").Replace(step)
		m, _ := node.(map[string]any)
		next, ok := m[step]
		if !ok {
			return nil, fmt.Errorf("reference %q does not resolve", ref)
		}
		node = next
	}
	m, ok := node.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("reference %q is not an object", ref)
	}
	return m, nil
}

// deref follows node's $ref, if any, to what it names (for Reference
// Objects, and for schemas whose only keyword is $ref).
func (d openAPIDoc) deref(t *testing.T, node map[string]any) map[string]any {
	t.Helper()
	for range 10 {
		ref, ok := node["$ref"].(string)
		if !ok {
			return node
		}
		next, err := d.pointer(ref)
		if err != nil {
			t.Error(err)
			return nil
		}
		node = next
	}
	t.Errorf("reference cycle at %v", node["$ref"])
	return nil
}

// operation is one method of one path of the document.
type operation struct {
	method, path string // "GET", "/execute"
	op           map[string]any
}

func (o operation) String() string { return o.method + " " + o.path }

// httpMethods are the operations a Path Item Object can hold.
var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// operations lists the document's operations, sorted.
func (d openAPIDoc) operations() []operation {
	var ops []operation
	for path, item := range object(d.root, "paths") {
		for _, m := range httpMethods {
			if op := object(item, m); op != nil {
				ops = append(ops, operation{method: strings.ToUpper(m), path: path, op: op})
			}
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].String() < ops[j].String() })
	return ops
}

// response is the operation's documented response for status, resolved;
// nil when it has none.
func (d openAPIDoc) response(t *testing.T, op operation, status int) map[string]any {
	t.Helper()
	r := object(op.op, "responses", strconv.Itoa(status))
	if r == nil {
		return nil
	}
	return d.deref(t, r)
}

// errorCodes are the codes an error response documents: the enum that
// narrows error.code in its JSON schema.
func errorCodes(response map[string]any) []string {
	schema := object(response, "content", "application/json", "schema")
	return stringList(object(schema, "properties", "error", "properties", "code")["enum"])
}

// annotations are schema keywords that assert nothing.
var annotations = []string{"description", "examples", "title", "default", "deprecated", "readOnly", "writeOnly", "$comment"}

// conform returns where v breaks schema. It knows the keywords the
// document uses; any other keyword is reported, so that a new one extends
// this checker instead of passing unchecked.
func (d openAPIDoc) conform(where string, schema any, v any) []string {
	var errs []string
	d.conformTo(&errs, where, schema, v)
	return errs
}

func (d openAPIDoc) conformTo(errs *[]string, where string, schema any, v any) {
	fail := func(format string, args ...any) {
		*errs = append(*errs, where+": "+fmt.Sprintf(format, args...))
	}
	if b, ok := schema.(bool); ok {
		if !b {
			fail("no value is allowed here")
		}
		return
	}
	s, ok := schema.(map[string]any)
	if !ok {
		fail("schema is %T, not an object or a boolean", schema)
		return
	}
	obj, isObject := v.(map[string]any)
	for _, kw := range sortedKeys(s) {
		arg := s[kw]
		switch kw {
		case "$ref":
			target, err := d.pointer(arg.(string))
			if err != nil {
				fail("%v", err)
				continue
			}
			d.conformTo(errs, where, target, v)
		case "type":
			allowed := stringList(arg)
			if one, ok := arg.(string); ok {
				allowed = []string{one}
			}
			if !slices.ContainsFunc(jsonTypes(v), func(t string) bool { return slices.Contains(allowed, t) }) {
				fail("%s, want %s", describe(v), strings.Join(allowed, " or "))
			}
		case "enum":
			if !slices.ContainsFunc(arg.([]any), func(e any) bool { return reflect.DeepEqual(e, v) }) {
				fail("%s is not one of %v", describe(v), arg)
			}
		case "const":
			if !reflect.DeepEqual(arg, v) {
				fail("%s, want %v", describe(v), arg)
			}
		case "properties":
			if !isObject {
				continue
			}
			props := arg.(map[string]any)
			// A schema that describes a whole object (it says which
			// fields are required) documents every field; one that only
			// narrows some fields next to a $ref does not.
			_, open := s["additionalProperties"]
			open = open || s["required"] == nil
			for _, k := range sortedKeys(obj) {
				if p, ok := props[k]; ok {
					d.conformTo(errs, where+"."+k, p, obj[k])
				} else if !open {
					fail("field %q is not documented", k)
				}
			}
		case "additionalProperties":
			if !isObject {
				continue
			}
			props := object(s, "properties")
			for _, k := range sortedKeys(obj) {
				if _, ok := props[k]; !ok {
					d.conformTo(errs, where+"["+strconv.Quote(k)+"]", arg, obj[k])
				}
			}
		case "propertyNames":
			for _, k := range sortedKeys(obj) {
				d.conformTo(errs, where+" key "+strconv.Quote(k), arg, k)
			}
		case "required":
			for _, k := range stringList(arg) {
				if _, ok := obj[k]; isObject && !ok {
					fail("required field %q is missing", k)
				}
			}
		case "anyOf":
			var why []string
			for i, branch := range arg.([]any) {
				e := d.conform(fmt.Sprintf("%s (anyOf %d)", where, i), branch, v)
				if len(e) == 0 {
					why = nil
					break
				}
				why = append(why, e...)
			}
			*errs = append(*errs, why...)
		case "items":
			list, _ := v.([]any)
			for i, e := range list {
				d.conformTo(errs, fmt.Sprintf("%s[%d]", where, i), arg, e)
			}
		case "minimum", "maximum":
			n, ok := v.(float64)
			if ok && (kw == "minimum" && n < arg.(float64) || kw == "maximum" && n > arg.(float64)) {
				fail("%v is out of %s %v", n, kw, arg)
			}
		case "minItems":
			if list, ok := v.([]any); ok && float64(len(list)) < arg.(float64) {
				fail("%d items, want at least %v", len(list), arg)
			}
		case "minLength", "maxLength":
			str, ok := v.(string)
			n := float64(utf8.RuneCountInString(str))
			if ok && (kw == "minLength" && n < arg.(float64) || kw == "maxLength" && n > arg.(float64)) {
				fail("%q is out of %s %v", str, kw, arg)
			}
		case "pattern":
			str, ok := v.(string)
			re, err := regexp.Compile(arg.(string))
			// ECMA-262 patterns RE2 cannot compile (lookaheads) are left to
			// the OpenAPI validator of test/clients.
			if ok && err == nil && !re.MatchString(str) {
				fail("%q does not match %s", str, arg)
			}
		case "format":
			str, ok := v.(string)
			if !ok {
				continue
			}
			switch arg {
			case "uuid":
				if _, err := uuid.Parse(str); err != nil {
					fail("%q is not a uuid", str)
				}
			case "date-time":
				if _, err := time.Parse(time.RFC3339Nano, str); err != nil {
					fail("%q is not a date-time", str)
				}
			default:
				fail("format %q is not known to this check", arg)
			}
		default:
			if !slices.Contains(annotations, kw) {
				fail("schema keyword %q is not known to this check; teach it conform", kw)
			}
		}
	}
}

// jsonTypes are the JSON Schema types v (from encoding/json) has: an
// integral number is both "integer" and "number".
func jsonTypes(v any) []string {
	switch x := v.(type) {
	case nil:
		return []string{"null"}
	case bool:
		return []string{"boolean"}
	case string:
		return []string{"string"}
	case float64:
		if x == math.Trunc(x) {
			return []string{"integer", "number"}
		}
		return []string{"number"}
	case []any:
		return []string{"array"}
	case map[string]any:
		return []string{"object"}
	}
	return nil
}

func describe(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 60 {
		b = append(b[:57], "..."...)
	}
	return fmt.Sprintf("%s (%s)", b, strings.Join(jsonTypes(v), "/"))
}

// schemaTypes are the types a schema allows ("type" as a string or a
// list), after its $ref.
func (d openAPIDoc) schemaTypes(t *testing.T, schema map[string]any) []string {
	s := d.deref(t, schema)
	if one, ok := s["type"].(string); ok {
		return []string{one}
	}
	return stringList(s["type"])
}

var rawMessageType = reflect.TypeFor[json.RawMessage]()

// checkGoType compares the Go type whose JSON a body is with its schema:
// a struct's properties are exactly its json names, each field has the
// schema's JSON type, only a pointer is nullable in a response, and
// nested structs, maps and slices are compared in turn. In a response
// (not a request) the required properties are exactly the fields without
// omitempty.
func (d openAPIDoc) checkGoType(t *testing.T, where string, typ reflect.Type, schema map[string]any, response bool) {
	t.Helper()
	if typ == rawMessageType { // parsed by hand (timeout), any JSON
		return
	}
	nullable := typ.Kind() == reflect.Pointer
	if nullable {
		typ = typ.Elem()
	}
	s := d.deref(t, schema)
	if s == nil {
		t.Errorf("%s: no schema", where)
		return
	}
	types := d.schemaTypes(t, s)
	var want string
	switch typ.Kind() {
	case reflect.String:
		want = "string"
	case reflect.Bool:
		want = "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		want = "integer"
	case reflect.Float32, reflect.Float64:
		want = "number"
	case reflect.Slice, reflect.Array:
		want, nullable = "array", nullable || slices.Contains(types, "null")
	case reflect.Map:
		want, nullable = "object", nullable || slices.Contains(types, "null")
	case reflect.Struct:
		want = "object"
	default:
		t.Errorf("%s: Go type %s is not known to this check", where, typ)
		return
	}
	if !slices.Contains(types, want) {
		t.Errorf("%s: Go type %s is JSON %s, the schema says %v", where, typ, want, types)
	}
	if nullable && response && !slices.Contains(types, "null") {
		t.Errorf("%s: Go type *%s can be null, the schema says %v", where, typ, types)
	}
	if !nullable && response && slices.Contains(types, "null") {
		t.Errorf("%s: Go type %s is never null, the schema says %v", where, typ, types)
	}
	switch typ.Kind() {
	case reflect.Slice, reflect.Array:
		d.checkGoType(t, where+"[]", typ.Elem(), object(s, "items"), response)
	case reflect.Map:
		if extra := object(s, "additionalProperties"); extra != nil {
			d.checkGoType(t, where+"{}", typ.Elem(), extra, response)
		} else {
			t.Errorf("%s: a map, but the schema has no additionalProperties schema", where)
		}
	case reflect.Struct:
		d.checkStruct(t, where, typ, s, response)
	}
}

// checkStruct compares a struct's json names with the schema's properties.
func (d openAPIDoc) checkStruct(t *testing.T, where string, typ reflect.Type, s map[string]any, response bool) {
	t.Helper()
	props := object(s, "properties")
	var names, always []string
	for _, f := range jsonFields(t, where, typ) {
		names = append(names, f.name)
		if !f.omitempty {
			always = append(always, f.name)
		}
		p := object(props, f.name)
		if p == nil {
			continue // reported below
		}
		ft := f.typ
		if f.omitempty && ft.Kind() == reflect.Pointer {
			ft = ft.Elem() // absent when nil, never null
		}
		d.checkGoType(t, where+"."+f.name, ft, p, response)
	}
	if got, want := sortedKeys(props), sorted(names); !slices.Equal(got, want) {
		t.Errorf("%s: schema properties %v, Go type %s has %v", where, got, typ, want)
	}
	if !response {
		return
	}
	if got, want := sorted(stringList(s["required"])), sorted(always); !slices.Equal(got, want) {
		t.Errorf("%s: schema requires %v, Go type %s always sends %v", where, got, typ, want)
	}
}

// jsonField is one key of a struct's JSON.
type jsonField struct {
	name      string
	omitempty bool
	typ       reflect.Type
}

// jsonFields are the keys of typ's JSON as encoding/json writes them:
// each exported field under its json name, and the fields of an
// embedded struct without a json name as the struct's own (exported or
// not: sessionRunResponse embeds executeResponse). Another embedded
// field, or a name given twice (encoding/json would pick one by rules
// this check does not follow), fails the test.
func jsonFields(t *testing.T, where string, typ reflect.Type) []jsonField {
	t.Helper()
	var out []jsonField
	for f := range typ.Fields() {
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			if f.Type.Kind() != reflect.Struct {
				t.Errorf("%s: embedded field %s (%s) is not known to this check", where, f.Name, f.Type)
				continue
			}
			out = append(out, jsonFields(t, where, f.Type)...)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, jsonField{name, slices.Contains(strings.Split(opts, ","), "omitempty"), f.Type})
	}
	seen := map[string]bool{}
	for _, f := range out {
		if seen[f.name] {
			t.Errorf("%s: Go type %s has two fields named %q in JSON", where, typ, f.name)
		}
		seen[f.name] = true
	}
	return out
}

func sorted(list []string) []string {
	out := slices.Clone(list)
	slices.Sort(out)
	return out
}
