package btrfs

import (
	"encoding/binary"
	"fmt"

	"github.com/lklimg/lklimg/kernel/abi"
)

// The superblock (struct btrfs_super_block, btrfs_tree.h), 4096 bytes at
// 64 KiB (BTRFS_SUPER_INFO_OFFSET); its copies at 64 MiB and 256 GiB are
// not read, as Linux mounts from the primary only:
//
//	0x000 csum[32]            0x020 fsid[16]
//	0x030 bytenr u64          0x038 flags u64
//	0x040 magic u64           0x048 generation u64
//	0x050 root u64            0x058 chunk_root u64
//	0x060 log_root u64        0x068 __unused_log_root_transid u64
//	0x070 total_bytes u64     0x078 bytes_used u64
//	0x080 root_dir_objectid   0x088 num_devices u64
//	0x090 sectorsize u32      0x094 nodesize u32
//	0x098 __unused_leafsize   0x09c stripesize u32
//	0x0a0 sys_chunk_array_size u32
//	0x0a4 chunk_root_generation u64
//	0x0ac compat_flags u64    0x0b4 compat_ro_flags u64
//	0x0bc incompat_flags u64  0x0c4 csum_type u16
//	0x0c6 root_level u8       0x0c7 chunk_root_level u8
//	0x0c8 log_root_level u8   0x0c9 dev_item (98 bytes)
//	0x12b label[256]          0x22b cache_generation u64
//	0x233 uuid_tree_generation u64
//	0x23b metadata_uuid[16]   0x24b nr_global_roots u64
//	0x32b sys_chunk_array[2048]
//	0xb2b super_roots[4] (168 bytes each), reserved to 4096
const (
	SuperInfoOffset = 0x10000 // BTRFS_SUPER_INFO_OFFSET
	SuperInfoSize   = 4096    // BTRFS_SUPER_INFO_SIZE
	// MagicOffset is where the magic lies in the superblock.
	MagicOffset = 0x40
	// Magic is "_BHRfS_M" (BTRFS_MAGIC) as the u64 it is read as.
	Magic = 0x4D5F53665248425F
	// SuperMagic is statfs's f_type (BTRFS_SUPER_MAGIC).
	SuperMagic = 0x9123683E
	// SystemChunkArraySize is the room of sys_chunk_array
	// (BTRFS_SYSTEM_CHUNK_ARRAY_SIZE).
	SystemChunkArraySize = 2048
	// NameLen is the longest name (BTRFS_NAME_LEN).
	NameLen = 255
	// CsumSize is the room of a checksum (BTRFS_CSUM_SIZE).
	CsumSize = 32
	// FsidSize is a filesystem UUID's length (BTRFS_FSID_SIZE).
	FsidSize = 16
	// MaxLevel bounds a tree's height (BTRFS_MAX_LEVEL).
	MaxLevel = 8
	// MinSectorSize and MaxNodeSize bound the sizes Linux mounts (4 KiB
	// sectors at the least, 64 KiB nodes at the most: BTRFS_MAX_METADATA_BLOCKSIZE).
	MinSectorSize = 4096
	MaxNodeSize   = 65536
)

// SuperFlagSupp is BTRFS_SUPER_FLAG_SUPP, the superblock flags Linux
// mounts with (btrfs_validate_super refuses others, EINVAL, unless
// rescue=ignoresuperflags): the header's WRITTEN and RELOC, ERROR,
// SEEDING, METADUMP and METADUMP_V2. The flags btrfs-progs sets while a
// conversion is half done (changing the fsid, the checksum, to the
// block group tree) are not among them.
const SuperFlagSupp = 1<<0 | 1<<1 | 1<<2 | 1<<32 | 1<<33 | 1<<34

// SuperFlagSeeding (BTRFS_SUPER_FLAG_SEEDING) marks a seed filesystem
// (btrfstune -S 1): read-only, the base of the filesystems sprouted from
// it by adding a device, whose chunks lie on its devices too.
const SuperFlagSeeding = 1 << 32

// SuperFlagChangingFsidV2 marks a metadata_uuid change btrfstune has
// not finished (BTRFS_SUPER_FLAG_CHANGING_FSID_V2).
const SuperFlagChangingFsidV2 = 1 << 36

// CompatROBlockGroupTree is the compat_ro bit of a filesystem whose
// block group items are in the block group tree (id 11), not the
// extent tree (BTRFS_FEATURE_COMPAT_RO_BLOCK_GROUP_TREE).
const CompatROBlockGroupTree = 1 << 3

// Incompatible features (BTRFS_FEATURE_INCOMPAT_*).
const (
	IncompatMixedBackref   = 1 << 0
	IncompatDefaultSubvol  = 1 << 1
	IncompatMixedGroups    = 1 << 2
	IncompatCompressLZO    = 1 << 3
	IncompatCompressZSTD   = 1 << 4
	IncompatBigMetadata    = 1 << 5
	IncompatExtendedIref   = 1 << 6
	IncompatRAID56         = 1 << 7
	IncompatSkinnyMetadata = 1 << 8
	IncompatNoHoles        = 1 << 9
	IncompatMetadataUUID   = 1 << 10
	IncompatRAID1C34       = 1 << 11
	IncompatZoned          = 1 << 12
	IncompatExtentTreeV2   = 1 << 13
	IncompatRaidStripeTree = 1 << 14
	IncompatSimpleQuota    = 1 << 16
	// IncompatSupp is what Linux 6.18 built without
	// CONFIG_BTRFS_EXPERIMENTAL mounts (BTRFS_FEATURE_INCOMPAT_SUPP), all
	// of it read here: extent tree v2, the RAID stripe tree and the
	// remap tree are experimental, unknown to it.
	IncompatSupp = IncompatMixedBackref | IncompatDefaultSubvol | IncompatMixedGroups |
		IncompatCompressLZO | IncompatCompressZSTD | IncompatBigMetadata |
		IncompatExtendedIref | IncompatRAID56 | IncompatSkinnyMetadata |
		IncompatNoHoles | IncompatMetadataUUID | IncompatRAID1C34 | IncompatSimpleQuota |
		IncompatZoned
)

// SuperBlock is the decoded struct btrfs_super_block.
type SuperBlock struct {
	Csum                [CsumSize]byte
	Fsid                [FsidSize]byte
	Bytenr              uint64
	Flags               uint64
	Magic               uint64
	Generation          uint64
	Root                uint64
	ChunkRoot           uint64
	LogRoot             uint64
	TotalBytes          uint64
	BytesUsed           uint64
	RootDirObjectid     uint64
	NumDevices          uint64
	SectorSize          uint32
	NodeSize            uint32
	StripeSize          uint32
	SysChunkArraySize   uint32
	ChunkRootGeneration uint64
	CompatFlags         uint64
	CompatROFlags       uint64
	IncompatFlags       uint64
	CsumType            uint16
	RootLevel           uint8
	ChunkRootLevel      uint8
	LogRootLevel        uint8
	DevItem             DevItem
	Label               string
	MetadataUUID        [FsidSize]byte
	// SysChunkArray is the bootstrap chunk items (sys_chunk_array_size
	// bytes of it): see DecodeSysChunkArray.
	SysChunkArray []byte
}

// DevItem is struct btrfs_dev_item, 98 bytes: the device the superblock
// was read from.
type DevItem struct {
	Devid      uint64
	TotalBytes uint64
	BytesUsed  uint64
	SectorSize uint32
	UUID       [16]byte
	Fsid       [16]byte
}

// DevItemSize is sizeof(struct btrfs_dev_item).
const DevItemSize = 98

// DecodeDevItem decodes a dev item: the superblock's, or a DEV_ITEM of
// the chunk tree (b at least DevItemSize bytes).
func DecodeDevItem(b []byte) DevItem {
	d := DevItem{
		Devid:      le.Uint64(b[0:]),
		TotalBytes: le.Uint64(b[8:]),
		BytesUsed:  le.Uint64(b[16:]),
		SectorSize: le.Uint32(b[32:]),
	}
	copy(d.UUID[:], b[66:82])
	copy(d.Fsid[:], b[82:98])
	return d
}

var le = binary.LittleEndian

// UUIDString is u as Linux's %pU prints it: 8-4-4-4-12 hex digits.
func UUIDString(u [16]byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// DecodeSuperBlock decodes the 4096 bytes of a superblock. It checks the
// magic and the sizes a reader relies on (btrfs_validate_super), not the
// checksum (VerifySuper).
func DecodeSuperBlock(b []byte) (*SuperBlock, error) {
	if len(b) < SuperInfoSize {
		return nil, abi.Errorf(abi.EINVAL, "btrfs: superblock of %d bytes", len(b))
	}
	s := &SuperBlock{
		Bytenr:              le.Uint64(b[0x30:]),
		Flags:               le.Uint64(b[0x38:]),
		Magic:               le.Uint64(b[0x40:]),
		Generation:          le.Uint64(b[0x48:]),
		Root:                le.Uint64(b[0x50:]),
		ChunkRoot:           le.Uint64(b[0x58:]),
		LogRoot:             le.Uint64(b[0x60:]),
		TotalBytes:          le.Uint64(b[0x70:]),
		BytesUsed:           le.Uint64(b[0x78:]),
		RootDirObjectid:     le.Uint64(b[0x80:]),
		NumDevices:          le.Uint64(b[0x88:]),
		SectorSize:          le.Uint32(b[0x90:]),
		NodeSize:            le.Uint32(b[0x94:]),
		StripeSize:          le.Uint32(b[0x9c:]),
		SysChunkArraySize:   le.Uint32(b[0xa0:]),
		ChunkRootGeneration: le.Uint64(b[0xa4:]),
		CompatFlags:         le.Uint64(b[0xac:]),
		CompatROFlags:       le.Uint64(b[0xb4:]),
		IncompatFlags:       le.Uint64(b[0xbc:]),
		CsumType:            le.Uint16(b[0xc4:]),
		RootLevel:           b[0xc6],
		ChunkRootLevel:      b[0xc7],
		LogRootLevel:        b[0xc8],
		DevItem:             DecodeDevItem(b[0xc9 : 0xc9+DevItemSize]),
	}
	copy(s.Csum[:], b[:CsumSize])
	copy(s.Fsid[:], b[0x20:0x30])
	copy(s.MetadataUUID[:], b[0x23b:0x24b])
	label := b[0x12b:0x22b]
	for i, c := range label {
		if c == 0 {
			label = label[:i]
			break
		}
	}
	s.Label = string(label)
	if s.Magic != Magic {
		return nil, abi.Errorf(abi.EINVAL, "btrfs: no btrfs magic")
	}
	bad := func(format string, args ...any) (*SuperBlock, error) {
		return nil, abi.Errorf(abi.EUCLEAN, "btrfs: superblock: "+format, args...)
	}
	if s.Bytenr != SuperInfoOffset {
		return bad("bytenr %d, not %d", s.Bytenr, SuperInfoOffset)
	}
	if !pow2(s.SectorSize) || s.SectorSize < MinSectorSize || s.SectorSize > MaxNodeSize {
		return bad("invalid sectorsize %d", s.SectorSize)
	}
	if !pow2(s.NodeSize) || s.NodeSize < s.SectorSize || s.NodeSize > MaxNodeSize {
		return bad("invalid nodesize %d", s.NodeSize)
	}
	if _, ok := csumSizes[s.CsumType]; !ok {
		return bad("unsupported checksum algorithm %d", s.CsumType)
	}
	if s.RootLevel >= MaxLevel || s.ChunkRootLevel >= MaxLevel {
		return bad("tree level %d/%d too high", s.RootLevel, s.ChunkRootLevel)
	}
	if s.SysChunkArraySize > SystemChunkArraySize {
		return bad("system chunk array too big %d > %d", s.SysChunkArraySize, SystemChunkArraySize)
	}
	if s.Root%uint64(s.SectorSize) != 0 || s.ChunkRoot%uint64(s.SectorSize) != 0 {
		return bad("tree root %d or chunk root %d unaligned", s.Root, s.ChunkRoot)
	}
	s.SysChunkArray = b[0x32b : 0x32b+s.SysChunkArraySize]
	return s, nil
}

func pow2(v uint32) bool { return v != 0 && v&(v-1) == 0 }

// FsidForBlocks is the fsid tree blocks carry: metadata_uuid with the
// METADATA_UUID feature, else fsid.
func (s *SuperBlock) FsidForBlocks() [FsidSize]byte {
	if s.IncompatFlags&IncompatMetadataUUID != 0 {
		return s.MetadataUUID
	}
	return s.Fsid
}
