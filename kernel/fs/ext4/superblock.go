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
	superblockOffset = 1024
	superblockSize   = 1024
	ext4SuperMagic   = 0xEF53
	offSMagic        = 0x38
	offSChecksum     = 0x3FC
)

// s_feature_compat bits.
const (
	compatDirPrealloc   = 0x0001
	compatImagicInodes  = 0x0002
	compatHasJournal    = 0x0004
	compatExtAttr       = 0x0008
	compatResizeInode   = 0x0010
	compatDirIndex      = 0x0020
	compatLazyBG        = 0x0040
	compatExcludeBitmap = 0x0100
	compatSparseSuper2  = 0x0200
	compatFastCommit    = 0x0400
	compatStableInodes  = 0x0800
	compatOrphanFile    = 0x1000
)

// s_feature_ro_compat bits.
const (
	roCompatSparseSuper   = 0x0001
	roCompatLargeFile     = 0x0002
	roCompatBtreeDir      = 0x0004
	roCompatHugeFile      = 0x0008
	roCompatGdtCsum       = 0x0010
	roCompatDirNlink      = 0x0020
	roCompatExtraIsize    = 0x0040
	roCompatHasSnapshot   = 0x0080
	roCompatQuota         = 0x0100
	roCompatBigalloc      = 0x0200
	roCompatMetadataCsum  = 0x0400
	roCompatReplica       = 0x0800
	roCompatReadonly      = 0x1000
	roCompatProject       = 0x2000
	roCompatSharedBlocks  = 0x4000
	roCompatVerity        = 0x8000
	roCompatOrphanPresent = 0x10000
)

// s_feature_incompat bits.
const (
	incompatCompression = 0x0001
	incompatFiletype    = 0x0002
	incompatRecover     = 0x0004
	incompatJournalDev  = 0x0008
	incompatMetaBG      = 0x0010
	incompatExtents     = 0x0040
	incompat64bit       = 0x0080
	incompatMMP         = 0x0100
	incompatFlexBG      = 0x0200
	incompatEAInode     = 0x0400
	incompatDirdata     = 0x1000
	incompatCsumSeed    = 0x2000
	incompatLargedir    = 0x4000
	incompatInlineData  = 0x8000
	incompatEncrypt     = 0x10000
	incompatCasefold    = 0x20000

	// incompatSupported is what this driver reads. Encrypted inodes are
	// mounted as the kernel mounts them without a key: they report ENOKEY.
	incompatSupported = incompatFiletype | incompatRecover | incompatMetaBG |
		incompatExtents | incompat64bit | incompatMMP | incompatFlexBG |
		incompatEAInode | incompatCsumSeed | incompatLargedir |
		incompatInlineData | incompatEncrypt | incompatCasefold
)

// s_flags bits.
const (
	flagSignedHash   = 0x1
	flagUnsignedHash = 0x2
)

// s_def_hash_version / dx_root_info.hash_version values.
const (
	hashLegacy          = 0
	hashHalfMD4         = 1
	hashTea             = 2
	hashLegacyUnsigned  = 3
	hashHalfMD4Unsigned = 4
	hashTeaUnsigned     = 5
	hashSiphash         = 6
)

// Limits the kernel enforces in ext4_fill_super.
const (
	minLogBlockSize    = 0 // 1 KiB
	maxLogBlockSize    = 6 // 64 KiB
	goodOldInodeSize   = 128
	goodOldFirstIno    = 11
	minDescSize        = 32
	minDescSize64      = 64
	maxDescSize        = 1024
	revGoodOld         = 0
	checksumTypeCrc32c = 1
)

// superblock holds the fields of struct ext4_super_block the driver uses.
type superblock struct {
	sInodesCount       uint32
	sBlocksCount       uint64 // lo | hi<<32 when 64bit
	sRBlocksCount      uint64
	sFreeBlocksCount   uint64
	sFreeInodesCount   uint32
	sFirstDataBlock    uint32
	sLogBlockSize      uint32
	sLogClusterSize    uint32
	sBlocksPerGroup    uint32
	sClustersPerGroup  uint32
	sInodesPerGroup    uint32
	sMtime             uint32
	sWtime             uint32
	sMagic             uint16
	sState             uint16
	sRevLevel          uint32
	sFirstIno          uint32
	sInodeSize         uint16
	sFeatureCompat     uint32
	sFeatureIncompat   uint32
	sFeatureRoCompat   uint32
	sUUID              [16]byte
	sVolumeName        [16]byte
	sReservedGdtBlocks uint16
	sJournalInum       uint32
	sHashSeed          [4]uint32
	sDefHashVersion    uint8
	sDescSize          uint16
	sFirstMetaBG       uint32
	sMinExtraIsize     uint16
	sWantExtraIsize    uint16
	sFlags             uint32
	sLogGroupsPerFlex  uint8
	sChecksumType      uint8
	sOverheadClusters  uint32
	sBackupBGs         [2]uint32
	sChecksumSeed      uint32
	sEncoding          uint16
	sEncodingFlags     uint16
	sOrphanFileInum    uint32
	sChecksum          uint32
}

// decodeSuperblock decodes the 1024 bytes of a superblock and checks the
// fields every later computation divides or shifts by. It does not verify
// the checksum (see verifySuperblockCsum).
func decodeSuperblock(b []byte) (*superblock, error) {
	if len(b) < superblockSize {
		return nil, abi.Errorf(abi.EINVAL, "ext4: superblock: short (%d bytes)", len(b))
	}
	le := binary.LittleEndian
	s := &superblock{
		sInodesCount:       le.Uint32(b[0x0:]),
		sBlocksCount:       uint64(le.Uint32(b[0x4:])),
		sRBlocksCount:      uint64(le.Uint32(b[0x8:])),
		sFreeBlocksCount:   uint64(le.Uint32(b[0xC:])),
		sFreeInodesCount:   le.Uint32(b[0x10:]),
		sFirstDataBlock:    le.Uint32(b[0x14:]),
		sLogBlockSize:      le.Uint32(b[0x18:]),
		sLogClusterSize:    le.Uint32(b[0x1C:]),
		sBlocksPerGroup:    le.Uint32(b[0x20:]),
		sClustersPerGroup:  le.Uint32(b[0x24:]),
		sInodesPerGroup:    le.Uint32(b[0x28:]),
		sMtime:             le.Uint32(b[0x2C:]),
		sWtime:             le.Uint32(b[0x30:]),
		sMagic:             le.Uint16(b[0x38:]),
		sState:             le.Uint16(b[0x3A:]),
		sRevLevel:          le.Uint32(b[0x4C:]),
		sFirstIno:          le.Uint32(b[0x54:]),
		sInodeSize:         le.Uint16(b[0x58:]),
		sFeatureCompat:     le.Uint32(b[0x5C:]),
		sFeatureIncompat:   le.Uint32(b[0x60:]),
		sFeatureRoCompat:   le.Uint32(b[0x64:]),
		sReservedGdtBlocks: le.Uint16(b[0xCE:]),
		sJournalInum:       le.Uint32(b[0xE0:]),
		sDefHashVersion:    b[0xFC],
		sDescSize:          le.Uint16(b[0xFE:]),
		sFirstMetaBG:       le.Uint32(b[0x104:]),
		sMinExtraIsize:     le.Uint16(b[0x15C:]),
		sWantExtraIsize:    le.Uint16(b[0x15E:]),
		sFlags:             le.Uint32(b[0x160:]),
		sLogGroupsPerFlex:  b[0x174],
		sChecksumType:      b[0x175],
		sOverheadClusters:  le.Uint32(b[0x248:]),
		sChecksumSeed:      le.Uint32(b[0x270:]),
		sEncoding:          le.Uint16(b[0x27C:]),
		sEncodingFlags:     le.Uint16(b[0x27E:]),
		sOrphanFileInum:    le.Uint32(b[0x280:]),
		sChecksum:          le.Uint32(b[offSChecksum:]),
	}
	copy(s.sUUID[:], b[0x68:0x78])
	copy(s.sVolumeName[:], b[0x78:0x88])
	for i := range s.sHashSeed {
		s.sHashSeed[i] = le.Uint32(b[0xEC+4*i:])
	}
	s.sBackupBGs[0] = le.Uint32(b[0x24C:])
	s.sBackupBGs[1] = le.Uint32(b[0x250:])
	if s.sMagic != ext4SuperMagic {
		return nil, abi.Errorf(abi.EINVAL, "ext4: superblock: bad magic %#x", s.sMagic)
	}
	if s.sRevLevel == revGoodOld {
		// Revision 0 has fixed inode size and first inode, and no features.
		s.sInodeSize = goodOldInodeSize
		s.sFirstIno = goodOldFirstIno
		s.sFeatureCompat, s.sFeatureIncompat, s.sFeatureRoCompat = 0, 0, 0
	}
	if s.sFeatureIncompat&incompat64bit != 0 {
		s.sBlocksCount |= uint64(le.Uint32(b[0x150:])) << 32
		s.sRBlocksCount |= uint64(le.Uint32(b[0x154:])) << 32
		s.sFreeBlocksCount |= uint64(le.Uint32(b[0x158:])) << 32
	}
	return s, s.check()
}

// check applies the geometry checks of ext4_fill_super, so that nothing
// later divides by zero or shifts by an absurd amount.
func (s *superblock) check() error {
	if s.sLogBlockSize > maxLogBlockSize {
		return abi.Errorf(abi.EINVAL, "ext4: superblock: invalid log block size %d", s.sLogBlockSize)
	}
	bs := s.blockSize()
	if s.sInodeSize < goodOldInodeSize || uint32(s.sInodeSize) > bs || s.sInodeSize&(s.sInodeSize-1) != 0 {
		return abi.Errorf(abi.EINVAL, "ext4: superblock: unsupported inode size %d", s.sInodeSize)
	}
	if s.sFirstIno < goodOldFirstIno && s.sRevLevel != revGoodOld {
		return abi.Errorf(abi.EINVAL, "ext4: superblock: invalid first ino %d", s.sFirstIno)
	}
	// ext4_fill_super and ext4_handle_clustersize: the cluster size is
	// bounded, and equals the block size without bigalloc (an ext2
	// fragment size other than the block size was never supported).
	if s.sLogClusterSize > 20 {
		return abi.Errorf(abi.EINVAL, "ext4: superblock: invalid log cluster size %d", s.sLogClusterSize)
	}
	if s.sFeatureRoCompat&roCompatBigalloc == 0 && s.sLogClusterSize != s.sLogBlockSize {
		return abi.Errorf(abi.EINVAL, "ext4: superblock: fragment/cluster size (%d) != block size (%d)",
			uint64(1024)<<s.sLogClusterSize, uint64(1024)<<s.sLogBlockSize)
	}
	if s.sFeatureRoCompat&roCompatBigalloc != 0 {
		// With bigalloc the bitmaps count clusters: clusters per group
		// is bounded, and blocks per group follows from it.
		if s.sLogClusterSize < s.sLogBlockSize || s.sLogClusterSize-s.sLogBlockSize > 16 {
			return abi.Errorf(abi.EINVAL, "ext4: superblock: invalid log cluster size %d", s.sLogClusterSize)
		}
		cpg := s.sClustersPerGroup
		if cpg == 0 || cpg > 8*bs || uint64(cpg)<<(s.sLogClusterSize-s.sLogBlockSize) != uint64(s.sBlocksPerGroup) {
			return abi.Errorf(abi.EINVAL, "ext4: superblock: invalid clusters per group %d (blocks per group %d)",
				cpg, s.sBlocksPerGroup)
		}
	} else if s.sBlocksPerGroup == 0 || s.sBlocksPerGroup > 8*bs {
		return abi.Errorf(abi.EINVAL, "ext4: superblock: invalid blocks per group %d", s.sBlocksPerGroup)
	}
	if s.sInodesPerGroup == 0 || s.sInodesPerGroup > 8*bs {
		return abi.Errorf(abi.EINVAL, "ext4: superblock: invalid inodes per group %d", s.sInodesPerGroup)
	}
	if s.sBlocksCount <= uint64(s.sFirstDataBlock) {
		return abi.Errorf(abi.EINVAL, "ext4: superblock: bad geometry: first data block %d beyond block count %d",
			s.sFirstDataBlock, s.sBlocksCount)
	}
	if bs == 1024 && s.sFirstDataBlock != 1 && s.sFeatureRoCompat&roCompatBigalloc == 0 ||
		bs > 1024 && s.sFirstDataBlock != 0 {
		return abi.Errorf(abi.EINVAL, "ext4: superblock: bad geometry: first data block %d for block size %d",
			s.sFirstDataBlock, bs)
	}
	if s.groupCount() > uint64(1)<<32 {
		return abi.Errorf(abi.EINVAL, "ext4: superblock: too many groups (%d)", s.groupCount())
	}
	// ext4_fill_super: every group holds s_inodes_per_group inodes.
	if want := s.groupCount() * uint64(s.sInodesPerGroup); uint64(s.sInodesCount) != want {
		return abi.Errorf(abi.EINVAL, "ext4: superblock: inodes count not valid: %d vs %d", s.sInodesCount, want)
	}
	// ext4_hash_info_init: a default hash beyond the known ones (and
	// SipHash, which is only for casefolded directories) is refused.
	if s.sDefHashVersion >= 6 {
		return abi.Errorf(abi.EINVAL, "ext4: superblock: invalid default hash %d", s.sDefHashVersion)
	}
	if uint64(s.sInodesCount) > s.groupCount()*uint64(s.sInodesPerGroup) {
		return abi.Errorf(abi.EINVAL, "ext4: superblock: inodes count %d exceeds groups*inodes per group", s.sInodesCount)
	}
	if s.sFeatureIncompat&incompat64bit != 0 {
		d := s.sDescSize
		if d < minDescSize64 || d > maxDescSize || d&(d-1) != 0 || uint32(d) > bs {
			return abi.Errorf(abi.EINVAL, "ext4: superblock: unsupported descriptor size %d", d)
		}
	}
	if s.sFeatureRoCompat&roCompatMetadataCsum != 0 && s.sChecksumType != checksumTypeCrc32c {
		return abi.Errorf(abi.EINVAL, "ext4: superblock: unknown checksum algorithm %d", s.sChecksumType)
	}
	return nil
}

// blockSize is 2^(10+s_log_block_size).
func (s *superblock) blockSize() uint32 { return 1024 << s.sLogBlockSize }

// descSize is the size of one group descriptor: s_desc_size with 64bit,
// else 32.
func (s *superblock) descSize() uint32 {
	if s.sFeatureIncompat&incompat64bit != 0 {
		return uint32(s.sDescSize)
	}
	return minDescSize
}

// groupCount is the number of block groups.
func (s *superblock) groupCount() uint64 {
	n := s.sBlocksCount - uint64(s.sFirstDataBlock)
	return (n + uint64(s.sBlocksPerGroup) - 1) / uint64(s.sBlocksPerGroup)
}

func (s *superblock) hasCompat(f uint32) bool   { return s.sFeatureCompat&f != 0 }
func (s *superblock) hasRoCompat(f uint32) bool { return s.sFeatureRoCompat&f != 0 }
func (s *superblock) hasIncompat(f uint32) bool { return s.sFeatureIncompat&f != 0 }

// metadataCsum reports whether metadata_csum is on.
func (s *superblock) metadataCsum() bool { return s.hasRoCompat(roCompatMetadataCsum) }

// uuidString formats s_uuid as the kernel's %pU does.
func (s *superblock) uuidString() string {
	u := s.sUUID
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// featureNames lists the names of set feature bits, as dumpe2fs does.
var compatNames = [...]struct {
	bit  uint32
	name string
}{
	{compatDirPrealloc, "dir_prealloc"}, {compatImagicInodes, "imagic_inodes"},
	{compatHasJournal, "has_journal"}, {compatExtAttr, "ext_attr"},
	{compatResizeInode, "resize_inode"}, {compatDirIndex, "dir_index"},
	{compatLazyBG, "lazy_bg"}, {compatExcludeBitmap, "exclude_bitmap"},
	{compatSparseSuper2, "sparse_super2"}, {compatFastCommit, "fast_commit"},
	{compatStableInodes, "stable_inodes"}, {compatOrphanFile, "orphan_file"},
}

var roCompatNames = [...]struct {
	bit  uint32
	name string
}{
	{roCompatSparseSuper, "sparse_super"}, {roCompatLargeFile, "large_file"},
	{roCompatBtreeDir, "btree_dir"}, {roCompatHugeFile, "huge_file"},
	{roCompatGdtCsum, "uninit_bg"}, {roCompatDirNlink, "dir_nlink"},
	{roCompatExtraIsize, "extra_isize"}, {roCompatHasSnapshot, "snapshot"},
	{roCompatQuota, "quota"}, {roCompatBigalloc, "bigalloc"},
	{roCompatMetadataCsum, "metadata_csum"}, {roCompatReplica, "replica"},
	{roCompatReadonly, "read-only"}, {roCompatProject, "project"},
	{roCompatSharedBlocks, "shared_blocks"}, {roCompatVerity, "verity"},
	{roCompatOrphanPresent, "orphan_present"},
}

var incompatNames = [...]struct {
	bit  uint32
	name string
}{
	{incompatCompression, "compression"}, {incompatFiletype, "filetype"},
	{incompatRecover, "needs_recovery"}, {incompatJournalDev, "journal_dev"},
	{incompatMetaBG, "meta_bg"}, {incompatExtents, "extent"},
	{incompat64bit, "64bit"}, {incompatMMP, "mmp"}, {incompatFlexBG, "flex_bg"},
	{incompatEAInode, "ea_inode"}, {incompatDirdata, "dirdata"},
	{incompatCsumSeed, "metadata_csum_seed"}, {incompatLargedir, "large_dir"},
	{incompatInlineData, "inline_data"}, {incompatEncrypt, "encrypt"},
	{incompatCasefold, "casefold"},
}

// featureString lists the set features by name, as dumpe2fs's
// "Filesystem features:" line does; unknown bits are shown in hex.
func (s *superblock) featureString() string {
	var names []string
	add := func(v uint32, tab []struct {
		bit  uint32
		name string
	}, kind string) {
		known := uint32(0)
		for _, f := range tab {
			known |= f.bit
			if v&f.bit != 0 {
				names = append(names, f.name)
			}
		}
		if u := v &^ known; u != 0 {
			names = append(names, fmt.Sprintf("%s_%#x", kind, u))
		}
	}
	add(s.sFeatureCompat, compatNames[:], "compat")
	add(s.sFeatureIncompat, incompatNames[:], "incompat")
	add(s.sFeatureRoCompat, roCompatNames[:], "ro_compat")
	return strings.Join(names, " ")
}

// incompatString names the INCOMPAT bits of v, known ones by their
// dumpe2fs names, unknown ones as e2fsprogs shows them ("FEATURE_I27").
func incompatString(v uint32) string {
	var names []string
	for bit := 0; bit < 32; bit++ {
		m := uint32(1) << bit
		if v&m == 0 {
			continue
		}
		name := fmt.Sprintf("FEATURE_I%d", bit)
		for _, f := range incompatNames {
			if f.bit == m {
				name = f.name
			}
		}
		names = append(names, name)
	}
	return strings.Join(names, " ")
}

// hasSuper reports whether group g holds a superblock backup (and so the
// descriptor table after it): every group without sparse_super; groups 0,
// 1 and powers of 3, 5 and 7 with it; group 0 and s_backup_bgs with
// sparse_super2 (ext4_bg_has_super).
func (s *superblock) hasSuper(g uint64) bool {
	if g == 0 {
		return true
	}
	if s.hasCompat(compatSparseSuper2) {
		return g == uint64(s.sBackupBGs[0]) || g == uint64(s.sBackupBGs[1])
	}
	if g <= 1 || !s.hasRoCompat(roCompatSparseSuper) {
		return true
	}
	if g&1 == 0 {
		return false
	}
	return isPower(g, 3) || isPower(g, 5) || isPower(g, 7)
}

func isPower(n, b uint64) bool {
	for n%b == 0 {
		n /= b
	}
	return n == 1
}
