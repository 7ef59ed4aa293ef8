package detect

import (
	"reflect"
	"testing"
	"time"
	"unsafe"
)

// A candidate packed in a detector's string table unpacks to the same finding, strings that
// repeat are kept once, and the packed form is a fraction of a Finding.
func TestKeptRoundTrip(t *testing.T) {
	tab := newStrtab()
	f := Finding{
		Time: time.Date(2026, 11, 24, 10, 0, 0, 123456789, time.UTC), User: "alice", SourceIP: "203.0.113.7",
		UserAgent: "kubectl/v1.31.0", Verb: "create", Resource: "pods/exec", Namespace: "prod", Name: "web-0",
		Detail: "sh -c id", AuditID: "6f1c2b1e-0000-4000-8000-000000000001", Images: []string{"nginx:1.27", "busybox"},
		groups: []string{"system:authenticated", "devs"}, generateName: "web-",
	}
	for _, c := range []candidate{
		{key: "user alice", item: "prod/db", f: f},
		{f: Finding{}}, // no time, no strings
		{key: "ip 10.0.0.1", f: Finding{Time: f.Time}}, // no lists
	} {
		k := tab.keep(c)
		if got := k.finding(); !reflect.DeepEqual(got, c.f) {
			t.Errorf("unpacked %+v, want %+v", got, c.f)
		}
		if k.key != c.key || k.item != c.item {
			t.Errorf("key, item = %q, %q; want %q, %q", k.key, k.item, c.key, c.item)
		}
	}
	n := len(tab.strs)
	tab.keep(candidate{key: "user alice", item: "prod/db", f: f})
	if added := len(tab.strs) - n; added != 1 { // only the auditID is not interned
		t.Errorf("a repeated candidate added %d strings to the table, want 1 (its auditID)", added)
	}
	if packed, full := unsafe.Sizeof(kept{}), unsafe.Sizeof(candidate{}); packed*3 > full {
		t.Errorf("kept is %d bytes, a candidate %d", packed, full)
	}
}
