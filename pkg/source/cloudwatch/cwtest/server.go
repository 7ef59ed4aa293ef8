// Package cwtest is a local CloudWatch Logs server for tests. AWS cannot be reached from the
// test environment, so the real AWS SDK client is pointed at this server (BaseEndpoint, static
// credentials): it speaks the service's real wire protocol, JSON 1.1 — `POST /`,
// `X-Amz-Target: Logs_20140328.<Operation>`, `Content-Type: application/x-amz-json-1.1`, errors
// as HTTP 400 with `{"__type": "com.amazonaws.logs#ThrottlingException", "message": ...}` —
// with the request and response shapes of the botocore service model and the AWS CLI examples
// (testdata/cloudwatch). It implements FilterLogEvents (nextToken paging across interleaved
// streams, stream prefix, JSON filter patterns), DescribeLogGroups, DescribeLogStreams and
// Logs Insights StartQuery / GetQueryResults (Scheduled → Running → Complete, rows as
// field/value lists, statistics) / StopQuery, for the query shapes the plugin sends.
//
// Fault injection (Server.Fault): an AWS error with any HTTP status (429 or 5xx, with a
// Retry-After header or a proxy's plain-text body), a connection reset (the connection is
// hijacked and closed with an RST), a slow answer (past the client's timeout), a truncated JSON
// body, and an answer whose events or result rows are all repeated.
//
// It is test code: only tests import it.
package cwtest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Region and credentials the server accepts by default.
const (
	Region    = "us-east-1"
	AccessKey = "AKIDCWTEST"
	SecretKey = "cwtest-secret"
	Account   = "111111111111"
)

// Event is one log event.
type Event struct {
	Timestamp int64 // ms
	Message   string
}

// FaultKind is how a faulted call fails.
type FaultKind int

// Fault kinds.
const (
	// FaultError answers an AWS error: Status (default 400) with {"__type": Code, "message"}.
	FaultError FaultKind = iota
	// FaultReset hijacks the connection and closes it with an RST, before any answer.
	FaultReset
	// FaultSlow handles the call but answers only after Delay, or never if the client gives
	// up first.
	FaultSlow
	// FaultTruncate handles the call and answers 200 with the first half of the JSON body.
	FaultTruncate
	// FaultRepeat handles the call and answers 200 with every event (FilterLogEvents) or
	// result row (GetQueryResults) listed twice.
	FaultRepeat
)

// Fault is what the server does instead of answering a call normally.
type Fault struct {
	Kind    FaultKind
	Code    string // FaultError: e.g. ThrottlingException
	Message string
	Status  int // FaultError: default 400
	// RetryAfter, if set, is sent as the Retry-After header (FaultError).
	RetryAfter string
	// Body, if set, replaces the JSON error body (FaultError), as a proxy in front of the
	// service answers: text/plain, no __type.
	Body string
	// Delay is how long a FaultSlow call waits before answering.
	Delay time.Duration
}

type stream struct {
	name   string
	events []storedEvent
}

type storedEvent struct {
	Event
	stream    string
	seq       int
	ingestion int64
	id        string
}

// Server is a CloudWatch Logs endpoint. Configure its exported fields before the first call.
type Server struct {
	*httptest.Server

	// PageSize caps the events of one FilterLogEvents page (the service: 10,000 or 1 MB).
	PageSize int
	// RepeatBoundary makes every page after the first start with the previous page's last event
	// again (the client must not deliver it twice).
	RepeatBoundary bool
	// EmptyPageEvery inserts an empty page with a nextToken before every n-th page (the service
	// does that while it searches).
	EmptyPageEvery int
	// Fault, if set, is asked before each call (op is the operation, n counts calls of that
	// operation from 1); a non-nil Fault is answered instead.
	Fault func(op string, n int) *Fault
	// RunningPolls is how many GetQueryResults calls see Running before Complete (after one
	// Scheduled).
	RunningPolls int
	// MaxQueries is the account's concurrent Insights query quota (LimitExceededException above).
	MaxQueries int
	// FinalStatus, if set, ends queries with this status instead of Complete.
	FinalStatus string

	mu        sync.Mutex
	groups    map[string]map[string]*stream
	seq       int
	calls     map[string]int
	callTimes map[string][]time.Time
	queries   map[string]*insightsQuery
	running   int
	maxSeen   int
	stopped   []string
	denied    map[string]bool // log groups the identity may not read
	expired   bool
	lastQuery string
}

// New starts a server; it is closed when the test ends via t.Cleanup by the caller (Close).
func New() *Server {
	s := &Server{
		PageSize:     10000,
		RunningPolls: 2,
		MaxQueries:   30,
		groups:       map[string]map[string]*stream{},
		calls:        map[string]int{},
		callTimes:    map[string][]time.Time{},
		queries:      map[string]*insightsQuery{},
		denied:       map[string]bool{},
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// AddGroup creates an empty log group.
func (s *Server) AddGroup(group string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.groups[group] == nil {
		s.groups[group] = map[string]*stream{}
	}
}

// Add appends events to a stream, creating the group and stream.
func (s *Server) Add(group, streamName string, evs ...Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.groups[group] == nil {
		s.groups[group] = map[string]*stream{}
	}
	st := s.groups[group][streamName]
	if st == nil {
		st = &stream{name: streamName}
		s.groups[group][streamName] = st
	}
	for _, e := range evs {
		s.seq++
		st.events = append(st.events, storedEvent{Event: e, stream: streamName, seq: s.seq, ingestion: e.Timestamp + 1500,
			id: fmt.Sprintf("%056d", s.seq)})
	}
}

// Deny makes every call on group fail with AccessDeniedException.
func (s *Server) Deny(group string) { s.mu.Lock(); s.denied[group] = true; s.mu.Unlock() }

// ExpireCredentials makes every call fail with ExpiredTokenException.
func (s *Server) ExpireCredentials() { s.mu.Lock(); s.expired = true; s.mu.Unlock() }

// Calls is how often op was called (including faulted calls).
func (s *Server) Calls(op string) int { s.mu.Lock(); defer s.mu.Unlock(); return s.calls[op] }

// CallTimes are the arrival times of op's calls.
func (s *Server) CallTimes(op string) []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.callTimes[op]...)
}

// MaxConcurrentQueries is the most Insights queries that were Scheduled or Running at once.
func (s *Server) MaxConcurrentQueries() int { s.mu.Lock(); defer s.mu.Unlock(); return s.maxSeen }

// Stopped lists the query ids StopQuery was called with.
func (s *Server) Stopped() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.stopped...)
}

// LastQuery is the query string of the last StartQuery.
func (s *Server) LastQuery() string { s.mu.Lock(); defer s.mu.Unlock(); return s.lastQuery }

type apiError struct {
	status int
	code   string
	msg    string
}

func errf(code, format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, code, fmt.Sprintf(format, args...)}
}

var credentialRE = regexp.MustCompile(`Credential=([^/]+)/\d{8}/([^/]+)/([^/]+)/aws4_request`)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	reply := func(status int, v any) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("X-Amzn-Requestid", "00000000-0000-4000-8000-000000000000")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	fail := func(e *apiError) {
		reply(e.status, map[string]string{"__type": "com.amazonaws.logs#" + e.code, "message": e.msg})
	}
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, "Logs_20140328.")
	if r.Method != http.MethodPost || r.URL.Path != "/" || !ok {
		fail(&apiError{http.StatusBadRequest, "UnknownOperationException", "unknown operation " + target})
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		fail(errf("SerializationException", "unexpected Content-Type %q", ct))
		return
	}
	m := credentialRE.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil || !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		fail(errf("MissingAuthenticationTokenException", "Missing Authentication Token"))
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		fail(errf("SerializationException", "%v", err))
		return
	}

	s.mu.Lock()
	s.calls[op]++
	n := s.calls[op]
	s.callTimes[op] = append(s.callTimes[op], time.Now())
	expired := s.expired
	s.mu.Unlock()
	switch {
	case m[1] != AccessKey:
		fail(errf("UnrecognizedClientException", "The security token included in the request is invalid."))
		return
	case m[2] != Region || m[3] != "logs":
		fail(errf("InvalidSignatureException", "Credential should be scoped to a valid region and service logs."))
		return
	case expired:
		fail(errf("ExpiredTokenException", "The security token included in the request is expired"))
		return
	}
	var after FaultKind
	if s.Fault != nil {
		if f := s.Fault(op, n); f != nil {
			switch f.Kind {
			case FaultError:
				st := f.Status
				if st == 0 {
					st = http.StatusBadRequest
				}
				if f.RetryAfter != "" {
					w.Header().Set("Retry-After", f.RetryAfter)
				}
				if f.Body != "" {
					w.Header().Set("Content-Type", "text/plain; charset=utf-8")
					w.WriteHeader(st)
					_, _ = io.WriteString(w, f.Body)
					return
				}
				fail(&apiError{st, f.Code, f.Message})
				return
			case FaultReset:
				reset(w)
				return
			case FaultSlow:
				select {
				case <-time.After(f.Delay):
				case <-r.Context().Done():
					return
				}
			default:
				after = f.Kind
			}
		}
	}

	var out any
	var apiErr *apiError
	switch op {
	case "FilterLogEvents":
		out, apiErr = s.filterLogEvents(body)
	case "DescribeLogGroups":
		out, apiErr = s.describeLogGroups(body)
	case "DescribeLogStreams":
		out, apiErr = s.describeLogStreams(body)
	case "StartQuery":
		out, apiErr = s.startQuery(body)
	case "GetQueryResults":
		out, apiErr = s.getQueryResults(body)
	case "StopQuery":
		out, apiErr = s.stopQuery(body)
	default:
		apiErr = &apiError{http.StatusBadRequest, "UnknownOperationException", "operation " + op + " is not modelled by cwtest"}
	}
	if apiErr != nil {
		fail(apiErr)
		return
	}
	switch after {
	case FaultRepeat:
		out = repeat(out)
	case FaultTruncate:
		raw, _ := json.Marshal(out)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(raw[:len(raw)/2])
		return
	}
	reply(http.StatusOK, out)
}

// reset closes the call's connection with an RST (SO_LINGER 0): the client sees "connection
// reset by peer" or an EOF, never an answer.
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

// repeat lists every event or result row of an answer twice.
func repeat(out any) any {
	raw, err := json.Marshal(out)
	if err != nil {
		return out
	}
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return out
	}
	for _, k := range []string{"events", "results"} {
		if list, ok := m[k].([]any); ok {
			m[k] = append(list, list...)
		}
	}
	return m
}

func decode(body []byte, v any) *apiError {
	if err := json.Unmarshal(body, v); err != nil {
		return errf("SerializationException", "%v", err)
	}
	return nil
}

// group returns a log group's streams, or the service's errors (locked).
func (s *Server) group(name, op string) (map[string]*stream, *apiError) {
	if s.denied[name] {
		return nil, errf("AccessDeniedException", "User: arn:aws:iam::%s:user/cwtest is not authorized to perform: logs:%s on resource: arn:aws:logs:%s:%s:log-group:%s:log-stream: because no identity-based policy allows the logs:%s action", Account, op, Region, Account, name, op)
	}
	g, ok := s.groups[name]
	if !ok {
		return nil, errf("ResourceNotFoundException", "The specified log group does not exist.")
	}
	return g, nil
}

type filterReq struct {
	LogGroupName        string   `json:"logGroupName"`
	LogGroupIdentifier  string   `json:"logGroupIdentifier"`
	LogStreamNames      []string `json:"logStreamNames"`
	LogStreamNamePrefix string   `json:"logStreamNamePrefix"`
	StartTime           *int64   `json:"startTime"`
	EndTime             *int64   `json:"endTime"`
	FilterPattern       string   `json:"filterPattern"`
	NextToken           string   `json:"nextToken"`
	Limit               *int     `json:"limit"`
}

type filteredEvent struct {
	LogStreamName string `json:"logStreamName"`
	Timestamp     int64  `json:"timestamp"`
	Message       string `json:"message"`
	IngestionTime int64  `json:"ingestionTime"`
	EventID       string `json:"eventId"`
}

type pageToken struct {
	Offset int    `json:"o"`
	Page   int    `json:"p"`
	Sig    string `json:"s"` // the request it continues
	Empty  bool   `json:"e"` // the empty page before this one was served
}

func (s *Server) filterLogEvents(body []byte) (any, *apiError) {
	var req filterReq
	if e := decode(body, &req); e != nil {
		return nil, e
	}
	if req.LogGroupName == "" {
		req.LogGroupName = req.LogGroupIdentifier
	}
	if req.LogStreamNamePrefix != "" && len(req.LogStreamNames) > 0 {
		return nil, errf("InvalidParameterException", "logStreamNames and logStreamNamePrefix are mutually exclusive")
	}
	if req.Limit != nil && (*req.Limit < 1 || *req.Limit > 10000) {
		return nil, errf("InvalidParameterException", "1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 10000", *req.Limit)
	}
	var match expr
	if p := strings.TrimSpace(req.FilterPattern); p != "" {
		inner, ok := strings.CutPrefix(p, "{")
		inner, ok2 := strings.CutSuffix(inner, "}")
		if !ok || !ok2 {
			return nil, errf("InvalidParameterException", "cwtest models only JSON filter patterns, got %q", p)
		}
		e, err := parseExpr(inner)
		if err != nil {
			return nil, errf("InvalidParameterException", "Invalid filter pattern: %v", err)
		}
		match = e
	}
	sig := fmt.Sprintf("%s|%s|%q|%v|%v|%s", req.LogGroupName, req.LogStreamNamePrefix, req.LogStreamNames, deref(req.StartTime), deref(req.EndTime), req.FilterPattern)
	tok := pageToken{Sig: sig}
	if req.NextToken != "" {
		raw, err := base64.StdEncoding.DecodeString(req.NextToken)
		if err != nil || json.Unmarshal(raw, &tok) != nil || tok.Sig != sig {
			return nil, errf("InvalidParameterException", "The specified nextToken is invalid.")
		}
	}

	s.mu.Lock()
	g, apiErr := s.group(req.LogGroupName, "FilterLogEvents")
	var all []storedEvent
	var searched []map[string]any
	if apiErr == nil {
		for name, st := range g {
			if req.LogStreamNamePrefix != "" && !strings.HasPrefix(name, req.LogStreamNamePrefix) {
				continue
			}
			if len(req.LogStreamNames) > 0 && !contains(req.LogStreamNames, name) {
				continue
			}
			searched = append(searched, map[string]any{"logStreamName": name, "searchedCompletely": true})
			for _, e := range st.events {
				if req.StartTime != nil && e.Timestamp < *req.StartTime || req.EndTime != nil && e.Timestamp > *req.EndTime {
					continue
				}
				if match != nil && !match(flatten(e.Message)) {
					continue
				}
				all = append(all, e)
			}
		}
	}
	s.mu.Unlock()
	if apiErr != nil {
		return nil, apiErr
	}
	// Interleaved: every stream's events in one timestamp order.
	sort.Slice(all, func(i, j int) bool {
		if all[i].Timestamp != all[j].Timestamp {
			return all[i].Timestamp < all[j].Timestamp
		}
		return all[i].seq < all[j].seq
	})
	size := s.PageSize
	if req.Limit != nil && *req.Limit < size {
		size = *req.Limit
	}
	start := tok.Offset
	if s.RepeatBoundary && start > 0 {
		start--
	}
	page := []filteredEvent{}
	next, nextTok := tok.Offset, pageToken{Page: tok.Page + 1, Sig: sig}
	if s.EmptyPageEvery > 0 && tok.Page > 0 && tok.Page%s.EmptyPageEvery == 0 && !tok.Empty {
		nextTok = pageToken{Offset: tok.Offset, Page: tok.Page, Sig: sig, Empty: true}
		raw, _ := json.Marshal(nextTok)
		return map[string]any{"events": page, "searchedLogStreams": []any{}, "nextToken": base64.StdEncoding.EncodeToString(raw)}, nil
	}
	for i := start; i < len(all) && len(page) < size; i++ {
		e := all[i]
		page = append(page, filteredEvent{e.stream, e.Timestamp, e.Message, e.ingestion, e.id})
		next = i + 1
	}
	sort.Slice(searched, func(i, j int) bool {
		return searched[i]["logStreamName"].(string) < searched[j]["logStreamName"].(string)
	})
	out := map[string]any{"events": page, "searchedLogStreams": searched}
	if next < len(all) {
		nextTok.Offset = next
		raw, _ := json.Marshal(nextTok)
		out["nextToken"] = base64.StdEncoding.EncodeToString(raw)
	}
	return out, nil
}

func deref(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func (s *Server) describeLogGroups(body []byte) (any, *apiError) {
	var req struct {
		LogGroupNamePrefix string `json:"logGroupNamePrefix"`
		Limit              *int   `json:"limit"`
	}
	if e := decode(body, &req); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.denied[req.LogGroupNamePrefix] {
		return nil, errf("AccessDeniedException", "User: arn:aws:iam::%s:user/cwtest is not authorized to perform: logs:DescribeLogGroups", Account)
	}
	var names []string
	for name := range s.groups {
		if strings.HasPrefix(name, req.LogGroupNamePrefix) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	if req.Limit != nil && len(names) > *req.Limit {
		names = names[:*req.Limit]
	}
	groups := []map[string]any{}
	for _, n := range names {
		arn := fmt.Sprintf("arn:aws:logs:%s:%s:log-group:%s", Region, Account, n)
		groups = append(groups, map[string]any{
			"logGroupName": n, "creationTime": int64(1433189500783), "retentionInDays": 90, "metricFilterCount": 0,
			"arn": arn + ":*", "logGroupArn": arn, "storedBytes": 0, "logGroupClass": "STANDARD",
		})
	}
	return map[string]any{"logGroups": groups}, nil
}

func (s *Server) describeLogStreams(body []byte) (any, *apiError) {
	var req struct {
		LogGroupName        string `json:"logGroupName"`
		LogStreamNamePrefix string `json:"logStreamNamePrefix"`
		OrderBy             string `json:"orderBy"`
		NextToken           string `json:"nextToken"`
		Limit               *int   `json:"limit"`
	}
	if e := decode(body, &req); e != nil {
		return nil, e
	}
	if req.OrderBy == "LastEventTime" && req.LogStreamNamePrefix != "" {
		return nil, errf("InvalidParameterException", "Cannot order by LastEventTime with a logStreamNamePrefix.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g, apiErr := s.group(req.LogGroupName, "DescribeLogStreams")
	if apiErr != nil {
		return nil, apiErr
	}
	var names []string
	for n := range g {
		if strings.HasPrefix(n, req.LogStreamNamePrefix) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	offset := 0
	if req.NextToken != "" {
		o, err := strconv.Atoi(strings.TrimPrefix(req.NextToken, "streams/"))
		if err != nil {
			return nil, errf("InvalidParameterException", "The specified nextToken is invalid.")
		}
		offset = o
	}
	limit := 50
	if req.Limit != nil {
		limit = *req.Limit
	}
	streams := []map[string]any{}
	end := min(offset+limit, len(names))
	for _, n := range names[min(offset, len(names)):end] {
		st := g[n]
		item := map[string]any{
			"logStreamName": n, "creationTime": int64(1433189871774), "storedBytes": 0,
			"arn": fmt.Sprintf("arn:aws:logs:%s:%s:log-group:%s:log-stream:%s", Region, Account, req.LogGroupName, n),
		}
		var first, last, ingest int64
		for _, e := range st.events {
			if first == 0 || e.Timestamp < first {
				first = e.Timestamp
			}
			last = max(last, e.Timestamp)
			ingest = max(ingest, e.ingestion)
		}
		if len(st.events) > 0 {
			item["firstEventTimestamp"], item["lastEventTimestamp"], item["lastIngestionTime"] = first, last, ingest
		}
		streams = append(streams, item)
	}
	out := map[string]any{"logStreams": streams}
	if end < len(names) {
		out["nextToken"] = "streams/" + strconv.Itoa(end)
	}
	return out, nil
}
