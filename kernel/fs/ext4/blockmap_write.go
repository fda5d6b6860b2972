package ext4

import (
	disk "github.com/lklimg/lklimg/format/ext4"
	"github.com/lklimg/lklimg/kernel/abi"
)

// Changing ext2/ext3 block maps (fs/ext4/indirect.c; the format in
// blockmap.go). Pointer blocks are allocated on the way down as a write
// needs them, zeroed, before the data blocks they point to (so a file
// written in order lies as ext3 lays it out: 12 data blocks, the
// indirect block, the next data blocks); removal frees the data blocks
// and every pointer block left without a pointer.

// bmapLimit is the number of logical blocks a block map reaches:
// 12 + p + p^2 + p^3 with p pointers per block, within 2^32.
func (f *fsys) bmapLimit() uint64 {
	p := uint64(f.BlockSize / 4)
	return min(disk.NdirBlocks+p+p*p+p*p*p, 1<<32-1)
}

// bmapOffsets returns the slots leading to logical block lblk: the slot
// in i_block, then one per pointer block; depth is their number less one.
func (f *fsys) bmapOffsets(lblk uint64) (off [4]uint64, depth int) {
	p := uint64(f.BlockSize / 4)
	if lblk < disk.NdirBlocks {
		return [4]uint64{lblk}, 0
	}
	lblk -= disk.NdirBlocks
	if lblk < p {
		return [4]uint64{disk.IndBlock, lblk}, 1
	}
	lblk -= p
	if lblk < p*p {
		return [4]uint64{disk.DindBlock, lblk / p, lblk % p}, 2
	}
	lblk -= p * p
	return [4]uint64{disk.TindBlock, lblk / (p * p), lblk / p % p, lblk % p}, 3
}

// checkPtr checks that a block pointer lies inside the filesystem.
func (h *handle) checkPtr(ip *inode, ptr uint64) error {
	f := h.f
	if ptr < uint64(f.Super.SFirstDataBlock) || ptr >= f.Super.SBlocksCount {
		return h.fail(abi.Errorf(abi.EUCLEAN, "ext4: inode %d: block map points to block %d outside the filesystem", ip.ino, ptr))
	}
	return nil
}

// bmapAlloc fills the hole at lblk (up to n blocks, within one pointer
// block) with new data blocks near goal and returns the first and how
// many (ext4_ind_map_blocks with EXT4_GET_BLOCKS_CREATE).
func (h *handle) bmapAlloc(ip *inode, lblk, n, goal uint64) (uint64, uint64, error) {
	f := h.f
	if lblk >= f.bmapLimit() {
		return 0, 0, h.fail(abi.Errorf(abi.EFBIG, "ext4: inode %d: block %d beyond the block map", ip.ino, lblk))
	}
	off, depth := f.bmapOffsets(lblk)
	holder, holderBlk := ip.iBlock[:], uint64(0)
	for l := 0; l < depth; l++ {
		ptr := uint64(le.Uint32(holder[4*off[l]:]))
		if ptr == 0 {
			g := goal
			if holderBlk != 0 {
				g = holderBlk + 1
			}
			nb, err := h.allocBlock(ip, g)
			if err != nil {
				return 0, 0, err
			}
			b, err := h.newMetaBlock(nb)
			if err != nil {
				return 0, 0, err
			}
			le.PutUint32(holder[4*off[l]:], uint32(nb))
			holder, holderBlk = b, nb
			continue
		}
		if err := h.checkPtr(ip, ptr); err != nil {
			return 0, 0, err
		}
		b, err := h.metaBlock(ptr)
		if err != nil {
			return 0, 0, err
		}
		holder, holderBlk = b, ptr
	}
	slot := off[depth]
	limit := uint64(disk.NdirBlocks)
	if depth > 0 {
		limit = uint64(f.BlockSize / 4)
	}
	if ptr := uint64(le.Uint32(holder[4*slot:])); ptr != 0 {
		return ptr, 1, nil
	}
	k := uint64(1)
	for k < n && slot+k < limit && le.Uint32(holder[4*(slot+k):]) == 0 {
		k++
	}
	// The goal: after the previous pointer of this block, or after the
	// pointer block itself (ext4_find_near).
	if slot > 0 && le.Uint32(holder[4*(slot-1):]) != 0 {
		goal = uint64(le.Uint32(holder[4*(slot-1):])) + 1
	} else if holderBlk != 0 {
		goal = holderBlk + 1
	}
	start, got, err := h.allocBlocks(ip, goal, k, false)
	if err != nil {
		return 0, 0, err
	}
	for j := uint64(0); j < got; j++ {
		le.PutUint32(holder[4*(slot+j):], uint32(start+j))
	}
	return start, got, nil
}

// blockFreer gathers blocks to free into contiguous runs.
type blockFreer struct {
	h        *handle
	ip       *inode
	start, n uint64
}

func (fr *blockFreer) add(blk uint64) error {
	if fr.n > 0 && fr.start+fr.n == blk {
		fr.n++
		return nil
	}
	if err := fr.flush(); err != nil {
		return err
	}
	fr.start, fr.n = blk, 1
	return nil
}

func (fr *blockFreer) flush() error {
	if fr.n == 0 {
		return nil
	}
	err := fr.h.freeBlocks(fr.ip, fr.start, fr.n)
	fr.n = 0
	return err
}

// bmapRemove unmaps logical blocks [from, to) of ip and frees them, and
// the pointer blocks left empty (ext4_ind_truncate, ext4_ind_remove_space).
func (h *handle) bmapRemove(ip *inode, from, to uint64) error {
	f := h.f
	fr := &blockFreer{h: h, ip: ip}
	for i := from; i < min(to, disk.NdirBlocks); i++ {
		if ptr := uint64(le.Uint32(ip.iBlock[4*i:])); ptr != 0 {
			if err := h.checkPtr(ip, ptr); err != nil {
				return err
			}
			if err := fr.add(ptr); err != nil {
				return err
			}
			le.PutUint32(ip.iBlock[4*i:], 0)
		}
	}
	p := uint64(f.BlockSize / 4)
	base, span := uint64(disk.NdirBlocks), uint64(1)
	w := &bmapRemover{h: h, ip: ip, fr: fr, from: from, to: to, p: p}
	for level := 1; level <= 3; level++ {
		cover := span * p
		slot := 4 * (disk.IndBlock + level - 1)
		if ptr := uint64(le.Uint32(ip.iBlock[slot:])); ptr != 0 && base < to && base+cover > from {
			empty, err := w.remove(ptr, level, base)
			if err != nil {
				return err
			}
			if empty {
				if err := fr.add(ptr); err != nil {
					return err
				}
				le.PutUint32(ip.iBlock[slot:], 0)
			}
		}
		base += cover
		span = cover
	}
	return fr.flush()
}

// bmapRemover walks pointer blocks for bmapRemove.
type bmapRemover struct {
	h        *handle
	ip       *inode
	fr       *blockFreer
	from, to uint64
	p        uint64
	bufs     [3][]byte // read buffers for pointer blocks freed whole
}

// remove unmaps the part of [from, to) under pointer block blk of the
// given level (1: it points to data) whose first logical block is base,
// and reports whether the block is left without pointers (the caller
// then frees it).
func (w *bmapRemover) remove(blk uint64, level int, base uint64) (bool, error) {
	h, f := w.h, w.h.f
	if err := h.checkPtr(w.ip, blk); err != nil {
		return false, err
	}
	span := uint64(1)
	for i := 1; i < level; i++ {
		span *= w.p
	}
	whole := w.from <= base && base+span*w.p <= w.to
	var b []byte
	if whole {
		// Read it without taking it into the transaction: it goes.
		if w.bufs[level-1] == nil {
			w.bufs[level-1] = make([]byte, f.BlockSize)
		}
		b = w.bufs[level-1]
		if err := f.readBlock(b, blk); err != nil {
			return false, h.fail(abi.Errorf(abi.EIO, "ext4: inode %d: indirect block %d: %v", w.ip.ino, blk, err))
		}
	} else {
		var err error
		if b, err = h.metaBlock(blk); err != nil {
			return false, err
		}
	}
	empty := true
	for i := uint64(0); i < w.p; i++ {
		ptr := uint64(le.Uint32(b[4*i:]))
		if ptr == 0 {
			continue
		}
		lo := base + i*span
		if lo+span <= w.from || lo >= w.to {
			empty = false
			continue
		}
		free := true
		if level > 1 {
			var err error
			if free, err = w.remove(ptr, level-1, lo); err != nil {
				return false, err
			}
		} else if err := h.checkPtr(w.ip, ptr); err != nil {
			return false, err
		}
		if !free {
			empty = false
			continue
		}
		if err := w.fr.add(ptr); err != nil {
			return false, err
		}
		if !whole {
			le.PutUint32(b[4*i:], 0)
		}
	}
	return empty, nil
}
