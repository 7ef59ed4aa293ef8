package loki

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
)

// TailPath is Loki's live tail endpoint (a WebSocket).
const TailPath = "/loki/api/v1/tail"

// Tail defaults.
const (
	// TailOverlap is how far before the newest timestamp seen a reconnect starts again: Loki
	// sends the streams of a tail in time order per stream, not across streams, so an entry
	// of another stream up to this much older may still come. Entries seen in the overlap are
	// dropped, so nothing is delivered twice.
	TailOverlap = 5 * time.Second
	// tailSeenMax bounds the entries remembered for the overlap.
	tailSeenMax = 200_000
	// tailBackoffMax is the longest wait between reconnects.
	tailBackoffMax = 10 * time.Second
)

// TailCursor is where a tail stands: the newest Loki timestamp delivered and the entries
// delivered within TailOverlap of it. The zero value starts at the current time.
type TailCursor struct {
	Last  int64 // Unix nanoseconds; 0: none yet
	Start int64 // where the tail began: nothing older is delivered
	seen  map[tailKey]struct{}
}

type tailKey struct {
	ts   int64
	hash uint64 // of stream labels and line
}

// TailOptions configure Tail.
type TailOptions struct {
	// Filter is the query's filter: its exact parts become LogQL line filters.
	Filter *query.Filter
	// Cursor is where to resume; it is updated with every entry delivered. Required.
	Cursor *TailCursor
	// Problem receives what the tail could not do (a lost connection, entries Loki dropped).
	Problem func(msg string)
	// Connected is called after each successful connection.
	Connected func()
	// RetryBase is the first wait before a reconnect (default 250 ms).
	RetryBase time.Duration
}

// TailFunc receives one entry: its stream (the labels as `k="v",...`), Loki timestamp and line.
type TailFunc func(stream string, ts time.Time, line []byte) error

// tailMessage is one WebSocket message of /loki/api/v1/tail.
type tailMessage struct {
	Streams        []stream `json:"streams"`
	DroppedEntries []struct {
		Labels    map[string]string `json:"labels"`
		Timestamp string            `json:"timestamp"`
	} `json:"dropped_entries"`
}

// Tail follows the selector (with the filter's exact line filters) over Loki's tail
// WebSocket, calling fn for every new entry in the order Loki sends them, until ctx is done
// (it returns ctx.Err()) or fn fails. A lost connection is reconnected with backoff, starting
// TailOverlap before the newest entry delivered and dropping the entries already delivered,
// so that none is lost or repeated. Loki refusing the query or the credentials (4xx) ends the
// tail with an *APIError.
func (s *Source) Tail(ctx context.Context, opts TailOptions, fn TailFunc) error {
	cur := opts.Cursor
	if cur.seen == nil {
		cur.seen = map[tailKey]struct{}{}
	}
	problem := opts.Problem
	if problem == nil {
		problem = func(string) {}
	}
	base := opts.RetryBase
	if base <= 0 {
		base = defaultRetryBase
	}
	f := query.Filter{Stages: []string{"*"}}
	if opts.Filter != nil {
		f = *opts.Filter
	}
	q := RawQuery(s.cfg.Selector, f, s.cfg.CompactJSON)
	for attempt := 0; ; attempt++ {
		if cur.Start == 0 {
			cur.Start = s.cfg.Now().UnixNano()
		}
		start := max(cur.Last-int64(TailOverlap), cur.Start)
		got, err := false, error(nil)
		if cur.Last != 0 {
			// A reconnect or a resume: what came since is read with query_range (paged, as
			// raw mode), because Loki replays at most limit entries from a tail's start; the
			// tail then starts a second before the end of that read.
			end := s.cfg.Now()
			if from := time.Unix(0, start); end.After(from) {
				_, err = s.scanEntries(ctx, q, from, end, func(stream string, ts int64, line []byte) error {
					if !cur.fresh(stream, ts, line) {
						return nil
					}
					got = true
					if err := fn(stream, time.Unix(0, ts).UTC(), line); err != nil {
						return tailFnError{err}
					}
					return nil
				})
				start = max(start, end.Add(-time.Second).UnixNano())
			}
		}
		if err == nil {
			var live bool
			live, err = s.tailOnce(ctx, q, start, cur, opts.Connected, problem, fn)
			got = got || live
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ae *APIError
		if errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500 && ae.Status != http.StatusTooManyRequests {
			return err
		}
		if errors.Is(err, errTailFn) {
			return errors.Unwrap(err)
		}
		if got {
			attempt = 0
		}
		problem(fmt.Sprintf("the Loki tail connection was lost (%v): reconnecting from the last entry received, without losing or repeating entries", err))
		d := min(base<<min(attempt, 16), tailBackoffMax)
		t := time.NewTimer(d/2 + rand.N(d/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// errTailFn wraps an error of the caller's function.
var errTailFn = errors.New("tail function failed")

type tailFnError struct{ err error }

func (e tailFnError) Error() string        { return e.err.Error() }
func (e tailFnError) Unwrap() error        { return e.err }
func (e tailFnError) Is(target error) bool { return target == errTailFn }

// tailOnce runs one tail connection from start until it fails. got reports whether it
// delivered anything (the backoff starts over).
func (s *Source) tailOnce(ctx context.Context, q string, start int64, cur *TailCursor, connected func(),
	problem func(string), fn TailFunc) (got bool, err error) {
	params := url.Values{}
	params.Set("query", q)
	params.Set("start", strconv.FormatInt(start, 10))
	// The entries Loki replays from start on connect: the page size, which is within the
	// server's max_entries_limit_per_query (a larger limit is a 400).
	params.Set("limit", strconv.Itoa(s.cfg.PageSize))
	u := strings.TrimSuffix(s.c.base, "/") + TailPath + "?" + params.Encode()
	conn, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: s.c.http})
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			msg := err.Error() // the dialer keeps the start of the body in its error
			if resp.Body != nil {
				var b [4096]byte
				n, _ := resp.Body.Read(b[:])
				msg = errorMessage(b[:n])
				resp.Body.Close()
			}
			return false, &APIError{Status: resp.StatusCode, Path: TailPath, Message: msg}
		}
		return false, remoteErr(err, "cannot open Loki's tail at %s", s.c.base)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(64 << 20) // one message holds a batch of entries
	if connected != nil {
		connected()
	}
	deliver := func(stream string, ts int64, line []byte) error {
		if ts < start || !cur.fresh(stream, ts, line) {
			return nil // before the reconnect's start (Loki should not send it), or sent already
		}
		got = true
		if err := fn(stream, time.Unix(0, ts).UTC(), line); err != nil {
			return tailFnError{err}
		}
		return nil
	}
	for first := true; ; first = false {
		_, msg, err := conn.Read(ctx)
		if err != nil {
			return got, err
		}
		var m tailMessage
		if err := json.Unmarshal(msg, &m); err != nil {
			return got, remoteErr(err, "cannot decode a message of Loki's tail")
		}
		if n := len(m.DroppedEntries); n > 0 {
			problem(fmt.Sprintf("Loki dropped %d entries of the tail: it could not send them fast enough", n))
		}
		entries := tailEntries(m.Streams)
		// The first message replays at most limit entries from start, the newest. A full
		// replay may leave out older ones (more than limit came between the caller's read and
		// this connection): they are read with query_range up to the oldest one replayed, before
		// it (fresh drops what both give).
		if first && len(entries) >= s.cfg.PageSize && entries[0].ts > start {
			if _, err := s.scanEntries(ctx, q, time.Unix(0, start), time.Unix(0, entries[0].ts+1), deliver); err != nil {
				return got, err
			}
		}
		for _, e := range entries {
			if err := deliver(e.stream, e.ts, []byte(e.line)); err != nil {
				return got, err
			}
		}
	}
}

// fresh reports whether the entry was not delivered yet, and remembers it.
func (c *TailCursor) fresh(stream string, ts int64, line []byte) bool {
	h := fnv.New64a()
	h.Write([]byte(stream))
	h.Write([]byte{0})
	h.Write(line)
	k := tailKey{ts: ts, hash: h.Sum64()}
	if _, dup := c.seen[k]; dup {
		return false
	}
	c.remember(k)
	return true
}

// remember keeps k and forgets entries older than TailOverlap before the newest.
func (c *TailCursor) remember(k tailKey) {
	c.seen[k] = struct{}{}
	if k.ts > c.Last {
		c.Last = k.ts
	}
	if len(c.seen) > tailSeenMax || len(c.seen)%1024 == 0 {
		for old := range c.seen {
			if old.ts < c.Last-int64(TailOverlap) {
				delete(c.seen, old)
			}
		}
	}
}

type tailEntry struct {
	ts     int64
	stream string // streamKey of its labels
	line   string
}

// tailEntries flattens a message's streams in time order (stable: a stream's own order is
// kept for equal timestamps).
func tailEntries(streams []stream) []tailEntry {
	var out []tailEntry
	for _, st := range streams {
		key := streamKey(st.Stream)
		for _, v := range st.Values {
			ts, err := strconv.ParseInt(v[0], 10, 64)
			if err != nil {
				continue
			}
			out = append(out, tailEntry{ts: ts, stream: key, line: v[1]})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].ts < out[j].ts })
	return out
}
