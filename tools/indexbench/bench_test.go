// Package indexbench measures the plugin's column index (pkg/index) against parquet-go on the
// same events: build time, size, and read time with all columns and with two, the way the
// engine reads them (into an audit.Record). It is its own module so that the plugin does not
// depend on parquet-go; run it with
//
//	cd tools/indexbench && go test -run '^$' -bench . -benchtime 5x
package indexbench

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/auditgen"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/index"
)

const requests = 100_000

var (
	once    sync.Once
	records []audit.Record
	offsets []int64
	logSize int
)

// events are a generated hour of a busy cluster, scanned with every indexed field.
func events(b *testing.B) ([]audit.Record, []int64) {
	once.Do(func() {
		var buf bytes.Buffer
		if _, err := auditgen.Write(&buf, auditgen.Options{Seed: 1, Start: time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC), Duration: 4 * time.Hour, Requests: requests}); err != nil {
			panic(err)
		}
		logSize = buf.Len()
		sc := audit.NewScanner(audit.IndexedFields)
		data := buf.Bytes()
		for off := 0; off < len(data); {
			end := bytes.IndexByte(data[off:], '\n')
			if end < 0 {
				end = len(data) - off
			}
			var r audit.Record
			if sc.Scan(data[off:off+end], &r) == nil {
				records = append(records, r)
				offsets = append(offsets, int64(off))
			}
			off += end + 1
		}
	})
	return records, offsets
}

// row is the index's columns as a parquet row: the same values, dictionary-encoded strings,
// zstd pages.
type row struct {
	Time      int64  `parquet:"time,delta"`
	Gap       int64  `parquet:"gap"`
	Code      int32  `parquet:"code"`
	Offset    int64  `parquet:"offset,delta"`
	Verb      string `parquet:"verb,dict"`
	Stage     string `parquet:"stage,dict"`
	Level     string `parquet:"level,dict"`
	UserAgent string `parquet:"userAgent,dict"`
	User      string `parquet:"user,dict"`
	ImpUser   string `parquet:"impUser,dict"`
	Resource  string `parquet:"resource,dict"`
	Namespace string `parquet:"namespace,dict"`
	Name      string `parquet:"name,dict"`
	Sub       string `parquet:"sub,dict"`
	APIGroup  string `parquet:"apiGroup,dict"`
	APIVer    string `parquet:"apiVersion,dict"`
	Reason    string `parquet:"reason,dict"`
	Groups    string `parquet:"groups,dict"`
	ImpGroups string `parquet:"impGroups,dict"`
	IPs       string `parquet:"ips,dict"`
	Annot     string `parquet:"annotations,dict"`
}

var strCols = []audit.Field{audit.FieldVerb, audit.FieldStage, audit.FieldLevel, audit.FieldUserAgent, audit.FieldUsername,
	audit.FieldImpersonatedUsername, audit.FieldResource, audit.FieldNamespace, audit.FieldName, audit.FieldSubresource,
	audit.FieldAPIGroup, audit.FieldAPIVersion, audit.FieldStatusReason}

func (w *row) strs() []*string {
	return []*string{&w.Verb, &w.Stage, &w.Level, &w.UserAgent, &w.User, &w.ImpUser, &w.Resource, &w.Namespace, &w.Name, &w.Sub, &w.APIGroup, &w.APIVer, &w.Reason}
}

func (w *row) raws() []*string { return []*string{&w.Groups, &w.ImpGroups, &w.IPs, &w.Annot} }

func toRow(r *audit.Record, off int64) row {
	w := row{Time: r.Time.UnixNano(), Code: int32(r.Code), Offset: off}
	if !r.Received.IsZero() {
		w.Gap = w.Time - r.Received.UnixNano()
	}
	for i, p := range w.strs() {
		*p = string(r.Str(strCols[i]))
	}
	for i, p := range w.raws() {
		*p = string(r.Raw(audit.RawFields[i]))
	}
	return w
}

func (w *row) fill(r *audit.Record, all bool) {
	r.Reset()
	r.Time = time.Unix(0, w.Time).UTC()
	r.Code = int(w.Code)
	if !all {
		r.SetStr(audit.FieldVerb, []byte(w.Verb))
		return
	}
	r.Received = time.Unix(0, w.Time-w.Gap).UTC()
	for i, p := range w.strs() {
		r.SetStr(strCols[i], []byte(*p))
	}
	for i, p := range w.raws() {
		r.SetRaw(audit.RawFields[i], []byte(*p))
	}
}

func buildCustom(b *testing.B, dir string) int64 {
	recs, offs := events(b)
	st, err := index.Open(dir, 1<<40, "")
	if err != nil {
		b.Fatal(err)
	}
	bl := index.NewBuilder()
	for i := range recs {
		bl.Add(&recs[i], offs[i])
	}
	ix := &index.Index{}
	ix.Append(bl)
	if err := st.Save("segment", ix); err != nil {
		b.Fatal(err)
	}
	_, size := st.Usage()
	return size
}

func buildParquet(b *testing.B, path string) int64 {
	recs, offs := events(b)
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := parquet.NewGenericWriter[row](f, parquet.Compression(&zstd.Codec{Level: zstd.SpeedFastest}), parquet.PageBufferSize(256<<10))
	batch := make([]row, 0, 8192)
	for i := range recs {
		batch = append(batch, toRow(&recs[i], offs[i]))
		if len(batch) == cap(batch) {
			if _, err := w.Write(batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if _, err := w.Write(batch); err != nil {
		b.Fatal(err)
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return info.Size()
}

func report(b *testing.B, size int64) {
	b.ReportMetric(float64(size)/float64(len(records)), "B/event")
	b.ReportMetric(100*float64(size)/float64(logSize), "%-of-log")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(records)), "ns/event")
}

func BenchmarkBuild(b *testing.B) {
	events(b)
	b.Run("custom", func(b *testing.B) {
		var size int64
		for b.Loop() {
			size = buildCustom(b, b.TempDir())
		}
		report(b, size)
	})
	b.Run("parquet", func(b *testing.B) {
		var size int64
		for b.Loop() {
			size = buildParquet(b, filepath.Join(b.TempDir(), "segment.parquet"))
		}
		report(b, size)
	})
}

func BenchmarkRead(b *testing.B) {
	events(b)
	dir := b.TempDir()
	customSize := buildCustom(b, dir)
	pq := filepath.Join(dir, "segment.parquet")
	parquetSize := buildParquet(b, pq)
	for _, all := range []bool{true, false} {
		name := "verb-and-time"
		needs := audit.Fields(0).With(audit.FieldVerb, audit.FieldCode)
		if all {
			name, needs = "all-columns", audit.IndexedFields
		}
		b.Run("custom/"+name, func(b *testing.B) {
			st, err := index.Open(dir, 1<<40, "")
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				ix, err := st.Load("segment")
				if err != nil || ix == nil {
					b.Fatal(err)
				}
				n := 0
				if _, err := ix.Each(time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC), 1, func(_ int, bl *index.Block) {
					var r audit.Record
					for i := range bl.Rows {
						bl.Fill(i, &r, needs)
						n++
					}
				}); err != nil {
					b.Fatal(err)
				}
				ix.Close()
				if n != len(records) {
					b.Fatalf("read %d of %d", n, len(records))
				}
			}
			report(b, customSize)
		})
		b.Run("parquet/"+name, func(b *testing.B) {
			for b.Loop() {
				f, err := os.Open(pq)
				if err != nil {
					b.Fatal(err)
				}
				info, _ := f.Stat()
				pf, err := parquet.OpenFile(f, info.Size())
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				var r audit.Record
				if all {
					rd := parquet.NewGenericReader[row](pf)
					buf := make([]row, 1024)
					for {
						k, err := rd.Read(buf)
						for i := range buf[:k] {
							buf[i].fill(&r, true)
							n++
						}
						if err == io.EOF {
							break
						}
						if err != nil {
							b.Fatal(err)
						}
					}
					rd.Close()
				} else {
					// Column projection: read only the time, code and verb columns.
					type narrow struct {
						Time int64  `parquet:"time,delta"`
						Code int32  `parquet:"code"`
						Verb string `parquet:"verb,dict"`
					}
					rd := parquet.NewGenericReader[narrow](pf)
					buf := make([]narrow, 1024)
					for {
						k, err := rd.Read(buf)
						for i := range buf[:k] {
							w := row{Time: buf[i].Time, Code: buf[i].Code, Verb: buf[i].Verb}
							w.fill(&r, false)
							n++
						}
						if err == io.EOF {
							break
						}
						if err != nil {
							b.Fatal(err)
						}
					}
					rd.Close()
				}
				f.Close()
				if n != len(records) {
					b.Fatalf("read %d of %d", n, len(records))
				}
			}
			report(b, parquetSize)
		})
	}
}
