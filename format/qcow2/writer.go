package qcow2

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
)

// Writer writes a new qcow2 image (version 3, 64 KiB clusters, 16-bit
// refcounts, no backing file) from a disk given in order, as qemu-img
// convert -O qcow2 lays one out in spirit: the header, the L1 table, the
// data clusters as they come (a cluster of zeros is left unallocated),
// then the L2 tables, then the refcount table and blocks, which count
// every cluster the file uses once. Nothing of the image is read back;
// the L2 tables of the disk (8 bytes per data cluster) are held until
// Close.
type Writer struct {
	w     io.WriterAt
	size  uint64 // the disk's
	l1    []uint64
	l2    map[uint64][]uint64 // by L1 index: its entries
	next  uint64              // the next free cluster's offset
	wrote uint64              // the disk's bytes given so far
	err   error               // sticky
}

// WriterCluster is the cluster size of the images Writer makes: the size
// of each WriteCluster but the last.
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
func NewWriter(w io.WriterAt, size uint64) (*Writer, error) {
	if size > 1<<50 {
		return nil, fmt.Errorf("qcow2: a disk of %d bytes", size)
	}
	perL1 := uint64(writerCluster) * writerL2Entries
	l1 := make([]uint64, (size+perL1-1)/perL1)
	l1Clusters := (uint64(len(l1))*8 + writerCluster - 1) / writerCluster
	return &Writer{w: w, size: size, l1: l1, l2: map[uint64][]uint64{}, next: (1 + l1Clusters) * writerCluster}, nil
}

// WriteCluster writes the disk's next cluster (64 KiB; the last one may be
// shorter); a cluster of zeros takes no room.
func (q *Writer) WriteCluster(b []byte) error {
	if q.err != nil {
		return q.err
	}
	if q.wrote%writerCluster != 0 || uint64(len(b)) > writerCluster || q.wrote+uint64(len(b)) > q.size {
		return fmt.Errorf("qcow2: a cluster of %d bytes at %d of %d", len(b), q.wrote, q.size)
	}
	ci := q.wrote / writerCluster
	q.wrote += uint64(len(b))
	if allZeros(b) {
		return nil
	}
	at := q.next
	if _, err := q.w.WriteAt(b, int64(at)); err != nil {
		q.err = err
		return err
	}
	q.next += writerCluster
	l1i := ci / writerL2Entries
	t := q.l2[l1i]
	if t == nil {
		t = make([]uint64, writerL2Entries)
		q.l2[l1i] = t
	}
	t[ci%writerL2Entries] = at | entryCopied
	return nil
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
		if _, err := q.w.WriteAt(buf, int64(q.next)); err != nil {
			return err
		}
		q.l1[l1i] = q.next | entryCopied
		q.next += writerCluster
	}
	// The refcount table and blocks after everything, counting
	// themselves too: grow them until they cover the file.
	used := q.next / writerCluster
	var blocks, table uint64
	for {
		nb := (used + blocks + table + refsPerBlock - 1) / refsPerBlock
		nt := (nb*8 + writerCluster - 1) / writerCluster
		if nb == blocks && nt == table {
			break
		}
		blocks, table = nb, nt
	}
	tableAt := q.next
	blocksAt := tableAt + table*writerCluster
	total := used + blocks + table
	tbl := make([]byte, table*writerCluster)
	for b := uint64(0); b < blocks; b++ {
		be.PutUint64(tbl[b*8:], blocksAt+b*writerCluster)
		clear(buf)
		for i := uint64(0); i < refsPerBlock; i++ {
			if c := b*refsPerBlock + i; c < total {
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
	be.PutUint32(h[96:], refcountOrder)
	be.PutUint32(h[100:], writerHeaderLen)
	_, err := q.w.WriteAt(h, 0)
	return err
}

// zeroCluster is a cluster of zeros, to compare clusters with (memequal:
// no byte loop on every cluster of a disk).
var zeroCluster [writerCluster]byte

func allZeros(b []byte) bool { return bytes.Equal(b, zeroCluster[:len(b)]) }
