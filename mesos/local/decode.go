package local

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// decodeCall decodes a call body of the given media type as the master's
// Master::Http::scheduler (src/master/http.cpp) does, then validates it as
// validation::scheduler::call::validate (src/master/validation.cpp) does.
// principal is the authenticated principal ("" without authentication).
func decodeCall(media string, body []byte, principal string) (call *scheduler.Call, herr *httpError) {
	defer func() {
		if p := recover(); p != nil { // a decoder bug must not take the master down
			call, herr = nil, badRequest("Failed to parse body into Call protobuf")
		}
	}()
	call = new(scheduler.Call)
	var hasType bool
	if media == mediaProtobuf {
		// ParseFromString fails on a malformed body and on missing required
		// fields alike; gogo's Unmarshal checks required fields too.
		if err := call.Unmarshal(body); err != nil || !dropUnknownEnums(reflect.ValueOf(call).Elem()) {
			return nil, badRequest("Failed to parse body into Call protobuf")
		}
		hasType = protobufHasType(body)
	} else {
		var err *httpError
		if hasType, err = decodeJSONCall(body, call); err != nil {
			return nil, err
		}
	}
	if err := validateCall(call, hasType, principal); err != nil {
		return nil, err
	}
	return call, nil
}

// decodeJSONCall decodes a JSON call as stout's JSON::parse and
// protobuf::parse<Call> (3rdparty/stout/include/stout/protobuf.hpp) do.
// It reports whether the call has a (known) type.
func decodeJSONCall(body []byte, call *scheduler.Call) (bool, *httpError) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return false, badRequest("Failed to parse body into JSON: %v", err)
	}
	if dec.More() {
		return false, badRequest("Failed to parse body into JSON: trailing data after the JSON value")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return false, badRequest("Failed to convert JSON into Call protobuf: Expecting a JSON object")
	}
	var missing []string
	if msg := normalizeMessage(reflect.TypeFor[scheduler.Call](), obj, "", &missing); msg != "" {
		return false, badRequest("Failed to convert JSON into Call protobuf: %s", msg)
	}
	if len(missing) > 0 {
		return false, badRequest("Failed to convert JSON into Call protobuf: Missing required fields: %s", strings.Join(missing, ", "))
	}
	b, err := json.Marshal(obj)
	if err == nil {
		err = json.Unmarshal(b, call)
	}
	if err != nil {
		return false, badRequest("Failed to convert JSON into Call protobuf: %v", err)
	}
	_, hasType := obj["type"]
	return hasType, nil
}

// protoField is one field of a generated protobuf message type.
type protoField struct {
	name     string // the proto (and JSON) field name
	number   int
	index    int // in the Go struct
	required bool
	repeated bool
	message  reflect.Type // the element's message type, or nil
	enum     reflect.Type // the element's enum type, or nil
}

var protoFieldsCache sync.Map // reflect.Type → []protoField

// protoFields lists the fields of a generated message struct in
// declaration order, from their protobuf struct tags.
func protoFields(t reflect.Type) []protoField {
	if v, ok := protoFieldsCache.Load(t); ok {
		return v.([]protoField)
	}
	var out []protoField
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("protobuf")
		if tag == "" {
			continue
		}
		parts := strings.Split(tag, ",")
		if len(parts) < 3 {
			continue
		}
		f := protoField{index: i, required: parts[2] == "req"}
		f.number, _ = strconv.Atoi(parts[1])
		for _, p := range parts[3:] {
			if n, ok := strings.CutPrefix(p, "name="); ok {
				f.name = n
			}
		}
		ft := sf.Type
		if ft.Kind() == reflect.Slice && ft.Elem().Kind() != reflect.Uint8 {
			f.repeated = true
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case ft.Kind() == reflect.Struct:
			f.message = ft
		case strings.Contains(tag, ",enum="):
			f.enum = ft
		}
		out = append(out, f)
	}
	protoFieldsCache.Store(t, out)
	return out
}

// jsonKind names a JSON value's kind as stout's error messages do.
func jsonKind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "boolean"
	}
	return "null"
}

// normalizeMessage rewrites obj (a JSON object for message type t) the way
// stout's internal::parse reads it, so that Go's decoder sees what the
// master would: keys that are no field's exact name are ignored, null
// leaves a field unset, an unknown enum name unsets an optional field (or
// drops a repeated element) and fails a required one, and a single value
// for a repeated field is one element. The paths of missing required
// fields are appended to missing in the order of protobuf's
// FindInitializationErrors (this message's fields in declaration order,
// then set sub-messages by field number). It returns stout's message for a
// value it cannot convert, or "".
func normalizeMessage(t reflect.Type, obj map[string]any, prefix string, missing *[]string) string {
	fields := protoFields(t)
	known := make(map[string]bool, len(fields))
	for _, f := range fields {
		known[f.name] = true
	}
	for k, v := range obj {
		if !known[k] || v == nil {
			delete(obj, k)
		}
	}
	for _, f := range fields {
		v, ok := obj[f.name]
		if !ok {
			continue
		}
		if f.repeated {
			arr, isArr := v.([]any)
			if !isArr {
				arr = []any{v}
			}
			kept := arr[:0]
			for _, e := range arr {
				if e == nil {
					continue
				}
				if f.enum != nil {
					keep, msg := checkEnum(f, e)
					if msg != "" {
						return msg
					}
					if !keep {
						continue
					}
				}
				if f.message != nil {
					if _, isObj := e.(map[string]any); !isObj {
						return fmt.Sprintf("Not expecting a JSON %s for field '%s'", jsonKind(e), f.name)
					}
				}
				kept = append(kept, e)
			}
			obj[f.name] = kept
			continue
		}
		if _, isArr := v.([]any); isArr {
			return fmt.Sprintf("Not expecting a JSON array for field '%s'", f.name)
		}
		switch {
		case f.enum != nil:
			keep, msg := checkEnum(f, v)
			if msg != "" {
				return msg
			}
			if !keep {
				delete(obj, f.name)
			}
		case f.message != nil:
			if _, isObj := v.(map[string]any); !isObj {
				return fmt.Sprintf("Not expecting a JSON %s for field '%s'", jsonKind(v), f.name)
			}
		}
	}
	for _, f := range fields {
		if _, ok := obj[f.name]; f.required && !ok {
			*missing = append(*missing, prefix+f.name)
		}
	}
	subs := slices.Clone(fields)
	slices.SortStableFunc(subs, func(a, b protoField) int { return a.number - b.number })
	for _, f := range subs {
		if f.message == nil {
			continue
		}
		switch v := obj[f.name].(type) {
		case map[string]any:
			if msg := normalizeMessage(f.message, v, prefix+f.name+".", missing); msg != "" {
				return msg
			}
		case []any:
			for i, e := range v {
				if msg := normalizeMessage(f.message, e.(map[string]any), fmt.Sprintf("%s%s[%d].", prefix, f.name, i), missing); msg != "" {
					return msg
				}
			}
		}
	}
	return ""
}

// checkEnum reports whether the JSON value v names a value of f's enum;
// an unknown name is an error (stout's message) only for a required field.
func checkEnum(f protoField, v any) (bool, string) {
	s, ok := v.(string)
	if !ok {
		return false, fmt.Sprintf("Not expecting a JSON %s for field '%s'", jsonKind(v), f.name)
	}
	q, _ := json.Marshal(s)
	if err := json.Unmarshal(q, reflect.New(f.enum).Interface()); err != nil {
		if f.required {
			return false, fmt.Sprintf("Failed to find enum for '%s'", s)
		}
		return false, ""
	}
	return true, ""
}

// protobufHasType reports whether a protobuf Call carries a type field
// (number 2) with a known value: proto2 keeps an unknown enum value out of
// the field, so the master sees no type.
func protobufHasType(b []byte) bool {
	has := false
	for len(b) > 0 {
		key, n := binary.Uvarint(b)
		if n <= 0 {
			return has
		}
		b = b[n:]
		num, wire := key>>3, key&7
		switch wire {
		case 0:
			v, n := binary.Uvarint(b)
			if n <= 0 {
				return has
			}
			b = b[n:]
			if num == 2 {
				_, known := scheduler.Call_Type_name[int32(v)]
				has = known
			}
		case 1:
			if len(b) < 8 {
				return has
			}
			b = b[8:]
		case 2:
			l, n := binary.Uvarint(b)
			if n <= 0 || uint64(len(b)-n) < l {
				return has
			}
			b = b[n+int(l):]
		case 5:
			if len(b) < 4 {
				return has
			}
			b = b[4:]
		default:
			return has
		}
	}
	return has
}

// dropUnknownEnums clears the enum values of a decoded protobuf message
// (a struct value) that have no name, as proto2 parsing in the master does
// (it moves them to the unknown fields): an optional field becomes unset
// (zero when the Go field is not a pointer), a repeated element is
// dropped, and a required field goes missing, which fails the parse
// (false).
func dropUnknownEnums(v reflect.Value) bool {
	for _, f := range protoFields(v.Type()) {
		fv := v.Field(f.index)
		switch {
		case f.enum != nil && f.repeated:
			kept := fv.Slice(0, 0)
			for i := range fv.Len() {
				if e := fv.Index(i); knownEnum(e) {
					kept = reflect.Append(kept, e)
				}
			}
			fv.Set(kept)
		case f.enum != nil && fv.Kind() == reflect.Pointer:
			if !fv.IsNil() && !knownEnum(fv.Elem()) {
				if f.required {
					return false
				}
				fv.Set(reflect.Zero(fv.Type()))
			}
		case f.enum != nil:
			if !knownEnum(fv) {
				if f.required {
					return false
				}
				fv.Set(reflect.Zero(fv.Type()))
			}
		case f.message != nil && f.repeated:
			for i := range fv.Len() {
				e := fv.Index(i)
				if e.Kind() == reflect.Pointer {
					if e.IsNil() {
						continue
					}
					e = e.Elem()
				}
				if !dropUnknownEnums(e) {
					return false
				}
			}
		case f.message != nil && fv.Kind() == reflect.Pointer:
			if !fv.IsNil() && !dropUnknownEnums(fv.Elem()) {
				return false
			}
		case f.message != nil:
			if !dropUnknownEnums(fv) {
				return false
			}
		}
	}
	return true
}

// knownEnum reports whether the enum value e has a name; zero always
// counts as known (an absent non-pointer field holds it). Generated enums
// print an unknown value as its number.
func knownEnum(e reflect.Value) bool {
	if e.IsZero() {
		return true
	}
	st, ok := e.Interface().(fmt.Stringer)
	if !ok {
		return true
	}
	_, err := strconv.Atoi(st.String())
	return err != nil
}
