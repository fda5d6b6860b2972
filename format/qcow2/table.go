package qcow2

import (
	"encoding/binary"
	"fmt"
)

// L1 and L2 table entries (qcow2.txt, "Cluster mapping").
const (
	// entryCopied (bit 63) says the refcount is exactly one: the
	// cluster may be written in place. Reading ignores it.
	entryCopied = 1 << 63
	// entryCompressed (bit 62) marks a compressed cluster descriptor.
	entryCompressed = 1 << 62
	// entryZero (bit 0, version 3 standard L2 entries) reads as zeros.
	entryZero = 1
	// offsetMask is bits 9-55: an L2 table's or a cluster's host offset.
	offsetMask = 0x00ff_ffff_ffff_fe00
	// l1Reserved are the bits of an L1 entry that must be zero.
	l1Reserved = 0x7f00_0000_0000_01ff
	// l2Reserved are the bits of a standard L2 entry that must be zero
	// (bits 1-8 and 56-61).
	l2Reserved = 0x3f00_0000_0000_01fe
)

// L2TableOffset returns the host offset of the L2 table an L1 entry
// points to, 0 when none is allocated (its guest range is unallocated).
func L2TableOffset(l1 uint64, h *Header) (uint64, error) {
	off := l1 & offsetMask
	if l1&l1Reserved != 0 || off%uint64(h.ClusterSize()) != 0 {
		return 0, fmt.Errorf("%w: L1 entry %#x", ErrCorrupt, l1)
	}
	return off, nil
}

// Kind is what a guest cluster (or subcluster) reads as.
type Kind uint8

const (
	Unallocated Kind = iota // the backing file's bytes, or zeros without one
	Zero                    // zeros
	Normal                  // the image file's bytes at HostOffset
	Compressed              // a compressed cluster at HostOffset
)

// Cluster is a decoded L2 entry.
type Cluster struct {
	Kind       Kind
	HostOffset uint64
	// CompressedSize is how many bytes from HostOffset may hold the
	// compressed data (the sectors the descriptor counts).
	CompressedSize uint64
	// Alloc and Zeros are the subcluster bitmaps of an extended L2 entry
	// (bit i for subcluster i); nil meaning for a standard entry.
	Alloc, Zeros uint32
	Extended     bool
	// Copied is the entry's bit 63: the cluster's refcount is exactly
	// one, so a writer may change it in place (a Normal cluster, or a
	// Zero one with a host offset, preallocated).
	Copied bool
}

// Subclusters is how many subclusters an extended L2 cluster has.
const Subclusters = 32

// SubKind returns what subcluster i of a Normal or Unallocated extended
// cluster reads as.
func (c *Cluster) SubKind(i int) Kind {
	switch {
	case c.Zeros&(1<<i) != 0:
		return Zero
	case c.Alloc&(1<<i) != 0:
		return Normal
	default:
		return Unallocated
	}
}

// L2EntrySize is the size of one L2 entry: 8 bytes, 16 with extended L2.
func (h *Header) L2EntrySize() int {
	if h.ExtendedL2() {
		return 16
	}
	return 8
}

// DecodeL2 decodes entry i of the L2 table b (one cluster).
func DecodeL2(b []byte, i int, h *Header) (Cluster, error) {
	be := binary.BigEndian
	es := h.L2EntrySize()
	if i < 0 || (i+1)*es > len(b) {
		return Cluster{}, fmt.Errorf("%w: L2 entry %d outside its table", ErrCorrupt, i)
	}
	e := be.Uint64(b[i*es:])
	c := Cluster{Extended: h.ExtendedL2()}
	if e&entryCompressed != 0 {
		// Bits 0..x-1 the host offset, x..61 the sectors beyond the
		// first that hold the data; x = 62 - (cluster_bits - 8).
		x := 62 - (h.ClusterBits - 8)
		c.Kind = Compressed
		c.HostOffset = e & (1<<x - 1)
		sectors := (e >> x) & (1<<(62-x) - 1)
		c.CompressedSize = (sectors+1)*512 - c.HostOffset%512
		if h.IncompatibleFeatures&IncompatExternalData != 0 {
			return Cluster{}, fmt.Errorf("%w: a compressed cluster with an external data file", ErrCorrupt)
		}
		return c, nil
	}
	c.HostOffset = e & offsetMask
	c.Copied = e&entryCopied != 0
	if c.Extended {
		bm := be.Uint64(b[i*es+8:])
		c.Alloc, c.Zeros = uint32(bm), uint32(bm>>32)
		if e&(l2Reserved|entryZero) != 0 || c.Alloc&c.Zeros != 0 || c.HostOffset == 0 && c.Alloc != 0 {
			return Cluster{}, fmt.Errorf("%w: extended L2 entry %#x bitmap %#x", ErrCorrupt, e, bm)
		}
	} else if e&l2Reserved != 0 || e&entryZero != 0 && h.Version < 3 {
		return Cluster{}, fmt.Errorf("%w: L2 entry %#x", ErrCorrupt, e)
	}
	if c.HostOffset%uint64(h.ClusterSize()) != 0 {
		return Cluster{}, fmt.Errorf("%w: L2 entry %#x: cluster offset not aligned", ErrCorrupt, e)
	}
	switch {
	case c.Extended:
		c.Kind = Normal
		if c.HostOffset == 0 {
			c.Kind = Unallocated
		}
	case e&entryZero != 0:
		c.Kind = Zero
	case c.HostOffset == 0:
		c.Kind = Unallocated
	default:
		c.Kind = Normal
	}
	return c, nil
}

// L1Entry is the L1 entry of an L2 table at host offset off whose
// refcount is one (a writer's new table).
func L1Entry(off uint64) uint64 { return off | entryCopied }

// NormalEntry is the standard L2 entry of a cluster at host offset off
// whose refcount is one: written in place from then on.
func NormalEntry(off uint64) uint64 { return off | entryCopied }

// ZeroEntry is the standard L2 entry (version 3) of a cluster that reads
// as zeros: with off 0 it holds no cluster; with a host offset (refcount
// one) the cluster stays allocated, for a later write in place.
func ZeroEntry(off uint64) uint64 {
	if off == 0 {
		return entryZero
	}
	return off | entryCopied | entryZero
}

// CompressedClusters returns the host clusters a compressed cluster's data
// lies in (from its first byte to its last possible one): each counts one
// reference to it (qcow2.txt: "refcount ... of the clusters the compressed
// data occupies").
func (c *Cluster) CompressedClusters(h *Header) (first, n uint64) {
	cs := uint64(h.ClusterSize())
	first = c.HostOffset / cs
	last := (c.HostOffset + c.CompressedSize - 1) / cs
	return first, last - first + 1
}
