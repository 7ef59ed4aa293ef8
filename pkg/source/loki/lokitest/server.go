// Package lokitest is a local Loki for tests. No Loki binary can run here (and Loki's code is
// AGPL: none of it is imported), so this server implements, from Loki's documented HTTP API
// and the Apache-2.0 response samples in testdata/loki, the semantics the plugin depends on:
//
//   - GET /loki/api/v1/query_range: log queries with limit (default 100), direction
//     (forward|backward, default backward), start inclusive and end exclusive in nanoseconds;
//     metric queries evaluated every step with left-open, right-closed ranges; "streams" and
//     "matrix" results shaped like Loki's (status, data.resultType, data.result, data.stats).
//   - GET /loki/api/v1/query: instant metric queries ("vector").
//   - GET /loki/api/v1/labels, /label/{name}/values, /series, /index/stats.
//   - Loki's limits as errors, with Loki's messages: limit > max_entries_limit_per_query is a
//     400 (Loki refuses, it does not truncate), a range longer than max_query_length is a 400,
//     more than max_query_series series is a 400, more than 11000 points is a 400.
//   - X-Scope-OrgID: a server with a tenant answers 401 "no org id" without the header, and
//     holds no data for other tenants (empty results, as Loki does); basic and bearer auth
//     (as a gateway in front of Loki would enforce) answer 401.
//   - Fault injection: Fail makes the next requests answer a status (429, 500, 503...);
//     Delay slows every answer (timeouts); Inject schedules one fault on a path after some
//     requests (mid-paging): a status with Retry-After, a connection reset (the connection is
//     hijacked and closed with an RST), a slow answer (past the client's timeout), a truncated
//     JSON body, or a result whose entries are repeated (every stream or series listed twice,
//     as from replicas the querier failed to merge).
//
// It is test code: production code never imports it.
package lokitest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Limits are Loki's per-tenant query limits (defaults as in Loki's limits_config).
type Limits struct {
	MaxEntriesLimitPerQuery int           // 5000
	MaxQueryLength          time.Duration // 721h
	MaxQuerySeries          int           // 500
	MaxPoints               int           // 11000
}

// Server is a running test Loki.
type Server struct {
	*httptest.Server

	// Set before the first request.
	Limits    Limits
	Tenant    string // required X-Scope-OrgID when set
	BasicUser string // basic auth when set
	BasicPass string
	Bearer    string // bearer token when set

	mu       sync.Mutex
	streams  []*lstream
	fail     []failure
	faults   []*injected
	delay    time.Duration
	requests map[string]int
	queries  []string
	tails    tailConns // open /loki/api/v1/tail WebSockets (tail.go)
}

type lstream struct {
	labels  map[string]string
	entries []lentry // sorted by ts
	sorted  bool
}

type lentry struct {
	ts   int64
	line string
}

type failure struct {
	status int
	body   string
	header http.Header
}

// FaultKind is how an injected fault breaks a request.
type FaultKind int

// Fault kinds.
const (
	// FaultStatus answers Status with Body, and a Retry-After header (seconds) when RetryAfter > 0.
	FaultStatus FaultKind = iota
	// FaultReset hijacks the connection and closes it with an RST, before any answer.
	FaultReset
	// FaultSlow answers normally after Delay, or never if the client gives up first.
	FaultSlow
	// FaultTruncate answers 200 with the first half of the JSON body only.
	FaultTruncate
	// FaultRepeat answers 200 with every stream (log queries) or series (metric queries) of the
	// result listed twice: each entry or sample is repeated.
	FaultRepeat
)

// Fault is a fault Inject schedules.
type Fault struct {
	Kind FaultKind
	// Path limits the fault to requests of this path, e.g. /loki/api/v1/query_range ("" any).
	Path string
	// After lets this many matching requests through before the first faulted one.
	After int
	// Times is how many matching requests are faulted after those (0 means 1, < 0 every one).
	Times int
	// FaultStatus.
	Status     int
	Body       string
	RetryAfter int
	// FaultSlow.
	Delay time.Duration
}

type injected struct {
	Fault
	seen int // matching requests so far
}

// Inject schedules a fault. Faults are checked in the order they were injected; the first due
// one applies (every fault counts every matching request, applied or not).
func (s *Server) Inject(f Fault) {
	if f.Times == 0 {
		f.Times = 1
	}
	s.mu.Lock()
	s.faults = append(s.faults, &injected{Fault: f})
	s.mu.Unlock()
}

// due returns the fault this request gets, if any (locked).
func (s *Server) due(path string) *Fault {
	var hit *Fault
	for _, f := range s.faults {
		if f.Path != "" && f.Path != path {
			continue
		}
		f.seen++
		if hit == nil && f.seen > f.After && (f.Times < 0 || f.seen <= f.After+f.Times) {
			cp := f.Fault
			hit = &cp
		}
	}
	return hit
}

// New starts a server with Loki's default limits.
func New() *Server {
	s := &Server{
		Limits: Limits{
			MaxEntriesLimitPerQuery: 5000,
			MaxQueryLength:          721 * time.Hour,
			MaxQuerySeries:          500,
			MaxPoints:               11000,
		},
		requests: map[string]int{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /loki/api/v1/query_range", s.wrap(s.queryRange))
	mux.HandleFunc("GET /loki/api/v1/query", s.wrap(s.instant))
	mux.HandleFunc("GET /loki/api/v1/labels", s.wrap(s.labels))
	mux.HandleFunc("GET /loki/api/v1/label/{name}/values", s.wrap(s.labelValues))
	mux.HandleFunc("GET /loki/api/v1/series", s.wrap(s.series))
	mux.HandleFunc("GET /loki/api/v1/index/stats", s.wrap(s.indexStats))
	mux.HandleFunc("GET /loki/api/v1/tail", s.wrap(s.tail))
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ready\n")) })
	s.Server = httptest.NewServer(mux)
	return s
}

// Push adds a line to the stream with these labels at ts (Loki's timestamp).
func (s *Server) Push(labels map[string]string, ts time.Time, line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.streams {
		if maps2eq(st.labels, labels) {
			st.entries = append(st.entries, lentry{ts.UnixNano(), line})
			st.sorted = false
			return
		}
	}
	cp := map[string]string{}
	for k, v := range labels {
		cp[k] = v
	}
	s.streams = append(s.streams, &lstream{labels: cp, entries: []lentry{{ts.UnixNano(), line}}})
}

func maps2eq(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

// Fail makes the next n requests answer status with body (and a Retry-After when retryAfter > 0).
func (s *Server) Fail(status, n int, body string, retryAfter int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := http.Header{}
	if retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(retryAfter))
	}
	for range n {
		s.fail = append(s.fail, failure{status, body, h})
	}
}

// SetDelay delays every answer.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	s.delay = d
	s.mu.Unlock()
}

// Requests returns how many requests reached a path.
func (s *Server) Requests(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[path]
}

// Queries returns the LogQL queries received, in order.
func (s *Server) Queries() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.queries)
}

func (s *Server) wrap(h func(w http.ResponseWriter, r *http.Request, streams []*lstream)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		handler := h // this request's (a fault may wrap it)
		s.mu.Lock()
		s.requests[r.URL.Path]++
		if q := r.URL.Query().Get("query"); q != "" {
			s.queries = append(s.queries, q)
		}
		delay := s.delay
		var f *failure
		if len(s.fail) > 0 {
			f = &s.fail[0]
			s.fail = s.fail[1:]
		}
		inj := s.due(r.URL.Path)
		s.mu.Unlock()
		if inj != nil {
			switch inj.Kind {
			case FaultStatus:
				f = &failure{status: inj.Status, body: inj.Body, header: http.Header{}}
				if inj.RetryAfter > 0 {
					f.header.Set("Retry-After", strconv.Itoa(inj.RetryAfter))
				}
			case FaultReset:
				reset(w)
				return
			case FaultSlow:
				delay += inj.Delay
			case FaultTruncate, FaultRepeat:
				handler = faulty(h, inj.Kind, httptest.NewRecorder(), w)
			}
		}
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		if f != nil {
			for k, v := range f.header {
				w.Header()[k] = v
			}
			http.Error(w, f.body, f.status)
			return
		}
		if s.BasicUser != "" {
			u, p, ok := r.BasicAuth()
			if !ok || u != s.BasicUser || p != s.BasicPass {
				http.Error(w, "Unauthorized", http.StatusUnauthorized)
				return
			}
		}
		if s.Bearer != "" && r.Header.Get("Authorization") != "Bearer "+s.Bearer {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		var streams []*lstream
		if s.Tenant != "" {
			org := r.Header.Get("X-Scope-OrgID")
			if org == "" {
				http.Error(w, "no org id", http.StatusUnauthorized)
				return
			}
			if org == s.Tenant {
				streams = s.snapshot()
			}
		} else {
			streams = s.snapshot()
		}
		handler(w, r, streams)
	}
}

// reset closes the request's connection with an RST (SO_LINGER 0): the client sees
// "connection reset by peer" or an EOF, never an answer.
func reset(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err) // httptest servers speak HTTP/1.1: hijacking works
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// faulty runs h into rec, then writes a broken copy of its answer to w.
func faulty(h func(w http.ResponseWriter, r *http.Request, streams []*lstream), kind FaultKind, rec *httptest.ResponseRecorder, w http.ResponseWriter) func(http.ResponseWriter, *http.Request, []*lstream) {
	return func(_ http.ResponseWriter, r *http.Request, streams []*lstream) {
		h(rec, r, streams)
		body := rec.Body.Bytes()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		if rec.Code == http.StatusOK {
			switch kind {
			case FaultTruncate:
				body = body[:len(body)/2]
			case FaultRepeat:
				body = repeatResult(body)
			}
		}
		w.Header().Del("Content-Length")
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body)
	}
}

// repeatResult lists every stream or series of a query answer twice.
func repeatResult(body []byte) []byte {
	var resp map[string]any
	if json.Unmarshal(body, &resp) != nil {
		return body
	}
	data, ok := resp["data"].(map[string]any)
	if !ok {
		return body
	}
	result, ok := data["result"].([]any)
	if !ok {
		return body
	}
	data["result"] = append(result, result...)
	var b bytes.Buffer
	_ = json.NewEncoder(&b).Encode(resp)
	return b.Bytes()
}

// snapshot sorts the streams' entries once and returns copies of the streams: a query reads
// its copy's entries while Push appends to the server's (past the copy's length, or into a new
// array), so neither sees the other's writes.
func (s *Server) snapshot() []*lstream {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*lstream, len(s.streams))
	for i, st := range s.streams {
		if !st.sorted {
			cp := &lstream{labels: st.labels, entries: slices.Clone(st.entries), sorted: true}
			sort.SliceStable(cp.entries, func(a, b int) bool { return cp.entries[a].ts < cp.entries[b].ts })
			s.streams[i] = cp
		}
		c := *s.streams[i]
		out[i] = &c
	}
	return out
}

func badRequest(w http.ResponseWriter, format string, args ...any) {
	http.Error(w, fmt.Sprintf(format, args...), http.StatusBadRequest)
}

// parseTime accepts nanoseconds, float seconds or RFC3339, as Loki does.
func parseTime(v string, def time.Time) (int64, error) {
	if v == "" {
		return def.UnixNano(), nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if len(v) <= 10 { // seconds
			return n * int64(time.Second), nil
		}
		return n, nil
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		return int64(f * 1e9), nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return 0, fmt.Errorf("cannot parse %q to a valid timestamp", v)
	}
	return t.UnixNano(), nil
}

func parseStep(v string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		return time.Duration(f * 1e9), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("cannot parse %q to a valid duration", v)
	}
	return d, nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_ = json.NewEncoder(w).Encode(v)
}

// stats is the shape of Loki's data.stats (abridged; the plugin does not read it).
func stats(lines int, bytes int) map[string]any {
	return map[string]any{"summary": map[string]any{
		"bytesProcessedPerSecond": 0, "linesProcessedPerSecond": 0,
		"totalBytesProcessed": bytes, "totalLinesProcessed": lines, "execTime": 0.001,
	}}
}

type streamOut struct {
	Stream map[string]string `json:"stream"`
	Values [][2]string       `json:"values"`
}

func (s *Server) queryRange(w http.ResponseWriter, r *http.Request, streams []*lstream) {
	p := r.URL.Query()
	now := time.Now()
	start, err := parseTime(p.Get("start"), now.Add(-time.Hour))
	if err != nil {
		badRequest(w, "%v", err)
		return
	}
	end, err := parseTime(p.Get("end"), now)
	if err != nil {
		badRequest(w, "%v", err)
		return
	}
	if end < start {
		badRequest(w, "end timestamp must not be before or equal to start time")
		return
	}
	lq, mq, err := parseQuery(p.Get("query"))
	if err != nil {
		badRequest(w, "%v", err)
		return
	}
	if l := time.Duration(end - start); l > s.Limits.MaxQueryLength {
		badRequest(w, "the query time range exceeds the limit (query length: %s, limit: %s)", l, s.Limits.MaxQueryLength)
		return
	}
	if mq != nil {
		step := time.Duration(0)
		if v := p.Get("step"); v != "" {
			if step, err = parseStep(v); err != nil {
				badRequest(w, "%v", err)
				return
			}
		}
		if step <= 0 {
			badRequest(w, "zero or negative query resolution step widths are not accepted. Try a positive integer")
			return
		}
		if (end-start)/int64(step) > int64(s.Limits.MaxPoints) {
			badRequest(w, "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)")
			return
		}
		var evals []int64
		for t := start; t <= end; t += int64(step) {
			evals = append(evals, t)
		}
		s.metric(w, mq, streams, evals, false)
		return
	}
	limit, msg := s.entryLimit(p)
	if msg != "" {
		badRequest(w, "%s", msg)
		return
	}
	forward := strings.EqualFold(p.Get("direction"), "forward")
	type hit struct {
		ts     int64
		stream int
		line   string
		labels map[string]string
	}
	var hits []hit
	for i, st := range streams {
		if !lq.selects(st.labels) {
			continue
		}
		lo := sort.Search(len(st.entries), func(j int) bool { return st.entries[j].ts >= start })
		for _, e := range st.entries[lo:] {
			if e.ts >= end {
				break
			}
			keep, line, labels := lq.process(e.line, st.labels)
			if !keep {
				continue
			}
			hits = append(hits, hit{e.ts, i, line, labels})
		}
	}
	sort.SliceStable(hits, func(a, b int) bool {
		if hits[a].ts != hits[b].ts {
			if forward {
				return hits[a].ts < hits[b].ts
			}
			return hits[a].ts > hits[b].ts
		}
		return hits[a].stream < hits[b].stream
	})
	if len(hits) > limit {
		hits = hits[:limit]
	}
	var out []*streamOut
	byKey := map[string]*streamOut{}
	bytes := 0
	for _, h := range hits {
		k := fmt.Sprint(h.labels)
		so := byKey[k]
		if so == nil {
			so = &streamOut{Stream: h.labels}
			byKey[k] = so
			out = append(out, so)
		}
		so.Values = append(so.Values, [2]string{strconv.FormatInt(h.ts, 10), h.line})
		bytes += len(h.line)
	}
	if out == nil {
		out = []*streamOut{}
	}
	writeJSON(w, map[string]any{"status": "success", "data": map[string]any{
		"resultType": "streams", "result": out, "stats": stats(len(hits), bytes)}})
}

func (s *Server) instant(w http.ResponseWriter, r *http.Request, streams []*lstream) {
	p := r.URL.Query()
	t, err := parseTime(p.Get("time"), time.Now())
	if err != nil {
		badRequest(w, "%v", err)
		return
	}
	_, mq, err := parseQuery(p.Get("query"))
	if err != nil {
		badRequest(w, "%v", err)
		return
	}
	if mq == nil {
		badRequest(w, "log queries are not supported as an instant query type, please change your query to a range query type")
		return
	}
	if mq.rng > s.Limits.MaxQueryLength {
		badRequest(w, "the query time range exceeds the limit (query length: %s, limit: %s)", mq.rng, s.Limits.MaxQueryLength)
		return
	}
	s.metric(w, mq, streams, []int64{t}, true)
}

// metric evaluates count_over_time over (t-range, t] at every evaluation time.
func (s *Server) metric(w http.ResponseWriter, mq *metricQuery, streams []*lstream, evals []int64, instant bool) {
	type series struct {
		labels map[string]string
		counts map[int]float64
	}
	all := map[string]*series{}
	var order []string
	rng := int64(mq.rng)
	lo, hi := evals[0]-rng, evals[len(evals)-1]
	// What Loki reports as processed: every line of the selected streams in the range, before
	// line filters (they run over the lines read from chunks).
	processedLines, processedBytes := 0, 0
	for _, st := range streams {
		if !mq.log.selects(st.labels) {
			continue
		}
		first := sort.Search(len(st.entries), func(j int) bool { return st.entries[j].ts > lo })
		for _, e := range st.entries[first:] {
			if e.ts > hi {
				break
			}
			processedLines++
			processedBytes += len(e.line)
			keep, _, got := mq.log.process(e.line, st.labels)
			if !keep {
				continue
			}
			labels := got
			if mq.sum {
				labels = map[string]string{}
				for _, b := range mq.by {
					if v := got[b]; v != "" {
						labels[b] = v
					}
				}
			}
			k := fmt.Sprint(labels)
			se := all[k]
			if se == nil {
				se = &series{labels: labels, counts: map[int]float64{}}
				all[k] = se
				order = append(order, k)
			}
			// Every evaluation t with t-range < ts <= t.
			i0 := sort.Search(len(evals), func(i int) bool { return evals[i] >= e.ts })
			for i := i0; i < len(evals) && evals[i]-rng < e.ts; i++ {
				se.counts[i]++
			}
		}
	}
	if len(order) > s.Limits.MaxQuerySeries {
		badRequest(w, "maximum number of series (%d) reached for a single query; consider reducing query cardinality by adding more specific stream selectors, reducing the time range, or aggregating results with functions like sum(), count() or topk()", s.Limits.MaxQuerySeries)
		return
	}
	// Sample times are Prometheus model times: milliseconds, printed as float seconds.
	secs := func(t int64) json.Number {
		ms := t / int64(time.Millisecond)
		return json.Number(strconv.FormatFloat(float64(ms)/1e3, 'f', -1, 64))
	}
	if instant {
		out := []map[string]any{}
		for _, k := range order {
			se := all[k]
			if n := se.counts[0]; n > 0 {
				out = append(out, map[string]any{"metric": se.labels, "value": []any{secs(evals[0]), strconv.FormatFloat(n, 'f', -1, 64)}})
			}
		}
		writeJSON(w, map[string]any{"status": "success", "data": map[string]any{"resultType": "vector", "result": out, "stats": stats(processedLines, processedBytes)}})
		return
	}
	out := []map[string]any{}
	for _, k := range order {
		se := all[k]
		var values [][]any
		for i := range evals {
			if n := se.counts[i]; n > 0 {
				values = append(values, []any{secs(evals[i]), strconv.FormatFloat(n, 'f', -1, 64)})
			}
		}
		if len(values) > 0 {
			out = append(out, map[string]any{"metric": se.labels, "values": values})
		}
	}
	writeJSON(w, map[string]any{"status": "success", "data": map[string]any{"resultType": "matrix", "result": out, "stats": stats(processedLines, processedBytes)}})
}

func (s *Server) labels(w http.ResponseWriter, _ *http.Request, streams []*lstream) {
	set := map[string]bool{}
	for _, st := range streams {
		for k := range st.labels {
			set[k] = true
		}
	}
	names := []string{}
	for k := range set {
		names = append(names, k)
	}
	slices.Sort(names)
	writeJSON(w, map[string]any{"status": "success", "data": names})
}

func (s *Server) labelValues(w http.ResponseWriter, r *http.Request, streams []*lstream) {
	name := r.PathValue("name")
	set := map[string]bool{}
	for _, st := range streams {
		if v, ok := st.labels[name]; ok {
			set[v] = true
		}
	}
	values := []string{}
	for v := range set {
		values = append(values, v)
	}
	slices.Sort(values)
	writeJSON(w, map[string]any{"status": "success", "data": values})
}

func (s *Server) series(w http.ResponseWriter, r *http.Request, streams []*lstream) {
	p := r.URL.Query()
	matches := p["match[]"]
	if len(matches) == 0 {
		matches = p["match"]
	}
	out := []map[string]string{}
	for _, m := range matches {
		lq, _, err := parseQuery(m)
		if err != nil || lq == nil || len(lq.stages) > 0 {
			badRequest(w, "only label matchers are supported")
			return
		}
		for _, st := range streams {
			if lq.selects(st.labels) && len(st.entries) > 0 {
				out = append(out, st.labels)
			}
		}
	}
	writeJSON(w, map[string]any{"status": "success", "data": out})
}

func (s *Server) indexStats(w http.ResponseWriter, r *http.Request, streams []*lstream) {
	p := r.URL.Query()
	start, err1 := parseTime(p.Get("start"), time.Now().Add(-time.Hour))
	end, err2 := parseTime(p.Get("end"), time.Now())
	lq, _, err := parseQuery(p.Get("query"))
	if err1 != nil || err2 != nil || err != nil || lq == nil {
		badRequest(w, "invalid index stats request")
		return
	}
	var nStreams, entries, bytes int
	for _, st := range streams {
		if !lq.selects(st.labels) {
			continue
		}
		n := 0
		for _, e := range st.entries {
			if e.ts >= start && e.ts < end {
				n++
				bytes += len(e.line)
			}
		}
		if n > 0 {
			nStreams++
			entries += n
		}
	}
	writeJSON(w, map[string]any{"streams": nStreams, "chunks": nStreams, "entries": entries, "bytes": bytes})
}
