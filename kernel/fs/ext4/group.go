package ext4

import (
	"encoding/binary"

	"github.com/lklimg/lklimg/kernel/abi"
)

// Block group descriptors (Documentation/filesystems/ext4/group_descr.rst;
// struct ext4_group_desc). 32 bytes, or s_desc_size (64 or more) with the
// 64bit feature, where the _hi halves follow the first 32 bytes.
const offBgChecksum = 0x1E

// bg_flags bits.
const (
	bgInodeUninit = 0x1
	bgBlockUninit = 0x2
	bgInodeZeroed = 0x4
)

// groupDesc holds the fields of struct ext4_group_desc the driver uses.
type groupDesc struct {
	bgBlockBitmap     uint64
	bgInodeBitmap     uint64
	bgInodeTable      uint64
	bgFreeBlocksCount uint32
	bgFreeInodesCount uint32
	bgUsedDirsCount   uint32
	bgFlags           uint16
	bgItableUnused    uint32
	bgChecksum        uint16
	// bg_block_bitmap_csum and bg_inode_bitmap_csum (metadata_csum; the
	// high halves only in 64-byte descriptors).
	bgBlockBitmapCsum uint32
	bgInodeBitmapCsum uint32
	// badCsum is set when bg_checksum did not match at mount (logged;
	// the group is used all the same, as on a read-only Linux mount).
	badCsum bool
}

// decodeGroupDesc decodes one descriptor of descSize bytes (32, or 64 and
// more with 64bit).
func decodeGroupDesc(b []byte, descSize uint32) (groupDesc, error) {
	if uint32(len(b)) < descSize || descSize < minDescSize {
		return groupDesc{}, abi.Errorf(abi.EUCLEAN, "ext4: group descriptor: short (%d bytes)", len(b))
	}
	le := binary.LittleEndian
	d := groupDesc{
		bgBlockBitmap:     uint64(le.Uint32(b[0x0:])),
		bgInodeBitmap:     uint64(le.Uint32(b[0x4:])),
		bgInodeTable:      uint64(le.Uint32(b[0x8:])),
		bgFreeBlocksCount: uint32(le.Uint16(b[0xC:])),
		bgFreeInodesCount: uint32(le.Uint16(b[0xE:])),
		bgUsedDirsCount:   uint32(le.Uint16(b[0x10:])),
		bgFlags:           le.Uint16(b[0x12:]),
		bgItableUnused:    uint32(le.Uint16(b[0x1C:])),
		bgChecksum:        le.Uint16(b[offBgChecksum:]),
		bgBlockBitmapCsum: uint32(le.Uint16(b[0x18:])),
		bgInodeBitmapCsum: uint32(le.Uint16(b[0x1A:])),
	}
	if descSize >= minDescSize64 {
		d.bgBlockBitmapCsum |= uint32(le.Uint16(b[0x38:])) << 16
		d.bgInodeBitmapCsum |= uint32(le.Uint16(b[0x3A:])) << 16
		d.bgBlockBitmap |= uint64(le.Uint32(b[0x20:])) << 32
		d.bgInodeBitmap |= uint64(le.Uint32(b[0x24:])) << 32
		d.bgInodeTable |= uint64(le.Uint32(b[0x28:])) << 32
		d.bgFreeBlocksCount |= uint32(le.Uint16(b[0x2C:])) << 16
		d.bgFreeInodesCount |= uint32(le.Uint16(b[0x2E:])) << 16
		d.bgUsedDirsCount |= uint32(le.Uint16(b[0x30:])) << 16
		d.bgItableUnused |= uint32(le.Uint16(b[0x32:])) << 16
	}
	return d, nil
}

// encodeGroupDesc is decodeGroupDesc's mirror: it writes d's fields into
// the descriptor b in place, leaving the fields it does not hold
// (bg_exclude_bitmap, the reserved bytes) as they are. bg_checksum is the
// caller's (groupDescCsum).
func encodeGroupDesc(b []byte, d *groupDesc, descSize uint32) {
	le := binary.LittleEndian
	le.PutUint32(b[0x0:], uint32(d.bgBlockBitmap))
	le.PutUint32(b[0x4:], uint32(d.bgInodeBitmap))
	le.PutUint32(b[0x8:], uint32(d.bgInodeTable))
	le.PutUint16(b[0xC:], uint16(d.bgFreeBlocksCount))
	le.PutUint16(b[0xE:], uint16(d.bgFreeInodesCount))
	le.PutUint16(b[0x10:], uint16(d.bgUsedDirsCount))
	le.PutUint16(b[0x12:], d.bgFlags)
	le.PutUint16(b[0x18:], uint16(d.bgBlockBitmapCsum))
	le.PutUint16(b[0x1A:], uint16(d.bgInodeBitmapCsum))
	le.PutUint16(b[0x1C:], uint16(d.bgItableUnused))
	le.PutUint16(b[offBgChecksum:], d.bgChecksum)
	if descSize >= minDescSize64 {
		le.PutUint32(b[0x20:], uint32(d.bgBlockBitmap>>32))
		le.PutUint32(b[0x24:], uint32(d.bgInodeBitmap>>32))
		le.PutUint32(b[0x28:], uint32(d.bgInodeTable>>32))
		le.PutUint16(b[0x2C:], uint16(d.bgFreeBlocksCount>>16))
		le.PutUint16(b[0x2E:], uint16(d.bgFreeInodesCount>>16))
		le.PutUint16(b[0x30:], uint16(d.bgUsedDirsCount>>16))
		le.PutUint16(b[0x32:], uint16(d.bgItableUnused>>16))
		le.PutUint16(b[0x38:], uint16(d.bgBlockBitmapCsum>>16))
		le.PutUint16(b[0x3A:], uint16(d.bgInodeBitmapCsum>>16))
	}
}

// groupDescCsum computes bg_checksum for descriptor b of group g
// (ext4_group_desc_csum): with metadata_csum the low 16 bits of
// crc32c(seed, le32 group, descriptor with the checksum zeroed); with
// gdt_csum crc16(~0, uuid, le32 group, descriptor without the checksum).
func (f *fsys) groupDescCsum(g uint32, b []byte) uint16 {
	var le32 [4]byte
	binary.LittleEndian.PutUint32(le32[:], g)
	n := len(b)
	if f.sb.metadataCsum() {
		var zero [2]byte
		c := csum32(f.crcTab, f.csumSeed, le32[:])
		c = csum32(f.crcTab, c, b[:offBgChecksum])
		c = csum32(f.crcTab, c, zero[:])
		if n > offBgChecksum+2 {
			c = csum32(f.crcTab, c, b[offBgChecksum+2:])
		}
		return uint16(c)
	}
	c := crc16(0xFFFF, f.sb.sUUID[:])
	c = crc16(c, le32[:])
	c = crc16(c, b[:offBgChecksum])
	if f.sb.hasIncompat(incompat64bit) && n > offBgChecksum+2 {
		c = crc16(c, b[offBgChecksum+2:])
	}
	return c
}

// descBlock returns the block holding descriptor block nr (descriptor_loc
// in fs/ext4/super.c): the blocks after the superblock, or with meta_bg,
// from s_first_meta_bg on, the first block of each meta group (after its
// superblock backup, when it has one).
func (f *fsys) descBlock(nr uint64) uint64 {
	sb := f.sb
	first := uint64(sb.sFirstDataBlock)
	if !sb.hasIncompat(incompatMetaBG) || nr < uint64(sb.sFirstMetaBG) {
		// The table follows the superblock's own block (descriptor_loc's
		// logical_sb_block), not s_first_data_block: with bigalloc and
		// 1 KiB blocks the first data block is 0, yet the superblock is
		// in block 1 and the table from block 2.
		return superblockOffset/uint64(f.blockSize) + 1 + nr
	}
	g := nr * uint64(f.descPerBlock)
	b := g*uint64(sb.sBlocksPerGroup) + first
	if sb.hasSuper(g) {
		b++
	}
	if f.blockSize == 1024 && nr == 0 && first == 0 {
		b++
	}
	return b
}

// loadGroupDescs reads and checks every group descriptor at mount, as
// ext4_check_descriptors does; they stay in memory until unmount.
func (f *fsys) loadGroupDescs() error {
	sb := f.sb
	ngroups := sb.groupCount()
	descSize := sb.descSize()
	nblocks := (ngroups + uint64(f.descPerBlock) - 1) / uint64(f.descPerBlock)
	// Bound the allocation by the device: each descriptor block must exist.
	if nblocks*uint64(f.blockSize) > uint64(f.dev.Size()) {
		return abi.Errorf(abi.EINVAL, "ext4: %d group descriptor blocks exceed the device", nblocks)
	}
	f.groups = make([]groupDesc, ngroups)
	buf := make([]byte, f.blockSize)
	csum := sb.metadataCsum() || sb.hasRoCompat(roCompatGdtCsum)
	for nr := uint64(0); nr < nblocks; nr++ {
		blk := f.descBlock(nr)
		if err := f.readBlock(buf, blk); err != nil {
			return abi.Errorf(abi.EIO, "ext4: group descriptor block %d: %v", blk, err)
		}
		for i := uint64(0); i < uint64(f.descPerBlock); i++ {
			g := nr*uint64(f.descPerBlock) + i
			if g >= ngroups {
				break
			}
			raw := buf[i*uint64(descSize) : (i+1)*uint64(descSize)]
			d, err := decodeGroupDesc(raw, descSize)
			if err != nil {
				return err
			}
			if csum {
				// A read-only mount goes on past a bad descriptor
				// checksum, as ext4_check_descriptors does, and
				// __ext4_get_inode_loc reads the group's inodes all
				// the same: a wrong inode table fails the inodes'
				// own checks (their checksums, with metadata_csum).
				if want := f.groupDescCsum(uint32(g), raw); want != d.bgChecksum {
					f.log.Printf("EXT4-fs (%s): ext4_check_descriptors: Checksum for group %d failed (%d!=%d)",
						f.dev.Name(), g, want, d.bgChecksum)
					d.badCsum = true
				}
			}
			if err := f.checkGroupDesc(g, &d); err != nil {
				return err
			}
			f.groups[g] = d
		}
	}
	return nil
}

// checkGroupDesc checks that the group's bitmaps and inode table lie inside
// the filesystem (ext4_check_descriptors; with flex_bg they may lie in
// another group).
func (f *fsys) checkGroupDesc(g uint64, d *groupDesc) error {
	last := f.sb.sBlocksCount
	first := uint64(f.sb.sFirstDataBlock)
	itb := f.inodeTableBlocks
	switch {
	case d.bgBlockBitmap < first || d.bgBlockBitmap >= last:
		return abi.Errorf(abi.EUCLEAN, "ext4: group descriptor %d: block bitmap %d not in filesystem", g, d.bgBlockBitmap)
	case d.bgInodeBitmap < first || d.bgInodeBitmap >= last:
		return abi.Errorf(abi.EUCLEAN, "ext4: group descriptor %d: inode bitmap %d not in filesystem", g, d.bgInodeBitmap)
	case d.bgInodeTable < first || d.bgInodeTable+itb > last || d.bgInodeTable+itb < d.bgInodeTable:
		return abi.Errorf(abi.EUCLEAN, "ext4: group descriptor %d: inode table %d not in filesystem", g, d.bgInodeTable)
	}
	return nil
}
