package e2e

// The reference model: what docs/query-model.md says the plugin must return, computed here from
// the fixture lines with encoding/json and plain loops, sharing no code with the plugin.

import (
	"encoding/json"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// refEvent is one fixture line decoded with encoding/json.
type refEvent struct {
	AuditID    string `json:"auditID"`
	Stage      string `json:"stage"`
	Level      string `json:"level"`
	Verb       string `json:"verb"`
	RequestURI string `json:"requestURI"`
	UserAgent  string `json:"userAgent"`
	User       struct {
		Username string   `json:"username"`
		Groups   []string `json:"groups"`
	} `json:"user"`
	ImpersonatedUser *struct {
		Username string `json:"username"`
	} `json:"impersonatedUser"`
	SourceIPs []string `json:"sourceIPs"`
	ObjectRef *struct {
		Resource    string `json:"resource"`
		Namespace   string `json:"namespace"`
		Name        string `json:"name"`
		Subresource string `json:"subresource"`
		APIGroup    string `json:"apiGroup"`
		APIVersion  string `json:"apiVersion"`
	} `json:"objectRef"`
	ResponseStatus *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Reason  string `json:"reason"`
	} `json:"responseStatus"`
	Annotations              map[string]string `json:"annotations"`
	StageTimestamp           *string           `json:"stageTimestamp"`
	RequestReceivedTimestamp *string           `json:"requestReceivedTimestamp"`
	Timestamp                *string           `json:"timestamp"` // v1alpha1/v1beta1
	Metadata                 *struct {
		CreationTimestamp *string `json:"creationTimestamp"`
	} `json:"metadata"`

	line  string
	time  time.Time // stageTimestamp, else timestamp, else metadata.creationTimestamp
	stage time.Time // stageTimestamp alone (for latency)
	recv  time.Time // requestReceivedTimestamp
}

// parseRefTime accepts RFC 3339 (any number of fractional digits) and the space-separated UTC form
// that log pipelines such as Panther write ("2022-11-29 00:09:04.38").
func parseRefTime(s *string) time.Time {
	if s == nil || *s == "" {
		return time.Time{}
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999"} {
		if t, err := time.Parse(layout, *s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

func decodeRefEvent(line string) (refEvent, error) {
	var e refEvent
	if err := json.Unmarshal([]byte(line), &e); err != nil {
		return e, err
	}
	e.line = line
	e.stage = parseRefTime(e.StageTimestamp)
	e.recv = parseRefTime(e.RequestReceivedTimestamp)
	e.time = e.stage
	if e.time.IsZero() {
		e.time = parseRefTime(e.Timestamp)
	}
	if e.time.IsZero() && e.Metadata != nil {
		e.time = parseRefTime(e.Metadata.CreationTimestamp)
	}
	return e, nil
}

func (e *refEvent) code() int {
	if e.ResponseStatus == nil {
		return 0
	}
	return e.ResponseStatus.Code
}

func (e *refEvent) terminal() bool { return e.Stage == "ResponseComplete" || e.Stage == "Panic" }

func (e *refEvent) ref(field string) string {
	if e.ObjectRef == nil {
		return ""
	}
	switch field {
	case "resource":
		return e.ObjectRef.Resource
	case "namespace":
		return e.ObjectRef.Namespace
	case "name":
		return e.ObjectRef.Name
	case "subresource":
		return e.ObjectRef.Subresource
	case "apiGroup":
		return e.ObjectRef.APIGroup
	case "apiVersion":
		return e.ObjectRef.APIVersion
	}
	panic("unknown objectRef field " + field)
}

func (e *refEvent) sourceIP() string {
	if len(e.SourceIPs) == 0 {
		return ""
	}
	return e.SourceIPs[0]
}

// longRunning: verbs watch and proxy, subresources attach, exec, proxy, log, portforward
// (kube-apiserver's default long-running check; FIELD.md, docs/query-model.md).
func (e *refEvent) longRunning() bool {
	switch e.Verb {
	case "watch", "proxy":
		return true
	}
	switch e.ref("subresource") {
	case "attach", "exec", "proxy", "log", "portforward":
		return true
	}
	return false
}

// latency is stageTimestamp - requestReceivedTimestamp in seconds, for terminal-stage events that
// carry both timestamps.
func (e *refEvent) latency() (float64, bool) {
	if !e.terminal() || e.stage.IsZero() || e.recv.IsZero() || e.stage.Before(e.recv) {
		return 0, false
	}
	return e.stage.Sub(e.recv).Seconds(), true
}

// reason: the authorization.k8s.io/reason annotation, else responseStatus.message, else
// responseStatus.reason (an empty annotation counts as absent).
func (e *refEvent) reason() string {
	if r := e.Annotations["authorization.k8s.io/reason"]; r != "" {
		return r
	}
	if e.ResponseStatus == nil {
		return ""
	}
	if e.ResponseStatus.Message != "" {
		return e.ResponseStatus.Message
	}
	return e.ResponseStatus.Reason
}

// dim returns the values of a dimension (several for user.groups, "" when missing).
func (e *refEvent) dim(name string) []string {
	var v string
	switch name {
	case "verb":
		v = e.Verb
	case "user.username":
		v = e.User.Username
	case "user.groups":
		if len(e.User.Groups) == 0 {
			return []string{""}
		}
		return e.User.Groups
	case "objectRef.resource", "objectRef.namespace", "objectRef.name", "objectRef.subresource",
		"objectRef.apiGroup", "objectRef.apiVersion":
		v = e.ref(strings.TrimPrefix(name, "objectRef."))
	case "responseStatus.code":
		if c := e.code(); c != 0 {
			v = strconv.Itoa(c)
		}
	case "userAgent":
		v = e.UserAgent
	case "sourceIPs":
		v = e.sourceIP()
	case "stage":
		v = e.Stage
	case "level":
		v = e.Level
	case "decision":
		v = e.Annotations["authorization.k8s.io/decision"]
	case "impersonatedUser.username":
		if e.ImpersonatedUser != nil {
			v = e.ImpersonatedUser.Username
		}
	default:
		panic("reference model has no dimension " + name)
	}
	return []string{v}
}

// refFilter is the subset of the query filter the test uses.
type refFilter struct {
	Verbs      []string `json:"verbs,omitempty"`
	Users      []string `json:"users,omitempty"`
	Namespaces []string `json:"namespaces,omitempty"`
	Resources  []string `json:"resources,omitempty"`
	Codes      []string `json:"codes,omitempty"`
	Stages     []string `json:"stages,omitempty"`
	Search     string   `json:"search,omitempty"`
}

// globMatch matches s against a pattern where '*' stands for any run of characters.
func globMatch(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	last := parts[len(parts)-1]
	return len(s) >= len(last) && strings.HasSuffix(s, last)
}

// matchList: values match ANY of the inclusions and NONE of the exclusions ("!x"); a list with
// only exclusions matches everything they do not exclude; an empty list matches everything.
func matchList(list []string, v string) bool {
	hasInclude, included := false, false
	for _, p := range list {
		if p == "" {
			continue
		}
		if ex, ok := strings.CutPrefix(p, "!"); ok {
			if globMatch(ex, v) {
				return false
			}
			continue
		}
		hasInclude = true
		if globMatch(p, v) {
			included = true
		}
	}
	return !hasInclude || included
}

func matchCode(list []string, code int) bool {
	ok := func(p string) bool {
		if len(p) == 3 && strings.HasSuffix(strings.ToLower(p), "xx") {
			return code/100 == int(p[0]-'0')
		}
		return strconv.Itoa(code) == p
	}
	hasInclude, included := false, false
	for _, p := range list {
		if ex, found := strings.CutPrefix(p, "!"); found {
			if ok(ex) {
				return false
			}
			continue
		}
		hasInclude = true
		if ok(p) {
			included = true
		}
	}
	return !hasInclude || included
}

// completesRequest: the default stage filter keeps the one event that completes each request,
// ResponseComplete or Panic, or the lone ResponseStarted 401 kube-apiserver writes when
// authentication fails.
func (e *refEvent) completesRequest() bool {
	return e.terminal() || (e.Stage == "ResponseStarted" && e.code() == 401)
}

func (f refFilter) match(e *refEvent) bool {
	stageOK := e.completesRequest()
	if len(f.Stages) > 0 {
		stageOK = matchList(f.Stages, e.Stage)
	}
	return stageOK &&
		matchList(f.Verbs, e.Verb) &&
		matchList(f.Users, e.User.Username) &&
		matchList(f.Namespaces, e.ref("namespace")) &&
		matchList(f.Resources, e.ref("resource")) &&
		matchCode(f.Codes, e.code()) &&
		strings.Contains(e.line, f.Search)
}

// model is the fixture set plus the query time range.
type model struct {
	events   []refEvent
	from, to time.Time
}

// selectEvents returns the events that match f in the time range (from and to inclusive).
func (m *model) selectEvents(f refFilter) []*refEvent {
	var out []*refEvent
	for i := range m.events {
		e := &m.events[i]
		if e.time.IsZero() || e.time.Before(m.from) || e.time.After(m.to) || !f.match(e) {
			continue
		}
		out = append(out, e)
	}
	return out
}

// newestFirst orders events by time, newest first.
func newestFirst(evs []*refEvent) []*refEvent {
	out := slices.Clone(evs)
	sort.SliceStable(out, func(i, j int) bool { return out[i].time.After(out[j].time) })
	return out
}

// buckets maps each event to the index of its interval: buckets start at from truncated to the
// interval (epoch-aligned) and run to the bucket holding `to`.
type buckets struct {
	start time.Time
	step  time.Duration
	n     int
}

func newBuckets(from, to time.Time, step time.Duration) buckets {
	start := from.Truncate(step)
	return buckets{start: start, step: step, n: int(to.Sub(start)/step) + 1}
}

func (b buckets) index(t time.Time) int { return int(t.Sub(b.start) / b.step) }

func (b buckets) time(i int) time.Time { return b.start.Add(time.Duration(i) * b.step) }

// nearestRank is the smallest value v with at least q·n values <= v.
func nearestRank(values []float64, q float64) float64 {
	s := slices.Clone(values)
	slices.Sort(s)
	rank := int(math.Ceil(q*float64(len(s)) - 1e-9))
	rank = max(rank, 1)
	rank = min(rank, len(s))
	return s[rank-1]
}

// latencyBounds are the upper bounds of the heatmap buckets (the last is +Inf).
var latencyBounds = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, math.Inf(1)}

var latencyBucketNames = []string{"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "30", "60", "+Inf"}

func latencyBucket(l float64) int {
	for i, b := range latencyBounds {
		if l <= b {
			return i
		}
	}
	return len(latencyBounds) - 1
}

// counted is a value with its count.
type counted struct {
	value string
	count int
}

// countBy counts events per dimension value (each group for user.groups).
func countBy(evs []*refEvent, dim string) map[string]int {
	out := map[string]int{}
	for _, e := range evs {
		for _, v := range e.dim(dim) {
			out[v]++
		}
	}
	return out
}

// ranked orders counts by count descending, ties by value.
func ranked(counts map[string]int) []counted {
	out := make([]counted, 0, len(counts))
	for v, c := range counts {
		out = append(out, counted{v, c})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].count != out[j].count {
			return out[i].count > out[j].count
		}
		return out[i].value < out[j].value
	})
	return out
}

// noneValue maps how the plugin may show a missing value ("(none)") to the model's "".
func noneValue(s string) string {
	if s == "(none)" {
		return ""
	}
	return s
}
