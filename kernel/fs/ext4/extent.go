package ext4

import (
	"encoding/binary"

	disk "github.com/lklimg/lklimg/format/ext4"
	"github.com/lklimg/lklimg/kernel/abi"
)

// extentWalk holds the state of one walk of an inode's extent tree.
type extentWalk struct {
	ip     *inode
	runs   []run
	next   uint64 // the lowest logical block the next extent may start at
	budget int64  // tree blocks that may still be read (i_blocks bounds them)
	bufs   [disk.ExtentMaxDepth][]byte
}

// extentRuns flattens the inode's extent tree into runs, checking that
// logical blocks increase, that every block lies inside the filesystem and
// that node depths decrease by one per level; the number of tree blocks
// read is bounded by i_blocks, so a damaged tree cannot make it loop.
func (ip *inode) extentRuns() ([]run, error) {
	f := ip.f
	h, err := disk.DecodeExtentNode(ip.iBlock[:])
	if err != nil {
		return nil, abi.Errorf(abi.EUCLEAN, "ext4: inode %d: extent root: %v", ip.ino, err)
	}
	w := &extentWalk{ip: ip, budget: ip.blocks>>(f.BlockBits-9) + 1}
	if err := w.node(ip.iBlock[:], h, 0); err != nil {
		return nil, err
	}
	return w.runs, nil
}

// node walks one checked node; blk is its block (0 for the root).
func (w *extentWalk) node(b []byte, h disk.ExtentHeader, blk uint64) error {
	ip, f := w.ip, w.ip.f
	if h.EhDepth == 0 {
		for i := 0; i < int(h.EhEntries); i++ {
			e := disk.ExtentAt(b, i)
			switch {
			case uint64(e.EeBlock) < w.next:
				return abi.Errorf(abi.EUCLEAN, "ext4: inode %d: extent block %d: extent at logical block %d out of order",
					ip.ino, blk, e.EeBlock)
			case e.EeLen == 0:
				return abi.Errorf(abi.EUCLEAN, "ext4: inode %d: extent block %d: zero-length extent", ip.ino, blk)
			case e.EeStart < uint64(f.Super.SFirstDataBlock) || e.EeStart+uint64(e.EeLen) > f.Super.SBlocksCount:
				return abi.Errorf(abi.EUCLEAN, "ext4: inode %d: extent block %d: physical blocks %d+%d outside the filesystem",
					ip.ino, blk, e.EeStart, e.EeLen)
			}
			w.next = uint64(e.EeBlock) + uint64(e.EeLen)
			w.runs = appendRun(w.runs, run{lblk: uint64(e.EeBlock), pblk: e.EeStart, n: uint64(e.EeLen), unwritten: e.Unwritten})
		}
		return nil
	}
	for i := 0; i < int(h.EhEntries); i++ {
		x := disk.ExtentIdxAt(b, i)
		if uint64(x.EiBlock) < w.next || i > 0 && x.EiBlock <= disk.ExtentIdxAt(b, i-1).EiBlock {
			return abi.Errorf(abi.EUCLEAN, "ext4: inode %d: extent block %d: index at logical block %d out of order",
				ip.ino, blk, x.EiBlock)
		}
		if x.EiLeaf < uint64(f.Super.SFirstDataBlock) || x.EiLeaf >= f.Super.SBlocksCount {
			return abi.Errorf(abi.EUCLEAN, "ext4: inode %d: extent block %d: index points to block %d outside the filesystem",
				ip.ino, blk, x.EiLeaf)
		}
		if w.budget--; w.budget < 0 {
			return abi.Errorf(abi.EUCLEAN, "ext4: inode %d: extent tree has more blocks than i_blocks counts", ip.ino)
		}
		lvl := int(h.EhDepth) - 1
		if w.bufs[lvl] == nil {
			w.bufs[lvl] = make([]byte, f.BlockSize)
		}
		cb := w.bufs[lvl]
		if err := f.readBlock(cb, x.EiLeaf); err != nil {
			return abi.Errorf(abi.EIO, "ext4: inode %d: extent block %d: %v", ip.ino, x.EiLeaf, err)
		}
		ch, err := disk.DecodeExtentNode(cb)
		if err != nil {
			return abi.Errorf(abi.EUCLEAN, "ext4: inode %d: extent block %d: %v", ip.ino, x.EiLeaf, err)
		}
		if ch.EhDepth != h.EhDepth-1 {
			return abi.Errorf(abi.EUCLEAN, "ext4: inode %d: extent block %d: depth %d, want %d",
				ip.ino, x.EiLeaf, ch.EhDepth, h.EhDepth-1)
		}
		if f.Super.MetadataCsum() {
			if err := ip.verifyExtentTail(cb, ch, x.EiLeaf); err != nil {
				return err
			}
		}
		if err := w.node(cb, ch, x.EiLeaf); err != nil {
			return err
		}
	}
	return nil
}

// verifyExtentTail checks struct ext4_extent_tail, the crc32c of the block
// up to the tail (after eh_max entries), seeded with the inode's seed.
func (ip *inode) verifyExtentTail(b []byte, h disk.ExtentHeader, blk uint64) error {
	off := disk.ExtentHeaderSize + int(h.EhMax)*disk.ExtentEntrySize
	if off+4 > len(b) {
		return abi.Errorf(abi.EUCLEAN, "ext4: inode %d: extent block %d: no room for checksum", ip.ino, blk)
	}
	want := disk.Csum32(ip.f.CrcTab, ip.csumSeed, b[:off])
	if got := binary.LittleEndian.Uint32(b[off:]); got != want {
		return abi.Errorf(abi.EUCLEAN, "ext4: inode %d: extent block %d: bad checksum %#08x, want %#08x", ip.ino, blk, got, want)
	}
	return nil
}
