package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/auditgen"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/index"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/query"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source/file"
)

// Panels refreshing while time passes cut a segment at a new place each time, so none can use
// another's partial: a query must not wait for one that cuts the segment elsewhere (under
// load, every query of a dashboard queued behind the one before), while a query that would
// compute the same partial still waits for it and then uses it.
func TestMovingRangesDoNotWaitForEachOther(t *testing.T) {
	dir := t.TempDir()
	start := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	f, err := os.Create(filepath.Join(dir, "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := auditgen.Write(f, auditgen.Options{Seed: 3, Start: start, Duration: 2 * time.Hour, Requests: 2000}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	src, err := file.New(file.Config{Paths: []string{dir}}, file.Options{TimeOf: audit.LineTime})
	if err != nil {
		t.Fatal(err)
	}
	store, err := index.Open(t.TempDir(), 1<<30, "")
	if err != nil {
		t.Fatal(err)
	}
	q, err := query.Parse([]byte(`{"queryType":"detections"}`), "")
	if err != nil {
		t.Fatal(err)
	}
	cache := NewCache(0)
	run := func(ctx context.Context, from time.Time) (*Result, error) {
		return Run(ctx, src, Request{Query: q, From: from, To: start.Add(3 * time.Hour), Interval: time.Minute, MaxDataPoints: 1000, Cache: cache, Index: store})
	}
	a := start.Add(30 * time.Minute)
	if _, err := run(context.Background(), a); err != nil { // keeps a partial cut at a, builds the index
		t.Fatal(err)
	}
	segs, _, err := src.Segments(context.Background(), sourceRequest(Request{Query: q, From: a, To: start.Add(3 * time.Hour)}))
	if err != nil || len(segs) != 1 {
		t.Fatalf("segments: %v, %v", segs, err)
	}
	fp, err := fingerprint(Request{Query: q, Interval: time.Minute, MaxDataPoints: 1000})
	if err != nil {
		t.Fatal(err)
	}
	key := segs[0].ID + "\x00" + fp
	kept := cache.get(key)
	if kept == nil {
		t.Fatal("no partial kept")
	}
	b := a.Add(10 * time.Minute)
	if buildKey(key, kept, a, start.Add(3*time.Hour)) == buildKey(key, kept, b, start.Add(3*time.Hour)) {
		t.Fatal("two cuts share a build key")
	}
	// Another query is computing the partial cut at b.
	release, err := cache.acquire(context.Background(), buildKey(key, kept, b, start.Add(3*time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	// A query cut at a is answered from the kept partial; one cut at c neither waits.
	c := a.Add(20 * time.Minute)
	for _, from := range []time.Time{a, c} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if _, err := run(ctx, from); err != nil {
			t.Errorf("from %s: %v", from.Format(time.TimeOnly), err)
		}
		cancel()
	}
	// A query cut at b waits for the one computing it (here, until its context ends).
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := run(ctx, b); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a query cut where another is computing did not wait for it: %v", err)
	}
}
