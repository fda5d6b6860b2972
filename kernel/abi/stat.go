package abi

// Timespec is struct timespec.
type Timespec struct {
	Sec  int64
	Nsec int64
}

// Stat is struct stat as fstatat(2) fills it (the fields of the generic
// 64-bit layout; the encoding to bytes is not needed inside Go).
type Stat struct {
	Dev     uint64
	Ino     uint64
	Nlink   uint64
	Mode    uint32
	Uid     uint32
	Gid     uint32
	Rdev    uint64
	Size    int64
	Blksize int64
	Blocks  int64 // in 512-byte units
	Atim    Timespec
	Mtim    Timespec
	Ctim    Timespec
}

// statx(2) mask bits (include/uapi/linux/stat.h).
const (
	STATX_TYPE        = 0x0001
	STATX_MODE        = 0x0002
	STATX_NLINK       = 0x0004
	STATX_UID         = 0x0008
	STATX_GID         = 0x0010
	STATX_ATIME       = 0x0020
	STATX_MTIME       = 0x0040
	STATX_CTIME       = 0x0080
	STATX_INO         = 0x0100
	STATX_SIZE        = 0x0200
	STATX_BLOCKS      = 0x0400
	STATX_BASIC_STATS = 0x07ff
	STATX_BTIME       = 0x0800
	STATX_ALL         = 0x0fff
)

// statx(2) attributes (include/uapi/linux/stat.h).
const (
	STATX_ATTR_COMPRESSED = 0x00000004
	STATX_ATTR_IMMUTABLE  = 0x00000010
	STATX_ATTR_APPEND     = 0x00000020
	STATX_ATTR_NODUMP     = 0x00000040
	STATX_ATTR_ENCRYPTED  = 0x00000800
	STATX_ATTR_VERITY     = 0x00100000
)

// StatxTimestamp is struct statx_timestamp.
type StatxTimestamp struct {
	Sec  int64
	Nsec uint32
}

// Statx is struct statx.
type Statx struct {
	Mask           uint32
	Blksize        uint32
	Attributes     uint64
	Nlink          uint32
	Uid            uint32
	Gid            uint32
	Mode           uint16
	Ino            uint64
	Size           uint64
	Blocks         uint64
	AttributesMask uint64
	Atime          StatxTimestamp
	Btime          StatxTimestamp
	Ctime          StatxTimestamp
	Mtime          StatxTimestamp
	RdevMajor      uint32
	RdevMinor      uint32
	DevMajor       uint32
	DevMinor       uint32
}

// Statfs is struct statfs.
type Statfs struct {
	Type    int64
	Bsize   int64
	Blocks  uint64
	Bfree   uint64
	Bavail  uint64
	Files   uint64
	Ffree   uint64
	Fsid    [2]int32
	Namelen int64
	Frsize  int64
	Flags   int64
}

// Filesystem magic numbers for Statfs.Type (include/uapi/linux/magic.h).
const (
	EXT4_SUPER_MAGIC = 0xEF53
	RAMFS_MAGIC      = 0x858458f6
)

// Makedev packs a device number as the kernel's new_encode_dev does for
// userspace (glibc's gnu_dev_makedev): 12 bits of major, 20 of minor.
func Makedev(major, minor uint32) uint64 {
	return uint64(minor&0xff) | uint64(major&0xfff)<<8 |
		uint64(minor&^0xff)<<12 | uint64(major&^0xfff)<<32
}

// Major returns the major number of a device number made by Makedev.
func Major(dev uint64) uint32 { return uint32((dev>>8)&0xfff | (dev>>32)&^0xfff) }

// Minor returns the minor number of a device number made by Makedev.
func Minor(dev uint64) uint32 { return uint32(dev&0xff | (dev>>12)&^0xff) }
