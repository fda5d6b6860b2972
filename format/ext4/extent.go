package ext4

import (
	"encoding/binary"

	"github.com/lklimg/lklimg/kernel/abi"
)

// Extent trees (Documentation/filesystems/ext4/dynamic.rst, "Extent Tree";
// struct ext4_extent_header, ext4_extent_idx, ext4_extent, ext4_extent_tail
// in fs/ext4/ext4_extents.h). The root lives in i_block (60 bytes: a header
// and 4 entries); index nodes and leaves are whole blocks ending in a
// checksum tail with metadata_csum.
const (
	ExtentMagic      = 0xF30A
	ExtentHeaderSize = 12
	ExtentEntrySize  = 12
	ExtentMaxDepth   = 5     // EXT4_MAX_EXTENT_DEPTH
	ExtentInitMaxLen = 32768 // EXT_INIT_MAX_LEN: longer ee_len means unwritten
)

// ExtentHeader is struct ext4_extent_header.
type ExtentHeader struct {
	EhMagic   uint16
	EhEntries uint16
	EhMax     uint16
	EhDepth   uint16
}

// Extent is struct ext4_extent (a leaf entry), decoded.
type Extent struct {
	EeBlock   uint32 // first logical block
	EeLen     uint32 // number of blocks (unwritten flag removed)
	EeStart   uint64 // first physical block
	Unwritten bool
}

// ExtentIdx is struct ext4_extent_idx (an index entry), decoded.
type ExtentIdx struct {
	EiBlock uint32 // first logical block the child covers
	EiLeaf  uint64 // physical block of the child node
}

// DecodeExtentNode decodes a node (the i_block root or a tree block) and
// checks its header against the room it has (ext4_ext_check).
func DecodeExtentNode(b []byte) (ExtentHeader, error) {
	if len(b) < ExtentHeaderSize {
		return ExtentHeader{}, abi.Errorf(abi.EUCLEAN, "short extent node")
	}
	le := binary.LittleEndian
	h := ExtentHeader{
		EhMagic:   le.Uint16(b[0:]),
		EhEntries: le.Uint16(b[2:]),
		EhMax:     le.Uint16(b[4:]),
		EhDepth:   le.Uint16(b[6:]),
	}
	switch {
	case h.EhMagic != ExtentMagic:
		return h, abi.Errorf(abi.EUCLEAN, "invalid extent magic %#x", h.EhMagic)
	case h.EhDepth > ExtentMaxDepth:
		return h, abi.Errorf(abi.EUCLEAN, "extent tree depth %d too large", h.EhDepth)
	case int(h.EhMax) > (len(b)-ExtentHeaderSize)/ExtentEntrySize || h.EhMax == 0:
		return h, abi.Errorf(abi.EUCLEAN, "invalid eh_max %d", h.EhMax)
	case h.EhEntries > h.EhMax:
		return h, abi.Errorf(abi.EUCLEAN, "eh_entries %d > eh_max %d", h.EhEntries, h.EhMax)
	}
	return h, nil
}

// ExtentAt decodes leaf entry i of a checked node.
func ExtentAt(b []byte, i int) Extent {
	le := binary.LittleEndian
	e := b[ExtentHeaderSize+i*ExtentEntrySize:]
	x := Extent{
		EeBlock: le.Uint32(e[0:]),
		EeLen:   uint32(le.Uint16(e[4:])),
		EeStart: uint64(le.Uint16(e[6:]))<<32 | uint64(le.Uint32(e[8:])),
	}
	if x.EeLen > ExtentInitMaxLen {
		x.EeLen -= ExtentInitMaxLen
		x.Unwritten = true
	}
	return x
}

// ExtentIdxAt decodes index entry i of a checked node.
func ExtentIdxAt(b []byte, i int) ExtentIdx {
	le := binary.LittleEndian
	e := b[ExtentHeaderSize+i*ExtentEntrySize:]
	return ExtentIdx{
		EiBlock: le.Uint32(e[0:]),
		EiLeaf:  uint64(le.Uint32(e[4:])) | uint64(le.Uint16(e[8:]))<<32,
	}
}

// ExtNode is an extent tree node being edited: the root in i_block (Blk
// 0) or a tree block at Blk, B its bytes. The accessors below read and
// write its header and entries in place.
type ExtNode struct {
	Blk uint64
	B   []byte
}

func (n ExtNode) Entries() int     { return int(le.Uint16(n.B[2:])) }
func (n ExtNode) SetEntries(k int) { le.PutUint16(n.B[2:], uint16(k)) }
func (n ExtNode) Max() int         { return int(le.Uint16(n.B[4:])) }
func (n ExtNode) Depth() int       { return int(le.Uint16(n.B[6:])) }
func (n ExtNode) Entry(i int) []byte {
	return n.B[ExtentHeaderSize+i*ExtentEntrySize:][:ExtentEntrySize]
}
func (n ExtNode) Key(i int) uint32       { return le.Uint32(n.Entry(i)) }
func (n ExtNode) SetKey(i int, k uint32) { le.PutUint32(n.Entry(i), k) }

// PutExtent encodes x as leaf entry i.
func (n ExtNode) PutExtent(i int, x Extent) {
	e := n.Entry(i)
	l := x.EeLen
	if x.Unwritten {
		l += ExtentInitMaxLen
	}
	le.PutUint32(e[0:], x.EeBlock)
	le.PutUint16(e[4:], uint16(l))
	le.PutUint16(e[6:], uint16(x.EeStart>>32))
	le.PutUint32(e[8:], uint32(x.EeStart))
}

// PutIdx encodes an index entry i.
func (n ExtNode) PutIdx(i int, key uint32, leaf uint64) {
	e := n.Entry(i)
	le.PutUint32(e[0:], key)
	le.PutUint32(e[4:], uint32(leaf))
	le.PutUint16(e[8:], uint16(leaf>>32))
	le.PutUint16(e[10:], 0)
}

// InsertAt opens a slot at i, moving the entries from i one up.
func (n ExtNode) InsertAt(i int) {
	k := n.Entries()
	copy(n.B[ExtentHeaderSize+(i+1)*ExtentEntrySize:], n.B[ExtentHeaderSize+i*ExtentEntrySize:ExtentHeaderSize+k*ExtentEntrySize])
	n.SetEntries(k + 1)
}

// DeleteAt removes entry i, clearing the freed slot.
func (n ExtNode) DeleteAt(i int) {
	k := n.Entries()
	copy(n.B[ExtentHeaderSize+i*ExtentEntrySize:], n.B[ExtentHeaderSize+(i+1)*ExtentEntrySize:ExtentHeaderSize+k*ExtentEntrySize])
	clear(n.Entry(k - 1))
	n.SetEntries(k - 1)
}

// InitExtentNode writes an empty node header (eh_generation 0).
func InitExtentNode(b []byte, max, depth int) {
	le.PutUint16(b[0:], ExtentMagic)
	le.PutUint16(b[2:], 0)
	le.PutUint16(b[4:], uint16(max))
	le.PutUint16(b[6:], uint16(depth))
	le.PutUint32(b[8:], 0)
}

// ExtentRootMax is the root's room: (60-12)/12 entries.
const ExtentRootMax = (IBlockLen - ExtentHeaderSize) / ExtentEntrySize
