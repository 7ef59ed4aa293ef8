package loki

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
)

// FilterScanner is implemented by sources that can narrow a scan with the query's filter
// (Loki line filters). The engine may call ScanFilter instead of Scan; lines that do not match
// the filter may still be delivered (the engine filters every line again).
type FilterScanner interface {
	ScanFilter(ctx context.Context, req source.Request, f query.Filter, fn source.LineFunc) (source.Stats, error)
}

var _ FilterScanner = (*Source)(nil)

// Scan pulls every line of the selector whose Loki time may hold an event in req (the window
// widened by the ingestion lag) and calls fn once per Loki entry.
func (s *Source) Scan(ctx context.Context, req source.Request, fn source.LineFunc) (source.Stats, error) {
	f := query.Filter{Stages: []string{"*"}}
	if req.Filter != nil {
		f = *req.Filter // only its safe parts become line filters
	}
	return s.ScanFilter(ctx, req, f, fn)
}

// ScanOrigins is Scan with each line's stream and Loki timestamp (implements
// source.OriginScanner: pipelineHealth shows events and ingestion lag per stream).
func (s *Source) ScanOrigins(ctx context.Context, req source.Request, fn source.OriginFunc) (source.Stats, error) {
	f := query.Filter{Stages: []string{"*"}}
	if req.Filter != nil {
		f = *req.Filter
	}
	q := RawQuery(s.cfg.Selector, f, s.cfg.CompactJSON)
	return s.scanEntries(ctx, q, req.From.Add(-s.cfg.Lag), req.To.Add(s.cfg.Lag).Add(time.Nanosecond),
		func(stream string, ts int64, line []byte) error {
			return fn("{"+strings.TrimSuffix(stream, ",")+"}", time.Unix(0, ts).UTC(), line)
		})
}

// ScanFilter is Scan with the filter's safe line filters pushed to Loki.
func (s *Source) ScanFilter(ctx context.Context, req source.Request, f query.Filter, fn source.LineFunc) (source.Stats, error) {
	q := RawQuery(s.cfg.Selector, f, s.cfg.CompactJSON)
	return s.scanQuery(ctx, q, req.From.Add(-s.cfg.Lag), req.To.Add(s.cfg.Lag).Add(time.Nanosecond), fn)
}

// scanQuery is scanEntries for line functions.
func (s *Source) scanQuery(ctx context.Context, q string, lo, hi time.Time, fn source.LineFunc) (source.Stats, error) {
	return s.scanEntries(ctx, q, lo, hi, func(_ string, _ int64, line []byte) error { return fn(line) })
}

// entry is one log line of a page, with its stream.
type entry struct {
	ts     int64
	stream int // index in the page's streams
	line   string
}

// scanEntries pages through [lo, hi) (Loki: start inclusive, end exclusive) in forward order,
// in pieces no longer than MaxQueryLength, calling fn with each entry's stream, timestamp and line.
func (s *Source) scanEntries(ctx context.Context, q string, lo, hi time.Time, fn func(stream string, ts int64, line []byte) error) (source.Stats, error) {
	var st source.Stats
	var buf []byte
	var delivered int64
	budget := s.cfg.MaxLines
	for pieceStart := lo; pieceStart.Before(hi); {
		pieceEnd := pieceStart.Add(s.cfg.MaxQueryLength)
		if pieceEnd.After(hi) {
			pieceEnd = hi
		}
		start := pieceStart.UnixNano()
		end := pieceEnd.UnixNano()
		// seen holds the entries already delivered at timestamp `start` by stream and line: the
		// next page starts at that timestamp again and they come back first. (Counts, though a
		// page holds each stream, time and line once: see page.)
		seen := map[string]int{}
		for {
			if err := ctx.Err(); err != nil {
				return st, err
			}
			page, raw, keys, warnings, err := s.page(ctx, q, start, end, "forward", s.cfg.PageSize)
			if err != nil {
				if delivered == 0 || ctx.Err() != nil {
					return st, err
				}
				// Some data was read: keep it and say what is missing.
				st.Problems = append(st.Problems, fmt.Sprintf(
					"partial result: events logged after %s are missing because %v",
					time.Unix(0, start).UTC().Format(time.RFC3339), err))
				return st, nil
			}
			for _, w := range warnings {
				if !slices.Contains(st.Problems, "Loki: "+w) {
					st.Problems = append(st.Problems, "Loki: "+w)
				}
			}
			st.FilesScanned++ // one request
			newAt := 0
			for k, e := range page {
				if k%256 == 255 && ctx.Err() != nil {
					return st, ctx.Err() // cancelled: stop within the page too
				}
				if e.ts < start || e.ts >= end {
					continue // Loki occasionally returns entries outside the range
				}
				if e.ts == start {
					if k := keys[e.stream] + "\x00" + e.line; seen[k] > 0 {
						seen[k]--
						continue
					}
				}
				newAt++
				if delivered >= budget {
					st.Problems = append(st.Problems, fmt.Sprintf(
						"stopped after %d lines from Loki (the max lines per query setting): events logged after %s are missing; narrow the time range or the filter, use pushdown, or raise the limit",
						delivered, time.Unix(0, e.ts).UTC().Format(time.RFC3339)))
					return st, nil
				}
				delivered++
				st.LinesRead++
				st.BytesRead += int64(len(e.line))
				buf = append(buf[:0], e.line...)
				if err := fn(keys[e.stream], e.ts, buf); err != nil {
					return st, err
				}
			}
			if raw < s.cfg.PageSize {
				break // the piece is done (raw: a page thinned by dropped repeats may still be full)
			}
			if len(page) == 0 {
				break // cannot happen: a full page has at least one distinct entry
			}
			last := page[len(page)-1].ts
			if last <= start && newAt == 0 {
				// A whole page at one nanosecond and nothing new: time paging cannot go on.
				st.Problems = append(st.Problems, fmt.Sprintf(
					"more than %d lines share the Loki timestamp %s: some of them may be missing",
					s.cfg.PageSize, time.Unix(0, start).UTC().Format(time.RFC3339Nano)))
				start++
				clear(seen)
				continue
			}
			// Next page from the last timestamp: every entry of the page at that timestamp
			// has been delivered (now or on an earlier page).
			clear(seen)
			for i := len(page) - 1; i >= 0 && page[i].ts == last; i-- {
				seen[keys[page[i].stream]+"\x00"+page[i].line]++
			}
			start = last
		}
		pieceStart = pieceEnd
	}
	return st, nil
}

// page fetches one query_range page (direction forward or backward, at most limit entries) and
// returns its distinct entries in ascending time order, how many entries Loki sent (raw, for
// the end-of-range test), a key per stream (its sorted labels) and Loki's warnings.
//
// An entry repeated in one answer (same stream, timestamp and line: a stream listed twice, as
// from replicas the querier failed to merge) is kept once. Loki itself never holds such twins:
// it ignores a pushed line identical to one of its stream at the same timestamp
// (grafana/loki#1519), so a repeat is always an artefact of the answer.
func (s *Source) page(ctx context.Context, q string, start, end int64, direction string, limit int) (out []entry, raw int, keys []string, warnings []string, err error) {
	params := url.Values{
		"query":     {q},
		"start":     {strconv.FormatInt(start, 10)},
		"end":       {strconv.FormatInt(end, 10)},
		"limit":     {strconv.Itoa(limit)},
		"direction": {direction},
	}
	var resp queryResponse
	if err := s.c.get(ctx, "/loki/api/v1/query_range", params, &resp); err != nil {
		return nil, 0, nil, nil, err
	}
	if resp.Data.ResultType != "streams" {
		return nil, 0, nil, nil, &RemoteError{Status: http.StatusBadRequest,
			Msg: fmt.Sprintf("loki answered a %q result to a log query; is the stream selector a metric query?", resp.Data.ResultType)}
	}
	var streams []stream
	if err := json.Unmarshal(resp.Data.Result, &streams); err != nil {
		return nil, 0, nil, nil, remoteErr(err, "cannot decode Loki's streams")
	}
	keys = make([]string, len(streams))
	for i, st := range streams {
		keys[i] = streamKey(st.Stream)
		raw += len(st.Values)
	}
	out = make([]entry, 0, raw)
	for i, st := range streams {
		for _, v := range st.Values {
			ts, err := strconv.ParseInt(v[0], 10, 64)
			if err != nil {
				return nil, 0, nil, nil, remoteErr(nil, "bad Loki timestamp %q", v[0])
			}
			out = append(out, entry{ts: ts, stream: i, line: v[1]})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].ts < out[j].ts })
	return dropRepeats(out, keys), raw, keys, resp.Warnings, nil
}

// dropRepeats keeps the first of entries (sorted by time) equal in stream key, time and line.
func dropRepeats(es []entry, keys []string) []entry {
	var seen map[string]struct{}
	kept := es[:0]
	for i := 0; i < len(es); {
		j := i + 1
		for j < len(es) && es[j].ts == es[i].ts {
			j++
		}
		if j-i == 1 {
			kept = append(kept, es[i])
		} else {
			if seen == nil {
				seen = map[string]struct{}{}
			}
			clear(seen)
			for _, e := range es[i:j] {
				k := keys[e.stream] + "\x00" + e.line
				if _, dup := seen[k]; !dup {
					seen[k] = struct{}{}
					kept = append(kept, e)
				}
			}
		}
		i = j
	}
	return kept
}

func streamKey(labels map[string]string) string {
	names := make([]string, 0, len(labels))
	for k := range labels {
		names = append(names, k)
	}
	slices.Sort(names)
	var b strings.Builder
	for _, k := range names {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(strconv.Quote(labels[k]))
		b.WriteByte(',')
	}
	return b.String()
}
