package index

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/auditgen"
)

// offsets are where build's lines start.
var offsets []int64

// build indexes a generated log and returns the index and the records it was built from.
func build(t *testing.T, requests int) (*Index, []string) {
	t.Helper()
	var buf bytes.Buffer
	if _, err := auditgen.Write(&buf, auditgen.Options{Seed: 5, Start: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC), Duration: time.Hour, Requests: requests}); err != nil {
		t.Fatal(err)
	}
	sc := audit.NewScanner(audit.IndexedFields)
	b := NewBuilder()
	var rec audit.Record
	var lines []string
	offsets = nil
	off := int64(0)
	for _, l := range bytes.Split(buf.Bytes(), []byte("\n")) {
		if sc.Scan(l, &rec) == nil {
			b.Add(&rec, off)
			lines = append(lines, string(l))
			offsets = append(offsets, off)
		}
		off += int64(len(l)) + 1
	}
	ix := &Index{Header: Header{End: int64(buf.Len()), Lines: int64(len(lines))}}
	ix.Append(b)
	return ix, lines
}

// TestRoundTrip stores an index and reads every field of every event back as the scanner
// gave it.
func TestRoundTrip(t *testing.T) {
	ix, lines := build(t, 12000)
	if len(ix.blocks) < 2 {
		t.Fatalf("%d blocks: want several", len(ix.blocks))
	}
	store, err := Open(t.TempDir(), 1<<30, "s")
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Save("seg", ix); err != nil {
		t.Fatal(err)
	}
	got, err := store.Load("seg")
	if err != nil || got == nil {
		t.Fatalf("load: %v", err)
	}
	if got.End != ix.End || got.Events != int64(len(lines)) {
		t.Fatalf("header %+v", got.Header)
	}
	sc := audit.NewScanner(audit.IndexedFields)
	var want, rec audit.Record
	row := 0
	if _, err := got.Each(time.Time{}, time.Now().Add(100000*time.Hour), 1, AllColumns, func(_ int, b *Block) {
		for i := range b.Rows {
			if err := sc.Scan([]byte(lines[row]), &want); err != nil {
				t.Fatal(err)
			}
			b.Fill(i, &rec, audit.AllFields)
			for _, f := range audit.StrFields {
				if !bytes.Equal(rec.Str(f), want.Str(f)) {
					t.Fatalf("row %d field %d: %q, want %q", row, f, rec.Str(f), want.Str(f))
				}
			}
			for _, f := range audit.RawFields {
				if !bytes.Equal(rec.Raw(f), want.Raw(f)) {
					t.Fatalf("row %d raw field %d: %q, want %q", row, f, rec.Raw(f), want.Raw(f))
				}
			}
			if b.Offset(i) != offsets[row] {
				t.Fatalf("row %d: offset %d, want %d", row, b.Offset(i), offsets[row])
			}
			if !rec.Time.Equal(want.Time) || !rec.Received.Equal(want.Received) || rec.Code != want.Code {
				t.Fatalf("row %d: time/received/code %v %v %d, want %v %v %d", row, rec.Time, rec.Received, rec.Code, want.Time, want.Received, want.Code)
			}
			if string(rec.Decision()) != string(want.Decision()) || rec.UserKind() != want.UserKind() || rec.LongRunning() != want.LongRunning() {
				t.Fatalf("row %d: derived values differ", row)
			}
			row++
		}
	}); err != nil {
		t.Fatal(err)
	}
	if row != len(lines) {
		t.Fatalf("%d rows read back, want %d", row, len(lines))
	}
}

// TestDamagedFilesAreNotTrusted: every kind of damage is detected, the file removed, and a
// later Load finds nothing (so the segment is read and indexed again).
func TestDamagedFilesAreNotTrusted(t *testing.T) {
	ix, _ := build(t, 3000)
	dir := t.TempDir()
	store, err := Open(dir, 1<<30, "s")
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Save("seg", ix); err != nil {
		t.Fatal(err)
	}
	path := store.path(store.key("seg"))
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	damage := map[string]func([]byte) []byte{
		"truncated":       func(b []byte) []byte { return b[:len(b)-100] },
		"cut in header":   func(b []byte) []byte { return b[:20] },
		"empty":           func([]byte) []byte { return nil },
		"foreign magic":   func(b []byte) []byte { c := bytes.Clone(b); copy(c, "NOTANIDX"); return c },
		"trailing bytes":  func(b []byte) []byte { return append(bytes.Clone(b), 0) },
		"header bit flip": func(b []byte) []byte { c := bytes.Clone(b); c[len(magic)+5] ^= 0x10; return c },
	}
	for name, f := range damage {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(path, f(good), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := store.Load("seg")
			if !errors.Is(err, ErrCorrupt) || got != nil {
				t.Fatalf("Load = %v, %v; want ErrCorrupt", got, err)
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Errorf("damaged file kept: %v", err)
			}
			if got, err := store.Load("seg"); got != nil || err != nil {
				t.Errorf("second Load = %v, %v; want nothing", got, err)
			}
		})
	}
	t.Run("block bit flip", func(t *testing.T) {
		c := bytes.Clone(good)
		c[len(c)-10] ^= 0x01 // inside the last block's payload: only its checksum can tell
		if err := os.WriteFile(path, c, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := store.Load("seg")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := got.Each(time.Time{}, time.Now().Add(100000*time.Hour), 2, AllColumns, func(int, *Block) {}); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Each = %v, want ErrCorrupt", err)
		}
	})
	t.Run("another segment's file", func(t *testing.T) {
		other := store.path(store.key("other"))
		if err := os.WriteFile(other, good, 0o600); err != nil {
			t.Fatal(err)
		}
		if got, err := store.Load("other"); !errors.Is(err, ErrCorrupt) || got != nil {
			t.Fatalf("Load = %v, %v; want ErrCorrupt", got, err)
		}
	})
	t.Run("other settings", func(t *testing.T) {
		if err := os.WriteFile(path, good, 0o600); err != nil {
			t.Fatal(err)
		}
		salted, err := Open(dir, 1<<30, "another line limit")
		if err != nil {
			t.Fatal(err)
		}
		if got, err := salted.Load("seg"); got != nil || err != nil {
			t.Fatalf("Load under other settings = %v, %v; want nothing", got, err)
		}
	})
}

// TestStoreBoundEvictsLeastRecentlyUsed keeps the store under its bound, dropping the files
// used longest ago.
func TestStoreBoundEvictsLeastRecentlyUsed(t *testing.T) {
	ix, _ := build(t, 2000)
	size := ix.Size()
	store, err := Open(t.TempDir(), 3*size, "")
	if err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Hour)
	for i, seg := range []string{"a", "b", "c"} {
		if err := store.Save(seg, ix); err != nil {
			t.Fatal(err)
		}
		when := past.Add(time.Duration(i) * time.Minute)
		os.Chtimes(store.path(store.key(seg)), when, when)
	}
	if got, _ := store.Load("a"); got == nil { // a is now the most recently used
		t.Fatal("a was evicted too early")
	}
	if err := store.Save("d", ix); err != nil {
		t.Fatal(err)
	}
	files, bytes := store.Usage()
	if bytes > 3*size {
		t.Errorf("%d bytes in %d files, over the bound of %d", bytes, files, 3*size)
	}
	for seg, kept := range map[string]bool{"a": true, "b": false, "d": true} {
		if got, _ := store.Load(seg); (got != nil) != kept {
			t.Errorf("%s kept = %v, want %v", seg, got != nil, kept)
		}
	}
}

// TestUnwritableDirectory: a directory the store cannot write is refused at Open, and writes
// that fail later (the directory turned read-only or full) return an error and leave no file.
func TestUnwritableDirectory(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(filepath.Join(blocker, "index"), 1<<20, ""); err == nil {
		t.Fatal("Open under a regular file succeeded")
	}
	store, err := Open(filepath.Join(dir, "index"), 1<<30, "")
	if err != nil {
		t.Fatal(err)
	}
	ix, _ := build(t, 500)
	os.RemoveAll(store.Dir()) // as gone as a full or read-only disk, even for root
	if err := store.Save("seg", ix); err == nil {
		t.Fatal("Save into a missing directory succeeded")
	}
}

// TestStaleTemporaryFilesAreRemoved: what a crash mid-write leaves is removed at the next
// Open once old, and never read as an index.
func TestStaleTemporaryFilesAreRemoved(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, "write-123"+tmpSuffix)
	fresh := filepath.Join(dir, "write-456"+tmpSuffix)
	for _, p := range []string{stale, fresh} {
		if err := os.WriteFile(p, []byte(magic+"half written"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-time.Hour)
	os.Chtimes(stale, old, old)
	store, err := Open(dir, 1<<30, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Error("stale temporary file kept")
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Error("a temporary file another writer may still be using was removed")
	}
	if files, _ := store.Usage(); files != 0 {
		t.Errorf("temporary files counted as indexes: %d", files)
	}
}

// TestPackedIDs: ids of every width a block can need read back as they were written, for
// every count of ids modulo the byte and word boundaries.
func TestPackedIDs(t *testing.T) {
	for bits := range uint(14) { // BlockRows distinct values take 13
		distinct := 1 << bits
		w := idBits(distinct)
		if w != bits {
			t.Fatalf("%d distinct values: %d bits, want %d", distinct, w, bits)
		}
		for n := range 70 {
			ids := make([]uint16, n)
			for i := range ids {
				ids[i] = uint16((i*7919 + n) % distinct)
			}
			p := appendPacked([]byte{0xAA}, ids, w)
			if want := 1 + (n*int(w)+7)/8; len(p) != want {
				t.Fatalf("%d ids of %d bits: %d bytes, want %d", n, w, len(p), want)
			}
			// The bits are those of the ids one after another, least significant first
			// (the format, whatever shortcuts appendPacked takes).
			want := make([]byte, (n*int(w)+7)/8)
			for i, id := range ids {
				for k := range w {
					if id>>k&1 != 0 {
						bit := i*int(w) + int(k)
						want[bit/8] |= 1 << (bit % 8)
					}
				}
			}
			if !slices.Equal(p[1:], want) {
				t.Fatalf("%d ids of %d bits: % x, want % x", n, w, p[1:], want)
			}
			r := reader{p: p[1:]}
			got := make([]uint16, n)
			if !r.packed(got, w, uint32(distinct)) || len(r.p) != 0 || !slices.Equal(got, ids) {
				t.Fatalf("%d ids of %d bits: read %v, want %v", n, w, got, ids)
			}
		}
	}
}

// TestColumnsDecodeWhatIsWanted: a block decoded with some columns fills those fields (and the
// times, and the offsets when wanted) exactly as one decoded whole, and leaves the others
// empty, for subsets of the fields.
func TestColumnsDecodeWhatIsWanted(t *testing.T) {
	ix, _ := build(t, 9000)
	var fields []audit.Field
	for f := range audit.Field(64) {
		if audit.IndexedFields.Has(f) {
			fields = append(fields, f)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 40 {
		var want audit.Fields
		for _, f := range fields {
			if rng.IntN(3) == 0 {
				want = want.With(f)
			}
		}
		cols := Columns{Fields: want, Offsets: round%2 == 0}
		for k := range ix.blocks {
			whole, err := ix.blocks[k].decode(ix.blocks[k].data, AllColumns)
			if err != nil {
				t.Fatal(err)
			}
			part, err := ix.blocks[k].decode(ix.blocks[k].data, cols)
			if err != nil {
				t.Fatal(err)
			}
			var a, b, c audit.Record
			for i := range whole.Rows {
				whole.Fill(i, &a, want)
				part.Fill(i, &b, want)
				part.Fill(i, &c, audit.AllFields) // asks for more than was decoded
				if !reflect.DeepEqual(a, b) || !reflect.DeepEqual(a, c) {
					t.Fatalf("round %d block %d row %d: %+v, want %+v (asking for every field: %+v)", round, k, i, b, a, c)
				}
				if part.UnixNano(i) != whole.UnixNano(i) || (cols.Offsets && part.Offset(i) != whole.Offset(i)) {
					t.Fatalf("row %d: time or offset differs", i)
				}
			}
		}
	}
}
