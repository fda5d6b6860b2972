package qcow2

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/zstd"
)

// Writer writes a new qcow2 image (version 3, 64 KiB clusters, 16-bit
// refcounts, no backing file) from a disk given in order, as qemu-img
// convert -O qcow2 lays one out in spirit: the header, the L1 table, the
// data clusters as they come (a cluster of zeros is left unallocated),
// then the L2 tables, then the refcount table and blocks, which count
// every cluster the file uses. Nothing of the image is read back; the L2
// tables of the disk (8 bytes per data cluster) are held until Close.
//
// With compression (qemu-img convert -c), every cluster that compresses
// to less than a cluster is stored compressed (raw deflate, as QEMU
// writes it, or a zstd frame, with the header's compression type),
// packed one after another across host clusters; each host cluster is
// counted once for every compressed cluster in it (qcow2.txt). Clusters
// are compressed on several goroutines, each on its own, and written in
// order: the bytes do not depend on how many.
type Writer struct {
	w     io.WriterAt
	o     WriterOptions
	size  uint64 // the disk's
	l1    []uint64
	l2    map[uint64][]uint64 // by L1 index: its entries
	end   uint64              // the end of what is written
	wrote uint64              // the disk's bytes given so far
	refs  []uint16            // per host cluster, when compressing
	err   error               // sticky
	// One compressor per worker.
	zw   []*flate.Writer
	zst  *zstd.Encoder
	out  [][]byte // compressed clusters of a WriteClusters call
	bufs [][]byte // their buffers, kept
	pad  [][]byte // per worker: a short last cluster padded
}

// WriterOptions are a Writer's choices.
type WriterOptions struct {
	// Compression is "" (clusters as they are), "deflate" or "zstd".
	Compression string
	// Workers compress clusters at once (default: GOMAXPROCS).
	Workers int
}

// WriterCluster is the cluster size of the images Writer makes: the size
// of each cluster given but the disk's last.
const WriterCluster = writerCluster

// Layout of the images Writer makes.
const (
	writerClusterBits = 16
	writerCluster     = 1 << writerClusterBits
	writerL2Entries   = writerCluster / 8
	writerHeaderLen   = 112 // header_length: to the compression type, padded to 8
	refcountOrder     = 4   // 16-bit refcounts
	refsPerBlock      = writerCluster * 8 / (1 << refcountOrder)
)

// NewWriter starts an image of a disk of size bytes on w (a new, empty
// file: nothing is read from it).
func NewWriter(w io.WriterAt, size uint64, o WriterOptions) (*Writer, error) {
	if size > 1<<50 {
		return nil, fmt.Errorf("qcow2: a disk of %d bytes", size)
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	perL1 := uint64(writerCluster) * writerL2Entries
	l1 := make([]uint64, (size+perL1-1)/perL1)
	l1Clusters := (uint64(len(l1))*8 + writerCluster - 1) / writerCluster
	q := &Writer{w: w, o: o, size: size, l1: l1, l2: map[uint64][]uint64{}, end: (1 + l1Clusters) * writerCluster}
	switch o.Compression {
	case "":
	case "deflate":
		for range o.Workers {
			// QEMU's qcow2_compress: zlib's default level, a raw
			// stream (no zlib header).
			zw, err := flate.NewWriter(nil, flate.DefaultCompression)
			if err != nil {
				return nil, err
			}
			q.zw = append(q.zw, zw)
		}
	case "zstd":
		// EncodeAll is safe for concurrent use.
		zst, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderCRC(false))
		if err != nil {
			return nil, err
		}
		q.zst = zst
	default:
		return nil, fmt.Errorf("qcow2: compression %q (deflate or zstd)", o.Compression)
	}
	if o.Compression != "" {
		q.refs = make([]uint16, q.end/writerCluster)
		for i := range q.refs {
			q.refs[i] = 1
		}
	}
	return q, nil
}

// WriteClusters writes the disk's next clusters, b (whole clusters; the
// disk's last may be short); a cluster of zeros takes no room.
func (q *Writer) WriteClusters(b []byte) error {
	if q.err != nil {
		return q.err
	}
	if q.wrote%writerCluster != 0 || q.wrote+uint64(len(b)) > q.size ||
		len(b)%writerCluster != 0 && q.wrote+uint64(len(b)) != q.size {
		return fmt.Errorf("qcow2: %d bytes of clusters at %d of %d", len(b), q.wrote, q.size)
	}
	n := (len(b) + writerCluster - 1) / writerCluster
	if q.refs != nil {
		q.compress(b, n)
	}
	for i := range n {
		c := b[i*writerCluster : min(len(b), (i+1)*writerCluster)]
		if err := q.cluster(c, i); err != nil {
			q.err = err
			return err
		}
	}
	return nil
}

// Zeros skips the disk's next n bytes, zeros (whole clusters, or up to
// the disk's end): they take no room.
func (q *Writer) Zeros(n int64) error {
	if q.err != nil {
		return q.err
	}
	if n < 0 || q.wrote%writerCluster != 0 || q.wrote+uint64(n) > q.size ||
		n%writerCluster != 0 && q.wrote+uint64(n) != q.size {
		return fmt.Errorf("qcow2: %d bytes of zeros at %d of %d", n, q.wrote, q.size)
	}
	q.wrote += uint64(n)
	return nil
}

// compress compresses the n clusters of b into q.out (nil for a cluster
// of zeros or one that does not shrink), on the workers. The buffers of
// one call are kept for the next: no garbage per cluster.
func (q *Writer) compress(b []byte, n int) {
	for len(q.bufs) < n {
		q.bufs = append(q.bufs, nil)
	}
	q.out = q.out[:0]
	for range n {
		q.out = append(q.out, nil)
	}
	for len(q.pad) < q.o.Workers {
		q.pad = append(q.pad, make([]byte, writerCluster))
	}
	var wg sync.WaitGroup
	for w := range min(q.o.Workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += q.o.Workers {
				c := b[i*writerCluster : min(len(b), (i+1)*writerCluster)]
				if allZeros(c) {
					continue
				}
				if len(c) < writerCluster {
					// The disk's short last cluster, padded with
					// zeros: a reader inflates a whole cluster (as
					// QEMU pads it).
					p := q.pad[w]
					clear(p[copy(p, c):])
					c = p
				}
				z := q.bufs[i][:0]
				if q.zst != nil {
					z = q.zst.EncodeAll(c, z)
				} else {
					buf := bytes.NewBuffer(z)
					zw := q.zw[w]
					zw.Reset(buf)
					zw.Write(c)
					zw.Close()
					z = buf.Bytes()
				}
				q.bufs[i] = z
				if len(z) < writerCluster-512 {
					q.out[i] = z
				}
			}
		}()
	}
	wg.Wait()
}

// cluster writes the disk's next cluster: compressed (q.out[i], when
// compressing and it shrank), as it is, or not at all (zeros).
func (q *Writer) cluster(c []byte, i int) error {
	ci := q.wrote / writerCluster
	q.wrote += uint64(len(c))
	var e uint64
	switch {
	case q.refs != nil && q.out[i] != nil:
		z := q.out[i]
		at := q.end
		if _, err := q.w.WriteAt(z, int64(at)); err != nil {
			return err
		}
		q.end += uint64(len(z))
		last := q.end - 1
		for h := at / writerCluster; h <= last/writerCluster; h++ {
			q.ref(h)
		}
		// Bits 0..x-1 the offset, x..61 the sectors after the first
		// that the data reaches into (qcow2.txt, "Compressed
		// Clusters Descriptor"); x = 62 - (cluster_bits - 8).
		x := uint(62 - (writerClusterBits - 8))
		e = entryCompressed | at | (last>>9-at>>9)<<x
	case allZeros(c):
		return nil
	default:
		at := q.alloc()
		if _, err := q.w.WriteAt(c, int64(at)); err != nil {
			return err
		}
		e = at | entryCopied
	}
	l1i := ci / writerL2Entries
	t := q.l2[l1i]
	if t == nil {
		t = make([]uint64, writerL2Entries)
		q.l2[l1i] = t
	}
	t[ci%writerL2Entries] = e
	return nil
}

// alloc takes the next whole cluster (after packed compressed data, the
// cluster after its last byte).
func (q *Writer) alloc() uint64 {
	at := (q.end + writerCluster - 1) &^ (writerCluster - 1)
	q.end = at + writerCluster
	if q.refs != nil {
		q.ref(at / writerCluster)
	}
	return at
}

// ref counts one more reference to host cluster h.
func (q *Writer) ref(h uint64) {
	for uint64(len(q.refs)) <= h {
		q.refs = append(q.refs, 0)
	}
	q.refs[h]++
}

// Close writes the L2 tables, the refcounts, the L1 table and the header.
func (q *Writer) Close() error {
	if q.err != nil {
		return q.err
	}
	if q.wrote != q.size {
		return fmt.Errorf("qcow2: %d of the disk's %d bytes given", q.wrote, q.size)
	}
	be := binary.BigEndian
	buf := make([]byte, writerCluster)
	for l1i := range q.l1 {
		t := q.l2[uint64(l1i)]
		if t == nil {
			continue
		}
		for i, e := range t {
			be.PutUint64(buf[i*8:], e)
		}
		at := q.alloc()
		if _, err := q.w.WriteAt(buf, int64(at)); err != nil {
			return err
		}
		q.l1[l1i] = at | entryCopied
	}
	// The refcount table and blocks after everything, counting
	// themselves too: grow them until they cover the file.
	used := (q.end + writerCluster - 1) / writerCluster
	var blocks, table uint64
	for {
		nb := (used + blocks + table + refsPerBlock - 1) / refsPerBlock
		nt := (nb*8 + writerCluster - 1) / writerCluster
		if nb == blocks && nt == table {
			break
		}
		blocks, table = nb, nt
	}
	tableAt := used * writerCluster
	blocksAt := tableAt + table*writerCluster
	total := used + blocks + table
	tbl := make([]byte, table*writerCluster)
	for b := uint64(0); b < blocks; b++ {
		be.PutUint64(tbl[b*8:], blocksAt+b*writerCluster)
		clear(buf)
		for i := uint64(0); i < refsPerBlock; i++ {
			c := b*refsPerBlock + i
			switch {
			case c >= total:
			case q.refs != nil && c < uint64(len(q.refs)) && c < used:
				be.PutUint16(buf[i*2:], q.refs[c])
			default:
				be.PutUint16(buf[i*2:], 1)
			}
		}
		if _, err := q.w.WriteAt(buf, int64(blocksAt+b*writerCluster)); err != nil {
			return err
		}
	}
	if _, err := q.w.WriteAt(tbl, int64(tableAt)); err != nil {
		return err
	}
	// The L1 table, then the header with its end-of-extensions marker.
	l1b := make([]byte, len(q.l1)*8)
	for i, e := range q.l1 {
		be.PutUint64(l1b[i*8:], e)
	}
	if _, err := q.w.WriteAt(l1b, writerCluster); err != nil {
		return err
	}
	h := make([]byte, writerHeaderLen+8)
	be.PutUint32(h, Magic)
	be.PutUint32(h[4:], 3)
	be.PutUint32(h[20:], writerClusterBits)
	be.PutUint64(h[24:], q.size)
	be.PutUint32(h[36:], uint32(len(q.l1)))
	be.PutUint64(h[40:], writerCluster)
	be.PutUint64(h[48:], tableAt)
	be.PutUint32(h[56:], uint32(table))
	if q.zst != nil {
		be.PutUint64(h[72:], IncompatCompression)
		h[104] = CompressionZstd
	}
	be.PutUint32(h[96:], refcountOrder)
	be.PutUint32(h[100:], writerHeaderLen)
	_, err := q.w.WriteAt(h, 0)
	return err
}

// zeroCluster is a cluster of zeros, to compare clusters with (memequal:
// no byte loop on every cluster of a disk).
var zeroCluster [writerCluster]byte

func allZeros(b []byte) bool { return bytes.Equal(b, zeroCluster[:len(b)]) }
