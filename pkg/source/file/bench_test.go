package file

import (
	"bufio"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/source"
)

const benchSize = 256 << 20

var (
	benchVerbs     = []string{"get", "list", "watch", "create", "update", "patch", "delete"}
	benchResources = []string{"pods", "configmaps", "secrets", "leases", "deployments", "events", "nodes"}
	benchUsers     = []string{"system:serviceaccount:kube-system:replicaset-controller", "system:kube-scheduler",
		"system:node:worker-1", "kubernetes-admin", "system:apiserver", "system:serviceaccount:flux-system:kustomize-controller"}
)

// writeBenchFile writes about size bytes of varied synthetic audit lines to path (gzipped if
// gz) and returns the uncompressed size.
func writeBenchFile(b *testing.B, path string, size int64, gz bool) int64 {
	b.Helper()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	var w io.Writer = f
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(f)
		w = zw
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	ts := t0
	var line []byte
	var written int64
	for written < size {
		ts = ts.Add(time.Duration(rng.IntN(5000)) * time.Microsecond)
		line = append(line[:0], `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"`...)
		line = fmt.Appendf(line, "%08x-%04x-%04x-%04x-%012x", rng.Uint32(), rng.Uint32()&0xffff, rng.Uint32()&0xffff, rng.Uint32()&0xffff, rng.Uint64()&0xffffffffffff)
		verb, res := benchVerbs[rng.IntN(len(benchVerbs))], benchResources[rng.IntN(len(benchResources))]
		line = append(line, `","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/ns-`...)
		line = strconv.AppendInt(line, int64(rng.IntN(50)), 10)
		line = append(line, '/')
		line = append(line, res...)
		line = append(line, `","verb":"`...)
		line = append(line, verb...)
		line = append(line, `","user":{"username":"`...)
		line = append(line, benchUsers[rng.IntN(len(benchUsers))]...)
		line = append(line, `","groups":["system:authenticated"]},"sourceIPs":["10.0.`...)
		line = strconv.AppendInt(line, int64(rng.IntN(256)), 10)
		line = append(line, '.')
		line = strconv.AppendInt(line, int64(rng.IntN(256)), 10)
		line = append(line, `"],"userAgent":"kubectl/v1.30.2 (linux/amd64) kubernetes/39683505","objectRef":{"resource":"`...)
		line = append(line, res...)
		line = append(line, `","namespace":"ns-`...)
		line = strconv.AppendInt(line, int64(rng.IntN(50)), 10)
		line = append(line, `","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":`...)
		line = strconv.AppendInt(line, []int64{200, 200, 200, 201, 404, 403, 409}[rng.IntN(7)], 10)
		line = append(line, `},"requestReceivedTimestamp":"`...)
		line = ts.Add(-time.Duration(rng.IntN(20))*time.Millisecond).AppendFormat(line, time.RFC3339Nano)
		line = append(line, `","stageTimestamp":"`...)
		line = ts.AppendFormat(line, time.RFC3339Nano)
		line = append(line, `","annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":"RBAC: allowed by ClusterRoleBinding"}}`...)
		line = append(line, '\n')
		if _, err := bw.Write(line); err != nil {
			b.Fatal(err)
		}
		written += int64(len(line))
	}
	if err := bw.Flush(); err != nil {
		b.Fatal(err)
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return written
}

// BenchmarkScan reads a ~256 MB file; MB/s is of uncompressed data.
func BenchmarkScan(b *testing.B) {
	for _, gz := range []bool{false, true} {
		name := "plain"
		file := "audit.log"
		if gz {
			name, file = "gzip", "audit.log.gz"
		}
		b.Run(name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), file)
			size := writeBenchFile(b, path, benchSize, gz)
			st, err := os.Stat(path)
			if err != nil {
				b.Fatal(err)
			}
			s, err := New(Config{Paths: []string{path}}, Options{TimeOf: timeOf})
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(size)
			b.ReportAllocs()
			var lines int64
			for b.Loop() {
				stats, err := s.Scan(context.Background(), source.Request{}, func(line []byte) error {
					lines++
					return nil
				})
				if err != nil || stats.BytesRead != size {
					b.Fatalf("err = %v, stats = %+v", err, stats)
				}
			}
			b.ReportMetric(float64(st.Size())/float64(size), "compressed/raw")
			b.ReportMetric(float64(lines)/float64(b.N), "lines/op")
		})
	}
}
