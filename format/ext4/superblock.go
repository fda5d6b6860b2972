package ext4

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/lklimg/lklimg/kernel/abi"
)

// The superblock (Documentation/filesystems/ext4/super.rst; struct
// ext4_super_block in e2fsprogs lib/ext2fs/ext2_fs.h). It is 1024 bytes at
// byte 1024 of the device, whatever the block size.
const (
	SuperblockOffset = 1024
	SuperblockSize   = 1024
	Ext4SuperMagic   = 0xEF53
	OffSMagic        = 0x38
	OffSChecksum     = 0x3FC
)

// s_feature_compat bits.
const (
	CompatDirPrealloc   = 0x0001
	CompatImagicInodes  = 0x0002
	CompatHasJournal    = 0x0004
	CompatExtAttr       = 0x0008
	CompatResizeInode   = 0x0010
	CompatDirIndex      = 0x0020
	CompatLazyBG        = 0x0040
	CompatExcludeBitmap = 0x0100
	CompatSparseSuper2  = 0x0200
	CompatFastCommit    = 0x0400
	CompatStableInodes  = 0x0800
	CompatOrphanFile    = 0x1000
)

// s_feature_ro_compat bits.
const (
	RoCompatSparseSuper   = 0x0001
	RoCompatLargeFile     = 0x0002
	RoCompatBtreeDir      = 0x0004
	RoCompatHugeFile      = 0x0008
	RoCompatGdtCsum       = 0x0010
	RoCompatDirNlink      = 0x0020
	RoCompatExtraIsize    = 0x0040
	RoCompatHasSnapshot   = 0x0080
	RoCompatQuota         = 0x0100
	RoCompatBigalloc      = 0x0200
	RoCompatMetadataCsum  = 0x0400
	RoCompatReplica       = 0x0800
	RoCompatReadonly      = 0x1000
	RoCompatProject       = 0x2000
	RoCompatSharedBlocks  = 0x4000
	RoCompatVerity        = 0x8000
	RoCompatOrphanPresent = 0x10000
)

// s_feature_incompat bits.
const (
	IncompatCompression = 0x0001
	IncompatFiletype    = 0x0002
	IncompatRecover     = 0x0004
	IncompatJournalDev  = 0x0008
	IncompatMetaBG      = 0x0010
	IncompatExtents     = 0x0040
	Incompat64bit       = 0x0080
	IncompatMMP         = 0x0100
	IncompatFlexBG      = 0x0200
	IncompatEAInode     = 0x0400
	IncompatDirdata     = 0x1000
	IncompatCsumSeed    = 0x2000
	IncompatLargedir    = 0x4000
	IncompatInlineData  = 0x8000
	IncompatEncrypt     = 0x10000
	IncompatCasefold    = 0x20000
)

// s_flags bits.
const (
	FlagSignedHash   = 0x1
	FlagUnsignedHash = 0x2
)

// s_def_hash_version / dx_root_info.hash_version values.
const (
	HashLegacy          = 0
	HashHalfMD4         = 1
	HashTea             = 2
	HashLegacyUnsigned  = 3
	HashHalfMD4Unsigned = 4
	HashTeaUnsigned     = 5
	HashSiphash         = 6
)

// Limits the kernel enforces in ext4_fill_super.
const (
	MinLogBlockSize    = 0 // 1 KiB
	MaxLogBlockSize    = 6 // 64 KiB
	GoodOldInodeSize   = 128
	GoodOldFirstIno    = 11
	MinDescSize        = 32
	MinDescSize64      = 64
	MaxDescSize        = 1024
	RevGoodOld         = 0
	ChecksumTypeCrc32c = 1
)

// Superblock holds the fields of struct ext4_super_block that lklimg uses.
type Superblock struct {
	SInodesCount       uint32
	SBlocksCount       uint64 // lo | hi<<32 when 64bit
	SRBlocksCount      uint64
	SFreeBlocksCount   uint64
	SFreeInodesCount   uint32
	SFirstDataBlock    uint32
	SLogBlockSize      uint32
	SLogClusterSize    uint32
	SBlocksPerGroup    uint32
	SClustersPerGroup  uint32
	SInodesPerGroup    uint32
	SMtime             uint32
	SWtime             uint32
	SMagic             uint16
	SState             uint16
	SRevLevel          uint32
	SFirstIno          uint32
	SInodeSize         uint16
	SFeatureCompat     uint32
	SFeatureIncompat   uint32
	SFeatureRoCompat   uint32
	SUUID              [16]byte
	SVolumeName        [16]byte
	SReservedGdtBlocks uint16
	SJournalInum       uint32
	SJournalDev        uint32 // device number of an external journal (s_journal_inum 0)
	SHashSeed          [4]uint32
	SDefHashVersion    uint8
	SDescSize          uint16
	SFirstMetaBG       uint32
	SMinExtraIsize     uint16
	SWantExtraIsize    uint16
	SFlags             uint32
	SMmpUpdateInterval uint16 // seconds between MMP block updates (mmp)
	SMmpBlock          uint64 // the MMP block (mmp)
	SLogGroupsPerFlex  uint8
	SChecksumType      uint8
	SOverheadClusters  uint32
	SBackupBGs         [2]uint32
	SChecksumSeed      uint32
	SEncoding          uint16
	SEncodingFlags     uint16
	SOrphanFileInum    uint32
	SChecksum          uint32
}

// DecodeSuperblock decodes the 1024 bytes of a superblock and checks the
// fields every later computation divides or shifts by. It does not verify
// the checksum (see verifySuperblockCsum).
func DecodeSuperblock(b []byte) (*Superblock, error) {
	if len(b) < SuperblockSize {
		return nil, abi.Errorf(abi.EINVAL, "ext4: superblock: short (%d bytes)", len(b))
	}
	le := binary.LittleEndian
	s := &Superblock{
		SInodesCount:       le.Uint32(b[0x0:]),
		SBlocksCount:       uint64(le.Uint32(b[0x4:])),
		SRBlocksCount:      uint64(le.Uint32(b[0x8:])),
		SFreeBlocksCount:   uint64(le.Uint32(b[0xC:])),
		SFreeInodesCount:   le.Uint32(b[0x10:]),
		SFirstDataBlock:    le.Uint32(b[0x14:]),
		SLogBlockSize:      le.Uint32(b[0x18:]),
		SLogClusterSize:    le.Uint32(b[0x1C:]),
		SBlocksPerGroup:    le.Uint32(b[0x20:]),
		SClustersPerGroup:  le.Uint32(b[0x24:]),
		SInodesPerGroup:    le.Uint32(b[0x28:]),
		SMtime:             le.Uint32(b[0x2C:]),
		SWtime:             le.Uint32(b[0x30:]),
		SMagic:             le.Uint16(b[0x38:]),
		SState:             le.Uint16(b[0x3A:]),
		SRevLevel:          le.Uint32(b[0x4C:]),
		SFirstIno:          le.Uint32(b[0x54:]),
		SInodeSize:         le.Uint16(b[0x58:]),
		SFeatureCompat:     le.Uint32(b[0x5C:]),
		SFeatureIncompat:   le.Uint32(b[0x60:]),
		SFeatureRoCompat:   le.Uint32(b[0x64:]),
		SReservedGdtBlocks: le.Uint16(b[0xCE:]),
		SJournalInum:       le.Uint32(b[0xE0:]),
		SJournalDev:        le.Uint32(b[0xE4:]),
		SDefHashVersion:    b[0xFC],
		SDescSize:          le.Uint16(b[0xFE:]),
		SFirstMetaBG:       le.Uint32(b[0x104:]),
		SMinExtraIsize:     le.Uint16(b[0x15C:]),
		SWantExtraIsize:    le.Uint16(b[0x15E:]),
		SFlags:             le.Uint32(b[0x160:]),
		SMmpUpdateInterval: le.Uint16(b[0x166:]),
		SMmpBlock:          le.Uint64(b[0x168:]),
		SLogGroupsPerFlex:  b[0x174],
		SChecksumType:      b[0x175],
		SOverheadClusters:  le.Uint32(b[0x248:]),
		SChecksumSeed:      le.Uint32(b[0x270:]),
		SEncoding:          le.Uint16(b[0x27C:]),
		SEncodingFlags:     le.Uint16(b[0x27E:]),
		SOrphanFileInum:    le.Uint32(b[0x280:]),
		SChecksum:          le.Uint32(b[OffSChecksum:]),
	}
	copy(s.SUUID[:], b[0x68:0x78])
	copy(s.SVolumeName[:], b[0x78:0x88])
	for i := range s.SHashSeed {
		s.SHashSeed[i] = le.Uint32(b[0xEC+4*i:])
	}
	s.SBackupBGs[0] = le.Uint32(b[0x24C:])
	s.SBackupBGs[1] = le.Uint32(b[0x250:])
	if s.SMagic != Ext4SuperMagic {
		return nil, abi.Errorf(abi.EINVAL, "ext4: superblock: bad magic %#x", s.SMagic)
	}
	if s.SRevLevel == RevGoodOld {
		// Revision 0 has fixed inode size and first inode, and no features.
		s.SInodeSize = GoodOldInodeSize
		s.SFirstIno = GoodOldFirstIno
		s.SFeatureCompat, s.SFeatureIncompat, s.SFeatureRoCompat = 0, 0, 0
	}
	if s.SFeatureIncompat&Incompat64bit != 0 {
		s.SBlocksCount |= uint64(le.Uint32(b[0x150:])) << 32
		s.SRBlocksCount |= uint64(le.Uint32(b[0x154:])) << 32
		s.SFreeBlocksCount |= uint64(le.Uint32(b[0x158:])) << 32
	}
	return s, s.Check()
}

// Check applies the geometry checks of ext4_fill_super, so that nothing
// later divides by zero or shifts by an absurd amount.
func (s *Superblock) Check() error {
	if s.SLogBlockSize > MaxLogBlockSize {
		return abi.Errorf(abi.EINVAL, "ext4: superblock: invalid log block size %d", s.SLogBlockSize)
	}
	bs := s.BlockSize()
	if s.SInodeSize < GoodOldInodeSize || uint32(s.SInodeSize) > bs || s.SInodeSize&(s.SInodeSize-1) != 0 {
		return abi.Errorf(abi.EINVAL, "ext4: superblock: unsupported inode size %d", s.SInodeSize)
	}
	if s.SFirstIno < GoodOldFirstIno && s.SRevLevel != RevGoodOld {
		return abi.Errorf(abi.EINVAL, "ext4: superblock: invalid first ino %d", s.SFirstIno)
	}
	// ext4_fill_super and ext4_handle_clustersize: the cluster size is
	// bounded, and equals the block size without bigalloc (an ext2
	// fragment size other than the block size was never supported).
	if s.SLogClusterSize > 20 {
		return abi.Errorf(abi.EINVAL, "ext4: superblock: invalid log cluster size %d", s.SLogClusterSize)
	}
	if s.SFeatureRoCompat&RoCompatBigalloc == 0 && s.SLogClusterSize != s.SLogBlockSize {
		return abi.Errorf(abi.EINVAL, "ext4: superblock: fragment/cluster size (%d) != block size (%d)",
			uint64(1024)<<s.SLogClusterSize, uint64(1024)<<s.SLogBlockSize)
	}
	if s.SFeatureRoCompat&RoCompatBigalloc != 0 {
		// With bigalloc the bitmaps count clusters: clusters per group
		// is bounded, and blocks per group follows from it.
		if s.SLogClusterSize < s.SLogBlockSize || s.SLogClusterSize-s.SLogBlockSize > 16 {
			return abi.Errorf(abi.EINVAL, "ext4: superblock: invalid log cluster size %d", s.SLogClusterSize)
		}
		cpg := s.SClustersPerGroup
		if cpg == 0 || cpg > 8*bs || uint64(cpg)<<(s.SLogClusterSize-s.SLogBlockSize) != uint64(s.SBlocksPerGroup) {
			return abi.Errorf(abi.EINVAL, "ext4: superblock: invalid clusters per group %d (blocks per group %d)",
				cpg, s.SBlocksPerGroup)
		}
	} else if s.SBlocksPerGroup == 0 || s.SBlocksPerGroup > 8*bs {
		return abi.Errorf(abi.EINVAL, "ext4: superblock: invalid blocks per group %d", s.SBlocksPerGroup)
	}
	if s.SInodesPerGroup == 0 || s.SInodesPerGroup > 8*bs {
		return abi.Errorf(abi.EINVAL, "ext4: superblock: invalid inodes per group %d", s.SInodesPerGroup)
	}
	if s.SBlocksCount <= uint64(s.SFirstDataBlock) {
		return abi.Errorf(abi.EINVAL, "ext4: superblock: bad geometry: first data block %d beyond block count %d",
			s.SFirstDataBlock, s.SBlocksCount)
	}
	if bs == 1024 && s.SFirstDataBlock != 1 && s.SFeatureRoCompat&RoCompatBigalloc == 0 ||
		bs > 1024 && s.SFirstDataBlock != 0 {
		return abi.Errorf(abi.EINVAL, "ext4: superblock: bad geometry: first data block %d for block size %d",
			s.SFirstDataBlock, bs)
	}
	if s.GroupCount() > uint64(1)<<32 {
		return abi.Errorf(abi.EINVAL, "ext4: superblock: too many groups (%d)", s.GroupCount())
	}
	// ext4_fill_super: every group holds s_inodes_per_group inodes.
	if want := s.GroupCount() * uint64(s.SInodesPerGroup); uint64(s.SInodesCount) != want {
		return abi.Errorf(abi.EINVAL, "ext4: superblock: inodes count not valid: %d vs %d", s.SInodesCount, want)
	}
	// ext4_hash_info_init: a default hash beyond the known ones (and
	// SipHash, which is only for casefolded directories) is refused.
	if s.SDefHashVersion >= 6 {
		return abi.Errorf(abi.EINVAL, "ext4: superblock: invalid default hash %d", s.SDefHashVersion)
	}
	if uint64(s.SInodesCount) > s.GroupCount()*uint64(s.SInodesPerGroup) {
		return abi.Errorf(abi.EINVAL, "ext4: superblock: inodes count %d exceeds groups*inodes per group", s.SInodesCount)
	}
	if s.SFeatureIncompat&Incompat64bit != 0 {
		d := s.SDescSize
		if d < MinDescSize64 || d > MaxDescSize || d&(d-1) != 0 || uint32(d) > bs {
			return abi.Errorf(abi.EINVAL, "ext4: superblock: unsupported descriptor size %d", d)
		}
	}
	// ext4_fill_super: the online resize reserve fits in one block of
	// the resize inode's indirect map.
	if s.SRevLevel > RevGoodOld && uint32(s.SReservedGdtBlocks) > bs/4 {
		return abi.Errorf(abi.EINVAL, "ext4: superblock: number of reserved GDT blocks insanely large: %d", s.SReservedGdtBlocks)
	}
	// ext4_group_desc_init: meta groups start within the descriptor table.
	if s.SFeatureIncompat&IncompatMetaBG != 0 {
		if db := (s.GroupCount() + uint64(bs/s.DescSize()) - 1) / uint64(bs/s.DescSize()); uint64(s.SFirstMetaBG) > db {
			return abi.Errorf(abi.EINVAL, "ext4: superblock: first meta block group too large: %d (group descriptor block count %d)", s.SFirstMetaBG, db)
		}
	}
	if s.SFeatureRoCompat&RoCompatMetadataCsum != 0 && s.SChecksumType != ChecksumTypeCrc32c {
		return abi.Errorf(abi.EINVAL, "ext4: superblock: unknown checksum algorithm %d", s.SChecksumType)
	}
	return nil
}

// BlockSize is 2^(10+s_log_block_size).
func (s *Superblock) BlockSize() uint32 { return 1024 << s.SLogBlockSize }

// DescSize is the size of one group descriptor: s_desc_size with 64bit,
// else 32.
func (s *Superblock) DescSize() uint32 {
	if s.SFeatureIncompat&Incompat64bit != 0 {
		return uint32(s.SDescSize)
	}
	return MinDescSize
}

// GroupCount is the number of block groups.
func (s *Superblock) GroupCount() uint64 {
	n := s.SBlocksCount - uint64(s.SFirstDataBlock)
	return (n + uint64(s.SBlocksPerGroup) - 1) / uint64(s.SBlocksPerGroup)
}

func (s *Superblock) HasCompat(f uint32) bool   { return s.SFeatureCompat&f != 0 }
func (s *Superblock) HasRoCompat(f uint32) bool { return s.SFeatureRoCompat&f != 0 }
func (s *Superblock) HasIncompat(f uint32) bool { return s.SFeatureIncompat&f != 0 }

// MetadataCsum reports whether metadata_csum is on.
func (s *Superblock) MetadataCsum() bool { return s.HasRoCompat(RoCompatMetadataCsum) }

// UuidString formats s_uuid as the kernel's %pU does.
func (s *Superblock) UuidString() string {
	u := s.SUUID
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// featureNames lists the names of set feature bits, as dumpe2fs does.
var CompatNames = [...]struct {
	Bit  uint32
	Name string
}{
	{CompatDirPrealloc, "dir_prealloc"}, {CompatImagicInodes, "imagic_inodes"},
	{CompatHasJournal, "has_journal"}, {CompatExtAttr, "ext_attr"},
	{CompatResizeInode, "resize_inode"}, {CompatDirIndex, "dir_index"},
	{CompatLazyBG, "lazy_bg"}, {CompatExcludeBitmap, "exclude_bitmap"},
	{CompatSparseSuper2, "sparse_super2"}, {CompatFastCommit, "fast_commit"},
	{CompatStableInodes, "stable_inodes"}, {CompatOrphanFile, "orphan_file"},
}

var RoCompatNames = [...]struct {
	Bit  uint32
	Name string
}{
	{RoCompatSparseSuper, "sparse_super"}, {RoCompatLargeFile, "large_file"},
	{RoCompatBtreeDir, "btree_dir"}, {RoCompatHugeFile, "huge_file"},
	{RoCompatGdtCsum, "uninit_bg"}, {RoCompatDirNlink, "dir_nlink"},
	{RoCompatExtraIsize, "extra_isize"}, {RoCompatHasSnapshot, "snapshot"},
	{RoCompatQuota, "quota"}, {RoCompatBigalloc, "bigalloc"},
	{RoCompatMetadataCsum, "metadata_csum"}, {RoCompatReplica, "replica"},
	{RoCompatReadonly, "read-only"}, {RoCompatProject, "project"},
	{RoCompatSharedBlocks, "shared_blocks"}, {RoCompatVerity, "verity"},
	{RoCompatOrphanPresent, "orphan_present"},
}

var IncompatNames = [...]struct {
	Bit  uint32
	Name string
}{
	{IncompatCompression, "compression"}, {IncompatFiletype, "filetype"},
	{IncompatRecover, "needs_recovery"}, {IncompatJournalDev, "journal_dev"},
	{IncompatMetaBG, "meta_bg"}, {IncompatExtents, "extent"},
	{Incompat64bit, "64bit"}, {IncompatMMP, "mmp"}, {IncompatFlexBG, "flex_bg"},
	{IncompatEAInode, "ea_inode"}, {IncompatDirdata, "dirdata"},
	{IncompatCsumSeed, "metadata_csum_seed"}, {IncompatLargedir, "large_dir"},
	{IncompatInlineData, "inline_data"}, {IncompatEncrypt, "encrypt"},
	{IncompatCasefold, "casefold"},
}

// FeatureString lists the set features by name, as dumpe2fs's
// "Filesystem features:" line does; unknown bits are shown in hex.
func (s *Superblock) FeatureString() string {
	var names []string
	add := func(v uint32, tab []struct {
		Bit  uint32
		Name string
	}, kind string) {
		known := uint32(0)
		for _, f := range tab {
			known |= f.Bit
			if v&f.Bit != 0 {
				names = append(names, f.Name)
			}
		}
		if u := v &^ known; u != 0 {
			names = append(names, fmt.Sprintf("%s_%#x", kind, u))
		}
	}
	add(s.SFeatureCompat, CompatNames[:], "compat")
	add(s.SFeatureIncompat, IncompatNames[:], "incompat")
	add(s.SFeatureRoCompat, RoCompatNames[:], "ro_compat")
	return strings.Join(names, " ")
}

// IncompatString names the INCOMPAT bits of v, known ones by their
// dumpe2fs names, unknown ones as e2fsprogs shows them ("FEATURE_I27").
func IncompatString(v uint32) string {
	var names []string
	for bit := 0; bit < 32; bit++ {
		m := uint32(1) << bit
		if v&m == 0 {
			continue
		}
		name := fmt.Sprintf("FEATURE_I%d", bit)
		for _, f := range IncompatNames {
			if f.Bit == m {
				name = f.Name
			}
		}
		names = append(names, name)
	}
	return strings.Join(names, " ")
}

// HasSuper reports whether group g holds a superblock backup (and so the
// descriptor table after it): every group without sparse_super; groups 0,
// 1 and powers of 3, 5 and 7 with it; group 0 and s_backup_bgs with
// sparse_super2 (ext4_bg_has_super).
func (s *Superblock) HasSuper(g uint64) bool {
	if g == 0 {
		return true
	}
	if s.HasCompat(CompatSparseSuper2) {
		return g == uint64(s.SBackupBGs[0]) || g == uint64(s.SBackupBGs[1])
	}
	if g <= 1 || !s.HasRoCompat(RoCompatSparseSuper) {
		return true
	}
	if g&1 == 0 {
		return false
	}
	return IsPower(g, 3) || IsPower(g, 5) || IsPower(g, 7)
}

func IsPower(n, b uint64) bool {
	for n%b == 0 {
		n /= b
	}
	return n == 1
}

// SetSuperCsum sets s_checksum of the 1024-byte superblock s.
func (fs *Geometry) SetSuperCsum(s []byte) {
	if fs.Super.MetadataCsum() {
		le.PutUint32(s[OffSChecksum:], Csum32(fs.CrcTab, ^uint32(0), s[:OffSChecksum]))
	}
}

// Superblock fields a read-write mount changes directly (super.rst).
const (
	SuperStateValid       = 0x0001 // EXT4_VALID_FS in s_state
	SuperDefaultMaxMounts = 20     // EXT4_DFL_MAX_MNT_COUNT
)
