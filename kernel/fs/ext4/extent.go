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
	extentMagic      = 0xF30A
	extentHeaderSize = 12
	extentEntrySize  = 12
	extentMaxDepth   = 5     // EXT4_MAX_EXTENT_DEPTH
	extentInitMaxLen = 32768 // EXT_INIT_MAX_LEN: longer ee_len means unwritten
)

// extentHeader is struct ext4_extent_header.
type extentHeader struct {
	ehMagic   uint16
	ehEntries uint16
	ehMax     uint16
	ehDepth   uint16
}

// extent is struct ext4_extent (a leaf entry), decoded.
type extent struct {
	eeBlock   uint32 // first logical block
	eeLen     uint32 // number of blocks (unwritten flag removed)
	eeStart   uint64 // first physical block
	unwritten bool
}

// extentIdx is struct ext4_extent_idx (an index entry), decoded.
type extentIdx struct {
	eiBlock uint32 // first logical block the child covers
	eiLeaf  uint64 // physical block of the child node
}

// decodeExtentNode decodes a node (the i_block root or a tree block) and
// checks its header against the room it has (ext4_ext_check).
func decodeExtentNode(b []byte) (extentHeader, error) {
	if len(b) < extentHeaderSize {
		return extentHeader{}, abi.Errorf(abi.EUCLEAN, "short extent node")
	}
	le := binary.LittleEndian
	h := extentHeader{
		ehMagic:   le.Uint16(b[0:]),
		ehEntries: le.Uint16(b[2:]),
		ehMax:     le.Uint16(b[4:]),
		ehDepth:   le.Uint16(b[6:]),
	}
	switch {
	case h.ehMagic != extentMagic:
		return h, abi.Errorf(abi.EUCLEAN, "invalid extent magic %#x", h.ehMagic)
	case h.ehDepth > extentMaxDepth:
		return h, abi.Errorf(abi.EUCLEAN, "extent tree depth %d too large", h.ehDepth)
	case int(h.ehMax) > (len(b)-extentHeaderSize)/extentEntrySize || h.ehMax == 0:
		return h, abi.Errorf(abi.EUCLEAN, "invalid eh_max %d", h.ehMax)
	case h.ehEntries > h.ehMax:
		return h, abi.Errorf(abi.EUCLEAN, "eh_entries %d > eh_max %d", h.ehEntries, h.ehMax)
	}
	return h, nil
}

// extentAt decodes leaf entry i of a checked node.
func extentAt(b []byte, i int) extent {
	le := binary.LittleEndian
	e := b[extentHeaderSize+i*extentEntrySize:]
	x := extent{
		eeBlock: le.Uint32(e[0:]),
		eeLen:   uint32(le.Uint16(e[4:])),
		eeStart: uint64(le.Uint16(e[6:]))<<32 | uint64(le.Uint32(e[8:])),
	}
	if x.eeLen > extentInitMaxLen {
		x.eeLen -= extentInitMaxLen
		x.unwritten = true
	}
	return x
}

// extentIdxAt decodes index entry i of a checked node.
func extentIdxAt(b []byte, i int) extentIdx {
	le := binary.LittleEndian
	e := b[extentHeaderSize+i*extentEntrySize:]
	return extentIdx{
		eiBlock: le.Uint32(e[0:]),
		eiLeaf:  uint64(le.Uint32(e[4:])) | uint64(le.Uint16(e[8:]))<<32,
	}
}

// extentWalk holds the state of one walk of an inode's extent tree.
type extentWalk struct {
	ip     *inode
	runs   []run
	next   uint64 // the lowest logical block the next extent may start at
	budget int64  // tree blocks that may still be read (i_blocks bounds them)
	bufs   [extentMaxDepth][]byte
}

// extentRuns flattens the inode's extent tree into runs, checking that
// logical blocks increase, that every block lies inside the filesystem and
// that node depths decrease by one per level; the number of tree blocks
// read is bounded by i_blocks, so a damaged tree cannot make it loop.
func (ip *inode) extentRuns() ([]run, error) {
	f := ip.f
	h, err := decodeExtentNode(ip.iBlock[:])
	if err != nil {
		return nil, abi.Errorf(abi.EUCLEAN, "ext4: inode %d: extent root: %v", ip.ino, err)
	}
	w := &extentWalk{ip: ip, budget: ip.blocks>>(f.blockBits-9) + 1}
	if err := w.node(ip.iBlock[:], h, 0); err != nil {
		return nil, err
	}
	return w.runs, nil
}

// node walks one checked node; blk is its block (0 for the root).
func (w *extentWalk) node(b []byte, h extentHeader, blk uint64) error {
	ip, f := w.ip, w.ip.f
	if h.ehDepth == 0 {
		for i := 0; i < int(h.ehEntries); i++ {
			e := extentAt(b, i)
			switch {
			case uint64(e.eeBlock) < w.next:
				return abi.Errorf(abi.EUCLEAN, "ext4: inode %d: extent block %d: extent at logical block %d out of order",
					ip.ino, blk, e.eeBlock)
			case e.eeLen == 0:
				return abi.Errorf(abi.EUCLEAN, "ext4: inode %d: extent block %d: zero-length extent", ip.ino, blk)
			case e.eeStart < uint64(f.sb.sFirstDataBlock) || e.eeStart+uint64(e.eeLen) > f.sb.sBlocksCount:
				return abi.Errorf(abi.EUCLEAN, "ext4: inode %d: extent block %d: physical blocks %d+%d outside the filesystem",
					ip.ino, blk, e.eeStart, e.eeLen)
			}
			w.next = uint64(e.eeBlock) + uint64(e.eeLen)
			w.runs = appendRun(w.runs, run{lblk: uint64(e.eeBlock), pblk: e.eeStart, n: uint64(e.eeLen), unwritten: e.unwritten})
		}
		return nil
	}
	for i := 0; i < int(h.ehEntries); i++ {
		x := extentIdxAt(b, i)
		if uint64(x.eiBlock) < w.next || i > 0 && x.eiBlock <= extentIdxAt(b, i-1).eiBlock {
			return abi.Errorf(abi.EUCLEAN, "ext4: inode %d: extent block %d: index at logical block %d out of order",
				ip.ino, blk, x.eiBlock)
		}
		if x.eiLeaf < uint64(f.sb.sFirstDataBlock) || x.eiLeaf >= f.sb.sBlocksCount {
			return abi.Errorf(abi.EUCLEAN, "ext4: inode %d: extent block %d: index points to block %d outside the filesystem",
				ip.ino, blk, x.eiLeaf)
		}
		if w.budget--; w.budget < 0 {
			return abi.Errorf(abi.EUCLEAN, "ext4: inode %d: extent tree has more blocks than i_blocks counts", ip.ino)
		}
		lvl := int(h.ehDepth) - 1
		if w.bufs[lvl] == nil {
			w.bufs[lvl] = make([]byte, f.blockSize)
		}
		cb := w.bufs[lvl]
		if err := f.readBlock(cb, x.eiLeaf); err != nil {
			return abi.Errorf(abi.EIO, "ext4: inode %d: extent block %d: %v", ip.ino, x.eiLeaf, err)
		}
		ch, err := decodeExtentNode(cb)
		if err != nil {
			return abi.Errorf(abi.EUCLEAN, "ext4: inode %d: extent block %d: %v", ip.ino, x.eiLeaf, err)
		}
		if ch.ehDepth != h.ehDepth-1 {
			return abi.Errorf(abi.EUCLEAN, "ext4: inode %d: extent block %d: depth %d, want %d",
				ip.ino, x.eiLeaf, ch.ehDepth, h.ehDepth-1)
		}
		if f.sb.metadataCsum() {
			if err := ip.verifyExtentTail(cb, ch, x.eiLeaf); err != nil {
				return err
			}
		}
		if err := w.node(cb, ch, x.eiLeaf); err != nil {
			return err
		}
	}
	return nil
}

// verifyExtentTail checks struct ext4_extent_tail, the crc32c of the block
// up to the tail (after eh_max entries), seeded with the inode's seed.
func (ip *inode) verifyExtentTail(b []byte, h extentHeader, blk uint64) error {
	off := extentHeaderSize + int(h.ehMax)*extentEntrySize
	if off+4 > len(b) {
		return abi.Errorf(abi.EUCLEAN, "ext4: inode %d: extent block %d: no room for checksum", ip.ino, blk)
	}
	want := csum32(ip.f.crcTab, ip.csumSeed, b[:off])
	if got := binary.LittleEndian.Uint32(b[off:]); got != want {
		return abi.Errorf(abi.EUCLEAN, "ext4: inode %d: extent block %d: bad checksum %#08x, want %#08x", ip.ino, blk, got, want)
	}
	return nil
}
