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
// It is test code: only tests import it.
package cwtest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
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

// Fault is an error the server answers instead of handling a call.
type Fault struct {
	Code    string // e.g. ThrottlingException
	Message string
	Status  int // default 400
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
	if s.Fault != nil {
		if f := s.Fault(op, n); f != nil {
			st := f.Status
			if st == 0 {
				st = http.StatusBadRequest
			}
			fail(&apiError{st, f.Code, f.Message})
			return
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
	reply(http.StatusOK, out)
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
			"logGroupName": n, "creationTime": 1433189500783, "retentionInDays": 90, "metricFilterCount": 0,
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
			"logStreamName": n, "creationTime": 1433189871774, "storedBytes": 0,
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
