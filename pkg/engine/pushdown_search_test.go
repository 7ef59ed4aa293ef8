package engine

import (
	"strings"
	"testing"
	"time"
)

// TestSearchEncodedHint: a search typed in its encoded form that matches nothing gets a notice
// naming the decoded text, which does find the event.
func TestSearchEncodedHint(t *testing.T) {
	ls := lines{ev{at: time.Minute, verb: "get", user: "u", code: 200, resource: "pods"}.line()}
	res := run(t, ls, `{"queryType":"events","filter":{"search":"%2Fnothing%2Fhere"}}`, time.Minute)
	if res.Stats.Matched != 0 || !noticeHas(res, `search for "/nothing/here"`) {
		t.Errorf("matched %d notices %+v", res.Stats.Matched, res.Notices)
	}
	res = run(t, ls, `{"queryType":"events","filter":{"search":"nothing here"}}`, time.Minute)
	if noticeHas(res, "looks encoded") {
		t.Errorf("a plain search got the encoding notice: %+v", res.Notices)
	}
}

func noticeHas(res *Result, text string) bool {
	for _, n := range res.Notices {
		if strings.Contains(n.Text, text) {
			return true
		}
	}
	return false
}
