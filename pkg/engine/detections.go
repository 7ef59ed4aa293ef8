package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/detect"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
)

// DetectionsResult holds findings, newest first, repeats folded into one (detect.Group).
// Total counts them before the limit.
type DetectionsResult struct {
	Findings []detect.Finding
	Total    int
}

type detections struct {
	q   *query.Query
	b   *buckets // timeseries format only
	det *detect.Detector
	// share is the share key of the query's finished findings (shareKey); done, when set,
	// holds them, finished by this query or by another with the same key (shared.go).
	share string
	done  *finishedDetections
}

// finishedDetections is what a detector's Finish returned, shared by the queries that differ
// only in format and limit; the findings folded for tables are made once, by the first table.
type finishedDetections struct {
	findings []detect.Finding
	problems []string
	once     sync.Once
	grouped  []detect.Finding
}

func (f *finishedDetections) group() []detect.Finding {
	f.once.Do(func() { f.grouped = detect.Group(f.findings) })
	return f.grouped
}

// cost counts both lists of findings, folded or not, as if the folded one were made, and the
// strings once (the folded findings share them).
func (f *finishedDetections) cost() int {
	c := 2 * len(f.findings) * int(unsafe.Sizeof(detect.Finding{}))
	for i := range f.findings {
		x := &f.findings[i]
		c += len(x.RuleID) + len(x.Title) + len(x.User) + len(x.SourceIP) + len(x.UserAgent) + len(x.Verb) +
			len(x.Resource) + len(x.Namespace) + len(x.Name) + len(x.Detail) + len(x.AuditID)
		for _, im := range x.Images {
			c += len(im) + 16
		}
	}
	for _, p := range f.problems {
		c += len(p) + 16
	}
	return c
}

// detectionsShareKey is what the findings of q depend on besides the range and the segments:
// the query but for its format, limit and groupBy (which only shape the frames of the
// findings: the table's length, the labels of the counts per interval), and
// the RBAC look-back history the plan read before the range.
func detectionsShareKey(q *query.Query, cfg detect.Config) string {
	k := *q
	k.Format, k.Limit, k.GroupBy = "", 0, nil
	j, err := json.Marshal(&k)
	if err != nil {
		return ""
	}
	h := sha256.New()
	_, _ = fmt.Fprintf(h, "%d\x00%d\x00", cfg.RoleLookback, len(cfg.RoleHistory))
	for _, w := range cfg.RoleHistory {
		_, _ = fmt.Fprintf(h, "%s\x00%d\x00%t\x00%t\x00", w.Key, w.Time.UnixNano(), w.Wild, w.Deleted)
	}
	return "detections\x00" + string(j) + "\x00" + hex.EncodeToString(h.Sum(nil))
}

func (d *detections) shareKey() string { return d.share }

func (d *detections) finishShared() sharedResult {
	findings, problems := d.det.Finish()
	return &finishedDetections{findings: findings, problems: problems}
}

func (d *detections) useShared(r sharedResult) { d.done = r.(*finishedDetections) }

// detectionRules selects the query's rules; an id pattern matching no rule is an error.
func detectionRules(q *query.Query) ([]*detect.Rule, error) {
	for _, id := range q.Rules {
		if len(detect.Select([]string{id}, nil)) == 0 {
			var ids []string
			for _, r := range detect.Rules() {
				ids = append(ids, r.ID)
			}
			return nil, &query.Error{Msg: fmt.Sprintf("unknown detection rule %q: the rules are %s", id, strings.Join(ids, ", "))}
		}
	}
	return detect.Select(q.Rules, q.Severities), nil
}

// detectConfig is the datasource's base configuration with the query's allow-lists added and
// its tunables taking precedence.
func detectConfig(q *query.Query, base detect.Config) detect.Config {
	cfg := base
	if q.BurstThreshold > 0 {
		cfg.BurstThreshold = q.BurstThreshold
	}
	if q.BurstWindow != "" {
		cfg.BurstWindow, _ = time.ParseDuration(q.BurstWindow) // validated by query.Parse
	}
	if a := q.Allow; a != nil {
		cfg.AllowUsers = append(slices.Clone(cfg.AllowUsers), a.Users...)
		cfg.AllowGroups = append(slices.Clone(cfg.AllowGroups), a.Groups...)
		cfg.AllowNamespaces = append(slices.Clone(cfg.AllowNamespaces), a.Namespaces...)
		cfg.AllowImages = append(slices.Clone(cfg.AllowImages), a.Images...)
		cfg.AllowNetworks = append(slices.Clone(cfg.AllowNetworks), a.SourceNetworks...)
	}
	return cfg
}

// detectionsPrefilter is the union of the prefilters of rules (detect.UnionPrefilter) as a
// query filter of any stage, and the union itself; nil when the rules need every event.
func detectionsPrefilter(rules []*detect.Rule) (*query.Filter, *detect.Prefilter) {
	u, ok := detect.UnionPrefilter(rules)
	if !ok {
		return nil, nil
	}
	lists := map[string][]string{"stages": {"*"}}
	u.Each(func(key string, values []string) { lists[key] = values })
	f, err := query.FilterOf(lists)
	if err != nil {
		return nil, nil
	}
	return &f, u
}

// detectionsSourceFilter is what a detections query asks of a remote source: its filter
// narrowed by its rules' prefilter (query.Filter.NarrowedBy), or nil when the rules need every
// event. The query's own filter and every rule still run in Go over what the source sends.
func detectionsSourceFilter(q *query.Query) *query.Filter {
	rules, err := detectionRules(q)
	if err != nil {
		return nil
	}
	p, _ := detectionsPrefilter(rules)
	if p == nil {
		return nil
	}
	pp := *p
	pp.Stages = nil // the query's stages (the type's defaults) stand
	f := q.Filter.NarrowedBy(pp)
	return &f
}

func newDetections(q *query.Query, rules []*detect.Rule, cfg detect.Config, b *buckets, share string) *detections {
	return &detections{q: q, b: b, det: detect.New(rules, cfg), share: share}
}

func (d *detections) needs() audit.Fields { return detect.Needs }

func (d *detections) add(r *audit.Record) { d.det.Observe(r) }

func (d *detections) merge(other aggregator) { d.det.Merge(other.(*detections).det) }

// severalStreams: the segments of several API servers hold the same time, so the window rules
// wait for all of them (streamsAware).
func (d *detections) severalStreams() { d.det.DecideAtFinish() }

func (d *detections) finish(res *Result) {
	if d.done == nil { // not shared: finished here, for this query alone
		d.useShared(d.finishShared())
	}
	findings := d.done.findings
	for _, p := range d.done.problems {
		res.Notices = append(res.Notices, Notice{Warning, p})
	}
	if d.b != nil {
		// Counts per rule, severity and the query's groupBy per interval, for alert rules: each
		// finding once, at its time (repeats are not folded).
		series := map[string][]float64{}
		for _, f := range findings {
			i := d.b.index(f.Time)
			if i < 0 {
				continue
			}
			key := f.RuleID + string(keySep) + string(f.Severity)
			for _, dim := range d.q.GroupBy {
				key += string(keySep) + query.FindingValue(dim, f)
			}
			if series[key] == nil {
				series[key] = make([]float64, d.b.n)
			}
			series[key][i]++
		}
		out := &SeriesResult{Times: d.b.times(), Step: d.b.step}
		keys, _ := topKeys(series, sum, 0)
		for _, k := range keys {
			parts := strings.Split(k, string(keySep))
			labels := []Label{{"rule", parts[0]}, {"severity", parts[1]}}
			for i, dim := range d.q.GroupBy {
				v := parts[2+i]
				if v == "" {
					v = None
				}
				labels = append(labels, Label{dim, v})
			}
			out.Series = append(out.Series, Series{Name: "findings", Labels: labels, Values: series[k]})
		}
		if len(out.Series) == 0 {
			out.Series = []Series{{Name: "findings", Values: make([]float64, d.b.n)}}
		}
		res.Series = out
		return
	}
	findings = d.done.group()
	out := &DetectionsResult{Total: len(findings)}
	if len(findings) > d.q.Limit {
		res.Notices = append(res.Notices, truncNotice("findings", d.q.Limit, len(findings)))
		findings = findings[:d.q.Limit]
	}
	out.Findings = findings
	res.Detections = out
}
