package e2e

// Helpers to read decoded data frames whatever the exact (nullable or not) field type.

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/data"
)

// oneFrame returns the only frame of a response.
func oneFrame(t *testing.T, fs data.Frames) *data.Frame {
	t.Helper()
	if len(fs) != 1 {
		t.Fatalf("got %d frames, want 1: %s", len(fs), frameSummary(fs))
	}
	return fs[0]
}

func frameSummary(fs data.Frames) string {
	var parts []string
	for _, f := range fs {
		var names []string
		for _, fld := range f.Fields {
			names = append(names, fmt.Sprintf("%s%s(%s)", fld.Name, fld.Labels, fld.Type()))
		}
		parts = append(parts, fmt.Sprintf("frame %q rows=%d [%s]", f.Name, rowLen(f), strings.Join(names, ", ")))
	}
	return strings.Join(parts, "; ")
}

func rowLen(f *data.Frame) int {
	if len(f.Fields) == 0 {
		return 0
	}
	return f.Fields[0].Len()
}

// field returns the field with that name, failing the test when it is missing.
func field(t *testing.T, f *data.Frame, name string) *data.Field {
	t.Helper()
	for _, fld := range f.Fields {
		if fld.Name == name {
			return fld
		}
	}
	t.Fatalf("no field %q in %s", name, frameSummary(data.Frames{f}))
	return nil
}

func timeAt(t *testing.T, fld *data.Field, i int) time.Time {
	t.Helper()
	switch v := fld.At(i).(type) {
	case time.Time:
		return v.UTC()
	case *time.Time:
		if v != nil {
			return v.UTC()
		}
	}
	t.Fatalf("field %q row %d: %T is not a time", fld.Name, i, fld.At(i))
	return time.Time{}
}

func stringAt(t *testing.T, fld *data.Field, i int) string {
	t.Helper()
	switch v := fld.At(i).(type) {
	case string:
		return v
	case *string:
		if v == nil {
			return ""
		}
		return *v
	case json.RawMessage:
		return string(v)
	case *json.RawMessage:
		if v == nil {
			return ""
		}
		return string(*v)
	}
	t.Fatalf("field %q row %d: %T is not a string", fld.Name, i, fld.At(i))
	return ""
}

// floatAt returns a numeric value and whether it is non-null.
func floatAt(t *testing.T, fld *data.Field, i int) (float64, bool) {
	t.Helper()
	switch v := fld.At(i).(type) {
	case float64:
		return v, true
	case *float64:
		if v == nil {
			return 0, false
		}
		return *v, true
	case int64:
		return float64(v), true
	case *int64:
		if v == nil {
			return 0, false
		}
		return float64(*v), true
	case uint64:
		return float64(v), true
	case int32:
		return float64(v), true
	}
	t.Fatalf("field %q row %d: %T is not a number", fld.Name, i, fld.At(i))
	return 0, false
}

func wantType(t *testing.T, fld *data.Field, types ...data.FieldType) {
	t.Helper()
	for _, ty := range types {
		if fld.Type() == ty {
			return
		}
	}
	t.Errorf("field %q has type %s, want %v", fld.Name, fld.Type(), types)
}

func approx(a, b float64) bool {
	return math.Abs(a-b) <= 1e-6*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

// notices returns every notice text of the frames.
func notices(fs data.Frames) []string {
	var out []string
	for _, f := range fs {
		if f.Meta == nil {
			continue
		}
		for _, n := range f.Meta.Notices {
			out = append(out, n.Text)
		}
	}
	return out
}

// valueFields are the fields after the first (time or dimension) field.
func valueFields(f *data.Frame) []*data.Field {
	if len(f.Fields) < 2 {
		return nil
	}
	return f.Fields[1:]
}

func wantTimeseriesWide(t *testing.T, f *data.Frame) {
	t.Helper()
	if f.Meta == nil {
		t.Fatal("frame has no Meta")
	}
	if f.Meta.Type != data.FrameTypeTimeSeriesWide {
		t.Errorf("Meta.Type = %q, want %q", f.Meta.Type, data.FrameTypeTimeSeriesWide)
	}
	if f.Meta.TypeVersion != (data.FrameTypeVersion{0, 1}) {
		t.Errorf("Meta.TypeVersion = %v, want [0 1]", f.Meta.TypeVersion)
	}
}

// wantTimeAxis checks the first field is "time" holding every bucket of b.
func wantTimeAxis(t *testing.T, f *data.Frame, b buckets) {
	t.Helper()
	if len(f.Fields) == 0 || f.Fields[0].Name != "time" {
		t.Fatalf("first field is not \"time\": %s", frameSummary(data.Frames{f}))
	}
	tf := f.Fields[0]
	if tf.Len() != b.n {
		t.Fatalf("%d time buckets, want %d (every interval of the range, step %s from %s)", tf.Len(), b.n, b.step, b.start)
	}
	for i := 0; i < b.n; i++ {
		if got := timeAt(t, tf, i); !got.Equal(b.time(i)) {
			t.Fatalf("bucket %d starts at %s, want %s", i, got, b.time(i))
		}
	}
}
