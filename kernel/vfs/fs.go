package vfs

import (
	"github.com/lklimg/lklimg/kernel/abi"
)

// This file is the contract between the VFS and filesystem drivers: the
// parts of Linux's struct file_system_type, super_operations and
// inode_operations/file_operations that the library kernel uses. A driver
// implements FilesystemType and returns inodes that implement the operation
// interfaces their type supports; the VFS checks for each interface with a
// type assertion, as Linux checks for a NULL operation, and returns the
// errno Linux returns when one is missing.
//
// Errors from drivers are abi.Errno values, or abi.Errorf(errno, ...) with
// the reason (which structure is corrupt). The VFS passes them up unchanged.

// BlockDevice is what a filesystem sees of the device it is mounted from: a
// kernel/block Device (a disk or a partition, read through the page cache).
// Drivers depend on this interface, so they can be tested on any io.ReaderAt.
type BlockDevice interface {
	// Name is the device's name without /dev/ ("vda1").
	Name() string
	// Size returns the device's size in bytes.
	Size() int64
	// ReadOnly reports whether writes are refused.
	ReadOnly() bool
	// ReadAt reads len(p) bytes from off, as io.ReaderAt does.
	ReadAt(p []byte, off int64) (int, error)
}

// Readaheader is implemented by block devices that can start reading a range
// before it is needed. A driver that knows where a file's data lies (its
// extents) calls it so that the reads are large and overlap the copy out.
type Readaheader interface {
	Readahead(off, n int64)
}

// Logger is the kernel's log (printk). Drivers report what Linux would put in
// dmesg: mount options, features, corruption found.
type Logger interface {
	Printf(format string, args ...any)
}

// FilesystemType is struct file_system_type: one registered driver.
type FilesystemType interface {
	// Name is the type's name as mount -t takes it ("ext4").
	Name() string
	// Probe reports whether dev holds a filesystem of this type, from its
	// superblock magic, as blkid does. It reads little and never fails: an
	// unreadable device is not this type.
	Probe(dev BlockDevice) bool
	// Mount reads the superblock from dev and returns the mounted
	// filesystem. flags are MS_* (MS_RDONLY); data is the option string.
	Mount(dev BlockDevice, flags uint64, data string, log Logger) (Superblock, error)
}

// Superblock is a mounted filesystem (struct super_block).
type Superblock interface {
	// Root returns the root directory's inode.
	Root() (Inode, error)
	// Statfs returns the figures statfs(2) reports.
	Statfs() (abi.Statfs, error)
	// Unmount releases the filesystem; no inode of it is used afterwards.
	Unmount() error
}

// Attr is what getattr returns: the fields of struct kstat that statx(2)
// and fstatat(2) report. Mode holds the S_IF* type bits and permissions.
type Attr struct {
	Ino        uint64
	Mode       uint32
	Nlink      uint32
	Uid, Gid   uint32
	Rdev       uint64 // abi.Makedev(major, minor) for devices
	Size       int64
	Blocks     int64 // 512-byte units, as st_blocks
	Blksize    uint32
	Atime      abi.Timespec
	Mtime      abi.Timespec
	Ctime      abi.Timespec
	Btime      abi.Timespec // birth time; valid when HasBtime
	HasBtime   bool
	Attributes uint64 // STATX_ATTR_* flags
}

// Inode is an inode of a mounted filesystem (struct inode). Every inode
// implements Getattr; the other operations are the interfaces below.
type Inode interface {
	// Ino is the inode number, unique within its filesystem.
	Ino() uint64
	// Getattr returns the inode's attributes.
	Getattr() (Attr, error)
}

// DirEntry is one entry a directory yields (a dir_context actor's arguments).
type DirEntry struct {
	Name string
	Ino  uint64
	Type uint8 // abi.DT_*
	// Next is the position to resume reading after this entry: getdents64
	// reports it as d_off, and lseek on the directory may return to it.
	Next int64
}

// Lookuper is implemented by directories (inode_operations.lookup).
type Lookuper interface {
	// Lookup returns the child called name, or ENOENT. name is one path
	// component, never "." or "..", at most NAME_MAX bytes.
	Lookup(name string) (Inode, error)
}

// DirReader is implemented by directories (file_operations.iterate_shared).
type DirReader interface {
	// ReadDir calls emit for each entry from position pos (0 is the
	// start), in the directory's own order, until emit returns false or the
	// directory ends. "." and ".." are not emitted: the VFS adds them.
	ReadDir(pos int64, emit func(DirEntry) bool) error
}

// FileReader is implemented by regular files (file_operations.read_iter).
type FileReader interface {
	// ReadAt reads into p from offset off, as io.ReaderAt does: it returns
	// io.EOF (and the bytes it read) at the end of the file. Holes and
	// unwritten extents read as zeros.
	ReadAt(p []byte, off int64) (int, error)
}

// Seeker is implemented by regular files that know their holes
// (file_operations.llseek with SEEK_DATA and SEEK_HOLE). Files without it
// are all data, as generic_file_llseek treats them.
type Seeker interface {
	// SeekData returns the first offset >= off that holds data, or ENXIO
	// if none does before the end of the file.
	SeekData(off int64) (int64, error)
	// SeekHole returns the first offset >= off in a hole; the end of the
	// file counts as a hole.
	SeekHole(off int64) (int64, error)
}

// Opener is implemented by inodes whose open can fail for a reason of the
// filesystem's own (file_operations.open), such as an encrypted regular
// file whose key is not loaded (ENOKEY, as fscrypt_file_open refuses it).
type Opener interface {
	// Open is called for every open of the inode but O_PATH ones, after
	// the VFS's own checks; flags are open(2)'s.
	Open(flags int) error
}

// Readlinker is implemented by symbolic links (inode_operations.get_link).
type Readlinker interface {
	// Readlink returns the link's target.
	Readlink() (string, error)
}

// Xattrer is implemented by inodes that have extended attributes.
type Xattrer interface {
	// Getxattr returns the value of the attribute with the full name
	// ("user.foo", "security.selinux"), or ENODATA.
	Getxattr(name string) ([]byte, error)
	// Listxattr returns the full names of all attributes.
	Listxattr() ([]string, error)
}
