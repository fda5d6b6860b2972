// Package vhd is the on-disk format of Microsoft's Virtual Hard Disk
// (Virtual Hard Disk Image Format Specification 1.0, the format QEMU
// calls "vpc"): the hard disk footer, the dynamic disk header and its
// block allocation table. It holds no state and does no I/O; the virtio
// backend (virtio/backend_vhd.go) serves a disk with it.
//
// Numbers are big-endian. Decoders check the cookies, the checksums and
// every offset they rely on, and return errors wrapping ErrCorrupt (or
// ErrUnsupported: a differencing disk, whose parent is not read).
package vhd

import (
	"encoding/binary"
	"errors"
	"fmt"
)

var (
	// ErrCorrupt is wrapped by the errors of a damaged image.
	ErrCorrupt = errors.New("vhd: corrupt image")
	// ErrUnsupported is wrapped by the errors of what is not read.
	ErrUnsupported = errors.New("vhd: unsupported")
)

// SectorSize is the unit of the format's sector offsets.
const SectorSize = 512

// Disk types (the footer's Disk Type field).
const (
	DiskFixed        = 2
	DiskDynamic      = 3
	DiskDifferencing = 4
)

// Footer is the hard disk footer (512 bytes; the last sector of the file,
// and a copy in the first sector of a dynamic disk).
type Footer struct {
	Features    uint32
	Version     uint32
	DataOffset  uint64 // the dynamic disk header's offset; all ones for a fixed disk
	CreatorApp  string
	CurrentSize uint64
	Cylinders   uint16
	Heads       uint8
	SectorsPT   uint8 // sectors per track
	DiskType    uint32
}

// checksum is the one's complement of the sum of b's bytes, those of the
// checksum field at off (4 bytes) left out.
func checksum(b []byte, off int) uint32 {
	var sum uint32
	for i, c := range b {
		if i < off || i >= off+4 {
			sum += uint32(c)
		}
	}
	return ^sum
}

// DecodeFooter decodes a footer from the 512 bytes of b.
func DecodeFooter(b []byte) (*Footer, error) {
	be := binary.BigEndian
	if len(b) < SectorSize || string(b[:8]) != "conectix" {
		return nil, fmt.Errorf("%w: no footer cookie", ErrCorrupt)
	}
	b = b[:SectorSize]
	if got, want := be.Uint32(b[64:]), checksum(b, 64); got != want {
		return nil, fmt.Errorf("%w: footer checksum %#x, computed %#x", ErrCorrupt, got, want)
	}
	f := &Footer{
		Features:    be.Uint32(b[8:]),
		Version:     be.Uint32(b[12:]),
		DataOffset:  be.Uint64(b[16:]),
		CreatorApp:  string(b[28:32]),
		CurrentSize: be.Uint64(b[48:]),
		Cylinders:   be.Uint16(b[56:]),
		Heads:       b[58],
		SectorsPT:   b[59],
		DiskType:    be.Uint32(b[60:]),
	}
	switch f.DiskType {
	case DiskFixed, DiskDynamic:
	case DiskDifferencing:
		return nil, fmt.Errorf("%w: a differencing disk (its parent is not read)", ErrUnsupported)
	default:
		return nil, fmt.Errorf("%w: disk type %d", ErrCorrupt, f.DiskType)
	}
	if f.CurrentSize > 1<<44 {
		return nil, fmt.Errorf("%w: a disk of %d bytes", ErrCorrupt, f.CurrentSize)
	}
	return f, nil
}

// maxGeometrySectors is the largest disk CHS can describe (65535
// cylinders, 16 heads, 255 sectors).
const maxGeometrySectors = 65535 * 16 * 255

// Size returns the guest disk's size in bytes as QEMU's vpc driver takes
// it: the CHS geometry's, for images of the creators that round their
// size to it (Virtual PC, qemu-img without force_size), else the current
// size field (Hyper-V "win ", qemu-img's force_size "qem2", Disk2vhd
// "d2v ", XenServer "CTXS" and "tap"), and that field too when the
// geometry is at its maximum (the disk may be bigger).
func (f *Footer) Size() uint64 {
	switch f.CreatorApp {
	case "win ", "qem2", "d2v ", "CTXS", "tap\x00":
		return f.CurrentSize
	}
	chs := uint64(f.Cylinders) * uint64(f.Heads) * uint64(f.SectorsPT)
	if chs == maxGeometrySectors {
		return f.CurrentSize
	}
	return chs * SectorSize
}

// DynamicHeader is the dynamic disk header (1024 bytes at the footer's
// DataOffset).
type DynamicHeader struct {
	TableOffset     uint64 // the block allocation table's byte offset
	MaxTableEntries uint32
	BlockSize       uint32 // bytes, a power of two (2 MiB by default)
}

// DecodeDynamicHeader decodes a dynamic disk header from b (1024 bytes).
func DecodeDynamicHeader(b []byte) (*DynamicHeader, error) {
	be := binary.BigEndian
	if len(b) < 1024 || string(b[:8]) != "cxsparse" {
		return nil, fmt.Errorf("%w: no dynamic header cookie", ErrCorrupt)
	}
	b = b[:1024]
	if got, want := be.Uint32(b[36:]), checksum(b, 36); got != want {
		return nil, fmt.Errorf("%w: dynamic header checksum %#x, computed %#x", ErrCorrupt, got, want)
	}
	h := &DynamicHeader{TableOffset: be.Uint64(b[16:]), MaxTableEntries: be.Uint32(b[28:]), BlockSize: be.Uint32(b[32:])}
	if h.BlockSize < SectorSize || h.BlockSize > 1<<28 || h.BlockSize&(h.BlockSize-1) != 0 {
		return nil, fmt.Errorf("%w: block size %d", ErrCorrupt, h.BlockSize)
	}
	if h.MaxTableEntries > 1<<26 {
		return nil, fmt.Errorf("%w: %d table entries", ErrCorrupt, h.MaxTableEntries)
	}
	return h, nil
}

// BitmapSize is the size of a block's sector bitmap, which precedes its
// data: a bit per sector, padded to whole sectors.
func (h *DynamicHeader) BitmapSize() int64 {
	bits := int64(h.BlockSize) / SectorSize
	return (bits/8 + SectorSize - 1) / SectorSize * SectorSize
}

// Unallocated is a block allocation table entry of a block not stored.
const Unallocated = 0xffffffff
