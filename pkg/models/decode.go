package models

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// UnmarshalJSON decodes jsonData and turns encoding/json's type errors ("json: cannot unmarshal
// string into Go struct field FileSettings.file.maxLineBytes of type int") into one that names
// the setting and the type it takes: "file.maxLineBytes must be a whole number, got a string".
// It also rejects values that would otherwise be silently replaced by their default.
func (s *Settings) UnmarshalJSON(b []byte) error {
	type plain Settings // without this method
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return settingsTypeError(err)
	}
	*s = Settings(p)
	return s.checkValues()
}

// checkValues rejects settings whose value would be silently ignored.
func (s *Settings) checkValues() error {
	if s.File != nil && s.File.MaxLineBytes < 0 {
		return fmt.Errorf("file.maxLineBytes must not be negative, got %d: leave it empty (or 0) for the default of %d (4 MiB), or give the longest line to read in bytes", s.File.MaxLineBytes, DefaultMaxLineBytes)
	}
	return nil
}

// settingsTypeError rewrites a *json.UnmarshalTypeError of the settings; other errors are
// returned as they are.
func settingsTypeError(err error) error {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		return err
	}
	got := describeJSONValue(te.Value)
	if te.Field == "" {
		return fmt.Errorf("the settings (jsonData) must be a JSON object, got %s", got)
	}
	want := describeGoType(te.Type)
	// For an element of a list (file.paths: [1]) encoding/json names the list and the
	// element's type: say so.
	if ft, ok := settingsFieldType(te.Field); ok {
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft != te.Type && (ft.Kind() == reflect.Slice || ft.Kind() == reflect.Map) {
			return fmt.Errorf("%s must be %s, got one that holds %s", te.Field, describeGoType(ft), got)
		}
	}
	return fmt.Errorf("%s must be %s, got %s", te.Field, want, got)
}

// settingsFieldType finds the Go type of a setting from the dotted path encoding/json reports
// (map keys and list indexes are not in the path).
func settingsFieldType(path string) (reflect.Type, bool) {
	t := reflect.TypeFor[Settings]()
	for _, name := range strings.Split(path, ".") {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return nil, false
		}
		found := false
		for f := range t.Fields() {
			tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if tag == name {
				t, found = f.Type, true
				break
			}
		}
		if !found {
			return nil, false
		}
	}
	return t, true
}

// describeGoType says in words what JSON a Go type takes.
func describeGoType(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		e := t.Elem()
		for e.Kind() == reflect.Pointer {
			e = e.Elem()
		}
		switch e.Kind() {
		case reflect.String:
			return "a list of strings"
		case reflect.Struct, reflect.Map:
			return "a list of objects"
		}
		return "a list"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return t.String()
}

// describeJSONValue words encoding/json's description of the value it got: "string",
// "number", "number 1.5", "array", "object", "bool".
func describeJSONValue(v string) string {
	switch {
	case v == "string":
		return "a string"
	case v == "number":
		return "a number"
	case strings.HasPrefix(v, "number "):
		return strings.TrimPrefix(v, "number ")
	case v == "array":
		return "a list"
	case v == "object":
		return "an object"
	case v == "bool":
		return "true or false"
	}
	return v
}
