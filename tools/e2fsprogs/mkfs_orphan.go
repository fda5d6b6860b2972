package e2fsprogs

import (
	disk "github.com/lklimg/lklimg/format/ext4"
	"github.com/lklimg/lklimg/kernel/abi"
)

// DefaultOrphanFileBlocks is ext2fs_default_orphan_file_blocks, the
// orphan file's size in blocks for a filesystem of blocks blocks: 32 blocks
// under 128 Ki blocks, a 4096th of the filesystem under 2 Mi blocks, 512
// from there; rounded up to whole clusters of ratio blocks.
func DefaultOrphanFileBlocks(blocks, ratio uint64) uint64 {
	n := uint64(512)
	switch {
	case blocks < 128*1024:
		n = 32
	case blocks < 2*1024*1024:
		n = blocks / 4096
	}
	return (n + ratio - 1) &^ (ratio - 1)
}

// newInodeFromRoot is ext2fs_new_inode with the root as the directory:
// the first inode not in use from s_first_ino in the root's group on. An
// INODE_UNINIT group it looks in (check_inode_uninit) loses both uninit
// flags, as the kernel's allocator clears them.
func (l *mkfsLayout) newInodeFromRoot() (uint32, error) {
	ino := uint32(disk.GoodOldFirstIno)
	for ino <= l.inodes && l.inodesUsed[ino] {
		ino++
	}
	if ino > l.inodes {
		return 0, abi.Errorf(abi.ENOSPC, "ext4: mkfs: no free inode")
	}
	if gd := &l.groups[(ino-1)/l.ipg]; l.csum && gd.flags&disk.BgInodeUninit != 0 {
		gd.flags &^= disk.BgInodeUninit | disk.BgBlockUninit
	}
	return ino, nil
}

// makeOrphanFile is ext2fs_create_orphan_file with n blocks (0: the
// default size).
func (l *mkfsLayout) makeOrphanFile(n uint64) error {
	if n == 0 {
		n = DefaultOrphanFileBlocks(l.blocks, l.ratio)
	}
	ino, err := l.newInodeFromRoot()
	if err != nil {
		return err
	}
	l.inodeAllocStats(ino, false)
	t := l.p.Time
	ip := &mkfsInode{ino: ino, mode: 0o100600, links: 1, size: n * l.bs,
		atime: t, ctime: t, mtime: t, crtime: t, large: true}
	l.itR(ino)
	if l.incompat&disk.IncompatExtents != 0 {
		ip.flags = extentsFl
		l.itW(ino)
	}
	l.itR(ino) // ext2fs_block_iterate3's read
	a := orphanAlloc{l: l, ip: ip, left: n}
	if l.incompat&disk.IncompatExtents != 0 {
		err = a.extents()
	} else {
		err = a.mapped()
	}
	if err != nil {
		return err
	}
	ip.blocks = a.allocated * l.clusterSectors()
	// The reread after the blocks and ext2fs_write_new_inode.
	l.itR(ino)
	l.itW(ino)
	l.inodeTab[ino] = ip
	l.orphanIno = ino
	return nil
}

// orphanAlloc appends the orphan file's blocks as mkorphan_proc does,
// called by ext2fs_block_iterate3 with BLOCK_FLAG_APPEND.
type orphanAlloc struct {
	l         *mkfsLayout
	ip        *mkfsInode
	left      uint64 // data blocks still to append
	last      uint64 // the block allocated last (the goal)
	allocated uint64 // clusters allocated, the indirect blocks' too
	runs      []run
	lblk      uint64
}

// block allocates the next block, the next one of the last one's
// cluster but for the file's first block, else the first free from the
// last one, and writes it: an empty orphan block, or zeros for an
// indirect block.
func (a *orphanAlloc) block(data bool) (uint64, error) {
	l := a.l
	b := a.last + 1
	if first := data && len(a.ip.dataBlocks) == 0; first || b&(l.ratio-1) == 0 {
		var err error
		if b, err = l.newBlock(a.last); err != nil {
			return 0, err
		}
		l.blockAllocStats(b)
		a.allocated++
	}
	l.ioW(b)
	a.last = b
	if data {
		a.ip.dataBlocks = append(a.ip.dataBlocks, b)
		a.left--
	}
	return b, nil
}

// extents appends the blocks to an extent tree in the inode, which
// ext2fs_extent_set_bmap writes after each.
func (a *orphanAlloc) extents() error {
	l := a.l
	for a.left > 0 {
		b, err := a.block(true)
		if err != nil {
			return err
		}
		l.itW(a.ip.ino)
		if k := len(a.runs) - 1; k >= 0 && a.runs[k].pblk+a.runs[k].n == b && a.runs[k].n < disk.ExtentInitMaxLen {
			a.runs[k].n++
		} else {
			if len(a.runs) == disk.ExtentRootMax {
				return abi.Errorf(abi.EOPNOTSUPP, "ext4: mkfs: orphan file in more than %d extents not supported", disk.ExtentRootMax)
			}
			a.runs = append(a.runs, run{lblk: a.lblk, pblk: b, n: 1})
		}
		a.lblk++
	}
	l.putExtents(a.ip.iblock[:], a.runs, disk.ExtentRootMax, 0)
	return nil
}

// mapped appends the blocks to a block map: the direct blocks, then each
// indirect block allocated before the blocks it maps, read, filled and
// written (block_iterate_ind, _dind, _tind); the inode is written at the
// end.
func (a *orphanAlloc) mapped() error {
	l := a.l
	for i := 0; i < ext2NDirBlocks && a.left > 0; i++ {
		b, err := a.block(true)
		if err != nil {
			return err
		}
		le.PutUint32(a.ip.iblock[4*i:], uint32(b))
	}
	for level := 1; level <= 3 && a.left > 0; level++ {
		b, err := a.indirect(level)
		if err != nil {
			return err
		}
		le.PutUint32(a.ip.iblock[4*(ext2NDirBlocks+level-1):], uint32(b))
	}
	if a.left > 0 {
		return abi.Errorf(abi.EFBIG, "ext4: mkfs: orphan file too big for a block map")
	}
	l.itW(a.ip.ino)
	return nil
}

// indirect allocates an indirect block of level (1: it maps data blocks)
// and what it maps.
func (a *orphanAlloc) indirect(level int) (uint64, error) {
	l := a.l
	b, err := a.block(false)
	if err != nil {
		return 0, err
	}
	l.ioR(b)
	buf := make([]byte, l.bs)
	for i := uint64(0); i < l.bs/4 && a.left > 0; i++ {
		var c uint64
		if level == 1 {
			c, err = a.block(true)
		} else {
			c, err = a.indirect(level - 1)
		}
		if err != nil {
			return 0, err
		}
		le.PutUint32(buf[4*i:], uint32(c))
	}
	l.ioW(b)
	l.indBlocks[b] = buf
	return b, nil
}

// orphanBlock is the content of an empty orphan file block at blk.
func (o *mkfsOutput) orphanBlock(blk uint64) []byte {
	b := make([]byte, o.bs)
	o.f.PutEmptyOrphanBlock(b, blk, o.f.InodeCsumSeed(o.orphanIno, 0))
	return b
}
