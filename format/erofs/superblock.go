package erofs

import (
	"hash/crc32"

	"github.com/lklimg/lklimg/kernel/abi"
)

// The superblock (struct erofs_super_block, erofs_fs.h), 128 bytes at
// byte 1024 of the device (EROFS_SUPER_OFFSET), followed by sb_extslots
// slots of 16 bytes:
//
//	 0 magic u32            EROFS_SUPER_MAGIC_V1
//	 4 checksum u32         crc32c, with COMPAT_SB_CHKSUM
//	 8 feature_compat u32
//	12 blkszbits u8         13 sb_extslots u8
//	14 root_nid u16         16 inos u64
//	24 build_time u64       32 build_time_nsec u32
//	36 blocks u32           40 meta_blkaddr u32
//	44 xattr_blkaddr u32    48 uuid[16]   64 volume_name[16]
//	80 feature_incompat u32
//	84 available_compr_algs (or lz4_max_distance) u16
//	86 extra_devices u16    88 devt_slotoff u16
//	90 dirblkbits u8        91 xattr_prefix_count u8
//	92 xattr_prefix_start u32
//	96 packed_nid u64       104 xattr_filter_reserved u8, reserved
//
// and, in the first extension slots, with the 48-bit layout:
//
//	108 build_time u32      112 rootnid_8b u64     120 reserved
//	128 metabox_nid u64 (METABOX)
//
// With 48BIT, root_nid's field holds blocks_hi when rootnid_8b is set.
const (
	SuperOffset    = 1024
	SuperBlockSize = 128
	// SuperMagicV1 is the magic, and statfs's f_type (EROFS_SUPER_MAGIC_V1).
	SuperMagicV1 = 0xE0F5E1E2
	// SbExtSlotSize is the size of one superblock extension slot.
	SbExtSlotSize = 16
	// NameLen is the longest name (EROFS_NAME_LEN).
	NameLen = 255
	// MinBlkSzBits and MaxBlkSzBits bound the block size Linux mounts:
	// 512 bytes to a page (4096 here, as on x86).
	MinBlkSzBits = 9
	MaxBlkSzBits = 12
)

// Feature bits (EROFS_FEATURE_*). Some incompat bits have two names: a
// compressed image's and an uncompressed one's (the bit means the same
// to a reader that knows both).
const (
	FeatureCompatSbChksum    = 0x1
	FeatureCompatMtime       = 0x2
	FeatureCompatXattrFilter = 0x4
	// FeatureCompatSharedEaInMetabox puts the shared xattr area in the
	// metabox inode's data (EROFS_FEATURE_COMPAT_SHARED_EA_IN_METABOX).
	FeatureCompatSharedEaInMetabox = 0x8
	// FeatureCompatPlainXattrPfx keeps the long xattr name prefixes on
	// the device, not in the packed or metabox inode.
	FeatureCompatPlainXattrPfx = 0x10

	FeatureIncompatZeroPadding   = 0x1
	FeatureIncompatComprCfgs     = 0x2
	FeatureIncompatBigPcluster   = 0x2
	FeatureIncompatChunkedFile   = 0x4
	FeatureIncompatDeviceTable   = 0x8
	FeatureIncompatComprHead2    = 0x8
	FeatureIncompatZtailpacking  = 0x10
	FeatureIncompatFragments     = 0x20
	FeatureIncompatDedupe        = 0x20
	FeatureIncompatXattrPrefixes = 0x40
	// Feature48Bit: block addresses of 48 bits (i_nb's startblk_hi,
	// chunk indexes' startblk_hi), a 64-bit root nid, compressed
	// extent records, directories without ".".
	FeatureIncompat48Bit = 0x80
	// FeatureIncompatMetabox: inodes (those whose nid has bit 63 set)
	// kept in the data of the metabox inode, which may be compressed.
	FeatureIncompatMetabox = 0x100
	FeatureIncompatAll     = 0x1ff
)

// NidMetaboxBit is the bit of a nid (a directory entry's, the root's)
// that says the inode lies in the metabox (EROFS_DIRENT_NID_METABOX_BIT).
const NidMetaboxBit = 63

// SuperBlock is struct erofs_super_block.
type SuperBlock struct {
	Magic              uint32
	Checksum           uint32
	FeatureCompat      uint32
	BlkSzBits          uint8
	SbExtSlots         uint8
	RootNid            uint16
	Inos               uint64
	BuildTime          uint64
	BuildTimeNsec      uint32
	Blocks             uint32
	MetaBlkAddr        uint32
	XattrBlkAddr       uint32
	UUID               [16]byte
	VolumeName         [16]byte
	FeatureIncompat    uint32
	AvailableComprAlgs uint16 // lz4_max_distance without COMPR_CFGS
	ExtraDevices       uint16
	DevtSlotOff        uint16
	DirBlkBits         uint8
	XattrPrefixCount   uint8
	XattrPrefixStart   uint32
	PackedNid          uint64
	// RootNid8 (48BIT) and MetaboxNid (METABOX, in the first
	// extension slot) are zero when p or sb_extslots has no room for them.
	RootNid8   uint64
	MetaboxNid uint64
}

// DecodeSuperBlock decodes the superblock from p, the bytes from device
// offset 1024 (at least SuperBlockSize). It checks the magic only;
// Check checks the rest.
func DecodeSuperBlock(p []byte) (*SuperBlock, error) {
	if len(p) < SuperBlockSize {
		return nil, abi.Errorf(abi.EINVAL, "erofs: superblock: %d bytes, want %d", len(p), SuperBlockSize)
	}
	s := &SuperBlock{
		Magic:              le.Uint32(p[0:]),
		Checksum:           le.Uint32(p[4:]),
		FeatureCompat:      le.Uint32(p[8:]),
		BlkSzBits:          p[12],
		SbExtSlots:         p[13],
		RootNid:            le.Uint16(p[14:]),
		Inos:               le.Uint64(p[16:]),
		BuildTime:          le.Uint64(p[24:]),
		BuildTimeNsec:      le.Uint32(p[32:]),
		Blocks:             le.Uint32(p[36:]),
		MetaBlkAddr:        le.Uint32(p[40:]),
		XattrBlkAddr:       le.Uint32(p[44:]),
		FeatureIncompat:    le.Uint32(p[80:]),
		AvailableComprAlgs: le.Uint16(p[84:]),
		ExtraDevices:       le.Uint16(p[86:]),
		DevtSlotOff:        le.Uint16(p[88:]),
		DirBlkBits:         p[90],
		XattrPrefixCount:   p[91],
		XattrPrefixStart:   le.Uint32(p[92:]),
		PackedNid:          le.Uint64(p[96:]),
	}
	if len(p) >= 120 {
		s.RootNid8 = le.Uint64(p[112:])
	}
	if len(p) >= 136 && s.SbExtSlots > 0 {
		s.MetaboxNid = le.Uint64(p[128:])
	}
	copy(s.UUID[:], p[48:64])
	copy(s.VolumeName[:], p[64:80])
	if s.Magic != SuperMagicV1 {
		// erofs_read_superblock: "cannot find valid erofs superblock".
		return nil, abi.Errorf(abi.EINVAL, "erofs: cannot find valid erofs superblock (magic %#x)", s.Magic)
	}
	return s, nil
}

// Root returns the root directory's nid: rootnid_8b with the 48-bit
// layout when set, else root_nid (erofs_read_superblock).
func (s *SuperBlock) Root() uint64 {
	if s.FeatureIncompat&FeatureIncompat48Bit != 0 && s.RootNid8 != 0 {
		return s.RootNid8
	}
	return uint64(s.RootNid)
}

// PrimaryBlocks returns the primary device's block count: blocks_lo,
// with blocks_hi (root_nid's field) above it when the 48-bit layout
// has rootnid_8b set (erofs_read_superblock).
func (s *SuperBlock) PrimaryBlocks() uint64 {
	if s.FeatureIncompat&FeatureIncompat48Bit != 0 && s.RootNid8 != 0 {
		return uint64(s.RootNid)<<32 | uint64(s.Blocks)
	}
	return uint64(s.Blocks)
}

// BlockSize returns the block size in bytes.
func (s *SuperBlock) BlockSize() int { return 1 << s.BlkSzBits }

// Size returns the superblock's size with its extension slots (sb_size).
func (s *SuperBlock) Size() int { return SuperBlockSize + int(s.SbExtSlots)*SbExtSlotSize }

// Check applies erofs_read_superblock's checks (EINVAL, as Linux fails
// the mount): a block size Linux mounts, no separate directory block
// size, no incompatible feature unknown to it, the superblock and its
// slots within the first block; and a build time a clock can show.
func (s *SuperBlock) Check() error {
	if s.BlkSzBits < MinBlkSzBits || s.BlkSzBits > MaxBlkSzBits {
		return abi.Errorf(abi.EINVAL, "erofs: blkszbits %d isn't supported", s.BlkSzBits)
	}
	if s.DirBlkBits != 0 {
		return abi.Errorf(abi.EINVAL, "erofs: dirblkbits %d isn't supported", s.DirBlkBits)
	}
	if f := s.FeatureIncompat &^ FeatureIncompatAll; f != 0 {
		return abi.Errorf(abi.EINVAL, "erofs: unidentified incompatible feature %#x, please upgrade kernel", f)
	}
	if s.BuildTimeNsec >= 1e9 {
		// The time of every compact inode: no time has such
		// nanoseconds (Linux shows them as they are).
		return abi.Errorf(abi.EINVAL, "erofs: build_time_nsec %d", s.BuildTimeNsec)
	}
	if SuperOffset+s.Size() > 4096 {
		return abi.Errorf(abi.EINVAL, "erofs: invalid sb_extslots %d (more than a fs block)", s.SbExtSlots)
	}
	if s.FeatureIncompat&FeatureIncompatMetabox != 0 {
		// The superblock must reach metabox_nid, which may not point
		// into the metabox itself (EFSCORRUPTED in Linux).
		if s.Size() <= 128 {
			return abi.Errorf(abi.EUCLEAN, "erofs: metabox without metabox_nid (sb_extslots %d)", s.SbExtSlots)
		}
		if s.MetaboxNid>>NidMetaboxBit != 0 {
			return abi.Errorf(abi.EUCLEAN, "erofs: metabox_nid %#x in the metabox", s.MetaboxNid)
		}
	}
	return nil
}

// ChecksumLen returns how many bytes from offset 1024 the checksum covers
// (erofs_superblock_csum_verify): the rest of the first block, or a
// whole block when blocks are 1024 bytes or smaller (the superblock is
// then a block of its own).
func (s *SuperBlock) ChecksumLen() int {
	n := s.BlockSize()
	if n > SuperOffset {
		n -= SuperOffset
	}
	return n
}

// SuperChecksum returns the checksum of p, the ChecksumLen bytes from
// offset 1024, as erofs_superblock_csum_verify computes it: crc32c seeded
// with ~0, not inverted at the end, over p with the checksum field taken
// as zero. p is not changed.
func SuperChecksum(p []byte) uint32 {
	if len(p) < 8 {
		return 0
	}
	// Linux's crc32c(seed, ...) is the raw register: Go's Update inverts
	// on the way in and out, so ~seed in and ~result out undo that.
	crc := crc32.Update(0, castagnoli, p[:4])
	crc = crc32.Update(crc, castagnoli, []byte{0, 0, 0, 0})
	crc = crc32.Update(crc, castagnoli, p[8:])
	return ^crc
}
