package ext4

import (
	"encoding/binary"

	disk "github.com/lklimg/lklimg/format/ext4"
	"github.com/lklimg/lklimg/kernel/abi"
)

// blockMapWalk holds the state of one walk of an inode's block map.
type blockMapWalk struct {
	ip      *inode
	nblocks uint64 // logical blocks that hold file data (ceil(size/bs))
	perBlk  uint64 // pointers per block
	runs    []run
	budget  int64 // pointer blocks that may still be read
	bufs    [3][]byte
	// bad is the first logical block a failing pointer block covers,
	// once one fails (badSet).
	bad    uint64
	badSet bool
}

// fail records that the blocks from logical block base on cannot be
// mapped, unless blocks before failed already (partial reads:
// mapDamage). ext4_ind_map_blocks fails the blocks under a pointer block
// that cannot be read, and a block whose pointer is invalid
// (check_block_validity); ext4_get_branch's ext4_check_blockref of a
// whole pointer block fails only its first reading: the buffer stays
// up to date and later readings (the page's own, after readahead's)
// map its valid pointers.
func (w *blockMapWalk) fail(base uint64) {
	if !w.badSet {
		w.bad, w.badSet = base, true
	}
}

// blockMapRuns flattens the inode's block map into runs for the blocks
// below i_size. Pointer blocks count in i_blocks, which bounds the reads.
func (ip *inode) blockMapRuns() ([]run, error) {
	f := ip.f
	w := &blockMapWalk{
		ip:      ip,
		nblocks: (uint64(ip.size) + uint64(f.BlockSize) - 1) >> f.BlockBits,
		perBlk:  uint64(f.BlockSize / 4),
		budget:  ip.blocks>>(f.BlockBits-9) + 1,
	}
	le := binary.LittleEndian
	for i := uint64(0); i < disk.NdirBlocks && i < w.nblocks; i++ {
		if err := w.data(i, uint64(le.Uint32(ip.iBlock[4*i:]))); err != nil {
			return nil, newMapDamage(w.runs, i, err)
		}
	}
	base := uint64(disk.NdirBlocks)
	span := w.perBlk
	for level := 1; level <= 3 && base < w.nblocks; level++ {
		ptr := uint64(le.Uint32(ip.iBlock[4*(disk.IndBlock+level-1):]))
		if err := w.indirect(ptr, level, base); err != nil {
			w.fail(base)
			return nil, newMapDamage(w.runs, w.bad, err)
		}
		base += span
		span *= w.perBlk
	}
	// ext4_map_blocks (check_block_validity) refuses a mapping into
	// the filesystem's metadata: "lblock mapped to illegal pblock".
	for _, r := range w.runs {
		if !f.blockValid(r.pblk, r.n, ip.ino) {
			from := r.lblk
			for from < r.lblk+r.n && f.blockValid(r.pblk+from-r.lblk, 1, ip.ino) {
				from++
			}
			return nil, newMapDamage(w.runs, from, abi.Errorf(abi.EUCLEAN, "ext4: inode %d: logical block %d mapped to illegal block %d (length %d)",
				ip.ino, r.lblk, r.pblk, r.n))
		}
	}
	return w.runs, nil
}

// data records that logical block lblk is at physical block p (0: hole).
func (w *blockMapWalk) data(lblk, p uint64) error {
	if p == 0 {
		return nil
	}
	f := w.ip.f
	if p < uint64(f.Super.SFirstDataBlock) || p >= f.Super.SBlocksCount {
		w.fail(lblk)
		return abi.Errorf(abi.EUCLEAN, "ext4: inode %d: block map: logical block %d maps to block %d outside the filesystem",
			w.ip.ino, lblk, p)
	}
	w.runs = appendRun(w.runs, run{lblk: lblk, pblk: p, n: 1})
	return nil
}

// indirect walks a pointer block of the given level (1: its pointers are
// data blocks) whose first logical block is base.
func (w *blockMapWalk) indirect(p uint64, level int, base uint64) error {
	if p == 0 {
		return nil
	}
	ip, f := w.ip, w.ip.f
	if p < uint64(f.Super.SFirstDataBlock) || p >= f.Super.SBlocksCount {
		w.fail(base)
		return abi.Errorf(abi.EUCLEAN, "ext4: inode %d: block map: indirect block %d outside the filesystem", ip.ino, p)
	}
	if w.budget--; w.budget < 0 {
		w.fail(base)
		return abi.Errorf(abi.EUCLEAN, "ext4: inode %d: block map has more blocks than i_blocks counts", ip.ino)
	}
	if w.bufs[level-1] == nil {
		w.bufs[level-1] = make([]byte, f.BlockSize)
	}
	b := w.bufs[level-1]
	if err := f.readBlock(b, p); err != nil {
		w.fail(base)
		return abi.Errorf(abi.EIO, "ext4: inode %d: indirect block %d: %v", ip.ino, p, err)
	}
	span := uint64(1)
	for i := 1; i < level; i++ {
		span *= w.perBlk
	}
	le := binary.LittleEndian
	for i := uint64(0); i < w.perBlk; i++ {
		lblk := base + i*span
		if lblk >= w.nblocks {
			break
		}
		q := uint64(le.Uint32(b[4*i:]))
		var err error
		if level == 1 {
			err = w.data(lblk, q)
		} else {
			err = w.indirect(q, level-1, lblk)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
