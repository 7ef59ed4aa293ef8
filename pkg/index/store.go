package index

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// magic starts every index file; formatVersion changes with the layout, or with what an index
// may cover (5: an index of audit.log no longer ends inside a run of CRI partial lines whose
// last line is not written yet; those of version 4 may, and are rebuilt).
const (
	magic         = "K8SAUDIX"
	formatVersion = 5
	fileSuffix    = ".idx"
	tmpSuffix     = ".tmp"
)

// Header is what an index says about its segment.
type Header struct {
	Version int    `json:"version"`
	Key     string `json:"key"` // the segment ID and the store's salt
	// End is how many bytes of the segment the index covers (complete lines only).
	End int64 `json:"end"`
	// What the scans that built the index counted over [0, End).
	Lines     int64     `json:"lines"`
	Bytes     int64     `json:"bytes"`
	Malformed int64     `json:"malformed"`
	TooLong   int64     `json:"tooLong"`
	Problems  []string  `json:"problems,omitempty"`
	First     time.Time `json:"first"` // earliest and latest stageTimestamp; zero without events
	Last      time.Time `json:"last"`
	Events    int64     `json:"events"`
}

// Index is a segment's index: its header and its blocks, whose payloads are read from the
// file only when asked for. Close releases the file.
type Index struct {
	Header
	blocks []rawBlock
	fh     *os.File // the file Load read it from; nil for a new index
}

// Close releases the index's file.
func (ix *Index) Close() {
	if ix != nil && ix.fh != nil {
		ix.fh.Close()
		ix.fh = nil
	}
}

// payload returns block i's payload, reading it from the file if needed.
func (ix *Index) payload(i int) ([]byte, error) {
	rb := &ix.blocks[i]
	if rb.data != nil {
		return rb.data, nil
	}
	if ix.fh == nil {
		return nil, ErrCorrupt
	}
	data := make([]byte, rb.size)
	if _, err := ix.fh.ReadAt(data, rb.off); err != nil {
		return nil, ErrCorrupt
	}
	return data, nil
}

// Append adds the blocks of builders (finished with their pending rows) to ix.
func (ix *Index) Append(builders ...*Builder) {
	for _, b := range builders {
		b.flush()
		for _, rb := range b.blocks {
			ix.blocks = append(ix.blocks, rb)
			ix.Events += int64(rb.rows)
		}
		b.blocks = nil
	}
}

// Blocks returns how many blocks there are and how many may hold events in [from, to].
func (ix *Index) Blocks(from, to time.Time) (all, inRange int) {
	for i := range ix.blocks {
		if ix.overlaps(i, from, to) {
			inRange++
		}
	}
	return len(ix.blocks), inRange
}

func (ix *Index) overlaps(i int, from, to time.Time) bool {
	rb := &ix.blocks[i]
	return rb.max >= from.UnixNano() && rb.min <= to.UnixNano()
}

// Size is about how many bytes the index takes on disk.
func (ix *Index) Size() int64 {
	n := int64(512)
	for _, rb := range ix.blocks {
		n += int64(rb.size) + 32
	}
	return n
}

// Each decodes, one by one, the columns want of the blocks that may hold events in [from, to]
// and calls fn with each, from workers goroutines (fn must be safe for that; w is the worker's
// number). It returns the compressed bytes decoded, and ErrCorrupt for a block that does not
// check out.
func (ix *Index) Each(from, to time.Time, workers int, want Columns, fn func(w int, b *Block)) (int64, error) {
	var todo []int
	for i := range ix.blocks {
		if ix.overlaps(i, from, to) {
			todo = append(todo, i)
		}
	}
	return ix.EachOf(todo, workers, want, func(w, _ int, b *Block) { fn(w, b) })
}

// BlockSpan is what the index says of one block without decoding it: the range of its
// events' stageTimestamps (Unix ns), and its checksum, which tells one block's content from
// another's.
type BlockSpan struct {
	Min, Max int64
	Sum      uint32
}

// Spans lists the index's blocks, in order.
func (ix *Index) Spans() []BlockSpan {
	s := make([]BlockSpan, len(ix.blocks))
	for i, rb := range ix.blocks {
		s[i] = BlockSpan{Min: rb.min, Max: rb.max, Sum: rb.sum}
	}
	return s
}

// EachOf decodes the columns want of the blocks numbered in blocks (as Spans lists them) and
// calls fn with each and its position k in blocks, from workers goroutines, as Each does.
func (ix *Index) EachOf(blocks []int, workers int, want Columns, fn func(w, k int, b *Block)) (int64, error) {
	var read int64
	for _, i := range blocks {
		read += int64(ix.blocks[i].size)
	}
	workers = max(1, min(workers, len(blocks)))
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := w; k < len(blocks); k += workers {
				data, err := ix.payload(blocks[k])
				if err != nil {
					errs[w] = err
					return
				}
				b, err := ix.blocks[blocks[k]].decode(data, want)
				if err != nil {
					errs[w] = err
					return
				}
				fn(w, k, b)
			}
		}()
	}
	wg.Wait()
	return read, errors.Join(errs...)
}

// Store keeps index files in a directory, bounded in bytes: the least recently used files
// go first. It is safe for concurrent use, across processes too (files are replaced by
// rename, never written in place).
type Store struct {
	// BlockRows is how many events the blocks of the indexes it builds hold (0, or more than
	// BlockRows: BlockRows). Smaller blocks let a range that cuts a segment decode less of
	// it, and keep more partials of blocks (package engine), for a larger index.
	BlockRows int
	dir       string
	max       int64
	salt      string
	mu        sync.Mutex
}

// Open prepares dir (created 0700 if missing) for a store of at most maxBytes. salt is part of
// every key: indexes built under other settings (another line limit) are not used. Open fails
// when dir cannot be created or written.
func Open(dir string, maxBytes int64, salt string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("index directory %s cannot be created: %w", dir, err)
	}
	probe, err := os.CreateTemp(dir, "probe-*"+tmpSuffix)
	if err != nil {
		return nil, fmt.Errorf("index directory %s is not writable: %w", dir, err)
	}
	probe.Close()
	os.Remove(probe.Name())
	s := &Store{dir: dir, max: maxBytes, salt: salt}
	s.removeStaleTemp()
	return s, nil
}

// NewBuilder returns an empty builder of blocks of s.BlockRows events.
func (s *Store) NewBuilder() *Builder {
	if s.BlockRows <= 0 || s.BlockRows > BlockRows {
		return NewBuilder()
	}
	return newBuilder(s.BlockRows)
}

// Dir is the store's directory.
func (s *Store) Dir() string { return s.dir }

// removeStaleTemp removes the temporary files of writes that never finished (a crash).
func (s *Store) removeStaleTemp() {
	ents, _ := os.ReadDir(s.dir)
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), tmpSuffix) {
			if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > 10*time.Minute {
				os.Remove(filepath.Join(s.dir, e.Name()))
			}
		}
	}
}

func (s *Store) key(segmentID string) string { return segmentID + "|" + s.salt }

func (s *Store) path(key string) string {
	h := sha256.Sum256([]byte(key))
	return filepath.Join(s.dir, hex.EncodeToString(h[:16])+fileSuffix)
}

// Load reads the index of a segment. It returns (nil, nil) when there is none, and ErrCorrupt
// (after removing the file) when the file is damaged or belongs to another segment.
func (s *Store) Load(segmentID string) (*Index, error) {
	key := s.key(segmentID)
	p := s.path(key)
	fh, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	ix, err := decodeFile(fh)
	if err == nil && ix.Key != key {
		err = ErrCorrupt
	}
	if err != nil {
		fh.Close()
		os.Remove(p)
		return nil, err
	}
	ix.fh = fh
	now := time.Now()
	os.Chtimes(p, now, now) // recently used
	return ix, nil
}

// Remove drops the index of a segment.
func (s *Store) Remove(segmentID string) { os.Remove(s.path(s.key(segmentID))) }

// Save writes ix (for segmentID) and evicts the least recently used files past the bound.
func (s *Store) Save(segmentID string, ix *Index) error {
	ix.Version = formatVersion
	ix.Key = s.key(segmentID)
	data, err := encodeFile(ix)
	if err != nil {
		return err
	}
	ix.Close() // every payload is in memory now; some platforms cannot rename over an open file
	if int64(len(data)) > s.max {
		return fmt.Errorf("index of %d bytes is larger than the index size limit (%d bytes)", len(data), s.max)
	}
	tmp, err := os.CreateTemp(s.dir, "write-*"+tmpSuffix)
	if err != nil {
		return err
	}
	_, werr := tmp.Write(data)
	if werr == nil {
		werr = tmp.Sync()
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), s.path(ix.Key))
	}
	if werr != nil {
		os.Remove(tmp.Name())
		return werr
	}
	s.evict()
	return nil
}

// Usage is the bytes of index files in the store.
func (s *Store) Usage() (files int, bytes int64) {
	for _, f := range s.files() {
		files++
		bytes += f.size
	}
	return files, bytes
}

type storedFile struct {
	path string
	size int64
	used time.Time
}

func (s *Store) files() []storedFile {
	ents, _ := os.ReadDir(s.dir)
	var out []storedFile
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), fileSuffix) {
			continue
		}
		if info, err := e.Info(); err == nil {
			out = append(out, storedFile{filepath.Join(s.dir, e.Name()), info.Size(), info.ModTime()})
		}
	}
	return out
}

func (s *Store) evict() {
	s.mu.Lock()
	defer s.mu.Unlock()
	files := s.files()
	var total int64
	for _, f := range files {
		total += f.size
	}
	if total <= s.max {
		return
	}
	slices.SortFunc(files, func(a, b storedFile) int { return a.used.Compare(b.used) })
	for _, f := range files {
		if total <= s.max {
			break
		}
		if os.Remove(f.path) == nil {
			total -= f.size
		}
	}
}

// File layout: magic, uvarint version, uvarint header length, header JSON, CRC-32C of the
// header, uvarint block count, then per block: uvarint rows, varint min, varint max, uvarint
// length, 4-byte CRC-32C, payload.

func encodeFile(ix *Index) ([]byte, error) {
	for i := range ix.blocks {
		data, err := ix.payload(i)
		if err != nil {
			return nil, err
		}
		ix.blocks[i].data = data
	}
	hj, err := json.Marshal(ix.Header)
	if err != nil {
		return nil, err
	}
	// One allocation of the whole file: growing the buffer block by block copied and cleared
	// it again and again (two fifths of the CPU of saving an index).
	size := len(magic) + 2*binary.MaxVarintLen64 + len(hj) + 4 + binary.MaxVarintLen64
	for _, rb := range ix.blocks {
		size += 4*binary.MaxVarintLen64 + 4 + len(rb.data)
	}
	var buf bytes.Buffer
	buf.Grow(size)
	buf.WriteString(magic)
	var tmp []byte
	tmp = binary.AppendUvarint(tmp, formatVersion)
	tmp = binary.AppendUvarint(tmp, uint64(len(hj)))
	buf.Write(tmp)
	buf.Write(hj)
	buf.Write(binary.BigEndian.AppendUint32(nil, crc32.Checksum(hj, castagnoli)))
	buf.Write(binary.AppendUvarint(nil, uint64(len(ix.blocks))))
	for _, rb := range ix.blocks {
		tmp = tmp[:0]
		tmp = binary.AppendUvarint(tmp, uint64(rb.rows))
		tmp = binary.AppendVarint(tmp, rb.min)
		tmp = binary.AppendVarint(tmp, rb.max)
		tmp = binary.AppendUvarint(tmp, uint64(len(rb.data)))
		tmp = binary.BigEndian.AppendUint32(tmp, rb.sum)
		buf.Write(tmp)
		buf.Write(rb.data)
	}
	return buf.Bytes(), nil
}

// countingReader counts the bytes read through it, so block payloads get their offsets.
type countingReader struct {
	r *bufio.Reader
	n int64
}

func (c *countingReader) ReadByte() (byte, error) {
	b, err := c.r.ReadByte()
	if err == nil {
		c.n++
	}
	return b, err
}

func (c *countingReader) full(p []byte) error {
	n, err := io.ReadFull(c.r, p)
	c.n += int64(n)
	return err
}

func (c *countingReader) skip(n int) error {
	d, err := c.r.Discard(n)
	c.n += int64(d)
	return err
}

// decodeFile reads an index file's header and block directory; block payloads stay in the
// file (Index.payload reads them).
func decodeFile(fh *os.File) (*Index, error) {
	info, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	size := uint64(info.Size())
	r := &countingReader{r: bufio.NewReaderSize(fh, 64<<10)}
	head := make([]byte, len(magic))
	if r.full(head) != nil || string(head) != magic {
		return nil, ErrCorrupt
	}
	ver, err := binary.ReadUvarint(r)
	if err != nil || ver != formatVersion {
		return nil, ErrCorrupt
	}
	hl, err := binary.ReadUvarint(r)
	if err != nil || hl > size {
		return nil, ErrCorrupt
	}
	hj := make([]byte, hl)
	var sum [4]byte
	if r.full(hj) != nil {
		return nil, ErrCorrupt
	}
	if r.full(sum[:]) != nil || binary.BigEndian.Uint32(sum[:]) != crc32.Checksum(hj, castagnoli) {
		return nil, ErrCorrupt
	}
	ix := &Index{}
	if err := json.Unmarshal(hj, &ix.Header); err != nil || ix.Version != formatVersion {
		return nil, ErrCorrupt
	}
	nb, err := binary.ReadUvarint(r)
	if err != nil || nb > size {
		return nil, ErrCorrupt
	}
	var events int64
	for range nb {
		rows, err1 := binary.ReadUvarint(r)
		lo, err2 := binary.ReadVarint(r)
		hi, err3 := binary.ReadVarint(r)
		n, err4 := binary.ReadUvarint(r)
		if err := errors.Join(err1, err2, err3, err4); err != nil || n > size || rows == 0 || rows > BlockRows {
			return nil, ErrCorrupt
		}
		if r.full(sum[:]) != nil {
			return nil, ErrCorrupt
		}
		off := r.n
		if r.skip(int(n)) != nil {
			return nil, ErrCorrupt
		}
		ix.blocks = append(ix.blocks, rawBlock{rows: int(rows), min: lo, max: hi, off: off, size: int(n), sum: binary.BigEndian.Uint32(sum[:])})
		events += int64(rows)
	}
	if _, err := r.ReadByte(); !errors.Is(err, io.EOF) || events != ix.Events {
		return nil, ErrCorrupt
	}
	return ix, nil
}
