package virtio

import (
	"encoding/binary"
	"fmt"
)

// The split virtqueue's three areas in guest memory (virtio 1.2 §2.7): the
// descriptor table, the available ring (the "driver area") and the used
// ring (the "device area"). Everything is little-endian (§2.7, "Legacy
// Interfaces" aside). Both the device here and the driver in
// kernel/virtioblk compute sizes and offsets with these helpers only.

// MaxQueueSize is the largest queue size a split virtqueue may have
// (§2.7: "Queue Size ... maximum of 32768").
const MaxQueueSize = 32768

// Alignment of each area (§2.7, table "Virtqueue Part Alignment").
const (
	DescAlign  = 16
	AvailAlign = 2
	UsedAlign  = 4
)

// DescSize is the size of struct virtq_desc (§2.7.5).
const DescSize = 16

// Descriptor flags (§2.7.5).
const (
	DescFNext     uint16 = 1 // the chain continues in Next
	DescFWrite    uint16 = 2 // buffer is device-writable (else device-readable)
	DescFIndirect uint16 = 4 // buffer holds a table of descriptors
)

// Ring flags (§2.7.6, §2.7.8).
const (
	AvailFNoInterrupt uint16 = 1
	UsedFNoNotify     uint16 = 1
)

// Desc is struct virtq_desc (§2.7.5).
type Desc struct {
	Addr  uint64
	Len   uint32
	Flags uint16
	Next  uint16
}

// PutDesc encodes d into the descriptor table at index i. table must hold
// at least i+1 descriptors.
func PutDesc(table []byte, i uint16, d Desc) {
	b := table[int(i)*DescSize : int(i)*DescSize+DescSize]
	binary.LittleEndian.PutUint64(b[0:], d.Addr)
	binary.LittleEndian.PutUint32(b[8:], d.Len)
	binary.LittleEndian.PutUint16(b[12:], d.Flags)
	binary.LittleEndian.PutUint16(b[14:], d.Next)
}

// GetDesc decodes descriptor i of table.
func GetDesc(table []byte, i uint16) Desc {
	b := table[int(i)*DescSize : int(i)*DescSize+DescSize]
	return Desc{
		Addr:  binary.LittleEndian.Uint64(b[0:]),
		Len:   binary.LittleEndian.Uint32(b[8:]),
		Flags: binary.LittleEndian.Uint16(b[12:]),
		Next:  binary.LittleEndian.Uint16(b[14:]),
	}
}

// Offsets inside struct virtq_avail (§2.7.6): flags, idx, ring[size],
// used_event.
const (
	AvailFlagsOff = 0
	AvailIdxOff   = 2
	AvailRingOff  = 4
)

// Offsets inside struct virtq_used (§2.7.8): flags, idx, ring[size] of
// struct virtq_used_elem {le32 id; le32 len}, avail_event.
const (
	UsedFlagsOff = 0
	UsedIdxOff   = 2
	UsedRingOff  = 4
	UsedElemSize = 8
)

// DescTableSize is the size in bytes of the descriptor table of a queue of
// size entries (§2.7: 16 * Queue Size).
func DescTableSize(size int) int { return DescSize * size }

// AvailRingSize is the size in bytes of the available ring, used_event
// included (§2.7: 6 + 2 * Queue Size).
func AvailRingSize(size int) int { return 6 + 2*size }

// UsedRingSize is the size in bytes of the used ring, avail_event included
// (§2.7: 6 + 8 * Queue Size).
func UsedRingSize(size int) int { return 6 + UsedElemSize*size }

// AvailSlotOff is the offset in the available ring of the slot that
// free-running index idx names: ring[idx % size] (§2.7.13.2).
func AvailSlotOff(size int, idx uint16) int { return AvailRingOff + 2*int(idx%uint16(size)) }

// UsedSlotOff is the offset in the used ring of the element that
// free-running index idx names.
func UsedSlotOff(size int, idx uint16) int { return UsedRingOff + UsedElemSize*int(idx%uint16(size)) }

// UsedEventOff and AvailEventOff locate the VIRTIO_F_EVENT_IDX fields,
// unused here (the feature is not offered) but part of the layout.
func UsedEventOff(size int) int  { return AvailRingOff + 2*size }
func AvailEventOff(size int) int { return UsedRingOff + UsedElemSize*size }

// Layout places the three areas of a queue of the given size one after
// the other from base, each at its alignment: a driver that allocates one
// run of memory for a queue uses it to find the areas.
type Layout struct {
	Size                   int
	Desc, Avail, Used, End uint64 // End is one past the used ring
}

// NewLayout lays out a queue of size entries from base.
func NewLayout(base uint64, size int) (Layout, error) {
	if err := CheckQueueSize(size); err != nil {
		return Layout{}, err
	}
	l := Layout{Size: size}
	l.Desc = alignUp(base, DescAlign)
	l.Avail = alignUp(l.Desc+uint64(DescTableSize(size)), AvailAlign)
	l.Used = alignUp(l.Avail+uint64(AvailRingSize(size)), UsedAlign)
	l.End = l.Used + uint64(UsedRingSize(size))
	return l, nil
}

// CheckQueueSize reports whether size is a valid split queue size: a power
// of 2 from 1 to MaxQueueSize (§2.7).
func CheckQueueSize(size int) error {
	if size < 1 || size > MaxQueueSize || size&(size-1) != 0 {
		return fmt.Errorf("virtio: queue size %d is not a power of 2 in [1, %d]", size, MaxQueueSize)
	}
	return nil
}

func alignUp(x, a uint64) uint64 { return (x + a - 1) &^ (a - 1) }
