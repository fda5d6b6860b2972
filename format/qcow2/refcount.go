package qcow2

import (
	"encoding/binary"
	"fmt"
)

// Refcounts (qcow2.txt, "Host cluster management"): a two-level table.
// The refcount table (8-byte big-endian entries, refcount_table_clusters
// clusters at refcount_table_offset) gives the host offsets of refcount
// blocks, each one cluster of refcount entries of 2^refcount_order bits,
// big-endian, one per host cluster: host cluster c's count is entry
// c % RefcountsPerBlock of block c / RefcountsPerBlock. A refcount table
// entry of 0 is a block not allocated: all its clusters count zero.

// refTableReserved are the bits of a refcount table entry that must be
// zero (0-8: the block is cluster-aligned).
const refTableReserved = 0x1ff

// RefcountsPerBlock is how many host clusters one refcount block counts.
func (h *Header) RefcountsPerBlock() uint64 {
	return uint64(h.ClusterSize()) * 8 >> h.RefcountOrder
}

// MaxRefcount is the largest count an entry holds.
func (h *Header) MaxRefcount() uint64 {
	bits := uint64(1) << h.RefcountOrder
	if bits == 64 {
		return ^uint64(0)
	}
	return 1<<bits - 1
}

// RefcountBlockOffset checks refcount table entry e and returns the block's
// host offset (0: not allocated).
func RefcountBlockOffset(e uint64, h *Header) (uint64, error) {
	if e&refTableReserved != 0 || e%uint64(h.ClusterSize()) != 0 {
		return 0, fmt.Errorf("%w: refcount table entry %#x", ErrCorrupt, e)
	}
	return e, nil
}

// Refcount returns entry i of the refcount block b.
func Refcount(b []byte, i uint64, order uint32) uint64 {
	switch order {
	case 6:
		return binary.BigEndian.Uint64(b[i*8:])
	case 5:
		return uint64(binary.BigEndian.Uint32(b[i*4:]))
	case 4:
		return uint64(binary.BigEndian.Uint16(b[i*2:]))
	case 3:
		return uint64(b[i])
	}
	// Under a byte: entries fill each byte from its least significant
	// bits (QEMU's get_refcount_ro0..2).
	bits := uint64(1) << order
	per := 8 / bits
	return uint64(b[i/per]>>((i%per)*bits)) & (1<<bits - 1)
}

// SetRefcount sets entry i of the refcount block b to v (at most
// MaxRefcount), and returns the byte range of b it changed.
func SetRefcount(b []byte, i uint64, order uint32, v uint64) (from, to int) {
	switch order {
	case 6:
		binary.BigEndian.PutUint64(b[i*8:], v)
		return int(i * 8), int(i*8 + 8)
	case 5:
		binary.BigEndian.PutUint32(b[i*4:], uint32(v))
		return int(i * 4), int(i*4 + 4)
	case 4:
		binary.BigEndian.PutUint16(b[i*2:], uint16(v))
		return int(i * 2), int(i*2 + 2)
	case 3:
		b[i] = byte(v)
		return int(i), int(i + 1)
	}
	bits := uint64(1) << order
	per := 8 / bits
	shift := (i % per) * bits
	mask := byte(1<<bits-1) << shift
	b[i/per] = b[i/per]&^mask | byte(v<<shift)&mask
	return int(i / per), int(i/per + 1)
}
