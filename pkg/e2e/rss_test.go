package e2e

// The memory harness: the plugin binary's peak resident set (VmHWM of /proc/<pid>/status) while
// it answers one query, for every panel query of the bundled dashboards over the last hour and
// over the whole day of a generated log of at least 2 GiB. Each query runs in a fresh plugin
// process, so its peak is that query's (VmHWM is the process's high-water mark); the index on
// disk is shared, and the first process builds it (the cold figure). Run by hand:
//
//	K8SAUDIT_RSS=1 go test -run '^TestQueryRSS$' -v -timeout 60m ./pkg/e2e/
//
// K8SAUDIT_RSS_MB (default 2048) sizes the log; K8SAUDIT_RSS_DIR keeps and reuses it. It fails
// when a query's peak passes 300 MiB (the engine issue's bound). docs/performance.md has the
// figures.

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// pluginPeakRSS is the plugin process's peak resident set so far (VmHWM), in KiB.
func pluginPeakRSS(pid int) (int64, error) { return procStatusKiB(pid, "VmHWM") }

func TestQueryRSS(t *testing.T) {
	if os.Getenv("K8SAUDIT_RSS") == "" {
		t.Skip("the per-query memory run: set K8SAUDIT_RSS=1 (see rss_test.go)")
	}
	const boundKiB = 300 << 10
	dir, sum := envGeneratedLog(t, "K8SAUDIT_RSS_MB", 2048, "K8SAUDIT_RSS_DIR")
	cacheDir := t.TempDir() // the index, shared by every process
	ds := fileDatasource(1, "e2e-rss", dir)
	targets := dashboardTargets(t)
	end := sum.To.Truncate(time.Minute).Add(time.Minute)

	// run answers one query in a fresh plugin process (a subtest, which kills it when it ends)
	// and returns the process's peak RSS and how long the answer took.
	n := 0
	run := func(tg loadTarget, span time.Duration) (peak int64, took time.Duration) {
		t.Helper()
		n++
		t.Run(fmt.Sprintf("%03d-%s-%s", n, tg.queryType, span), func(t *testing.T) {
			h := startPluginIn(t, cacheDir)
			if h.pid == 0 {
				t.Fatal("the plugin's pid is unknown")
			}
			req, err := loadQuery(ds.pluginContext(t), tg, end, span)
			if err != nil {
				t.Fatal(err)
			}
			began := time.Now()
			if err := callLoadQuery(context.Background(), h, req, 10*time.Minute); err != nil {
				t.Errorf("%s over %s: %v", tg.queryType, span, err)
			}
			took = time.Since(began)
			if peak, err = pluginPeakRSS(h.pid); err != nil {
				t.Fatal(err)
			}
		})
		return peak, took
	}

	// Cold: the first query builds the index of every segment of the day.
	coldPeak, coldTook := run(targets[0], 24*time.Hour)
	t.Logf("cold %s over 24h (builds the index of %d MiB): peak RSS %d MiB, %s", targets[0].queryType, sum.Bytes>>20,
		coldPeak>>10, coldTook.Round(time.Millisecond))
	if coldPeak > boundKiB {
		t.Errorf("the cold query's peak RSS is %d MiB, over 300 MiB", coldPeak>>10)
	}

	type peakOf struct {
		kiB  int64
		took time.Duration
		n    int
	}
	spans := []time.Duration{time.Hour, 24 * time.Hour}
	byType := map[string][]peakOf{}
	for _, tg := range targets {
		if byType[tg.queryType] == nil {
			byType[tg.queryType] = make([]peakOf, len(spans))
		}
		for i, span := range spans {
			peak, took := run(tg, span)
			p := &byType[tg.queryType][i]
			p.kiB, p.took, p.n = max(p.kiB, peak), max(p.took, took), p.n+1
			if peak > boundKiB {
				t.Errorf("%s over %s: peak RSS %d MiB, over 300 MiB (%v)", tg.queryType, span, peak>>10, tg.model)
			}
		}
	}
	types := make([]string, 0, len(byType))
	for qt := range byType {
		types = append(types, qt)
	}
	slices.Sort(types)
	var b strings.Builder
	fmt.Fprintf(&b, "peak RSS per query (the largest of each type's panel queries; slowest answer), warm index:\n")
	fmt.Fprintf(&b, "%-20s %7s %16s %16s\n", "type", "queries", "last hour", "whole day")
	for _, qt := range types {
		p := byType[qt]
		fmt.Fprintf(&b, "%-20s %7d %8d MiB %5.1fs %8d MiB %5.1fs\n", qt, p[0].n,
			p[0].kiB>>10, p[0].took.Seconds(), p[1].kiB>>10, p[1].took.Seconds())
	}
	t.Log(b.String())
}
