package e2e

// The live bridge: what stands in for Grafana between the browser and the plugin binary in the
// browser test of live tail (tests/browser/run.mjs, "live tail"). Grafana has no installable
// binary on the machines this project is tested on, so the test cannot open Explore; instead
// the page runs the plugin's own DataSource.query with Explore's liveStreaming flag, and its
// Grafana Live service (tests/browser/live.ts) subscribes here. The bridge does for each
// subscription what Grafana's live service does for a datasource channel: it calls the built
// plugin's SubscribeStream and then RunStream over the plugin protocol (go-plugin + gRPC, as
// Grafana starts it), and forwards every StreamPacket's frame JSON to the browser, here as a
// server-sent event (Grafana uses a Centrifuge WebSocket; the frames are the same JSON). When the
// browser unsubscribes (the EventSource closes), RunStream's context is cancelled, as Grafana
// does when a channel has no subscriber left.
//
// It runs only when K8SAUDIT_LIVE_BRIDGE names a file: it writes its base URL there and serves
//
//	GET  /stream?path=tail/<key>&data=<query JSON>   the stream, as text/event-stream
//	POST /append?n=N                                  appends N events to audit.log; their auditIDs
//	GET  /status                                      {"active": streams running, "runs": streams started}
//	POST /quit                                        ends the test
//
// until /quit, or K8SAUDIT_LIVE_BRIDGE_SECONDS (default 120) without it.

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/genproto/pluginv2"
)

func TestLiveBridge(t *testing.T) {
	addrFile := os.Getenv("K8SAUDIT_LIVE_BRIDGE")
	if addrFile == "" {
		t.Skip("K8SAUDIT_LIVE_BRIDGE is not set: the bridge runs only for the browser test of live tail")
	}
	seconds := 120
	if v := os.Getenv("K8SAUDIT_LIVE_BRIDGE_SECONDS"); v != "" {
		if _, err := fmt.Sscan(v, &seconds); err != nil || seconds <= 0 {
			t.Fatalf("K8SAUDIT_LIVE_BRIDGE_SECONDS=%q: want a positive number", v)
		}
	}
	dir := t.TempDir()
	w := newTailWriter(t, dir)
	w.write(3) // before any tail: never streamed
	h := startPlugin(t)
	pc := fileDatasource(901, "k8saudit-browser-test", dir).pluginContext(t)

	var (
		mu         sync.Mutex // serialises the writer
		active     atomic.Int64
		runs       atomic.Int64
		quit       = make(chan struct{})
		quitOnce   sync.Once
		streamsWG  sync.WaitGroup
		bridgeDone = make(chan struct{})
	)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stream", func(rw http.ResponseWriter, r *http.Request) {
		path, body := r.URL.Query().Get("path"), []byte(r.URL.Query().Get("data"))
		flusher, ok := rw.(http.Flusher)
		if !ok {
			http.Error(rw, "no flusher", http.StatusInternalServerError)
			return
		}
		subCtx, cancelSub := context.WithTimeout(r.Context(), callTimeout)
		sub, err := h.stream.SubscribeStream(subCtx, &pluginv2.SubscribeStreamRequest{PluginContext: pc, Path: path, Data: body})
		cancelSub()
		if err != nil {
			http.Error(rw, "SubscribeStream: "+err.Error(), http.StatusBadGateway)
			return
		}
		if sub.GetStatus() != pluginv2.SubscribeStreamResponse_OK {
			http.Error(rw, "SubscribeStream: "+sub.GetStatus().String(), http.StatusForbidden)
			return
		}
		// The stream ends when the browser goes away or the bridge stops.
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		go func() {
			select {
			case <-bridgeDone:
				cancel()
			case <-ctx.Done():
			}
		}()
		rs, err := h.stream.RunStream(ctx, &pluginv2.RunStreamRequest{PluginContext: pc, Path: path, Data: body})
		if err != nil {
			http.Error(rw, "RunStream: "+err.Error(), http.StatusBadGateway)
			return
		}
		streamsWG.Add(1)
		defer streamsWG.Done()
		active.Add(1)
		defer active.Add(-1)
		runs.Add(1)
		rw.Header().Set("Content-Type", "text/event-stream")
		rw.Header().Set("Cache-Control", "no-store")
		rw.Header().Set("Access-Control-Allow-Origin", "*")
		rw.WriteHeader(http.StatusOK)
		flusher.Flush()
		for {
			pkt, err := rs.Recv()
			if err != nil {
				return // cancelled (the browser unsubscribed) or the plugin ended the stream
			}
			if _, err := fmt.Fprintf(rw, "data: %s\n\n", pkt.GetData()); err != nil {
				return
			}
			flusher.Flush()
		}
	})
	mux.HandleFunc("POST /append", func(rw http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("n"))
		if err != nil || n <= 0 || n > 10_000 {
			http.Error(rw, "n: want 1 to 10000", http.StatusBadRequest)
			return
		}
		mu.Lock()
		ids := w.write(n)
		mu.Unlock()
		writeJSON(rw, ids)
	})
	mux.HandleFunc("GET /status", func(rw http.ResponseWriter, _ *http.Request) {
		writeJSON(rw, map[string]int64{"active": active.Load(), "runs": runs.Load()})
	})
	mux.HandleFunc("POST /quit", func(rw http.ResponseWriter, _ *http.Request) {
		writeJSON(rw, "bye")
		quitOnce.Do(func() { close(quit) })
	})
	// The page is served from another origin (run.mjs's static server).
	cors := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Access-Control-Allow-Origin", "*")
		if r.Method == http.MethodOptions {
			rw.WriteHeader(http.StatusNoContent)
			return
		}
		mux.ServeHTTP(rw, r)
	})

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: cors, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	url := "http://" + ln.Addr().String()
	// Written whole, then renamed: the reader never sees half an address.
	if err := os.WriteFile(addrFile+".tmp", []byte(url), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(addrFile+".tmp", addrFile); err != nil {
		t.Fatal(err)
	}
	t.Logf("live bridge at %s, audit.log in %s", url, dir)

	select {
	case <-quit:
	case <-time.After(time.Duration(seconds) * time.Second):
		t.Errorf("no /quit within %ds", seconds)
	}
	close(bridgeDone)
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdown)
	streamsWG.Wait()
	t.Logf("%d streams run", runs.Load())
}

func writeJSON(rw http.ResponseWriter, v any) {
	rw.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(rw).Encode(v)
}
