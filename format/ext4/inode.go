package ext4

import (
	"math"

	"github.com/lklimg/lklimg/kernel/abi"
)

// Inodes (Documentation/filesystems/ext4/inodes.rst; struct ext4_inode).
// The first 128 bytes are the ext2 inode; from byte 128, i_extra_isize
// bytes of extra fields follow (checksum high half, nanosecond times,
// creation time), then in-inode extended attributes up to s_inode_size.
const (
	OffIMode        = 0x00
	OffIUid         = 0x02
	OffISizeLo      = 0x04
	OffIAtime       = 0x08
	OffICtime       = 0x0C
	OffIMtime       = 0x10
	OffIGid         = 0x18
	OffILinksCount  = 0x1A
	OffIBlocksLo    = 0x1C
	OffIFlags       = 0x20
	OffIBlock       = 0x28
	IBlockLen       = 60 // EXT4_N_BLOCKS * 4
	OffIGeneration  = 0x64
	OffIFileACLLo   = 0x68
	OffISizeHigh    = 0x6C
	OffIBlocksHigh  = 0x74
	OffIFileACLHigh = 0x76
	OffIUidHigh     = 0x78
	OffIGidHigh     = 0x7A
	OffIChecksumLo  = 0x7C
	OffIExtraIsize  = 0x80
	OffIChecksumHi  = 0x82
	OffICtimeExtra  = 0x84
	OffIMtimeExtra  = 0x88
	OffIAtimeExtra  = 0x8C
	OffICrtime      = 0x90
	OffICrtimeExtra = 0x94
)

// i_flags bits (EXT4_*_FL).
const (
	InodeSecrmFl       = 0x00000001
	InodeComprFl       = 0x00000004
	InodeImmutableFl   = 0x00000010
	InodeAppendFl      = 0x00000020
	InodeNodumpFl      = 0x00000040
	InodeEncryptFl     = 0x00000800
	InodeIndexFl       = 0x00001000
	InodeHugeFileFl    = 0x00040000
	InodeExtentsFl     = 0x00080000
	InodeVerityFl      = 0x00100000
	InodeEAInodeFl     = 0x00200000
	InodeInlineDataFl  = 0x10000000
	InodeProjinheritFl = 0x20000000
	InodeCasefoldFl    = 0x40000000
)

// ExtraIsize returns the slot's i_extra_isize (0 for 128-byte inodes).
func (fs *Geometry) ExtraIsize(raw []byte) uint32 {
	if fs.InodeSize <= GoodOldInodeSize {
		return 0
	}
	x := uint32(le.Uint16(raw[OffIExtraIsize:]))
	if x&3 != 0 || GoodOldInodeSize+x > fs.InodeSize {
		return 0
	}
	return x
}

// SetInodeCsum sets the checksum of the inode raw, whose checksum seed is
// seed (ext4_inode_csum_set), the mirror of verifyInodeCsum.
func (fs *Geometry) SetInodeCsum(seed uint32, raw []byte, hasHi bool) {
	if !fs.Super.MetadataCsum() {
		return
	}
	var zero [2]byte
	c := Csum32(fs.CrcTab, seed, raw[:OffIChecksumLo])
	c = Csum32(fs.CrcTab, c, zero[:])
	c = Csum32(fs.CrcTab, c, raw[OffIChecksumLo+2:GoodOldInodeSize])
	if fs.InodeSize > GoodOldInodeSize {
		if hasHi {
			c = Csum32(fs.CrcTab, c, raw[GoodOldInodeSize:OffIChecksumHi])
			c = Csum32(fs.CrcTab, c, zero[:])
			c = Csum32(fs.CrcTab, c, raw[OffIChecksumHi+2:fs.InodeSize])
		} else {
			c = Csum32(fs.CrcTab, c, raw[GoodOldInodeSize:fs.InodeSize])
		}
	}
	le.PutUint16(raw[OffIChecksumLo:], uint16(c))
	if hasHi {
		le.PutUint16(raw[OffIChecksumHi:], uint16(c>>16))
	}
}

// InodeCsumSeed computes an inode's checksum seed, crc32c(s_csum_seed,
// ino, generation).
func (fs *Geometry) InodeCsumSeed(ino, gen uint32) uint32 {
	if !fs.Super.MetadataCsum() {
		return 0
	}
	var b [4]byte
	le.PutUint32(b[:], ino)
	c := Csum32(fs.CrcTab, fs.CsumSeed, b[:])
	le.PutUint32(b[:], gen)
	return Csum32(fs.CrcTab, c, b[:])
}

// NewExtraIsize is i_extra_isize for new inodes: s_want_extra_isize, at
// least the 32 bytes of today's fields, within the inode.
func (fs *Geometry) NewExtraIsize() uint16 {
	if fs.InodeSize <= GoodOldInodeSize {
		return 0
	}
	x := max(uint32(fs.Super.SWantExtraIsize), uint32(fs.Super.SMinExtraIsize), 32)
	x = min(x, fs.InodeSize-GoodOldInodeSize) &^ 3
	return uint16(x)
}

// Block maps of ext2 and ext3 files (Documentation/filesystems/ext4/
// blockmap.rst; fs/ext4/indirect.c): i_block[0..11] point to the first 12
// data blocks, i_block[12] to a block of pointers, i_block[13] to a block
// of pointers to pointer blocks, i_block[14] one level deeper. A zero
// pointer is a hole, at any level.
const (
	NdirBlocks = 12
	IndBlock   = 12
	DindBlock  = 13
	TindBlock  = 14
)

const RootIno = 2

// BootLoaderIno is EXT4_BOOT_LOADER_INO, the reserved inode of
// EXT4_IOC_SWAP_BOOT: a new filesystem leaves it blank (no links).
const BootLoaderIno = 5

// EncodeTime splits t into the 32-bit seconds field and the extra field
// (Documentation/filesystems/ext4/inodes.rst, "Inode Timestamps": two
// epoch bits extending the seconds, then nanoseconds), clamped to what
// the fields can hold, as ext4_encode_extra_time and the superblock's
// time range (s_time_min, s_time_max) do. As the VFS's
// timestamp_truncate, a time at either end of the range keeps no
// nanoseconds: Linux stores 0x7fffffff:00000003 for any time from
// 2446-05-10 22:38:55 on, and 0x80000000 with no nanoseconds for any
// time up to 1901-12-13 20:45:52.
func EncodeTime(t abi.Timespec, extra bool) (uint32, uint32) {
	sec, nsec := t.Sec, t.Nsec
	lo, hi := int64(math.MinInt32), int64(math.MaxInt32)
	if extra {
		hi += 3 << 32
	}
	sec = min(max(sec, lo), hi)
	if sec == lo || sec == hi || nsec < 0 || nsec > 999999999 {
		nsec = 0
	}
	x := uint32((sec-int64(int32(sec)))>>32)&3 | uint32(nsec)<<2
	return uint32(int32(sec)), x
}
