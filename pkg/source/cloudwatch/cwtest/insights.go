package cwtest

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// insightsQuery is a Logs Insights query in progress.
type insightsQuery struct {
	id      string
	polls   int
	status  string
	results [][]map[string]string
	stats   map[string]float64
}

// The query shape the plugin sends (pkg/source/cloudwatch InsightsQuery): one command a line.
var (
	streamFilterRE = regexp.MustCompile(`^filter @logStream like /(.*)/$`)
	substrRE       = regexp.MustCompile(`^fields substr\((\w+), 0, (\d+)\) as (\w+)$`)
	coalesceRE     = regexp.MustCompile(`^fields coalesce\(([^)]*)\) as (\w+)$`)
	statsRE        = regexp.MustCompile(`^stats count\(\*\) as (\w+) by (.+)$`)
	byFieldRE      = regexp.MustCompile("^`([^`]+)` as (\\w+)$")
	limitRE        = regexp.MustCompile(`^limit (\d+)$`)
	messageLikeRE  = regexp.MustCompile(`^filter @message (not )?like /(.*)/$`)
	binRE          = regexp.MustCompile(`^bin\((\d+)([smh])\)$`)
)

type compiled struct {
	stream         *regexp.Regexp
	steps          []expr // filters, and fields that add a computed field and return true
	substrField    string
	substrLen      int
	substrAs       string
	countAs        string
	byBucket       bool
	bin            time.Duration // by bin(...) of @timestamp
	binAs          string
	byFields       [][2]string // field, alias
	limit          int
	recordsScanned float64
	bytesScanned   float64
	recordsMatched float64
}

func compileQuery(q string) (*compiled, error) {
	c := &compiled{limit: 10000}
	for i, line := range strings.Split(q, "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "|"))
		if line == "" {
			continue
		}
		switch {
		case streamFilterRE.MatchString(line):
			re, err := regexp.Compile(streamFilterRE.FindStringSubmatch(line)[1])
			if err != nil {
				return nil, err
			}
			c.stream = re
		case messageLikeRE.MatchString(line):
			m := messageLikeRE.FindStringSubmatch(line)
			re, err := regexp.Compile(m[2])
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", i+1, err)
			}
			not := m[1] != ""
			c.steps = append(c.steps, func(ev map[string]any) bool {
				msg, _ := ev["@message"].(string)
				return re.MatchString(msg) != not
			})
		case strings.HasPrefix(line, "filter "):
			e, err := parseExpr(strings.TrimPrefix(line, "filter "))
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", i+1, err)
			}
			c.steps = append(c.steps, e)
		case coalesceRE.MatchString(line):
			m := coalesceRE.FindStringSubmatch(line)
			var from []string
			for _, f := range strings.Split(m[1], ",") {
				f = strings.TrimSpace(f)
				if len(f) < 2 || f[0] != '`' || f[len(f)-1] != '`' {
					return nil, fmt.Errorf("line %d: coalesce of %q: cwtest models back-quoted fields only", i+1, f)
				}
				from = append(from, f[1:len(f)-1])
			}
			as := m[2]
			c.steps = append(c.steps, func(ev map[string]any) bool {
				for _, f := range from {
					if v, ok := ev[f]; ok {
						ev[as] = v
						break
					}
				}
				return true
			})
		case substrRE.MatchString(line):
			m := substrRE.FindStringSubmatch(line)
			c.substrField, c.substrAs = m[1], m[3]
			c.substrLen, _ = strconv.Atoi(m[2])
		case statsRE.MatchString(line):
			m := statsRE.FindStringSubmatch(line)
			c.countAs = m[1]
			for _, part := range strings.Split(m[2], ", ") {
				part = strings.TrimSpace(part)
				if part == c.substrAs && c.substrAs != "" {
					c.byBucket = true
					continue
				}
				if bm := binRE.FindStringSubmatch(part); bm != nil {
					n, _ := strconv.Atoi(bm[1])
					c.bin = time.Duration(n) * map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour}[bm[2]]
					c.binAs = part
					continue
				}
				fm := byFieldRE.FindStringSubmatch(part)
				if fm == nil {
					return nil, fmt.Errorf("line %d: cwtest does not model the stats group %q", i+1, part)
				}
				c.byFields = append(c.byFields, [2]string{fm[1], fm[2]})
			}
		case limitRE.MatchString(line):
			c.limit, _ = strconv.Atoi(limitRE.FindStringSubmatch(line)[1])
		default:
			return nil, fmt.Errorf("line %d: cwtest does not model %q", i+1, line)
		}
	}
	if c.countAs == "" {
		return nil, fmt.Errorf("cwtest models only stats count(*) queries")
	}
	return c, nil
}

func (s *Server) startQuery(body []byte) (any, *apiError) {
	var req struct {
		LogGroupName  string   `json:"logGroupName"`
		LogGroupNames []string `json:"logGroupNames"`
		StartTime     *int64   `json:"startTime"`
		EndTime       *int64   `json:"endTime"`
		QueryString   string   `json:"queryString"`
		Limit         *int     `json:"limit"`
	}
	if e := decode(body, &req); e != nil {
		return nil, e
	}
	if req.StartTime == nil || req.EndTime == nil || req.QueryString == "" {
		return nil, errf("InvalidParameterException", "startTime, endTime and queryString are required")
	}
	groups := req.LogGroupNames
	if req.LogGroupName != "" {
		groups = append(groups, req.LogGroupName)
	}
	if len(groups) == 0 || len(groups) > 50 {
		return nil, errf("InvalidParameterException", "a query needs 1 to 50 log groups")
	}
	c, err := compileQuery(req.QueryString)
	if err != nil {
		return nil, errf("MalformedQueryException", "%v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastQuery = req.QueryString
	for _, g := range groups {
		if _, apiErr := s.group(g, "StartQuery"); apiErr != nil {
			if apiErr.code == "ResourceNotFoundException" {
				apiErr.msg = fmt.Sprintf("Log group '%s' does not exist for account ID '%s'", g, Account)
			}
			return nil, apiErr
		}
	}
	if s.running >= s.MaxQueries {
		return nil, errf("LimitExceededException", "Account maximum query concurrency limit of [%d] reached.", s.MaxQueries)
	}
	// Evaluate now; the result is revealed after the polls.
	counts := map[string]float64{}
	rows := map[string]map[string]string{}
	for _, g := range groups {
		for name, st := range s.groups[g] {
			if c.stream != nil && !c.stream.MatchString(name) {
				continue
			}
			for _, e := range st.events {
				sec := e.Timestamp / 1000
				if sec < *req.StartTime || sec > *req.EndTime {
					continue
				}
				c.recordsScanned++
				c.bytesScanned += float64(len(e.Message))
				ev := flatten(e.Message)
				ev["@message"] = e.Message
				ok := true
				for _, f := range c.steps {
					if !f(ev) {
						ok = false
						break
					}
				}
				if !ok {
					continue
				}
				c.recordsMatched++
				row := map[string]string{}
				var key []string
				if c.bin > 0 {
					v := time.UnixMilli(e.Timestamp).UTC().Truncate(c.bin).Format("2006-01-02 15:04:05.000")
					row[c.binAs] = v
					key = append(key, v)
				}
				if c.byBucket {
					v, _ := format(ev[c.substrField])
					if len(v) > c.substrLen {
						v = v[:c.substrLen]
					}
					row[c.substrAs] = v
					key = append(key, v)
				}
				for _, bf := range c.byFields {
					v, ok := format(ev[bf[0]])
					if ok {
						row[bf[1]] = v
					}
					key = append(key, fmt.Sprint(ok, v))
				}
				k := strings.Join(key, "\x00")
				counts[k]++
				rows[k] = row
			}
		}
	}
	var keys []string
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var results [][]map[string]string
	for _, k := range keys {
		var row []map[string]string
		if c.bin > 0 {
			row = append(row, map[string]string{"field": c.binAs, "value": rows[k][c.binAs]})
		}
		if c.byBucket {
			row = append(row, map[string]string{"field": c.substrAs, "value": rows[k][c.substrAs]})
		}
		for _, bf := range c.byFields {
			if v, ok := rows[k][bf[1]]; ok {
				row = append(row, map[string]string{"field": bf[1], "value": v})
			}
		}
		row = append(row, map[string]string{"field": c.countAs, "value": strconv.FormatFloat(counts[k], 'f', -1, 64)})
		results = append(results, row)
		if len(results) == c.limit {
			break
		}
	}
	s.seq++
	id := fmt.Sprintf("2dac81d5-a6a5-45d7-b355-%012d", s.seq)
	s.queries[id] = &insightsQuery{id: id, status: "Scheduled", results: results, stats: map[string]float64{
		"recordsMatched": c.recordsMatched, "recordsScanned": c.recordsScanned, "bytesScanned": c.bytesScanned,
		"estimatedRecordsSkipped": 0, "estimatedBytesSkipped": 0, "logGroupsScanned": float64(len(groups)),
	}}
	s.running++
	s.maxSeen = max(s.maxSeen, s.running)
	return map[string]string{"queryId": id}, nil
}

func (s *Server) getQueryResults(body []byte) (any, *apiError) {
	var req struct {
		QueryID string `json:"queryId"`
	}
	if e := decode(body, &req); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q, ok := s.queries[req.QueryID]
	if !ok {
		return nil, errf("ResourceNotFoundException", "Query does not exist.")
	}
	q.polls++
	switch {
	case q.status != "Scheduled" && q.status != "Running":
	case q.polls <= 1:
		q.status = "Scheduled"
	case q.polls <= 1+s.RunningPolls:
		q.status = "Running"
	default:
		q.status = "Complete"
		if s.FinalStatus != "" {
			q.status = s.FinalStatus
		}
		s.running--
	}
	out := map[string]any{"queryLanguage": "CWLI", "status": q.status, "results": [][]map[string]string{}, "statistics": map[string]float64{}}
	if q.status == "Running" || q.status == "Complete" {
		out["statistics"] = q.stats
	}
	if q.status == "Complete" {
		res := q.results
		if res == nil {
			res = [][]map[string]string{}
		}
		out["results"] = res
	}
	return out, nil
}

func (s *Server) stopQuery(body []byte) (any, *apiError) {
	var req struct {
		QueryID string `json:"queryId"`
	}
	if e := decode(body, &req); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = append(s.stopped, req.QueryID)
	q, ok := s.queries[req.QueryID]
	if !ok {
		return nil, errf("ResourceNotFoundException", "Query does not exist.")
	}
	if q.status != "Scheduled" && q.status != "Running" {
		return map[string]bool{"success": false}, nil
	}
	q.status = "Cancelled"
	s.running--
	return map[string]bool{"success": true}, nil
}
