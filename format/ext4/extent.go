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
