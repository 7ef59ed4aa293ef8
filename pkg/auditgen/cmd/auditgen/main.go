// Command auditgen writes a generated kube-apiserver audit log (see package auditgen).
//
//	go run ./pkg/auditgen/cmd/auditgen -out audit.log -requests 100000 -seed 1 -start 2025-01-01T00:00:00Z -duration 6h
//	go run ./pkg/auditgen/cmd/auditgen -rotate-dir /tmp/audit -per 20000 -gz -requests 100000
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/auditgen"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "auditgen:", err)
		os.Exit(1)
	}
}

func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("auditgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "-", "output file (- for stdout); ignored with -rotate-dir")
	requests := fs.Int("requests", 10000, "number of API requests (each gives 1-3 events)")
	seed := fs.Uint64("seed", 1, "random seed (same seed and flags give the same bytes)")
	start := fs.String("start", "", "first requestReceivedTimestamp, RFC3339 (default: now minus -duration, truncated to the minute)")
	duration := fs.Duration("duration", 6*time.Hour, "time span of the requests")
	malformed := fs.Int("malformed-every", 0, "if > 0, every Nth line is malformed")
	huge := fs.Int("huge-every", 0, "if > 0, every Nth request carries an object > 1 MiB")
	incident := fs.Bool("incident", false, "add a scripted intrusion at 40 % of the range (stolen token, permission sweep, exec, wildcard ClusterRole, privileged DaemonSet)")
	levelMix := fs.String("level-mix", "", "weights of Metadata,Request,RequestResponse, e.g. 0.85,0.10,0.05 (default 0.65,0.20,0.15)")
	minor := fs.Int("kube-minor", 31, "emulated kube-apiserver minor version 1.N")
	rotateDir := fs.String("rotate-dir", "", "write a rotated set (audit.log + audit-<time>.log[.gz]) into this directory")
	per := fs.Int("per", 10000, "with -rotate-dir: requests per file")
	gz := fs.Bool("gz", false, "with -rotate-dir: gzip rotated files")
	partial := fs.Bool("partial-gz", false, "with -rotate-dir -gz: leave the newest rotation as .log plus a partly written .log.gz")
	format := fs.String("format", auditgen.EnvelopeBare, "line envelope: bare, cri, docker, fluentbit, gke or aks (as shipped by a runtime, shipper or cloud; not with -rotate-dir)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o := auditgen.Options{
		Seed: *seed, Duration: *duration, Requests: *requests,
		MalformedEvery: *malformed, HugeEvery: *huge, Incident: *incident, KubeMinor: *minor, LeavePartialGzip: *partial,
	}
	if *levelMix != "" {
		var m auditgen.LevelMix
		if _, err := fmt.Sscanf(*levelMix, "%g,%g,%g", &m.Metadata, &m.Request, &m.RequestResponse); err != nil {
			return fmt.Errorf("-level-mix: %w", err)
		}
		o.LevelMix = m
	}
	if *start != "" {
		t, err := time.Parse(time.RFC3339, *start)
		if err != nil {
			return fmt.Errorf("-start: %w", err)
		}
		o.Start = t
	} else {
		o.Start = time.Now().UTC().Add(-*duration).Truncate(time.Minute)
	}
	began := time.Now()
	var sum auditgen.Summary
	if *rotateDir != "" && *format != auditgen.EnvelopeBare {
		return fmt.Errorf("-format %s: only with -out", *format)
	}
	if *rotateDir != "" {
		files, s, err := auditgen.WriteRotated(*rotateDir, o, *per, *gz)
		if err != nil {
			return err
		}
		sum = s
		for _, f := range files {
			fmt.Fprintln(stderr, f)
		}
	} else {
		w := io.Writer(os.Stdout)
		if *out != "-" {
			f, err := os.Create(*out)
			if err != nil {
				return err
			}
			defer f.Close()
			w = f
		}
		if *format != auditgen.EnvelopeBare {
			ew, err := auditgen.NewEnvelopeWriter(w, *format)
			if err != nil {
				return err
			}
			w = ew
		}
		s, err := auditgen.Write(w, o)
		if err != nil {
			return err
		}
		if ew, ok := w.(*auditgen.EnvelopeWriter); ok {
			if err := ew.Close(); err != nil {
				return err
			}
		}
		sum = s
		if f, ok := w.(*os.File); ok && f != os.Stdout {
			if err := f.Close(); err != nil {
				return err
			}
		}
	}
	el := time.Since(began)
	fmt.Fprintf(stderr, "requests=%d events=%d lines=%d malformed=%d huge=%d bytes=%d from=%s to=%s in %s (%.0f MB/s)\n",
		sum.Requests, sum.Events, sum.Lines, sum.Malformed, sum.Huge, sum.Bytes,
		sum.From.Format(time.RFC3339), sum.To.Format(time.RFC3339), el.Round(time.Millisecond), float64(sum.Bytes)/1e6/el.Seconds())
	return nil
}
