package virtio

import (
	"bytes"
	"fmt"
	"io"
	"path/filepath"
	"sync"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/zstd"
	"github.com/lklimg/lklimg/format/qcow2"
)

// Qcow2File is a Backend over a qcow2 image (format/qcow2): each guest
// cluster found through the L1 and L2 tables is read from the image
// file, decompressed (deflate or zstd), read as zeros, or read from the
// backing file (a chain of them, read-only) where the image has not
// allocated it; subclusters of extended L2 entries each on their own.
// L2 tables are cached, a few MiB of them; the last clusters decompressed
// too, so that the page cache's reads of one compressed cluster, a page
// at a time, decompress it once. Opened read-write, it is written as
// backend_qcow2_write.go says. Safe for concurrent use.
type Qcow2File struct {
	mapped
	raw     *RawFile // the image file
	h       *qcow2.Header
	l1      []uint64
	backing Backend      // nil for none
	w       *qcow2Writer // nil when read-only

	// mu guards l1, the cached tables and their contents (a writer
	// changes entries in place), and the decompressed clusters.
	mu     sync.Mutex
	l2gen  uint64            // bumped by every change of l1 or a table
	l2     map[uint64][]byte // L2 tables by host offset
	l2Lru  []uint64          // their offsets, oldest first
	l2Max  int
	zc     [2]zcluster // the last clusters decompressed
	zNext  int
	inflat sync.Pool // flate readers
	zstd   sync.Pool // zstd decoders
}

// zcluster is a decompressed cluster, by the host offset of its data.
type zcluster struct {
	host uint64
	data []byte
}

// maxBackingDepth bounds a chain of backing files (QEMU's is deeper, but
// a loop must end).
const maxBackingDepth = 32

// l2CacheBytes is how much of the L2 tables the backend keeps: one table
// of 64 KiB maps 512 MiB of the guest.
const l2CacheBytes = 4 << 20

// OpenQcow2 opens the qcow2 image at path for reading.
func OpenQcow2(path string, o ImageOptions) (Backend, error) {
	return openQcow2(path, o, 0)
}

func openQcow2(path string, o ImageOptions, depth int) (Backend, error) {
	if o.Truncate || o.Size > 0 {
		// (Create asks for a file if there is none: this one is.)
		return nil, &ImageError{Path: path, Format: format("qcow2"), ReadOnly: true, Err: errNoResize}
	}
	if o.ReadOnly {
		return openMapped(path, o, "qcow2", func(raw *RawFile) (Backend, error) { return newQcow2(raw, path, depth) })
	}
	raw, err := OpenRawFile(path, RawOptions{})
	if err != nil {
		return nil, err
	}
	q, err := newQcow2(raw, path, depth)
	if err == nil {
		if err = q.enableWrite(); err != nil {
			q.Close()
		}
	} else {
		raw.Close()
	}
	if err != nil {
		return nil, &ImageError{Path: path, Format: format("qcow2"), Err: err}
	}
	if o.CacheUnsafe {
		raw.SetCacheUnsafe()
	}
	return q, nil
}

func newQcow2(raw *RawFile, path string, depth int) (*Qcow2File, error) {
	st, err := raw.f.Stat()
	if err != nil {
		return nil, err
	}
	fileSize := st.Size()
	head := make([]byte, min(fileSize, 1<<qcow2.MaxClusterBits))
	if err := raw.ReadAt([][]byte{head}, 0); err != nil {
		return nil, err
	}
	h, err := qcow2.DecodeHeader(head, fileSize)
	if err != nil {
		return nil, err
	}
	if int64(len(head)) > h.ClusterSize() {
		head = head[:h.ClusterSize()]
		if h, err = qcow2.DecodeHeader(head, fileSize); err != nil {
			return nil, err
		}
	}
	if h.IncompatibleFeatures&qcow2.IncompatExternalData != 0 {
		return nil, fmt.Errorf("%w: an external data file (%s)", qcow2.ErrUnsupported, h.ExternalDataFile)
	}
	q := &Qcow2File{raw: raw, h: h, l2: map[uint64][]byte{}}
	q.mapped = mapped{name: "qcow2", size: int64(h.Size) &^ (SectorSize - 1), runAt: q.runAt, closers: []interface{ Close() error }{raw}}
	q.l2Max = max(4, l2CacheBytes>>h.ClusterBits)
	if h.L1Size > 0 {
		tbl := make([]byte, int(h.L1Size)*8)
		if err := raw.ReadAt([][]byte{tbl}, int64(h.L1TableOffset)); err != nil {
			return nil, err
		}
		q.l1 = make([]uint64, h.L1Size)
		for i := range q.l1 {
			q.l1[i] = uint64(tbl[i*8])<<56 | uint64(tbl[i*8+1])<<48 | uint64(tbl[i*8+2])<<40 | uint64(tbl[i*8+3])<<32 |
				uint64(tbl[i*8+4])<<24 | uint64(tbl[i*8+5])<<16 | uint64(tbl[i*8+6])<<8 | uint64(tbl[i*8+7])
		}
	}
	if name := h.BackingFile(head); name != "" {
		if depth >= maxBackingDepth {
			return nil, fmt.Errorf("%w: a chain of more than %d backing files", qcow2.ErrCorrupt, maxBackingDepth)
		}
		if !filepath.IsAbs(name) {
			name = filepath.Join(filepath.Dir(path), name)
		}
		bo := ImageOptions{Format: h.BackingFormat, ReadOnly: true}
		var b Backend
		if bo.Format == "qcow2" {
			b, err = openQcow2(name, bo, depth+1)
		} else {
			b, err = OpenImage(name, bo)
		}
		if err != nil {
			return nil, fmt.Errorf("its backing file: %w", err)
		}
		q.backing = b
		q.closers = append(q.closers, b)
	}
	return q, nil
}

// runAt is what the guest bytes from off read as (mapped): the image
// file's clusters (consecutive ones in one run), a compressed cluster,
// the backing file's bytes (zeros past its end), or zeros.
func (q *Qcow2File) runAt(off int64) (run, error) {
	r, err := q.region(off)
	if err != nil {
		return run{}, err
	}
	switch r.kind {
	case qcow2.Normal:
		return run{n: r.n, from: q.raw, at: int64(r.host)}, nil
	case qcow2.Compressed:
		return run{n: r.n, fill: func(part [][]byte, off int64) error { return q.readCompressed(part, r, off) }}, nil
	case qcow2.Unallocated:
		if q.backing != nil && off < q.backing.Size() {
			return run{n: min(r.n, q.backing.Size()-off), from: q.backing, at: off}, nil
		}
	}
	return run{n: r.n}, nil
}

// span is what guest bytes read as, from region.
type span struct {
	kind qcow2.Kind
	host uint64 // Normal: the host offset of the first byte; Compressed: of the data
	n    int64  // bytes
	zlen uint64 // Compressed: the bytes the data may take
}

// region returns what the guest bytes from off read as, up to the end of
// their cluster (or subcluster), or further for clusters that follow
// each other in the image file.
func (q *Qcow2File) region(off int64) (span, error) {
	h := q.h
	cb, l2b := h.ClusterBits, h.L2Bits()
	cs := int64(1) << cb
	l1i := uint64(off) >> (cb + l2b)
	if l1i >= uint64(len(q.l1)) {
		return span{}, fmt.Errorf("%w: offset %d past the L1 table", qcow2.ErrCorrupt, off)
	}
	entries := 1 << l2b
	l2i := int(uint64(off)>>cb) & (entries - 1)
	inCluster := off & (cs - 1)
	q.mu.Lock()
	l1 := q.l1[l1i]
	q.mu.Unlock()
	tblOff, err := qcow2.L2TableOffset(l1, h)
	if err != nil {
		return span{}, err
	}
	if tblOff == 0 {
		// No L2 table: the rest of its range is unallocated.
		return span{kind: qcow2.Unallocated, n: int64(entries-l2i)*cs - inCluster}, nil
	}
	tbl, err := q.table(tblOff)
	if err != nil {
		return span{}, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	c, err := qcow2.DecodeL2(tbl, l2i, h)
	if err != nil {
		return span{}, err
	}
	switch {
	case c.Kind == qcow2.Compressed:
		return span{kind: c.Kind, host: c.HostOffset, n: cs - inCluster, zlen: c.CompressedSize}, nil
	case c.Extended:
		sub := cs / qcow2.Subclusters
		i := int(inCluster / sub)
		kind := c.SubKind(i)
		n := sub - inCluster%sub
		for j := i + 1; j < qcow2.Subclusters && c.SubKind(j) == kind; j++ {
			n += sub
		}
		return span{kind: kind, host: c.HostOffset + uint64(inCluster), n: n}, nil
	case c.Kind != qcow2.Normal:
		return span{kind: c.Kind, n: cs - inCluster}, nil
	}
	// Following clusters of the same table, next to it in the file.
	n := cs - inCluster
	for j := l2i + 1; j < entries; j++ {
		d, err := qcow2.DecodeL2(tbl, j, h)
		if err != nil || d.Kind != qcow2.Normal || d.HostOffset != c.HostOffset+uint64(j-l2i)<<cb {
			break
		}
		n += cs
	}
	return span{kind: c.Kind, host: c.HostOffset + uint64(inCluster), n: n}, nil
}

// table returns the L2 table at host offset off, from the cache or read.
// A table read while a writer changed tables is not kept: it may predate
// the change (the writer writes the file, then patches the cached copy;
// see setEntries).
func (q *Qcow2File) table(off uint64) ([]byte, error) {
	q.mu.Lock()
	if t, ok := q.l2[off]; ok {
		q.mu.Unlock()
		return t, nil
	}
	gen := q.l2gen
	q.mu.Unlock()
	t := make([]byte, q.h.ClusterSize())
	if err := q.raw.ReadAt([][]byte{t}, int64(off)); err != nil {
		return nil, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if c, ok := q.l2[off]; ok {
		return c, nil
	}
	if gen != q.l2gen {
		return t, nil // used once, not kept
	}
	if len(q.l2Lru) >= q.l2Max {
		delete(q.l2, q.l2Lru[0])
		q.l2Lru = q.l2Lru[1:]
	}
	q.l2[off] = t
	q.l2Lru = append(q.l2Lru, off)
	return t, nil
}

// readCompressed fills part with the guest bytes from off of the
// compressed cluster r.
func (q *Qcow2File) readCompressed(part [][]byte, r span, off int64) error {
	data, err := q.decompressed(r)
	if err != nil {
		return err
	}
	at := off & (q.h.ClusterSize() - 1)
	for _, b := range part {
		at += int64(copy(b, data[at:]))
	}
	return nil
}

// decompressed returns the compressed cluster r, from the last ones
// decompressed or decompressed now.
func (q *Qcow2File) decompressed(r span) ([]byte, error) {
	q.mu.Lock()
	for _, z := range q.zc {
		if z.data != nil && z.host == r.host {
			q.mu.Unlock()
			return z.data, nil
		}
	}
	q.mu.Unlock()
	cs := q.h.ClusterSize()
	// The data never takes more than the cluster it stands for and the
	// sector it starts in.
	in := make([]byte, min(r.zlen, uint64(cs+SectorSize)))
	if err := q.raw.ReadAt([][]byte{in}, int64(r.host)); err != nil {
		return nil, err
	}
	out := make([]byte, cs)
	var err error
	if q.h.CompressionType == qcow2.CompressionZstd {
		err = q.unzstd(in, out)
	} else {
		err = q.inflate(in, out)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: the cluster compressed at %d: %v", qcow2.ErrCorrupt, r.host, err)
	}
	q.mu.Lock()
	q.zc[q.zNext] = zcluster{host: r.host, data: out}
	q.zNext = (q.zNext + 1) % len(q.zc)
	q.mu.Unlock()
	return out, nil
}

// inflate decompresses raw deflate data (no zlib header, as QEMU writes
// it) into out, which it must fill; what follows the stream in the last
// sector is padding.
func (q *Qcow2File) inflate(in, out []byte) error {
	src := bytes.NewReader(in)
	fr, _ := q.inflat.Get().(io.ReadCloser)
	if fr == nil {
		fr = flate.NewReader(src)
	} else if err := fr.(flate.Resetter).Reset(src, nil); err != nil {
		return err
	}
	defer q.inflat.Put(fr)
	_, err := io.ReadFull(fr, out)
	return err
}

// unzstd decompresses a zstd frame into out, which it must fill; what
// follows the frame is padding (QEMU reads the stream until the cluster
// is full, qcow2_zstd_decompress).
func (q *Qcow2File) unzstd(in, out []byte) error {
	d, _ := q.zstd.Get().(*zstd.Decoder)
	if d == nil {
		var err error
		if d, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true)); err != nil {
			return err
		}
	}
	defer q.zstd.Put(d)
	if err := d.Reset(bytes.NewReader(in)); err != nil {
		return err
	}
	_, err := io.ReadFull(d, out)
	return err
}
