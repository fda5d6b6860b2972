package ext4

import (
	"encoding/binary"

	"github.com/lklimg/lklimg/kernel/abi"
)

// Block group descriptors (Documentation/filesystems/ext4/group_descr.rst;
// struct ext4_group_desc). 32 bytes, or s_desc_size (64 or more) with the
// 64bit feature, where the _hi halves follow the first 32 bytes.
const OffBgChecksum = 0x1E

// bg_flags bits.
const (
	BgInodeUninit = 0x1
	BgBlockUninit = 0x2
	BgInodeZeroed = 0x4
)

// GroupDesc holds the fields of struct ext4_group_desc that lklimg uses.
type GroupDesc struct {
	BgBlockBitmap     uint64
	BgInodeBitmap     uint64
	BgInodeTable      uint64
	BgFreeBlocksCount uint32
	BgFreeInodesCount uint32
	BgUsedDirsCount   uint32
	BgFlags           uint16
	BgItableUnused    uint32
	BgChecksum        uint16
	// bg_block_bitmap_csum and bg_inode_bitmap_csum (metadata_csum; the
	// high halves only in 64-byte descriptors).
	BgBlockBitmapCsum uint32
	BgInodeBitmapCsum uint32
	// BadCsum is set by a reader that found bg_checksum wrong (the
	// driver logs it and uses the group all the same, as a read-only
	// Linux mount does).
	BadCsum bool
}

// DecodeGroupDesc decodes one descriptor of descSize bytes (32, or 64 and
// more with 64bit).
func DecodeGroupDesc(b []byte, descSize uint32) (GroupDesc, error) {
	if uint32(len(b)) < descSize || descSize < MinDescSize {
		return GroupDesc{}, abi.Errorf(abi.EUCLEAN, "ext4: group descriptor: short (%d bytes)", len(b))
	}
	le := binary.LittleEndian
	d := GroupDesc{
		BgBlockBitmap:     uint64(le.Uint32(b[0x0:])),
		BgInodeBitmap:     uint64(le.Uint32(b[0x4:])),
		BgInodeTable:      uint64(le.Uint32(b[0x8:])),
		BgFreeBlocksCount: uint32(le.Uint16(b[0xC:])),
		BgFreeInodesCount: uint32(le.Uint16(b[0xE:])),
		BgUsedDirsCount:   uint32(le.Uint16(b[0x10:])),
		BgFlags:           le.Uint16(b[0x12:]),
		BgItableUnused:    uint32(le.Uint16(b[0x1C:])),
		BgChecksum:        le.Uint16(b[OffBgChecksum:]),
		BgBlockBitmapCsum: uint32(le.Uint16(b[0x18:])),
		BgInodeBitmapCsum: uint32(le.Uint16(b[0x1A:])),
	}
	if descSize >= MinDescSize64 {
		d.BgBlockBitmapCsum |= uint32(le.Uint16(b[0x38:])) << 16
		d.BgInodeBitmapCsum |= uint32(le.Uint16(b[0x3A:])) << 16
		d.BgBlockBitmap |= uint64(le.Uint32(b[0x20:])) << 32
		d.BgInodeBitmap |= uint64(le.Uint32(b[0x24:])) << 32
		d.BgInodeTable |= uint64(le.Uint32(b[0x28:])) << 32
		d.BgFreeBlocksCount |= uint32(le.Uint16(b[0x2C:])) << 16
		d.BgFreeInodesCount |= uint32(le.Uint16(b[0x2E:])) << 16
		d.BgUsedDirsCount |= uint32(le.Uint16(b[0x30:])) << 16
		d.BgItableUnused |= uint32(le.Uint16(b[0x32:])) << 16
	}
	return d, nil
}

// EncodeGroupDesc is decodeGroupDesc's mirror: it writes d's fields into
// the descriptor b in place, leaving the fields it does not hold
// (bg_exclude_bitmap, the reserved bytes) as they are. bg_checksum is the
// caller's (groupDescCsum).
func EncodeGroupDesc(b []byte, d *GroupDesc, descSize uint32) {
	le := binary.LittleEndian
	le.PutUint32(b[0x0:], uint32(d.BgBlockBitmap))
	le.PutUint32(b[0x4:], uint32(d.BgInodeBitmap))
	le.PutUint32(b[0x8:], uint32(d.BgInodeTable))
	le.PutUint16(b[0xC:], uint16(d.BgFreeBlocksCount))
	le.PutUint16(b[0xE:], uint16(d.BgFreeInodesCount))
	le.PutUint16(b[0x10:], uint16(d.BgUsedDirsCount))
	le.PutUint16(b[0x12:], d.BgFlags)
	le.PutUint16(b[0x18:], uint16(d.BgBlockBitmapCsum))
	le.PutUint16(b[0x1A:], uint16(d.BgInodeBitmapCsum))
	le.PutUint16(b[0x1C:], uint16(d.BgItableUnused))
	le.PutUint16(b[OffBgChecksum:], d.BgChecksum)
	if descSize >= MinDescSize64 {
		le.PutUint32(b[0x20:], uint32(d.BgBlockBitmap>>32))
		le.PutUint32(b[0x24:], uint32(d.BgInodeBitmap>>32))
		le.PutUint32(b[0x28:], uint32(d.BgInodeTable>>32))
		le.PutUint16(b[0x2C:], uint16(d.BgFreeBlocksCount>>16))
		le.PutUint16(b[0x2E:], uint16(d.BgFreeInodesCount>>16))
		le.PutUint16(b[0x30:], uint16(d.BgUsedDirsCount>>16))
		le.PutUint16(b[0x32:], uint16(d.BgItableUnused>>16))
		le.PutUint16(b[0x38:], uint16(d.BgBlockBitmapCsum>>16))
		le.PutUint16(b[0x3A:], uint16(d.BgInodeBitmapCsum>>16))
	}
}

// GroupDescCsum computes bg_checksum for descriptor b of group g
// (ext4_group_desc_csum): with metadata_csum the low 16 bits of
// crc32c(seed, le32 group, descriptor with the checksum zeroed); with
// gdt_csum crc16(~0, uuid, le32 group, descriptor without the checksum).
func (fs *Geometry) GroupDescCsum(g uint32, b []byte) uint16 {
	var le32 [4]byte
	binary.LittleEndian.PutUint32(le32[:], g)
	n := len(b)
	if fs.Super.MetadataCsum() {
		var zero [2]byte
		c := Csum32(fs.CrcTab, fs.CsumSeed, le32[:])
		c = Csum32(fs.CrcTab, c, b[:OffBgChecksum])
		c = Csum32(fs.CrcTab, c, zero[:])
		if n > OffBgChecksum+2 {
			c = Csum32(fs.CrcTab, c, b[OffBgChecksum+2:])
		}
		return uint16(c)
	}
	c := Crc16(0xFFFF, fs.Super.SUUID[:])
	c = Crc16(c, le32[:])
	c = Crc16(c, b[:OffBgChecksum])
	if fs.Super.HasIncompat(Incompat64bit) && n > OffBgChecksum+2 {
		c = Crc16(c, b[OffBgChecksum+2:])
	}
	return c
}

// DescBlock returns the block holding descriptor block nr (descriptor_loc
// in fs/ext4/super.c): the blocks after the superblock, or with meta_bg,
// from s_first_meta_bg on, the first block of each meta group (after its
// superblock backup, when it has one).
func (fs *Geometry) DescBlock(nr uint64) uint64 {
	sb := fs.Super
	first := uint64(sb.SFirstDataBlock)
	if !sb.HasIncompat(IncompatMetaBG) || nr < uint64(sb.SFirstMetaBG) {
		// The table follows the superblock's own block (descriptor_loc's
		// logical_sb_block), not s_first_data_block: with bigalloc and
		// 1 KiB blocks the first data block is 0, yet the superblock is
		// in block 1 and the table from block 2.
		return SuperblockOffset/uint64(fs.BlockSize) + 1 + nr
	}
	g := nr * uint64(fs.DescPerBlock)
	b := g*uint64(sb.SBlocksPerGroup) + first
	if sb.HasSuper(g) {
		b++
	}
	if fs.BlockSize == 1024 && nr == 0 && first == 0 {
		b++
	}
	return b
}

// LoadGroupDescs reads the descriptor table into Groups through read (a
// block of the device into b), checking each descriptor as
// ext4_check_descriptors does: a bad checksum is reported to badCsum and
// marked (BadCsum), a bitmap or inode table outside the filesystem is
// EUCLEAN. devSize bounds the table: each of its blocks must be on the
// device, so that a damaged group count cannot size the allocation.
func (fs *Geometry) LoadGroupDescs(devSize int64, read func(b []byte, blk uint64) error, badCsum func(g uint64, want, got uint16)) error {
	sb := fs.Super
	ngroups := sb.GroupCount()
	descSize := sb.DescSize()
	nblocks := (ngroups + uint64(fs.DescPerBlock) - 1) / uint64(fs.DescPerBlock)
	if nblocks*uint64(fs.BlockSize) > uint64(devSize) {
		return abi.Errorf(abi.EINVAL, "ext4: %d group descriptor blocks exceed the device", nblocks)
	}
	fs.Groups = make([]GroupDesc, ngroups)
	buf := make([]byte, fs.BlockSize)
	csum := fs.HasGroupCsum()
	for nr := uint64(0); nr < nblocks; nr++ {
		blk := fs.DescBlock(nr)
		if err := read(buf, blk); err != nil {
			return abi.Errorf(abi.EIO, "ext4: group descriptor block %d: %v", blk, err)
		}
		for i := uint64(0); i < uint64(fs.DescPerBlock); i++ {
			g := nr*uint64(fs.DescPerBlock) + i
			if g >= ngroups {
				break
			}
			raw := buf[i*uint64(descSize) : (i+1)*uint64(descSize)]
			d, err := DecodeGroupDesc(raw, descSize)
			if err != nil {
				return err
			}
			if csum {
				if want := fs.GroupDescCsum(uint32(g), raw); want != d.BgChecksum {
					badCsum(g, want, d.BgChecksum)
					d.BadCsum = true
				}
			}
			if err := fs.CheckGroupDesc(g, &d); err != nil {
				return err
			}
			fs.Groups[g] = d
		}
	}
	return nil
}

// CheckGroupDesc checks that group g's bitmaps and inode table lie inside
// the filesystem (ext4_check_descriptors; with flex_bg they may lie in
// another group).
func (fs *Geometry) CheckGroupDesc(g uint64, d *GroupDesc) error {
	last := fs.Super.SBlocksCount
	first := uint64(fs.Super.SFirstDataBlock)
	itb := fs.InodeTableBlocks
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
