package engine

import (
	"context"
	"encoding/json"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
)

// newestLines reads its lines newest first in pages of 3 and counts requests by code, as Loki
// does (independently of the engine); suspect and skew stand for malformed lines in the part
// not read and a count that disagrees with the lines.
type newestLines struct {
	lines
	suspect int64
	skew    int
	pages   int
	counts  int
}

func (n *newestLines) CanCount(f query.Filter, groupBy []string) (bool, string) {
	if f.Search != "" || len(groupBy) > 0 {
		return false, "cannot"
	}
	return true, ""
}

func (n *newestLines) PreferCount(context.Context, source.CountRequest) bool { return true }

func (n *newestLines) Count(_ context.Context, req source.CountRequest) (*source.CountResult, error) {
	n.counts++
	var c float64
	for _, l := range n.lines {
		var e struct {
			Stage          string
			StageTimestamp time.Time
			ResponseStatus struct{ Code int }
		}
		if json.Unmarshal([]byte(l), &e) != nil || (e.Stage != "ResponseComplete" && e.Stage != "Panic") ||
			e.StageTimestamp.Before(req.From) || e.StageTimestamp.After(req.To) {
			continue
		}
		if len(req.Filter.Codes) > 0 && !slices.Contains(req.Filter.Codes, strconv.Itoa(e.ResponseStatus.Code)) {
			continue
		}
		c++
	}
	return &source.CountResult{Series: []source.CountSeries{{Counts: []float64{c + float64(n.skew)}}}, Requests: 1}, nil
}

func (n *newestLines) ScanNewest(ctx context.Context, req source.Request, _ int, fn source.LineFunc, enough func(time.Time) bool) (source.Stats, *source.Window, error) {
	type tl struct {
		t    time.Time
		line string
	}
	var all []tl
	for _, l := range n.lines {
		ts, _ := audit.LineTime([]byte(l))
		all = append(all, tl{ts, l})
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].t.After(all[j].t) })
	var st source.Stats
	for i := 0; i < len(all); i += 3 {
		n.pages++
		st.FilesScanned++
		page := all[i:min(i+3, len(all))]
		for _, e := range page {
			st.LinesRead++
			if err := fn([]byte(e.line)); err != nil {
				return st, nil, err
			}
		}
		if i+3 < len(all) && enough(page[len(page)-1].t) {
			return st, &source.Window{From: req.From, To: page[len(page)-1].t.Add(time.Nanosecond)}, nil
		}
	}
	return st, nil, nil
}

func (n *newestLines) SuspectLines(context.Context, source.Request, source.Window) (int64, int, int64, error) {
	return n.suspect, 2, 0, nil
}

// TestNewestFallsBack: the newest-first read stops early and gives the full read's result; it
// is not used (or its pages are dropped for the full read) when the total cannot be exact.
func TestNewestFallsBack(t *testing.T) {
	var ls lines
	for i := range 30 {
		code := []int{200, 403, 401}[i%3]
		ls = append(ls, ev{at: time.Duration(i) * time.Minute, verb: "get", user: "u", code: code}.line())
		ls = append(ls, ev{at: time.Duration(i) * time.Minute, stage: "RequestReceived", verb: "get", user: "u"}.line())
	}
	// The full read: sourceMode raw over the same source (denied then pulls 401/403 too).
	full := func(js string) *Result {
		return run(t, &newestLines{lines: ls}, strings.Replace(js, "{", `{"sourceMode":"raw",`, 1), time.Minute)
	}
	for _, c := range []struct {
		js            string
		suspect       int64
		skew          int
		newest, count bool
	}{
		{`{"queryType":"events","limit":4}`, 0, 0, true, true},
		{`{"queryType":"denied","limit":2}`, 0, 0, true, true},
		{`{"queryType":"events","format":"table","limit":100}`, 0, 0, true, false}, // the whole range
		{`{"queryType":"events","limit":4}`, 1, 0, false, false},                   // malformed lines may be in the rest
		{`{"queryType":"events","limit":4}`, 0, -28, false, true},                  // a count below the pages'
		{`{"queryType":"events","limit":4,"filter":{"search":"get"}}`, 0, 0, false, false},
		{`{"queryType":"denied","limit":2,"filter":{"codes":["4xx"]}}`, 0, 0, false, false},
		{`{"queryType":"events","limit":4,"auditIDs":["id-60000000000-get-u"]}`, 0, 0, false, false},
	} {
		src := &newestLines{lines: ls, suspect: c.suspect, skew: c.skew}
		got := run(t, src, c.js, time.Minute)
		want := full(c.js)
		var newest bool
		got.Notices = slices.DeleteFunc(got.Notices, func(n Notice) bool {
			newest = newest || strings.HasPrefix(n.Text, NewestNoticePrefix)
			return strings.HasPrefix(n.Text, NewestNoticePrefix)
		})
		if newest != c.newest || (src.counts > 0) != c.count {
			t.Errorf("%s: newest notice %v, counted %d times; want %v, %v", c.js, newest, src.counts, c.newest, c.count)
		}
		if d := cmp.Diff(want.Events, got.Events); d != "" {
			t.Errorf("%s: events differ:\n%s", c.js, d)
		}
		if d := cmp.Diff(want.Denied, got.Denied); d != "" {
			t.Errorf("%s: denied differ:\n%s", c.js, d)
		}
		if d := cmp.Diff(want.Notices, got.Notices, cmpopts.EquateEmpty()); d != "" || got.Stats.Matched != want.Stats.Matched {
			t.Errorf("%s: notices or matched (%d, want %d) differ:\n%s", c.js, got.Stats.Matched, want.Stats.Matched, d)
		}
	}
}
