package ext4

import (
	disk "github.com/lklimg/lklimg/format/ext4"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// FALLOC_FL_COLLAPSE_RANGE and FALLOC_FL_INSERT_RANGE (fs/ext4/extents.c
// ext4_collapse_range, ext4_insert_range, ext4_ext_shift_extents).
//
// Both move every extent from a logical block on by the same number of
// blocks: collapse takes the range's blocks out and moves what follows
// down; insert splits the extent across the offset and moves what
// follows up, leaving a hole. The move is done in place: the order of the
// extents does not change, so each leaf entry's ee_block and each index
// entry's ei_block (the first key of its child) is rewritten where it
// lies, and no tree block is allocated or freed by it. Linux also merges
// a moved extent with its new left neighbour when they are contiguous;
// that is left out here (the tree is as valid, and maps the same).

// clusterBytes is EXT4_CLUSTER_SIZE: the unit collapse and insert work in.
func (f *fsys) clusterBytes() int64 {
	bs := int64(f.BlockSize)
	if f.Super.HasRoCompat(disk.RoCompatBigalloc) {
		bs <<= f.Super.SLogClusterSize - f.Super.SLogBlockSize
	}
	return bs
}

// checkShiftRange applies the checks ext4_collapse_range (collapse) or
// ext4_insert_range makes, in their order: EINVAL for an offset or length
// that is not a multiple of the cluster size; for collapse, EINVAL when
// the range reaches the end of the file (that is a truncate); for insert,
// EINVAL for an offset at or past the end, EFBIG when the file would grow
// past the largest one.
func (ip *inode) checkShiftRange(collapse bool, off, n int64) error {
	if (off|n)&(ip.f.clusterBytes()-1) != 0 {
		return abi.EINVAL
	}
	if collapse {
		if off+n >= ip.size {
			return abi.EINVAL
		}
		return nil
	}
	if off >= ip.size {
		return abi.EINVAL
	}
	if n > ip.maxBytes()-ip.size {
		return abi.EFBIG
	}
	return nil
}

// collapseRange is FALLOC_FL_COLLAPSE_RANGE: the blocks of [off, off+n)
// are freed and the rest of the file moves down over them; i_size
// shrinks by n.
func (h *handle) collapseRange(ip *inode, ctx vfs.Ctx, off, n int64) error {
	bits := h.f.BlockBits
	lo, hi := uint64(off)>>bits, uint64(off+n)>>bits
	err := h.removeRange(ip, lo, hi, true)
	if err == nil {
		err = h.shiftExtents(ip, uint32(hi), -int64(hi-lo))
	}
	ip.invalidateMap()
	if err == nil {
		ip.size -= n
		ip.sizeChanged()
		ip.mtime, ip.ctime = ctx.Now, ctx.Now
	}
	if werr := h.writeInode(ip); err == nil {
		err = werr
	}
	return err
}

// insertRange is FALLOC_FL_INSERT_RANGE: the file from off on moves up by
// n bytes, leaving a hole of n bytes at off; i_size grows by n. An
// extent across off is split there; if the split needs a tree block that
// cannot be had (ENOSPC), the move is undone.
func (h *handle) insertRange(ip *inode, ctx vfs.Ctx, off, n int64) error {
	bits := h.f.BlockBits
	lo, ln := uint64(off)>>bits, uint64(n)>>bits
	_, _, x, across, err := h.findExtent(ip, lo, lo+1)
	if err != nil {
		return err
	}
	across = across && uint64(x.EeBlock) < lo
	if err := h.checkShiftRoom(ip, ln); err != nil {
		return err
	}
	if err := h.shiftExtents(ip, uint32(lo), int64(ln)); err != nil {
		return err
	}
	if across {
		err = h.splitMoved(ip, x, lo, ln)
	}
	ip.invalidateMap()
	if err == nil {
		ip.size += n
		ip.sizeChanged()
		ip.mtime, ip.ctime = ctx.Now, ctx.Now
	}
	if werr := h.writeInode(ip); err == nil {
		err = werr
	}
	return err
}

// checkShiftRoom checks that moving every extent up by ln blocks keeps
// them below EXT_MAX_BLOCKS (blocks preallocated past i_size may lie
// high): EFBIG if not.
func (h *handle) checkShiftRoom(ip *inode, ln uint64) error {
	runs, err := ip.extentRuns()
	if err != nil {
		return err
	}
	if len(runs) > 0 {
		if r := runs[len(runs)-1]; r.lblk+r.n+ln > 1<<32-1 {
			return abi.Errorf(abi.EFBIG, "ext4: inode %d: insert range moves extents past the largest block", ip.ino)
		}
	}
	return nil
}

// splitMoved finishes an insert at block lo across extent x, whose head
// stayed while everything after it moved up by ln: x keeps its blocks
// before lo, and the rest of them is mapped again ln blocks higher. On
// failure the move is undone, x made whole again.
func (h *handle) splitMoved(ip *inode, x disk.Extent, lo, ln uint64) error {
	head := x.EeBlock
	setLen := func(l uint32) error {
		path, i, y, ok, err := h.findExtent(ip, uint64(head), uint64(head)+1)
		if err != nil {
			return err
		}
		if !ok || y.EeBlock != head {
			return h.fail(abi.Errorf(abi.EUCLEAN, "ext4: inode %d: extent at %d lost while inserting a range", ip.ino, head))
		}
		y.EeLen = l
		leaf := path[len(path)-1]
		leaf.PutExtent(i, y)
		h.dirtyNode(ip, leaf.ExtNode)
		return nil
	}
	if err := setLen(uint32(lo - uint64(head))); err != nil {
		return err
	}
	tail := disk.Extent{EeBlock: uint32(lo + ln), EeLen: x.EeLen - uint32(lo-uint64(head)),
		EeStart: x.EeStart + (lo - uint64(head)), Unwritten: x.Unwritten}
	err := h.insertExtent(ip, tail)
	if err != nil {
		if uerr := setLen(x.EeLen); uerr == nil {
			h.shiftExtents(ip, uint32(lo+ln), -int64(ln))
		}
	}
	return err
}

// shiftExtents adds delta to the logical block of every extent of ip that
// starts at or after start, and to the index keys above them
// (ext4_ext_shift_extents). The caller has made room: no extent moves
// onto or past another.
func (h *handle) shiftExtents(ip *inode, start uint32, delta int64) error {
	return h.shiftNode(ip, disk.ExtNode{Blk: 0, B: ip.iBlock[:]}, -1, start, delta)
}

// shiftNode shifts the extents under node n, of depth want (-1 for the
// root, whose depth is its own), descending only into children that may
// hold keys from start on.
func (h *handle) shiftNode(ip *inode, n disk.ExtNode, want int, start uint32, delta int64) error {
	f := h.f
	hd, err := disk.DecodeExtentNode(n.B)
	if err == nil && want >= 0 && int(hd.EhDepth) != want {
		err = abi.Errorf(abi.EUCLEAN, "bad depth %d, want %d", hd.EhDepth, want)
	}
	if err != nil {
		return h.fail(abi.Errorf(abi.EUCLEAN, "ext4: inode %d: extent block %d: %v", ip.ino, n.Blk, err))
	}
	k := int(hd.EhEntries)
	changed := false
	if hd.EhDepth == 0 {
		for i := range k {
			if x := disk.ExtentAt(n.B, i); x.EeBlock >= start {
				x.EeBlock = uint32(int64(x.EeBlock) + delta)
				n.PutExtent(i, x)
				changed = true
			}
		}
	} else {
		for i := range k {
			if i+1 < k && n.Key(i+1) <= start {
				continue // every key under it lies before start
			}
			leaf := disk.ExtentIdxAt(n.B, i).EiLeaf
			if leaf < uint64(f.Super.SFirstDataBlock) || leaf >= f.Super.SBlocksCount {
				return h.fail(abi.Errorf(abi.EUCLEAN, "ext4: inode %d: extent index points to block %d outside the filesystem", ip.ino, leaf))
			}
			b, err := h.metaBlock(leaf)
			if err != nil {
				return err
			}
			c := disk.ExtNode{Blk: leaf, B: b}
			if err := h.shiftNode(ip, c, int(hd.EhDepth)-1, start, delta); err != nil {
				return err
			}
			if c.Entries() > 0 && n.Key(i) != c.Key(0) {
				n.SetKey(i, c.Key(0))
				changed = true
			}
		}
	}
	if changed {
		h.dirtyNode(ip, n)
	}
	return nil
}
