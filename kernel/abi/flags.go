package abi

// open(2) flags (include/uapi/asm-generic/fcntl.h).
const (
	O_ACCMODE   = 0o3
	O_RDONLY    = 0o0
	O_WRONLY    = 0o1
	O_RDWR      = 0o2
	O_CREAT     = 0o100
	O_EXCL      = 0o200
	O_NOCTTY    = 0o400
	O_TRUNC     = 0o1000
	O_APPEND    = 0o2000
	O_NONBLOCK  = 0o4000
	O_DSYNC     = 0o10000
	O_DIRECT    = 0o40000
	O_LARGEFILE = 0o100000
	O_DIRECTORY = 0o200000
	O_NOFOLLOW  = 0o400000
	O_NOATIME   = 0o1000000
	O_CLOEXEC   = 0o2000000
	O_SYNC      = 0o4010000 // __O_SYNC | O_DSYNC
	O_PATH      = 0o10000000
)

// *at(2) flags (include/uapi/linux/fcntl.h).
const (
	AT_FDCWD            = -100
	AT_SYMLINK_NOFOLLOW = 0x100
	AT_REMOVEDIR        = 0x200
	AT_SYMLINK_FOLLOW   = 0x400
	AT_NO_AUTOMOUNT     = 0x800
	AT_EMPTY_PATH       = 0x1000
)

// lseek(2) whence values (include/uapi/linux/fs.h).
const (
	SEEK_SET  = 0
	SEEK_CUR  = 1
	SEEK_END  = 2
	SEEK_DATA = 3
	SEEK_HOLE = 4
)

// File types and permission bits of st_mode (include/uapi/linux/stat.h).
const (
	S_IFMT   = 0o170000
	S_IFSOCK = 0o140000
	S_IFLNK  = 0o120000
	S_IFREG  = 0o100000
	S_IFBLK  = 0o060000
	S_IFDIR  = 0o040000
	S_IFCHR  = 0o020000
	S_IFIFO  = 0o010000
	S_ISUID  = 0o4000
	S_ISGID  = 0o2000
	S_ISVTX  = 0o1000
)

// d_type values of linux_dirent64 (include/linux/fs_types.h).
const (
	DT_UNKNOWN = 0
	DT_FIFO    = 1
	DT_CHR     = 2
	DT_DIR     = 4
	DT_BLK     = 6
	DT_REG     = 8
	DT_LNK     = 10
	DT_SOCK    = 12
)

// DT_WHT is an overlay whiteout's d_type (XFS's dir3 file type 8).
const DT_WHT = 14

// FtypeToDT maps the FT_* file type that ext4, btrfs, XFS and EROFS store
// in their directory entries (include/linux/fs_types.h: 1 a regular file
// to 7 a symlink) to d_type, as fs_ftype_to_dtype does; DT_UNKNOWN for
// any other value.
func FtypeToDT(ft uint8) uint8 {
	switch ft {
	case 1:
		return DT_REG
	case 2:
		return DT_DIR
	case 3:
		return DT_CHR
	case 4:
		return DT_BLK
	case 5:
		return DT_FIFO
	case 6:
		return DT_SOCK
	case 7:
		return DT_LNK
	}
	return DT_UNKNOWN
}

// FtypeFromMode is the FT_* file type of an st_mode's type, as
// fs_umode_to_ftype gives it (0, FT_UNKNOWN, for none): what ext4 and
// btrfs store in a new directory entry.
func FtypeFromMode(mode uint32) uint8 {
	switch mode & S_IFMT {
	case S_IFREG:
		return 1
	case S_IFDIR:
		return 2
	case S_IFCHR:
		return 3
	case S_IFBLK:
		return 4
	case S_IFIFO:
		return 5
	case S_IFSOCK:
		return 6
	case S_IFLNK:
		return 7
	}
	return 0
}

// DTFromMode returns the d_type for a file type in st_mode: the type bits
// shifted down, as the kernel's fs_umode_to_dtype does.
func DTFromMode(mode uint32) uint8 { return uint8((mode & S_IFMT) >> 12) }

// ModeFromDT returns the S_IF* type bits for a d_type.
func ModeFromDT(dt uint8) uint32 { return uint32(dt) << 12 }

// xattr flags (include/uapi/linux/xattr.h).
const (
	XATTR_CREATE  = 0x1
	XATTR_REPLACE = 0x2
	// XATTR_SIZE_MAX and XATTR_LIST_MAX bound a value and a name list.
	XATTR_SIZE_MAX = 65536
	XATTR_LIST_MAX = 65536
	XATTR_NAME_MAX = 255
)

// Limits (include/uapi/linux/limits.h).
const (
	NAME_MAX    = 255
	PATH_MAX    = 4096
	MAXSYMLINKS = 40 // the number of symlinks a path walk follows before ELOOP
)

// mount(2) flags (include/uapi/linux/mount.h).
const (
	MS_RDONLY  = 1
	MS_NOSUID  = 2
	MS_NODEV   = 4
	MS_NOEXEC  = 8
	MS_NOATIME = 1024
)

// umount2(2) flags.
const (
	MNT_FORCE  = 1
	MNT_DETACH = 2
)

// fallocate(2) modes (include/uapi/linux/falloc.h).
const (
	FALLOC_FL_KEEP_SIZE      = 0x01
	FALLOC_FL_PUNCH_HOLE     = 0x02
	FALLOC_FL_ZERO_RANGE     = 0x10
	FALLOC_FL_COLLAPSE_RANGE = 0x08
	FALLOC_FL_INSERT_RANGE   = 0x20
	// FALLOC_FL_WRITE_ZEROES (Linux 6.17) zeroes a range by the device's
	// write-zeroes that may deallocate it; EOPNOTSUPP where it cannot.
	FALLOC_FL_WRITE_ZEROES = 0x80
)

// renameat2(2) flags.
const (
	RENAME_NOREPLACE = 1
	RENAME_EXCHANGE  = 2
	RENAME_WHITEOUT  = 4
)

// utimensat(2) special nanosecond values.
const (
	UTIME_NOW  = (1 << 30) - 1
	UTIME_OMIT = (1 << 30) - 2
)
