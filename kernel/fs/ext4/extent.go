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
	// bad is the first logical block a failing node covers, once one
	// fails (badSet).
	bad    uint64
	badSet bool
}

// fail records that the node covering logical blocks from from on
// failed, unless a node below it did.
func (w *extentWalk) fail(from uint64) {
	if !w.badSet {
		w.bad, w.badSet = from, true
	}
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
	if err := w.node(ip.iBlock[:], h, 0, 0); err != nil {
		w.fail(0)
		return nil, newMapDamage(w.runs, w.bad, err)
	}
	return w.runs, nil
}

// node walks one checked node; blk is its block (0 for the root), from
// the first logical block it covers. A node that fails fails every
// logical block it covers, as ext4_find_extent fails for them all
// (partial reads: mapDamage).
func (w *extentWalk) node(b []byte, h disk.ExtentHeader, blk, from uint64) error {
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
		// ext4_ext_binsearch_idx takes the first index for the
		// blocks before it too.
		childFrom := uint64(x.EiBlock)
		if i == 0 {
			childFrom = from
		}
		if err := w.child(x, h, childFrom); err != nil {
			w.fail(childFrom)
			return err
		}
	}
	return nil
}

// child reads, checks and walks the node index entry x of a node with
// header h points to.
func (w *extentWalk) child(x disk.ExtentIdx, h disk.ExtentHeader, from uint64) error {
	ip, f := w.ip, w.ip.f
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
	if err := ip.checkExtentEntries(cb, ch, x.EiLeaf, x.EiBlock, false); err != nil {
		return abi.Errorf(abi.EUCLEAN, "ext4: inode %d: extent block %d: %v", ip.ino, x.EiLeaf, err)
	}
	if f.Super.MetadataCsum() {
		if err := ip.verifyExtentTail(cb, ch, x.EiLeaf); err != nil {
			return err
		}
	}
	return w.node(cb, ch, x.EiLeaf, from)
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
		// __ext4_ext_check: "extent tree corrupted", EFSBADCRC.
		return abi.Errorf(abi.EFSBADCRC, "ext4: inode %d: extent block %d: bad checksum %#08x, want %#08x", ip.ino, blk, got, want)
	}
	return nil
}

// checkExtentRoot checks the extent tree's root in i_block as
// ext4_ext_check_inode does at iget (__ext4_ext_check): the header, and
// that its entries are valid (ext4_valid_extent_entries): extents not
// empty, within the filesystem and not overlapping; index entries
// pointing inside the filesystem and in increasing order. The nodes
// below are checked as they are read (extentRuns).
func (ip *inode) checkExtentRoot() error {
	// A depth up to 32 passes here; beyond ExtentMaxDepth the walk
	// refuses it, as ext4_find_extent does.
	b := ip.iBlock[:]
	h := disk.ExtentHeader{EhMagic: le.Uint16(b[0:]), EhEntries: le.Uint16(b[2:]), EhMax: le.Uint16(b[4:]), EhDepth: le.Uint16(b[6:])}
	if h.EhDepth > disk.ExtentMaxDepth && h.EhDepth <= 32 {
		h.EhDepth = disk.ExtentMaxDepth
		var err error
		c := ip.iBlock
		le.PutUint16(c[6:], h.EhDepth)
		if h, err = disk.DecodeExtentNode(c[:]); err != nil {
			return abi.Errorf(abi.EUCLEAN, "ext4: inode %d: extent root: %v", ip.ino, err)
		}
	} else if _, err := disk.DecodeExtentNode(b); err != nil {
		return abi.Errorf(abi.EUCLEAN, "ext4: inode %d: extent root: %v", ip.ino, err)
	}
	if err := ip.checkExtentEntries(b, h, 0, 0, true); err != nil {
		return abi.Errorf(abi.EUCLEAN, "ext4: inode %d: extent root: %v", ip.ino, err)
	}
	return nil
}

// checkExtentEntries is ext4_valid_extent_entries for a checked node at
// logical block lblk (its index entry's ei_block; unchecked for the
// root): the errors name what is wrong, without the inode.
func (ip *inode) checkExtentEntries(b []byte, h disk.ExtentHeader, blk uint64, lblk uint32, root bool) error {
	f := ip.f
	if h.EhEntries == 0 {
		if h.EhDepth > 0 {
			return abi.Errorf(abi.EUCLEAN, "eh_entries is 0 but eh_depth is > 0")
		}
		return nil
	}
	cur := uint64(0)
	for i := 0; i < int(h.EhEntries); i++ {
		var first uint32
		if h.EhDepth == 0 {
			e := disk.ExtentAt(b, i)
			first = e.EeBlock
			switch {
			case e.EeLen == 0:
				return abi.Errorf(abi.EUCLEAN, "zero-length extent at logical block %d", e.EeBlock)
			case !f.blockValid(e.EeStart, uint64(e.EeLen), ip.ino):
				return abi.Errorf(abi.EUCLEAN, "physical blocks %d+%d outside the filesystem or in its metadata", e.EeStart, e.EeLen)
			case uint64(e.EeBlock) < cur:
				return abi.Errorf(abi.EUCLEAN, "extent at logical block %d overlaps the one before", e.EeBlock)
			}
			cur = uint64(e.EeBlock) + uint64(e.EeLen)
		} else {
			x := disk.ExtentIdxAt(b, i)
			first = x.EiBlock
			switch {
			case !f.blockValid(x.EiLeaf, 1, ip.ino):
				return abi.Errorf(abi.EUCLEAN, "index points to block %d outside the filesystem or in its metadata", x.EiLeaf)
			case uint64(x.EiBlock) < cur:
				return abi.Errorf(abi.EUCLEAN, "index at logical block %d out of order", x.EiBlock)
			}
			cur = uint64(x.EiBlock) + 1
		}
		// The first entry of a node below the root starts where its
		// index entry says.
		if i == 0 && !root && first != lblk {
			return abi.Errorf(abi.EUCLEAN, "extent block %d: first entry at logical block %d, its index says %d", blk, first, lblk)
		}
	}
	return nil
}
