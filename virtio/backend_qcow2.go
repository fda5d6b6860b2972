package virtio

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/zstd"
	"github.com/lklimg/lklimg/format/qcow2"
)

// Qcow2File is a read-only Backend over a qcow2 image (format/qcow2): each
// guest cluster found through the L1 and L2 tables is read from the image
// file, decompressed (deflate or zstd), read as zeros, or read from the
// backing file (a chain of them, read-only) where the image has not
// allocated it; subclusters of extended L2 entries each on their own.
// L2 tables are cached, a few MiB of them; the last clusters decompressed
// too, so that the page cache's reads of one compressed cluster, a page
// at a time, decompress it once. Safe for concurrent use.
type Qcow2File struct {
	raw     *RawFile // the image file
	h       *qcow2.Header
	l1      []uint64
	backing Backend // nil for none
	size    int64

	mu     sync.Mutex
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
	if !o.ReadOnly || o.Create || o.Truncate || o.Size > 0 {
		return nil, &ImageError{Path: path, Format: format("qcow2"), ReadOnly: true, Err: ErrReadOnly}
	}
	raw, err := OpenRawFile(path, RawOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	q, err := newQcow2(raw, path, depth)
	if err != nil {
		raw.Close()
		var ie *ImageError
		if errors.As(err, &ie) {
			return nil, err // a backing file's, which names it
		}
		return nil, &ImageError{Path: path, Format: format("qcow2"), Err: err}
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
	q := &Qcow2File{raw: raw, h: h, size: int64(h.Size) &^ (SectorSize - 1), l2: map[uint64][]byte{}}
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
	}
	return q, nil
}

// ReadAt implements Backend: the request walked a cluster (or
// subcluster) at a time, consecutive clusters of the image file read in
// one call.
func (q *Qcow2File) ReadAt(bufs [][]byte, off int64) error {
	var part [][]byte
	for len(bufs) > 0 {
		if off >= q.size {
			for _, b := range bufs {
				clear(b)
			}
			return nil
		}
		r, err := q.region(off)
		if err != nil {
			return err
		}
		part, bufs = cutBufs(part[:0], bufs, min(r.n, q.size-off))
		var got int64
		for _, b := range part {
			got += int64(len(b))
		}
		switch r.kind {
		case qcow2.Normal:
			err = q.raw.ReadAt(part, int64(r.host))
		case qcow2.Compressed:
			err = q.readCompressed(part, r, off)
		case qcow2.Unallocated:
			if q.backing != nil {
				err = q.readBacking(part, off)
				break
			}
			fallthrough
		default:
			for _, b := range part {
				clear(b)
			}
		}
		if err != nil {
			return err
		}
		off += got
	}
	return nil
}

// readBacking reads the guest range at off from the backing file, which
// may be smaller than this image: past its end, zeros.
func (q *Qcow2File) readBacking(part [][]byte, off int64) error {
	size := q.backing.Size()
	if off >= size {
		for _, b := range part {
			clear(b)
		}
		return nil
	}
	var in [][]byte
	in, rest := cutBufs(nil, part, size-off)
	for _, b := range rest {
		clear(b)
	}
	return q.backing.ReadAt(in, off)
}

// cutBufs appends to dst the first n bytes of bufs (or all, when fewer)
// as slices of them, and returns the rest.
func cutBufs(dst, bufs [][]byte, n int64) ([][]byte, [][]byte) {
	for len(bufs) > 0 && n > 0 {
		b := bufs[0]
		if int64(len(b)) > n {
			dst = append(dst, b[:n])
			bufs[0] = b[n:]
			return dst, bufs
		}
		dst = append(dst, b)
		n -= int64(len(b))
		bufs = bufs[1:]
	}
	return dst, bufs
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
	tblOff, err := qcow2.L2TableOffset(q.l1[l1i], h)
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
func (q *Qcow2File) table(off uint64) ([]byte, error) {
	q.mu.Lock()
	if t, ok := q.l2[off]; ok {
		q.mu.Unlock()
		return t, nil
	}
	q.mu.Unlock()
	t := make([]byte, q.h.ClusterSize())
	if err := q.raw.ReadAt([][]byte{t}, int64(off)); err != nil {
		return nil, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, ok := q.l2[off]; !ok {
		if len(q.l2Lru) >= q.l2Max {
			delete(q.l2, q.l2Lru[0])
			q.l2Lru = q.l2Lru[1:]
		}
		q.l2[off] = t
		q.l2Lru = append(q.l2Lru, off)
	}
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

// SendTo implements Sender: the guest bytes from off that the image
// file (or a backing file that can send) holds as they are are sent from
// it by the host; it stops at a cluster that is not (compressed, zero,
// unallocated without a backing file), where a read gets the rest:
// ErrUnsupported if that is the first byte, else the count so far.
func (q *Qcow2File) SendTo(dst Sink, off, n int64) (int64, error) {
	var done int64
	for done < n && off+done < q.size {
		pos := off + done
		r, err := q.region(pos)
		if err != nil {
			return done, err
		}
		want := min(r.n, n-done, q.size-pos)
		var k int64
		switch s, ok := q.backing.(Sender); {
		case r.kind == qcow2.Normal:
			k, err = q.raw.SendTo(dst, int64(r.host), want)
		case r.kind == qcow2.Unallocated && ok && pos < q.backing.Size():
			k, err = s.SendTo(dst, pos, min(want, q.backing.Size()-pos))
		default:
			if done == 0 {
				return 0, fmt.Errorf("virtio: qcow2: cluster at %d not stored as is: %w", pos, errors.ErrUnsupported)
			}
			return done, nil
		}
		done += k
		if err != nil || k < want {
			return done, err
		}
	}
	return done, nil
}

// WriteAt implements Backend: this backend is read-only.
func (q *Qcow2File) WriteAt(bufs [][]byte, off int64) error { return ErrReadOnly }

// Flush implements Backend: nothing is ever written.
func (q *Qcow2File) Flush() error { return nil }

// Discard implements Backend: read-only.
func (q *Qcow2File) Discard(off, n int64) error { return ErrReadOnly }

// WriteZeroes implements Backend: read-only.
func (q *Qcow2File) WriteZeroes(off, n int64) error { return ErrReadOnly }

// SeekData implements Backend: the guest disk is reported as data
// everywhere (a cluster's holes are not looked for yet).
func (q *Qcow2File) SeekData(off int64) (int64, error) { return min(off, q.size), nil }

// SeekHole implements Backend: see SeekData.
func (q *Qcow2File) SeekHole(off int64) (int64, error) { return q.size, nil }

// Size implements Backend: the guest disk's size, in whole sectors.
func (q *Qcow2File) Size() int64 { return q.size }

// ReadOnly implements Backend: always.
func (q *Qcow2File) ReadOnly() bool { return true }

// Close implements Backend, closing the backing files too.
func (q *Qcow2File) Close() error {
	err := q.raw.Close()
	if q.backing != nil {
		err = errors.Join(err, q.backing.Close())
	}
	return err
}
