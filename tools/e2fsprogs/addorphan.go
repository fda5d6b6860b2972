package e2fsprogs

import (
	disk "github.com/lklimg/lklimg/format/ext4"
	"github.com/lklimg/lklimg/kernel/abi"
)

// AddOrphanFile gives the unmounted filesystem on dev, which has a journal
// and no orphan file, an orphan file of blocks blocks (0: the size mke2fs
// gives a filesystem of its size), as tune2fs -O orphan_file does
// (ext2fs_create_orphan_file): the first free inode from s_first_ino, a
// regular file of mode 0600 and one link mapped as AddJournal maps the
// journal, its times the superblock's s_wtime, every block an empty
// orphan block (orphanfile.go); then orphan_file and s_orphan_file_inum
// in the superblock, and the bitmaps, counts and checksums. tar2fs adds it
// after the journal, as mke2fs makes it after the journal.
//
// EEXIST when the filesystem has an orphan file; EINVAL without a journal
// (mke2fs: "cannot set orphan_file feature without a journal"); ENOSPC
// when no inode or not enough blocks are free.
func AddOrphanFile(dev ImageDevice, blocks uint64) error {
	const what = "add orphan file"
	im, err := openOffline(dev, what)
	if err != nil {
		return err
	}
	f := im.f
	sb := f.Super
	if sb.HasCompat(disk.CompatOrphanFile) || sb.SOrphanFileInum != 0 {
		return abi.Errorf(abi.EEXIST, "ext4: %s: the filesystem has an orphan file", what)
	}
	if !sb.HasCompat(disk.CompatHasJournal) {
		return abi.Errorf(abi.EINVAL, "ext4: %s: the filesystem has no journal", what)
	}
	if blocks == 0 {
		blocks = DefaultOrphanFileBlocks(sb.SBlocksCount, 1<<f.ClusterBits)
	}
	ino, err := im.allocInode(what)
	if err != nil {
		return err
	}
	raw, pos, err := im.readInodeRaw(ino)
	if err != nil {
		return err
	}
	data, _, err := im.newSystemFile(ino, raw, pos, blocks, what)
	if err != nil {
		return err
	}
	b := make([]byte, f.BlockSize)
	seed := f.InodeCsumSeed(ino, 0)
	for _, r := range data {
		for blk := r.start; blk < r.start+r.n; blk++ {
			f.PutEmptyOrphanBlock(b, blk, seed)
			if err := im.write(blk, b); err != nil {
				return err
			}
		}
	}
	return im.writeMeta(func(s []byte) {
		le.PutUint32(s[0x5C:], le.Uint32(s[0x5C:])|disk.CompatOrphanFile)
		le.PutUint32(s[0x280:], ino) // s_orphan_file_inum
	})
}

// allocInode takes the first free inode from s_first_ino on, as
// ext2fs_new_inode does from the root's group, and marks it in use: the
// group's inode bitmap (with its checksum), free count, INODE_UNINIT flag
// and bg_itable_unused (the descriptors are written by writeMeta).
func (im *offImage) allocInode(what string) (uint32, error) {
	f := im.f
	sb := f.Super
	ipg := uint64(sb.SInodesPerGroup)
	b := make([]byte, f.BlockSize)
	for g := range f.Groups {
		d := &f.Groups[g]
		if d.BgFreeInodesCount == 0 {
			continue
		}
		uninit := f.HasGroupCsum() && d.BgFlags&disk.BgInodeUninit != 0
		if uninit {
			clear(b)
			disk.SetBits(b, ipg, uint64(f.BlockSize)*8)
		} else if err := im.read(d.BgInodeBitmap, b); err != nil {
			return 0, err
		}
		i := uint64(0)
		if g == 0 {
			i = uint64(sb.SFirstIno) - 1
		}
		for ; i < ipg && disk.TestBit(b, i); i++ {
		}
		if i == ipg {
			continue
		}
		disk.SetBit(b, i)
		d.BgFreeInodesCount--
		d.BgFlags &^= disk.BgInodeUninit
		if f.HasGroupCsum() && i >= ipg-uint64(d.BgItableUnused) {
			d.BgItableUnused = uint32(ipg - i - 1)
		}
		if sb.MetadataCsum() {
			d.BgInodeBitmapCsum = disk.Csum32(f.CrcTab, f.CsumSeed, b[:ipg/8])
			if sb.DescSize() < disk.MinDescSize64 {
				d.BgInodeBitmapCsum &= 0xFFFF
			}
		}
		if err := im.write(d.BgInodeBitmap, b); err != nil {
			return 0, err
		}
		return uint32(uint64(g)*ipg + i + 1), nil
	}
	return 0, abi.Errorf(abi.ENOSPC, "ext4: %s: no free inode", what)
}
