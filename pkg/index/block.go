// Package index is a column index of audit log segments, kept on disk beside nothing it
// indexes: for each segment (a file, see source.Segment), the values of every indexed field of
// every event (audit.IndexedFields), in blocks of columns, so that aggregations read columns
// instead of decoding JSON. It is pure Go and knows nothing of Grafana.
//
// # Layout
//
// An index file holds a header and blocks. A block holds up to BlockRows events: their
// stageTimestamp, the gap to requestReceivedTimestamp and the response code as zig-zag varints,
// where its line starts in the segment (so that rows can be read back), and one
// dictionary-encoded column per string or raw-JSON field (the block's distinct values,
// then one id per event, bit-packed in as few bits as the dictionary needs: none for a column
// with one value in the block). Each block's payload is compressed with S2 (klauspost's
// Snappy extension: a seventh of zstd's time to compress a block, and less to decompress,
// for 13 % more bytes) and checksummed (CRC-32C); its row count and time range stand outside
// the payload so that blocks outside a query's range are skipped without being read. The
// header (JSON) says which segment and how many of its bytes the index covers, and what the
// scan that built it counted (malformed and over-long lines, problems). A file whose magic,
// version or checksums do not match is discarded and rebuilt, never trusted.
package index

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math/bits"
	"time"

	"github.com/klauspost/compress/s2"

	"github.com/k8saudit/grafana-auditlogs-datasource/pkg/audit"
)

// BlockRows is the most events a block holds (and so the most distinct values of a column in
// a block: ids are uint16).
const BlockRows = 8192

// columns is the order of the dictionary columns in a block; colRaw says which of them hold
// raw JSON (audit.RawFields) rather than strings.
var columns = append(append([]audit.Field{}, audit.StrFields...), audit.RawFields...)

var colRaw = func() []bool {
	raw := make([]bool, len(columns))
	for i := len(audit.StrFields); i < len(columns); i++ {
		raw[i] = true
	}
	return raw
}()

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrCorrupt is returned for an index file or block that does not check out.
var ErrCorrupt = errors.New("index: corrupt or foreign index data")

// rawBlock is one encoded block as it is stored.
type rawBlock struct {
	rows     int
	min, max int64  // stageTimestamp range, Unix ns
	data     []byte // S2 payload; nil until read from the file (at off, size bytes)
	off      int64
	size     int
	sum      uint32 // CRC-32C of data
}

// Builder collects events into blocks. It is not safe for concurrent use: give each scanning
// goroutine its own and join them with Index.Append.
type Builder struct {
	rows  int // pending events
	limit int // rows per block (at most BlockRows)
	// The pending events' fixed columns, as the varints the block holds, appended as events
	// come: the stageTimestamps (deltas), the gaps to requestReceivedTimestamp, the codes, and
	// where each event's line starts in its segment (deltas).
	times, recv, codes, offs  []byte
	lo, hi, lastTime, lastOff int64 // stageTimestamp range and the last time and offset
	cols                      *[numColumns]dictColumn
	payload                   []byte // the pending block's payload, reused from block to block
	blocks                    []rawBlock
}

// numColumns is len(columns).
const numColumns = 17

// dictColumn is one column of the pending block: its distinct values and one id per row.
type dictColumn struct {
	dict []string           // distinct values, in id order
	ids  *[BlockRows]uint16 // one per row (a block has at most BlockRows distinct values)
	seen map[string]uint16  // value -> id
	// last is the previous row's value and id (lastOK false for none yet): an audit log's
	// neighbouring lines (an event's stages, a client's requests) often share a column's
	// value, which one comparison then finds, without hashing.
	last   string
	lastID uint16
	lastOK bool
	// recent holds, per shortHash, the id (plus one; 0 for none) of the last value met with
	// that hash: a cheap guess that one comparison confirms, right for most rows (the values
	// of a column in a block are few), before the map's hashing of the whole value.
	recent [256]uint16
}

// shortHash is a cheap hash of v's length and first, middle and last bytes: a guess for
// dictColumn.recent, never trusted without comparing the values.
func shortHash(v []byte) uint8 {
	n := len(v)
	x := uint64(n)
	if n >= 8 {
		x ^= binary.LittleEndian.Uint64(v) ^ bits.RotateLeft64(binary.LittleEndian.Uint64(v[n-8:]), 29)
	} else if n > 0 {
		x ^= uint64(v[0])<<8 | uint64(v[n/2])<<16 | uint64(v[n-1])<<24
	}
	return uint8((x * 0x9E3779B97F4A7C15) >> 56)
}

// id returns v's id, adding v to the dictionary if it is new, and makes it the last value.
func (c *dictColumn) id(v []byte) uint16 {
	h := shortHash(v)
	if e := c.recent[h]; e != 0 && c.dict[e-1] == string(v) {
		c.last, c.lastID, c.lastOK = c.dict[e-1], e-1, true
		return e - 1
	}
	id, ok := c.seen[string(v)] // no allocation: the conversion is only the lookup's key
	if !ok {
		id = uint16(len(c.dict))
		s := string(v)
		c.dict = append(c.dict, s)
		c.seen[s] = id
	}
	c.recent[h] = id + 1
	c.last, c.lastID, c.lastOK = c.dict[id], id, true
	return id
}

// reset empties the column for the next block.
func (c *dictColumn) reset() {
	c.dict = c.dict[:0]
	clear(c.seen)
	clear(c.recent[:])
	c.last, c.lastID, c.lastOK = "", 0, false
}

// NewBuilder returns an empty builder.
func NewBuilder() *Builder { return newBuilder(BlockRows) }

// newBuilder returns an empty builder of blocks of at most rows events.
func newBuilder(rows int) *Builder {
	b := &Builder{cols: new([numColumns]dictColumn), limit: rows}
	for i := range b.cols {
		b.cols[i].seen = map[string]uint16{}
		b.cols[i].ids = new([BlockRows]uint16)
	}
	return b
}

// strCols and rawCols are audit.StrFields and audit.RawFields as arrays (columns is the one,
// then the other), so that Add's loops over them have constant bounds.
var (
	strCols = [numColumns - 4]audit.Field(audit.StrFields)
	rawCols = [4]audit.Field(audit.RawFields)
)

// Add stores r, which must have been scanned with (at least) audit.IndexedFields, and off, where
// its line starts in the segment (so that Block.Offset can find it again).
func (b *Builder) Add(r *audit.Record, off int64) {
	t := r.Time.UnixNano()
	var gap int64
	if !r.Received.IsZero() {
		gap = t - r.Received.UnixNano()
	} else {
		gap = noReceived
	}
	if b.rows == 0 {
		b.lo, b.hi, b.lastTime, b.lastOff = t, t, 0, 0
	}
	b.lo, b.hi = min(b.lo, t), max(b.hi, t)
	b.times = binary.AppendVarint(b.times, t-b.lastTime)
	b.recv = binary.AppendVarint(b.recv, gap)
	b.codes = binary.AppendVarint(b.codes, int64(r.Code))
	b.offs = binary.AppendVarint(b.offs, off-b.lastOff)
	b.lastTime, b.lastOff = t, off
	// The value of the row before, else the dictionary (dictColumn.last): in the loop, not
	// in a function of its own, as calls cost more than the comparison.
	row := b.rows
	for i, f := range &strCols {
		c, v := &b.cols[i], r.Str(f)
		if c.lastOK && string(v) == c.last {
			c.ids[row] = c.lastID
		} else {
			c.ids[row] = c.id(v)
		}
	}
	for i, f := range &rawCols {
		c, v := &b.cols[len(strCols)+i], r.Raw(f)
		if c.lastOK && string(v) == c.last {
			c.ids[row] = c.lastID
		} else {
			c.ids[row] = c.id(v)
		}
	}
	b.rows++
	if b.rows == b.limit {
		b.flush()
	}
}

// noReceived marks an event without requestReceivedTimestamp (an impossible gap).
const noReceived = -1 << 62

// flush encodes the pending rows as a block.
func (b *Builder) flush() {
	n := b.rows
	if n == 0 {
		return
	}
	p := append(append(append(append(b.payload[:0], b.times...), b.recv...), b.codes...), b.offs...)
	for i := range b.cols {
		c := &b.cols[i]
		p = binary.AppendUvarint(p, uint64(len(c.dict)))
		for _, v := range c.dict {
			p = binary.AppendUvarint(p, uint64(len(v)))
			p = append(p, v...)
		}
		p = appendPacked(p, c.ids[:n], idBits(len(c.dict)))
		c.reset()
	}
	b.payload = p
	data := s2.Encode(nil, p)
	b.blocks = append(b.blocks, rawBlock{rows: n, min: b.lo, max: b.hi, data: data, size: len(data), sum: crc32.Checksum(data, castagnoli)})
	b.times, b.recv, b.codes, b.offs, b.rows = b.times[:0], b.recv[:0], b.codes[:0], b.offs[:0], 0
}

// Block is a decoded block: the columns of its events.
type Block struct {
	Rows  int
	times []int64
	recv  []int64
	codes []int64
	offs  []int64
	dicts [][][]byte
	ids   [][]uint16
}

// Offset is where event i's line starts in its segment.
func (b *Block) Offset(i int) int64 { return b.offs[i] }

// UnixNano is event i's stageTimestamp in Unix nanoseconds.
func (b *Block) UnixNano(i int) int64 { return b.times[i] }

// Time is event i's stageTimestamp.
func (b *Block) Time(i int) time.Time { return time.Unix(0, b.times[i]).UTC() }

// Fill sets r to event i, with the fields of needs that the block decoded (others are left
// empty). The values point into the block and stay valid while the block is.
func (b *Block) Fill(i int, r *audit.Record, needs audit.Fields) {
	r.Reset()
	r.Time = time.Unix(0, b.times[i]).UTC()
	if needs.Has(audit.FieldRequestReceived) && b.recv != nil {
		if g := b.recv[i]; g != noReceived {
			r.Received = time.Unix(0, b.times[i]-g).UTC()
		}
	}
	if needs.Has(audit.FieldCode) && b.codes != nil {
		r.Code = int(b.codes[i])
	}
	for c, f := range columns {
		if !needs.Has(f) || b.ids[c] == nil { // not wanted, or not decoded (Columns)
			continue
		}
		v := b.dicts[c][b.ids[c][i]]
		if len(v) == 0 {
			continue
		}
		if colRaw[c] {
			r.SetRaw(f, v)
		} else {
			r.SetStr(f, v)
		}
	}
}

// Columns says which columns of a block Each decodes: the event times always, the fields of
// Fields (of audit.IndexedFields: the code, requestReceivedTimestamp and the dictionary
// columns), and the events' offsets with Offsets. A block's other columns are skipped, not
// decoded: most queries read a few of the seventeen.
type Columns struct {
	Fields  audit.Fields
	Offsets bool
}

// AllColumns decodes every column.
var AllColumns = Columns{Fields: audit.IndexedFields, Offsets: true}

// decode checks a stored block's payload and decodes the columns of want.
func (rb *rawBlock) decode(data []byte, want Columns) (*Block, error) {
	if crc32.Checksum(data, castagnoli) != rb.sum {
		return nil, ErrCorrupt
	}
	p, err := s2.Decode(nil, data)
	if err != nil {
		return nil, ErrCorrupt
	}
	n := rb.rows
	b := &Block{Rows: n, times: make([]int64, n), dicts: make([][][]byte, len(columns)), ids: make([][]uint16, len(columns))}
	r := reader{p: p}
	r.deltas(b.times)
	if want.Fields.Has(audit.FieldRequestReceived) {
		b.recv = make([]int64, n)
		r.varints(b.recv)
	} else {
		r.skipVarints(n)
	}
	if want.Fields.Has(audit.FieldCode) {
		b.codes = make([]int64, n)
		r.varints(b.codes)
	} else {
		r.skipVarints(n)
	}
	if want.Offsets {
		b.offs = make([]int64, n)
		r.deltas(b.offs)
	} else {
		r.skipVarints(n)
	}
	for c, f := range columns {
		nd := r.uvarint()
		if nd > uint64(n) {
			return nil, ErrCorrupt
		}
		w := idBits(int(nd))
		if !want.Fields.Has(f) {
			for range nd {
				r.bytes(r.uvarint())
			}
			r.bytes(uint64((n*int(w) + 7) / 8))
			continue
		}
		dict := make([][]byte, nd)
		for j := range dict {
			dict[j] = r.bytes(r.uvarint())
		}
		ids := make([]uint16, n)
		if !r.packed(ids, w, uint32(nd)) {
			return nil, ErrCorrupt
		}
		b.dicts[c], b.ids[c] = dict, ids
	}
	if r.err || len(r.p) != 0 {
		return nil, ErrCorrupt
	}
	return b, nil
}

// idBits is how many bits a dictionary id takes in a block: none for a dictionary of one value
// (a column with one value in the block takes no bytes besides it).
func idBits(distinct int) uint {
	return uint(bits.Len(uint(max(distinct, 1) - 1)))
}

// appendPacked appends ids of w bits each to p, least significant bits first, in
// (len(ids)*w+7)/8 bytes.
func appendPacked(p []byte, ids []uint16, w uint) []byte {
	if w == 0 {
		return p
	}
	if w <= 8 {
		// Eight ids at a time: 8*w bits, w whole bytes (the same bits as one at a time).
		for len(ids) >= 8 {
			g := ids[:8]
			x := uint64(g[0]) | uint64(g[1])<<w | uint64(g[2])<<(2*w) | uint64(g[3])<<(3*w) |
				uint64(g[4])<<(4*w) | uint64(g[5])<<(5*w) | uint64(g[6])<<(6*w) | uint64(g[7])<<(7*w)
			p = binary.LittleEndian.AppendUint64(p, x)[:len(p)+int(w)]
			ids = ids[8:]
		}
	}
	var acc uint64
	var n uint // bits in acc: below 32 between ids, so that an id of up to 16 bits fits
	for _, id := range ids {
		acc |= uint64(id) << n
		n += w
		if n >= 32 {
			p = binary.LittleEndian.AppendUint32(p, uint32(acc))
			acc >>= 32
			n -= 32
		}
	}
	for ; n > 0; n -= min(n, 8) {
		p = append(p, byte(acc))
		acc >>= 8
	}
	return p
}

// packed reads len(ids) ids of w bits each (appendPacked), each below limit.
func (r *reader) packed(ids []uint16, w uint, limit uint32) bool {
	if w == 0 {
		clear(ids) // the dictionary's one value, or no rows
		return !r.err
	}
	data := r.bytes((uint64(len(ids))*uint64(w) + 7) / 8)
	if r.err {
		return false
	}
	var acc uint64
	var n uint
	mask := uint64(1)<<w - 1
	for j := range ids {
		for n < w {
			acc |= uint64(data[0]) << n
			data = data[1:]
			n += 8
		}
		id := uint32(acc & mask)
		if id >= limit {
			return false
		}
		ids[j] = uint16(id)
		acc >>= w
		n -= w
	}
	return true
}

// reader reads varints from a payload; a short or bad payload sets err.
type reader struct {
	p   []byte
	err bool
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.p)
	if n <= 0 {
		r.err, r.p = true, nil
		return 0
	}
	r.p = r.p[n:]
	return v
}

// varints reads len(dst) varints; deltas reads them as the differences of the values.
func (r *reader) varints(dst []int64) {
	for i := range dst {
		dst[i] = r.varint()
	}
}

func (r *reader) deltas(dst []int64) {
	prev := int64(0)
	for i := range dst {
		prev += r.varint()
		dst[i] = prev
	}
}

// skipVarints skips n varints.
func (r *reader) skipVarints(n int) {
	i := 0
	for ; n > 0 && i < len(r.p); i++ {
		if r.p[i] < 0x80 {
			n--
		}
	}
	if n > 0 {
		r.err, r.p = true, nil
		return
	}
	r.p = r.p[i:]
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.p)
	if n <= 0 {
		r.err, r.p = true, nil
		return 0
	}
	r.p = r.p[n:]
	return v
}

func (r *reader) bytes(n uint64) []byte {
	if n > uint64(len(r.p)) {
		r.err, r.p = true, nil
		return nil
	}
	v := r.p[:n:n]
	r.p = r.p[n:]
	return v
}
