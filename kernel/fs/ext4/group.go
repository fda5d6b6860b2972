package ext4

import (
	"encoding/binary"

	disk "github.com/lklimg/lklimg/format/ext4"
	"github.com/lklimg/lklimg/kernel/abi"
)

// groupDescCsum computes bg_checksum for descriptor b of group g
// (ext4_group_desc_csum): with metadata_csum the low 16 bits of
// crc32c(seed, le32 group, descriptor with the checksum zeroed); with
// gdt_csum crc16(~0, uuid, le32 group, descriptor without the checksum).
func (f *fsys) groupDescCsum(g uint32, b []byte) uint16 {
	var le32 [4]byte
	binary.LittleEndian.PutUint32(le32[:], g)
	n := len(b)
	if f.Super.MetadataCsum() {
		var zero [2]byte
		c := disk.Csum32(f.CrcTab, f.CsumSeed, le32[:])
		c = disk.Csum32(f.CrcTab, c, b[:disk.OffBgChecksum])
		c = disk.Csum32(f.CrcTab, c, zero[:])
		if n > disk.OffBgChecksum+2 {
			c = disk.Csum32(f.CrcTab, c, b[disk.OffBgChecksum+2:])
		}
		return uint16(c)
	}
	c := disk.Crc16(0xFFFF, f.Super.SUUID[:])
	c = disk.Crc16(c, le32[:])
	c = disk.Crc16(c, b[:disk.OffBgChecksum])
	if f.Super.HasIncompat(disk.Incompat64bit) && n > disk.OffBgChecksum+2 {
		c = disk.Crc16(c, b[disk.OffBgChecksum+2:])
	}
	return c
}

// descBlock returns the block holding descriptor block nr (descriptor_loc
// in fs/ext4/super.c): the blocks after the superblock, or with meta_bg,
// from s_first_meta_bg on, the first block of each meta group (after its
// superblock backup, when it has one).
func (f *fsys) descBlock(nr uint64) uint64 {
	sb := f.Super
	first := uint64(sb.SFirstDataBlock)
	if !sb.HasIncompat(disk.IncompatMetaBG) || nr < uint64(sb.SFirstMetaBG) {
		// The table follows the superblock's own block (descriptor_loc's
		// logical_sb_block), not s_first_data_block: with bigalloc and
		// 1 KiB blocks the first data block is 0, yet the superblock is
		// in block 1 and the table from block 2.
		return disk.SuperblockOffset/uint64(f.BlockSize) + 1 + nr
	}
	g := nr * uint64(f.DescPerBlock)
	b := g*uint64(sb.SBlocksPerGroup) + first
	if sb.HasSuper(g) {
		b++
	}
	if f.BlockSize == 1024 && nr == 0 && first == 0 {
		b++
	}
	return b
}

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
		blk := f.descBlock(nr)
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
				if want := f.groupDescCsum(uint32(g), raw); want != d.BgChecksum {
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
