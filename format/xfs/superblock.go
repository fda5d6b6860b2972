package xfs

import (
	"math/bits"

	"github.com/lklimg/lklimg/kernel/abi"
)

// The superblock (struct xfs_dsb, xfs_format.h) is the first sector of
// every allocation group; AG 0's is the primary one:
//
//	  0 sb_magicnum "XFSB"      4 sb_blocksize     8 sb_dblocks u64
//	 16 sb_rblocks u64         24 sb_rextents u64  32 sb_uuid[16]
//	 48 sb_logstart u64        56 sb_rootino u64   64 sb_rbmino u64
//	 72 sb_rsumino u64         80 sb_rextsize      84 sb_agblocks
//	 88 sb_agcount             92 sb_rbmblocks     96 sb_logblocks
//	100 sb_versionnum u16     102 sb_sectsize u16 104 sb_inodesize u16
//	106 sb_inopblock u16      108 sb_fname[12]
//	120 sb_blocklog sb_sectlog sb_inodelog sb_inopblog sb_agblklog
//	    sb_rextslog sb_inprogress sb_imax_pct (u8 each)
//	128 sb_icount u64         136 sb_ifree u64    144 sb_fdblocks u64
//	152 sb_frextents u64      160 sb_uquotino     168 sb_gquotino
//	176 sb_qflags u16         178 sb_flags u8     179 sb_shared_vn u8
//	180 sb_inoalignmt         184 sb_unit         188 sb_width
//	192 sb_dirblklog u8       193 sb_logsectlog u8 194 sb_logsectsize u16
//	196 sb_logsunit           200 sb_features2    204 sb_bad_features2
//	    (v5 from here)
//	208 sb_features_compat    212 sb_features_ro_compat
//	216 sb_features_incompat  220 sb_features_log_incompat
//	224 sb_crc (le32)         228 sb_spino_align  232 sb_pquotino u64
//	240 sb_lsn u64            248 sb_meta_uuid[16]
//	    (metadir, XFS_SB_FEAT_INCOMPAT_METADIR, from here)
//	264 sb_metadirino u64     272 sb_rgcount      276 sb_rgextents
//	280 sb_rgblklog u8        281 sb_pad[7]       288 sb_rtstart u64
//	296 sb_rtreserved u64
const (
	// SuperMagic is sb_magicnum, and statfs's f_type (XFS_SUPER_MAGIC).
	SuperMagic = 0x58465342
	// SuperSize is the part of the superblock decoded (to
	// sb_rtreserved, metadir's last field).
	SuperSize = 304
	// SuperCRCOff is sb_crc's offset (XFS_SB_CRC_OFF).
	SuperCRCOff = 224
	// MaxNameLen is the longest name (MAXNAMELEN - 1).
	MaxNameLen = 255
	// NullIno is NULLFSINO, an unset inode number.
	NullIno = ^uint64(0)
)

// sb_versionnum bits (XFS_SB_VERSION_*).
const (
	VersionNumBits   = 0x000f
	Version4         = 4
	Version5         = 5
	VersionAttrBit   = 0x0010
	VersionNlinkBit  = 0x0020
	VersionQuotaBit  = 0x0040
	VersionAlignBit  = 0x0080
	VersionDalignBit = 0x0100
	VersionLogV2Bit  = 0x0400
	VersionSectorBit = 0x0800
	VersionExtFlgBit = 0x1000
	VersionDirV2Bit  = 0x2000
	VersionBorgBit   = 0x4000 // ASCII case-insensitive names (mkfs -n version=ci)
	VersionMoreBits  = 0x8000
)

// sb_features2 bits (XFS_SB_VERSION2_*).
const (
	Version2LazySbCount = 0x0002
	Version2Attr2       = 0x0008
	Version2Parent      = 0x0010
	Version2ProjID32    = 0x0080
	Version2CRC         = 0x0100
	Version2Ftype       = 0x0200
)

// v5 feature bits (XFS_SB_FEAT_*).
const (
	FeatRoCompatFinobt   = 1 << 0
	FeatRoCompatRmapbt   = 1 << 1
	FeatRoCompatReflink  = 1 << 2
	FeatRoCompatInobtCnt = 1 << 3

	FeatIncompatFtype       = 1 << 0
	FeatIncompatSpinodes    = 1 << 1
	FeatIncompatMetaUUID    = 1 << 2
	FeatIncompatBigtime     = 1 << 3
	FeatIncompatNeedsRepair = 1 << 4
	FeatIncompatNrext64     = 1 << 5
	FeatIncompatExchRange   = 1 << 6
	FeatIncompatParent      = 1 << 7
	FeatIncompatMetadir     = 1 << 8

	// FeatIncompatKnown is what this package reads: the metadata
	// directory tree (and the zoned realtime devices that need it) is
	// not.
	FeatIncompatKnown = FeatIncompatFtype | FeatIncompatSpinodes | FeatIncompatMetaUUID |
		FeatIncompatBigtime | FeatIncompatNeedsRepair | FeatIncompatNrext64 |
		FeatIncompatExchRange | FeatIncompatParent | FeatIncompatMetadir
)

// Superblock is struct xfs_dsb (the fields a reader uses).
type Superblock struct {
	MagicNum            uint32
	BlockSize           uint32
	DBlocks             uint64
	RBlocks             uint64
	RExtents            uint64
	UUID                [16]byte
	LogStart            uint64
	RootIno             uint64
	RExtSize            uint32
	AgBlocks            uint32
	AgCount             uint32
	LogBlocks           uint32
	VersionNum          uint16
	SectSize            uint16
	InodeSize           uint16
	InopBlock           uint16
	BlockLog            uint8
	SectLog             uint8
	InodeLog            uint8
	InopBLog            uint8
	AgBlkLog            uint8
	InProgress          uint8
	ImaxPct             uint8
	Icount              uint64
	Ifree               uint64
	FDBlocks            uint64
	DirBlkLog           uint8
	LogSectLog          uint8
	LogSectSize         uint16
	LogSunit            uint32
	Features2           uint32
	FeaturesCompat      uint32
	FeaturesRoCompat    uint32
	FeaturesIncompat    uint32
	FeaturesLogIncompat uint32
	CRC                 uint32
	SpinoAlign          uint32
	MetaUUID            [16]byte
	// The metadir feature's fields (zero without it): the root of the
	// metadata directory tree, which holds the quota and realtime
	// inodes in place of sb_uquotino..sb_pquotino and sb_rbmino,
	// sb_rsumino; the realtime groups; an internal realtime section
	// (zoned) at sb_rtstart.
	MetadirIno uint64
	RgCount    uint32
	RgExtents  uint32
	RgBlkLog   uint8
	RtStart    uint64
	RtReserved uint64
}

// DecodeSuperblock decodes the superblock from the start of p; it checks
// the magic only (Check does the rest).
func DecodeSuperblock(p []byte) (*Superblock, error) {
	if len(p) < SuperSize {
		return nil, abi.Errorf(abi.EUCLEAN, "xfs: superblock cut at %d bytes", len(p))
	}
	s := &Superblock{
		MagicNum:    be.Uint32(p[0:]),
		BlockSize:   be.Uint32(p[4:]),
		DBlocks:     be.Uint64(p[8:]),
		RBlocks:     be.Uint64(p[16:]),
		RExtents:    be.Uint64(p[24:]),
		LogStart:    be.Uint64(p[48:]),
		RootIno:     be.Uint64(p[56:]),
		RExtSize:    be.Uint32(p[80:]),
		AgBlocks:    be.Uint32(p[84:]),
		AgCount:     be.Uint32(p[88:]),
		LogBlocks:   be.Uint32(p[96:]),
		VersionNum:  be.Uint16(p[100:]),
		SectSize:    be.Uint16(p[102:]),
		InodeSize:   be.Uint16(p[104:]),
		InopBlock:   be.Uint16(p[106:]),
		BlockLog:    p[120],
		SectLog:     p[121],
		InodeLog:    p[122],
		InopBLog:    p[123],
		AgBlkLog:    p[124],
		InProgress:  p[126],
		ImaxPct:     p[127],
		Icount:      be.Uint64(p[128:]),
		Ifree:       be.Uint64(p[136:]),
		FDBlocks:    be.Uint64(p[144:]),
		DirBlkLog:   p[192],
		LogSectLog:  p[193],
		LogSectSize: be.Uint16(p[194:]),
		LogSunit:    be.Uint32(p[196:]),
		Features2:   be.Uint32(p[200:]),
	}
	copy(s.UUID[:], p[32:48])
	if s.MagicNum != SuperMagic {
		return nil, abi.Errorf(abi.EINVAL, "xfs: bad superblock magic 0x%08x", s.MagicNum)
	}
	if s.Version() >= Version5 {
		s.FeaturesCompat = be.Uint32(p[208:])
		s.FeaturesRoCompat = be.Uint32(p[212:])
		s.FeaturesIncompat = be.Uint32(p[216:])
		s.FeaturesLogIncompat = be.Uint32(p[220:])
		s.CRC = le32(p[224:])
		s.SpinoAlign = be.Uint32(p[228:])
		copy(s.MetaUUID[:], p[248:264])
	}
	if s.HasMetadir() {
		s.MetadirIno = be.Uint64(p[264:])
		s.RgCount = be.Uint32(p[272:])
		s.RgExtents = be.Uint32(p[276:])
		s.RgBlkLog = p[280]
		s.RtStart = be.Uint64(p[288:])
		s.RtReserved = be.Uint64(p[296:])
	}
	return s, nil
}

// Version is the superblock's version: 4 or 5 (XFS_SB_VERSION_NUM).
func (s *Superblock) Version() int { return int(s.VersionNum & VersionNumBits) }

// HasCRC reports a v5 filesystem: checksummed metadata, v3 inodes.
func (s *Superblock) HasCRC() bool { return s.Version() == Version5 }

// HasFtype reports file types in directory entries (v5's incompat bit,
// v4's features2 bit).
func (s *Superblock) HasFtype() bool {
	if s.HasCRC() {
		return s.FeaturesIncompat&FeatIncompatFtype != 0
	}
	return s.VersionNum&VersionMoreBits != 0 && s.Features2&Version2Ftype != 0
}

// HasLazySbCount reports counters the superblock keeps only at
// unmount (always on v5; features2's bit on v4).
func (s *Superblock) HasLazySbCount() bool {
	return s.HasCRC() || (s.VersionNum&VersionMoreBits != 0 && s.Features2&Version2LazySbCount != 0)
}

// HasASCIICI reports directories of ASCII case-insensitive names.
func (s *Superblock) HasASCIICI() bool { return s.VersionNum&VersionBorgBit != 0 }

// HasBigtime reports the bigtime feature (inode times as nanoseconds).
func (s *Superblock) HasBigtime() bool { return s.FeaturesIncompat&FeatIncompatBigtime != 0 }

// HasNrext64 reports 64-bit data extent counts in inodes.
func (s *Superblock) HasNrext64() bool { return s.FeaturesIncompat&FeatIncompatNrext64 != 0 }

// HasParent reports parent pointers (attributes with XFS_ATTR_PARENT).
func (s *Superblock) HasParent() bool { return s.FeaturesIncompat&FeatIncompatParent != 0 }

// HasMetadir reports the metadata directory tree (metadir): quota and
// realtime inodes live in it, marked XFS_DIFLAG2_METADATA.
func (s *Superblock) HasMetadir() bool {
	return s.Version() == Version5 && s.FeaturesIncompat&FeatIncompatMetadir != 0
}

// DirBlkSize is a directory block's size in bytes (geo->blksize).
func (s *Superblock) DirBlkSize() int { return int(s.BlockSize) << s.DirBlkLog }

// InoBits is how many low bits of an inode number are its agino
// (agblklog + inopblog).
func (s *Superblock) InoBits() uint { return uint(s.AgBlkLog) + uint(s.InopBLog) }

// Check validates the superblock as xfs_validate_sb_common does, for
// what a reader relies on: sizes and their logs agree, the geometry fits
// the counts, the version and features are ones this package reads.
// Errors: EUCLEAN (EFSCORRUPTED) for a damaged superblock, EINVAL for a
// version or feature not read (as Linux refuses them).
func (s *Superblock) Check() error {
	bad := func(what string, args ...any) error {
		return abi.Errorf(abi.EUCLEAN, "xfs: superblock: "+what, args...)
	}
	switch s.Version() {
	case Version4:
		if s.VersionNum&VersionDirV2Bit == 0 {
			return abi.Errorf(abi.EINVAL, "xfs: version 1 directories are not supported")
		}
	case Version5:
	default:
		return abi.Errorf(abi.EINVAL, "xfs: bad version %d", s.Version())
	}
	if s.HasCRC() {
		if u := s.FeaturesIncompat &^ FeatIncompatKnown; u != 0 {
			return abi.Errorf(abi.EINVAL, "xfs: superblock has unknown incompatible features (0x%x) enabled", u)
		}
		if s.FeaturesIncompat&FeatIncompatNeedsRepair != 0 {
			return abi.Errorf(abi.EUCLEAN, "xfs: filesystem needs repair: please run xfs_repair")
		}
	}
	switch {
	case s.BlockSize < 512 || s.BlockSize > 65536 || s.BlockSize&(s.BlockSize-1) != 0 ||
		uint32(1)<<s.BlockLog != s.BlockSize:
		return bad("block size %d (log %d)", s.BlockSize, s.BlockLog)
	case s.SectSize < 512 || s.SectSize > 32768 || uint32(1)<<s.SectLog != uint32(s.SectSize) ||
		uint32(s.SectSize) > s.BlockSize:
		return bad("sector size %d (log %d)", s.SectSize, s.SectLog)
	case s.InodeSize < 256 || s.InodeSize > 2048 || uint32(1)<<s.InodeLog != uint32(s.InodeSize) ||
		uint32(s.InodeSize) > s.BlockSize || (s.HasCRC() && s.InodeSize < 512):
		return bad("inode size %d (log %d)", s.InodeSize, s.InodeLog)
	case uint32(s.InopBlock) != s.BlockSize/uint32(s.InodeSize) || uint32(1)<<s.InopBLog != uint32(s.InopBlock):
		return bad("%d inodes per block (log %d)", s.InopBlock, s.InopBLog)
	case s.AgCount == 0 || s.AgBlocks < 64 || s.AgBlkLog > 31 || log2Roundup(s.AgBlocks) != uint(s.AgBlkLog):
		return bad("%d allocation groups of %d blocks (log %d)", s.AgCount, s.AgBlocks, s.AgBlkLog)
	case s.DBlocks == 0 || s.DBlocks > uint64(s.AgCount)*uint64(s.AgBlocks) ||
		s.DBlocks < uint64(s.AgCount-1)*uint64(s.AgBlocks)+64:
		return bad("%d blocks for %d groups of %d", s.DBlocks, s.AgCount, s.AgBlocks)
	case s.DirBlkLog > 16 || s.DirBlkSize() > 65536:
		return bad("directory block log %d", s.DirBlkLog)
	case s.ImaxPct > 100:
		return bad("imax_pct %d", s.ImaxPct)
	case s.InProgress != 0:
		return bad("mkfs in progress")
	}
	return nil
}

// log2Roundup is the log of the smallest power of two >= n
// (xfs_highbit32 + 1 unless exact, as mkfs computes sb_agblklog).
func log2Roundup(n uint32) uint {
	if n <= 1 {
		return 0
	}
	return uint(bits.Len32(n - 1))
}

// le32 reads a little-endian checksum.
func le32(p []byte) uint32 {
	return uint32(p[0]) | uint32(p[1])<<8 | uint32(p[2])<<16 | uint32(p[3])<<24
}
