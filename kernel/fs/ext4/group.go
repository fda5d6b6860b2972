package ext4

import (
	disk "github.com/lklimg/lklimg/format/ext4"
	"github.com/lklimg/lklimg/kernel/abi"
)

// loadGroupDescs reads and checks every group descriptor at mount, as
// ext4_check_descriptors does; they stay in memory until unmount.
func (f *fsys) loadGroupDescs() error {
	sb := f.Super
	ngroups := sb.GroupCount()
	descSize := sb.DescSize()
	nblocks := (ngroups + uint64(f.DescPerBlock) - 1) / uint64(f.DescPerBlock)
	// Bound the allocation by the device: each descriptor block must exist.
	if nblocks*uint64(f.BlockSize) > uint64(f.dev.Size()) {
		return abi.Errorf(abi.EINVAL, "ext4: %d group descriptor blocks exceed the device", nblocks)
	}
	f.Groups = make([]disk.GroupDesc, ngroups)
	buf := make([]byte, f.BlockSize)
	csum := sb.MetadataCsum() || sb.HasRoCompat(disk.RoCompatGdtCsum)
	for nr := uint64(0); nr < nblocks; nr++ {
		blk := f.DescBlock(nr)
		if err := f.readBlock(buf, blk); err != nil {
			return abi.Errorf(abi.EIO, "ext4: group descriptor block %d: %v", blk, err)
		}
		for i := uint64(0); i < uint64(f.DescPerBlock); i++ {
			g := nr*uint64(f.DescPerBlock) + i
			if g >= ngroups {
				break
			}
			raw := buf[i*uint64(descSize) : (i+1)*uint64(descSize)]
			d, err := disk.DecodeGroupDesc(raw, descSize)
			if err != nil {
				return err
			}
			if csum {
				// A read-only mount goes on past a bad descriptor
				// checksum, as ext4_check_descriptors does, and
				// __ext4_get_inode_loc reads the group's inodes all
				// the same: a wrong inode table fails the inodes'
				// own checks (their checksums, with metadata_csum).
				if want := f.GroupDescCsum(uint32(g), raw); want != d.BgChecksum {
					f.log.Printf("EXT4-fs (%s): ext4_check_descriptors: Checksum for group %d failed (%d!=%d)",
						f.dev.Name(), g, want, d.BgChecksum)
					d.BadCsum = true
				}
			}
			if err := f.checkGroupDesc(g, &d); err != nil {
				return err
			}
			f.Groups[g] = d
		}
	}
	return nil
}

// checkGroupDesc checks that the group's bitmaps and inode table lie inside
// the filesystem (ext4_check_descriptors; with flex_bg they may lie in
// another group).
func (f *fsys) checkGroupDesc(g uint64, d *disk.GroupDesc) error {
	last := f.Super.SBlocksCount
	first := uint64(f.Super.SFirstDataBlock)
	itb := f.InodeTableBlocks
	switch {
	case d.BgBlockBitmap < first || d.BgBlockBitmap >= last:
		return abi.Errorf(abi.EUCLEAN, "ext4: group descriptor %d: block bitmap %d not in filesystem", g, d.BgBlockBitmap)
	case d.BgInodeBitmap < first || d.BgInodeBitmap >= last:
		return abi.Errorf(abi.EUCLEAN, "ext4: group descriptor %d: inode bitmap %d not in filesystem", g, d.BgInodeBitmap)
	case d.BgInodeTable < first || d.BgInodeTable+itb > last || d.BgInodeTable+itb < d.BgInodeTable:
		return abi.Errorf(abi.EUCLEAN, "ext4: group descriptor %d: inode table %d not in filesystem", g, d.BgInodeTable)
	}
	return nil
}
