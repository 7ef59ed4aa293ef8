package loki

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
)

var _ source.NewestScanner = (*Source)(nil)

// ScanNewest implements source.NewestScanner: it pages through the window a scan of req
// reads (widened by the ingestion lag) backward, newest first, in pieces no longer than
// MaxQueryLength, newest piece first. A line's stageTimestamp is at most its Loki time plus
// the ingestion lag (Config.Lag), the bound passed to enough.
//
// The first page asks for want lines and an eighth more (when all match, the page then holds
// a line older than the N-th row and the scan can stop), each next one twice as many, up to
// the page size, as Grafana's Loki datasource asks for the panel's line limit. Paging
// backward, the next page ends just after the oldest timestamp of the last one (Loki's end is
// exclusive): the entries at that timestamp come back first and those already
// delivered are skipped, as the forward scan does at its page starts.
func (s *Source) ScanNewest(ctx context.Context, req source.Request, want int, fn source.LineFunc, enough func(bound time.Time) bool) (source.Stats, *source.Window, error) {
	f := query.Filter{Stages: []string{"*"}}
	if req.Filter != nil {
		f = *req.Filter
	}
	q := RawQuery(s.cfg.Selector, f, s.cfg.CompactJSON)
	lo, hi := req.From.Add(-s.cfg.Lag), req.To.Add(s.cfg.Lag).Add(time.Nanosecond)
	var st source.Stats
	var buf []byte
	var delivered int64
	limit := min(max(want+want/8+1, 1), s.cfg.PageSize)
	for pieceEnd := hi; pieceEnd.After(lo); {
		pieceStart := pieceEnd.Add(-s.cfg.MaxQueryLength)
		if pieceStart.Before(lo) {
			pieceStart = lo
		}
		start, end := pieceStart.UnixNano(), pieceEnd.UnixNano()
		seen := map[string]int{} // entries delivered at timestamp end-1, by stream and line
		for {
			if err := ctx.Err(); err != nil {
				return st, nil, err
			}
			page, raw, keys, warnings, err := s.page(ctx, q, start, end, "backward", limit)
			if err != nil {
				if delivered == 0 || ctx.Err() != nil {
					return st, nil, err
				}
				st.Problems = append(st.Problems, fmt.Sprintf(
					"partial result: events logged before %s are missing because %v",
					time.Unix(0, end).UTC().Format(time.RFC3339), err))
				return st, nil, nil
			}
			for _, w := range warnings {
				if !slices.Contains(st.Problems, "Loki: "+w) {
					st.Problems = append(st.Problems, "Loki: "+w)
				}
			}
			st.FilesScanned++ // one request
			newAt := 0
			for k := len(page) - 1; k >= 0; k-- {
				e := page[k]
				if k%256 == 255 && ctx.Err() != nil {
					return st, nil, ctx.Err()
				}
				if e.ts < start || e.ts >= end {
					continue // Loki occasionally returns entries outside the range
				}
				if e.ts == end-1 {
					if key := keys[e.stream] + "\x00" + e.line; seen[key] > 0 {
						seen[key]--
						continue
					}
				}
				newAt++
				if delivered >= s.cfg.MaxLines {
					st.Problems = append(st.Problems, fmt.Sprintf(
						"stopped after %d lines from Loki (the max lines per query setting): events logged before %s are missing; narrow the time range or the filter, use pushdown, or raise the limit",
						delivered, time.Unix(0, e.ts).UTC().Format(time.RFC3339)))
					return st, nil, nil
				}
				delivered++
				st.LinesRead++
				st.BytesRead += int64(len(e.line))
				buf = append(buf[:0], e.line...)
				if err := fn(buf); err != nil {
					return st, nil, err
				}
			}
			if raw < limit || len(page) == 0 {
				break // the piece is done
			}
			asked := limit
			limit = min(2*limit, s.cfg.PageSize)
			oldest := page[0].ts
			if oldest >= end-1 && newAt == 0 {
				// A whole page at one nanosecond and nothing new: time paging cannot go on.
				if asked < s.cfg.PageSize {
					// Ask again with a longer page; all of this one was delivered.
					clear(seen)
					for _, e := range page {
						seen[keys[e.stream]+"\x00"+e.line]++
					}
					continue
				}
				st.Problems = append(st.Problems, fmt.Sprintf(
					"more than %d lines share the Loki timestamp %s: some of them may be missing",
					s.cfg.PageSize, time.Unix(0, end-1).UTC().Format(time.RFC3339Nano)))
				end--
				clear(seen)
				continue
			}
			// Every line not delivered yet is at oldest or before it.
			if enough(time.Unix(0, oldest).Add(s.cfg.Lag)) {
				return st, &source.Window{From: lo, To: time.Unix(0, oldest+1)}, nil
			}
			clear(seen)
			for i := 0; i < len(page) && page[i].ts == oldest; i++ {
				seen[keys[page[i].stream]+"\x00"+page[i].line]++
			}
			end = oldest + 1
		}
		pieceEnd = pieceStart
	}
	return st, nil, nil
}

// SuspectLines implements source.NewestScanner: the lines of w that pass the scan's line
// filters, less those that `| json` parses with an auditID, a stage and a stageTimestamp
// (two instant metric queries per piece of MaxQueryLength).
func (s *Source) SuspectLines(ctx context.Context, req source.Request, w source.Window) (n int64, requests int, bytes int64, err error) {
	f := query.Filter{Stages: []string{"*"}}
	if req.Filter != nil {
		f = *req.Filter
	}
	raw := RawQuery(s.cfg.Selector, f, s.cfg.CompactJSON)
	good := raw + ` | json k8sa_auditid="auditID", k8sa_stage="stage", k8sa_time="stageTimestamp" | __error__="" | k8sa_auditid!="" and k8sa_stage!="" and k8sa_time!=""`
	for hi := w.To; hi.After(w.From); {
		d := min(hi.Sub(w.From), s.cfg.MaxQueryLength)
		at := hi.Add(-time.Nanosecond) // (at-d, at] is [hi-d, hi)
		for _, x := range []struct {
			q    string
			sign int64
		}{{raw, 1}, {good, -1}} {
			v, b, err := s.instantSum(ctx, "sum(count_over_time("+x.q+" ["+logqlDuration(d)+"]))", at)
			if err != nil {
				return 0, requests, bytes, err
			}
			requests++
			bytes += b
			n += x.sign * v
		}
		hi = hi.Add(-d)
	}
	return n, requests, bytes, nil
}

// instantSum evaluates a metric query without grouping at t.
func (s *Source) instantSum(ctx context.Context, q string, t time.Time) (n int64, bytes int64, err error) {
	resp, vec, err := s.instantVector(ctx, q, t)
	if err != nil {
		return 0, 0, err
	}
	for _, v := range vec {
		_, x, err := parseSample(v.Value)
		if err != nil {
			return 0, 0, err
		}
		n += int64(x)
	}
	return n, resp.Data.Stats.Summary.TotalBytesProcessed, nil
}
