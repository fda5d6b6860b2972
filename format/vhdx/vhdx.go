// Package vhdx is the on-disk format of Microsoft's VHDX disk images
// ([MS-VHDX] 2.x): the file type identifier, the two headers, the two
// region tables, the metadata region's table and the items the reader
// needs (file parameters, virtual disk size, logical sector size), and
// the block allocation table's entries. It holds no state and does no
// I/O; the virtio backend (virtio/backend_vhdx.go) serves a disk with it.
//
// Numbers are little-endian; GUIDs are in Windows' mixed-endian layout.
// Headers and region tables carry CRC-32C checksums, which are checked.
// Decoders return errors wrapping ErrCorrupt, or ErrUnsupported for what
// is not read: a differencing disk, a log to replay.
package vhdx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

var (
	// ErrCorrupt is wrapped by the errors of a damaged image.
	ErrCorrupt = errors.New("vhdx: corrupt image")
	// ErrUnsupported is wrapped by the errors of what is not read.
	ErrUnsupported = errors.New("vhdx: unsupported")
)

// Layout of the header section ([MS-VHDX] 2.2).
const (
	HeaderOffset1      = 64 << 10
	HeaderOffset2      = 128 << 10
	RegionTableOffset1 = 192 << 10
	RegionTableOffset2 = 256 << 10
	HeaderSize         = 4 << 10
	RegionTableSize    = 64 << 10
	MB                 = 1 << 20
)

// GUID is a GUID in its on-disk (mixed-endian) bytes.
type GUID [16]byte

// ParseGUID returns the on-disk bytes of a GUID written as
// "2DC27766-F623-4200-9D64-115E9BFD4A08".
func ParseGUID(s string) GUID {
	var hexb [16]byte
	j := 0
	for i := 0; i < len(s) && j < 32; i++ {
		c := s[i]
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'a' && c <= 'f':
			v = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			v = c - 'A' + 10
		default:
			continue
		}
		hexb[j/2] |= v << (4 * (1 - j%2))
		j++
	}
	var g GUID
	g[0], g[1], g[2], g[3] = hexb[3], hexb[2], hexb[1], hexb[0]
	g[4], g[5] = hexb[5], hexb[4]
	g[6], g[7] = hexb[7], hexb[6]
	copy(g[8:], hexb[8:])
	return g
}

// Region and metadata item GUIDs ([MS-VHDX] 2.2.3.1, 2.6.2).
var (
	RegionBAT           = ParseGUID("2DC27766-F623-4200-9D64-115E9BFD4A08")
	RegionMetadata      = ParseGUID("8B7CA206-4790-4B9A-B8FE-575F050F886E")
	ItemFileParameters  = ParseGUID("CAA16737-FA36-4D43-B3B6-33F0AA44E76B")
	ItemVirtualDiskSize = ParseGUID("2FA54224-CD1B-4876-B211-5DBED83BF4B8")
	ItemLogicalSector   = ParseGUID("8141BF1D-A96F-4709-BA47-F233A8FAAB5F")
	ItemPhysicalSector  = ParseGUID("CDA348C7-445D-4471-9CC9-E9885251C556")
	ItemPage83          = ParseGUID("BECA12AB-B2E6-4523-93EF-C309E000C746")
	ItemParentLocator   = ParseGUID("A8D35F2D-B30B-454D-ABF7-D3D84834AB0C")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// checksum is the CRC-32C of b with its 4-byte checksum field at off
// taken as zero.
func checksum(b []byte, off int) uint32 {
	c := crc32.Update(0, castagnoli, b[:off])
	c = crc32.Update(c, castagnoli, []byte{0, 0, 0, 0})
	return crc32.Update(c, castagnoli, b[off+4:])
}

// Header is a VHDX header ([MS-VHDX] 2.2.2).
type Header struct {
	SequenceNumber uint64
	LogGUID        GUID
	Version        uint16
	LogLength      uint32
	LogOffset      uint64
}

// DecodeHeader decodes one header copy from b (HeaderSize bytes).
func DecodeHeader(b []byte) (*Header, error) {
	le := binary.LittleEndian
	if len(b) < HeaderSize || string(b[:4]) != "head" {
		return nil, fmt.Errorf("%w: no header signature", ErrCorrupt)
	}
	b = b[:HeaderSize]
	if got, want := le.Uint32(b[4:]), checksum(b, 4); got != want {
		return nil, fmt.Errorf("%w: header checksum %#x, computed %#x", ErrCorrupt, got, want)
	}
	h := &Header{SequenceNumber: le.Uint64(b[8:]), Version: le.Uint16(b[66:]), LogLength: le.Uint32(b[68:]), LogOffset: le.Uint64(b[72:])}
	copy(h.LogGUID[:], b[48:64])
	if h.Version != 1 {
		return nil, fmt.Errorf("%w: header version %d", ErrUnsupported, h.Version)
	}
	return h, nil
}

// LogEmpty reports whether the header has no log to replay (a zero
// LogGuid: the image was closed cleanly).
func (h *Header) LogEmpty() bool { return h.LogGUID == GUID{} }

// Region is a region table entry.
type Region struct {
	GUID       GUID
	FileOffset uint64
	Length     uint32
	Required   bool
}

// maxRegions is the most entries a region table holds ([MS-VHDX]:
// 2047).
const maxRegions = 2047

// DecodeRegionTable decodes a region table from b (RegionTableSize bytes).
func DecodeRegionTable(b []byte) ([]Region, error) {
	le := binary.LittleEndian
	if len(b) < RegionTableSize || string(b[:4]) != "regi" {
		return nil, fmt.Errorf("%w: no region table signature", ErrCorrupt)
	}
	b = b[:RegionTableSize]
	if got, want := le.Uint32(b[4:]), checksum(b, 4); got != want {
		return nil, fmt.Errorf("%w: region table checksum %#x, computed %#x", ErrCorrupt, got, want)
	}
	n := le.Uint32(b[8:])
	if n > maxRegions {
		return nil, fmt.Errorf("%w: %d regions", ErrCorrupt, n)
	}
	rs := make([]Region, n)
	for i := range rs {
		e := b[16+i*32:]
		copy(rs[i].GUID[:], e[:16])
		rs[i].FileOffset, rs[i].Length, rs[i].Required = le.Uint64(e[16:]), le.Uint32(e[24:]), le.Uint32(e[28:])&1 != 0
		if rs[i].FileOffset%MB != 0 || rs[i].Length%MB != 0 {
			return nil, fmt.Errorf("%w: region at %d of %d bytes, not whole MiB", ErrCorrupt, rs[i].FileOffset, rs[i].Length)
		}
	}
	return rs, nil
}

// Metadata is what the reader takes from the metadata region.
type Metadata struct {
	BlockSize         uint32
	HasParent         bool
	VirtualDiskSize   uint64
	LogicalSectorSize uint32
}

// DecodeMetadata decodes the metadata region b: its table and the items
// the reader needs. A required item the reader does not know is
// ErrUnsupported, as [MS-VHDX] 2.6.1.2 asks.
func DecodeMetadata(b []byte) (*Metadata, error) {
	le := binary.LittleEndian
	if len(b) < 64<<10 || string(b[:8]) != "metadata" {
		return nil, fmt.Errorf("%w: no metadata table signature", ErrCorrupt)
	}
	n := int(le.Uint16(b[10:]))
	if n > 2047 {
		return nil, fmt.Errorf("%w: %d metadata entries", ErrCorrupt, n)
	}
	m := &Metadata{}
	have := map[GUID]bool{}
	for i := 0; i < n; i++ {
		e := b[32+i*32:]
		var id GUID
		copy(id[:], e[:16])
		off, length, flags := le.Uint32(e[16:]), le.Uint32(e[20:]), le.Uint32(e[24:])
		if uint64(off)+uint64(length) > uint64(len(b)) || length > 0 && off < 64<<10 {
			return nil, fmt.Errorf("%w: metadata item at %d of %d bytes", ErrCorrupt, off, length)
		}
		v := b[off : off+length]
		need := func(k uint32) error {
			if length < k {
				return fmt.Errorf("%w: a metadata item of %d bytes", ErrCorrupt, length)
			}
			return nil
		}
		switch id {
		case ItemFileParameters:
			if err := need(8); err != nil {
				return nil, err
			}
			m.BlockSize, m.HasParent = le.Uint32(v), le.Uint32(v[4:])&2 != 0
		case ItemVirtualDiskSize:
			if err := need(8); err != nil {
				return nil, err
			}
			m.VirtualDiskSize = le.Uint64(v)
		case ItemLogicalSector:
			if err := need(4); err != nil {
				return nil, err
			}
			m.LogicalSectorSize = le.Uint32(v)
		case ItemPhysicalSector, ItemPage83, ItemParentLocator:
		default:
			if flags&4 != 0 { // IsRequired
				return nil, fmt.Errorf("%w: a required metadata item it does not know", ErrUnsupported)
			}
		}
		have[id] = true
	}
	switch {
	case !have[ItemFileParameters] || !have[ItemVirtualDiskSize] || !have[ItemLogicalSector]:
		return nil, fmt.Errorf("%w: required metadata items missing", ErrCorrupt)
	case m.BlockSize < MB || m.BlockSize > 256*MB || m.BlockSize&(m.BlockSize-1) != 0:
		return nil, fmt.Errorf("%w: block size %d", ErrCorrupt, m.BlockSize)
	case m.LogicalSectorSize != 512 && m.LogicalSectorSize != 4096:
		return nil, fmt.Errorf("%w: logical sector size %d", ErrCorrupt, m.LogicalSectorSize)
	case m.VirtualDiskSize > 64<<40 || m.VirtualDiskSize%uint64(m.LogicalSectorSize) != 0:
		return nil, fmt.Errorf("%w: virtual disk size %d", ErrCorrupt, m.VirtualDiskSize)
	case m.HasParent:
		return nil, fmt.Errorf("%w: a differencing disk (its parent is not read)", ErrUnsupported)
	}
	return m, nil
}

// ChunkRatio is how many payload blocks one sector bitmap block covers:
// each run of that many BAT entries is followed by the bitmap block's.
func (m *Metadata) ChunkRatio() uint64 {
	return (1 << 23) * uint64(m.LogicalSectorSize) / uint64(m.BlockSize)
}

// Payload block states of a BAT entry (bits 0-2).
const (
	PayloadNotPresent       = 0
	PayloadUndefined        = 1
	PayloadZero             = 2
	PayloadUnmapped         = 3
	PayloadFullyPresent     = 6
	PayloadPartiallyPresent = 7
)

// BATEntry splits a BAT entry into its state and its block's file offset
// in bytes.
func BATEntry(e uint64) (state uint8, offset uint64) {
	return uint8(e & 7), (e >> 20) * MB
}
