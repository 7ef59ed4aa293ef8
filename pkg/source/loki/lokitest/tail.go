package lokitest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// tailPoll is how often an open tail looks for pushed entries.
const tailPoll = 5 * time.Millisecond

// tailConns are the open tail WebSockets.
type tailConns struct {
	mu     sync.Mutex
	conns  map[*websocket.Conn]struct{}
	opened int
}

// DropTails closes every open tail connection abruptly (no close frame), as a restarting
// Loki or a broken network would.
func (s *Server) DropTails() {
	s.tails.mu.Lock()
	defer s.tails.mu.Unlock()
	for c := range s.tails.conns {
		c.CloseNow()
		delete(s.tails.conns, c)
	}
}

// TailsOpened is how many tail connections were opened so far.
func (s *Server) TailsOpened() int {
	s.tails.mu.Lock()
	defer s.tails.mu.Unlock()
	return s.tails.opened
}

type sentKey struct {
	stream int
	ts     int64
	line   string
}

// tail serves GET /loki/api/v1/tail as Loki does: a WebSocket on which the server sends JSON
// text messages {"streams":[{"stream":{labels},"values":[["<ns>","<line>"]...]}],
// "dropped_entries":null}: first the entries from start (at most limit, the newest), then
// every entry pushed later, in time order within a message. Only log queries are accepted.
func (s *Server) tail(w http.ResponseWriter, r *http.Request, _ []*lstream) {
	p := r.URL.Query()
	lq, mq, err := parseQuery(p.Get("query"))
	if err != nil {
		badRequest(w, "%v", err)
		return
	}
	if mq != nil {
		badRequest(w, "tail queries must be log queries")
		return
	}
	start, err := parseTime(p.Get("start"), time.Now())
	if err != nil {
		badRequest(w, "%v", err)
		return
	}
	limit, msg := s.entryLimit(p)
	if msg != "" {
		badRequest(w, "%s", msg)
		return
	}
	tenantOK := s.Tenant == "" || r.Header.Get("X-Scope-OrgID") == s.Tenant
	connected := time.Now().UnixNano() // before the client learns it is connected
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	s.tails.mu.Lock()
	if s.tails.conns == nil {
		s.tails.conns = map[*websocket.Conn]struct{}{}
	}
	s.tails.conns[conn] = struct{}{}
	s.tails.opened++
	s.tails.mu.Unlock()
	defer func() {
		s.tails.mu.Lock()
		delete(s.tails.conns, conn)
		s.tails.mu.Unlock()
		conn.CloseNow()
	}()
	ctx := conn.CloseRead(r.Context()) // the client sends nothing; done when it goes away
	sent := map[sentKey]struct{}{}
	first := true
	for {
		var streams []*lstream
		if tenantOK {
			streams = s.tailSnapshot()
		}
		if err := s.sendTail(ctx, conn, lq, streams, start, sent, first, limit, connected); err != nil {
			return
		}
		first = false
		select {
		case <-ctx.Done():
			return
		case <-time.After(tailPoll):
		}
	}
}

// tailSnapshot copies the streams under the lock: a tail reads while tests push (snapshot
// shares the sorted streams, which Push then appends to).
func (s *Server) tailSnapshot() []*lstream {
	s.mu.Lock()
	out := make([]*lstream, len(s.streams))
	for i, st := range s.streams {
		out[i] = &lstream{labels: st.labels, entries: slices.Clone(st.entries), sorted: true}
	}
	s.mu.Unlock()
	for _, st := range out {
		sort.SliceStable(st.entries, func(a, b int) bool { return st.entries[a].ts < st.entries[b].ts })
	}
	return out
}

type tailStreamOut struct {
	Stream map[string]string `json:"stream"`
	Values [][2]string       `json:"values"`
}

// sendTail sends the entries not sent yet, one message. As Loki, the entries from start that
// are older than the connection (the replay of its first message) are at most limit, the
// newest; those pushed since come whatever their number.
func (s *Server) sendTail(ctx context.Context, conn *websocket.Conn, lq *logQuery, streams []*lstream, start int64,
	sent map[sentKey]struct{}, first bool, limit int, connected int64) error {
	type hit struct {
		key    sentKey
		labels map[string]string
	}
	var hits []hit
	for i, st := range streams {
		if !lq.selects(st.labels) {
			continue
		}
		lo := sort.Search(len(st.entries), func(j int) bool { return st.entries[j].ts >= start })
		for _, e := range st.entries[lo:] {
			k := sentKey{i, e.ts, e.line}
			if _, ok := sent[k]; ok {
				continue
			}
			if keep, _, _ := lq.process(e.line, st.labels); !keep {
				continue
			}
			hits = append(hits, hit{k, st.labels})
		}
	}
	if len(hits) == 0 {
		return nil
	}
	sort.SliceStable(hits, func(a, b int) bool { return hits[a].key.ts < hits[b].key.ts })
	if first {
		old := sort.Search(len(hits), func(i int) bool { return hits[i].key.ts >= connected })
		if old > limit {
			for _, h := range hits[:old-limit] {
				sent[h.key] = struct{}{}
			}
			hits = hits[old-limit:]
		}
	}
	var out []tailStreamOut
	at := map[int]int{}
	for _, h := range hits {
		sent[h.key] = struct{}{}
		j, ok := at[h.key.stream]
		if !ok {
			j = len(out)
			at[h.key.stream] = j
			out = append(out, tailStreamOut{Stream: h.labels})
		}
		out[j].Values = append(out[j].Values, [2]string{strconv.FormatInt(h.key.ts, 10), h.key.line})
	}
	b, err := json.Marshal(map[string]any{"streams": out, "dropped_entries": nil})
	if err != nil {
		return err
	}
	return conn.Write(ctx, websocket.MessageText, b)
}

// entryLimit reads a log query's limit as Loki does: 100 by default, positive, at most
// max_entries_limit_per_query. msg is Loki's error text for a limit it refuses.
func (s *Server) entryLimit(p url.Values) (limit int, msg string) {
	limit = 100
	if v := p.Get("limit"); v != "" {
		var err error
		if limit, err = strconv.Atoi(v); err != nil || limit <= 0 {
			return 0, "limit must be a positive value"
		}
	}
	if limit > s.Limits.MaxEntriesLimitPerQuery {
		return 0, fmt.Sprintf("max entries limit per query exceeded, limit > max_entries_limit_per_query (%d > %d)", limit, s.Limits.MaxEntriesLimitPerQuery)
	}
	return limit, ""
}
