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

// CacheSizer is implemented by block devices whose page cache is bounded
// by the kernel's memory: CacheBytes is that bound. A driver that keeps
// state of its own in memory in proportion to what it writes (ext4's
// running transaction) scales it by the bound, so that the kernel's
// memory (-m) bounds the whole.
type CacheSizer interface {
	CacheBytes() int64
}

// Logger is the kernel's log (printk). Drivers report what Linux would put in
// dmesg: mount options, features, corruption found.
type Logger interface {
	Printf(format string, args ...any)
}

// DiscardLogger is a Logger that says nothing: the VFS's when its options
// give none, and a driver's Mount's when its caller (a test) gives none.
var DiscardLogger Logger = discardLogger{}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}

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

// MultiDeviceType is a FilesystemType whose filesystems may span several
// devices (btrfs). Its MountDevices is called instead of Mount, with the
// kernel's other block devices besides dev, among which it finds the
// filesystem's other members by their superblocks, as Linux's btrfs finds
// them among the devices registered by the scan udev runs as each appears
// (btrfs_scan_one_device) or named by device= options. The other devices
// are only read: the mount does not hold them.
type MultiDeviceType interface {
	FilesystemType
	MountDevices(dev BlockDevice, others []BlockDevice, flags uint64, data string, log Logger) (Superblock, error)
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
	// Dev, when not 0, is the inode's own st_dev, not its mount's: a
	// btrfs subvolume's anonymous device, as btrfs_getattr reports
	// root->anon_dev, so that inode numbers, which each subvolume
	// counts afresh, name one file with st_dev.
	Dev uint64
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
	// It equals the entry's own position inside a run (see DirReader).
	Next int64
}

// Lookuper is implemented by directories (inode_operations.lookup).
type Lookuper interface {
	// Lookup returns the child called name, or ENOENT. name is one path
	// component, never "." or "..", at most NAME_MAX bytes.
	Lookup(name string) (Inode, error)
}

// DirReader is implemented by directories (file_operations.iterate_shared).
//
// Positions: every entry has a position, the Next of the entry before it
// (pos for the first one emitted). Positions never go down, and usually
// go up by each entry; several entries may share one position (a run),
// as ext4 entries whose names share a 63-bit hash share hash2pos. The
// driver must then emit a run whole, from its first member, in the same
// order every time ReadDir starts at it: the open file's cursor is
// (position, entries of the run already returned), as Linux's ext4 keeps
// the rest of a collision chain (extra_fname) in the file's private
// state, and the VFS drops the members it returned before. lseek to a
// run's position (a d_off) restarts at its first member, as Linux does. A
// run longer than a million entries, or a Next below the entry's own
// position, makes getdents64 fail with EUCLEAN, so that a broken driver
// cannot make readdir loop for ever.
type DirReader interface {
	// ReadDir calls emit for each entry from position pos (0 is the
	// start), in the directory's own order, until emit returns false or the
	// directory ends. "." and ".." are not emitted: the VFS adds them.
	// Errors: EUCLEAN for a damaged directory (after emitting the
	// entries it could read), EIO from the device, ENOKEY for names it
	// cannot show.
	ReadDir(pos int64, emit func(DirEntry) bool) error
}

// DotsReader is implemented by directories that list "." and ".." among
// their entries, at positions of their own, as Linux's ext4 does (from the
// directory's blocks, or by their hashes in hash order): the VFS then
// passes ReadDirDots's positions to getdents64 and lseek unchanged rather
// than adding "." and ".." before ReadDir's entries. The inode of ".." is
// the VFS's parent all the same (the mountpoint's parent at a mount's
// root).
type DotsReader interface {
	// ReadDirDots is ReadDir with "." and ".." emitted where the
	// directory has them; the same position contract holds.
	ReadDirDots(pos int64, emit func(DirEntry) bool) error
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

// ParentOpener is implemented by inodes whose open depends on the
// directory they are opened through, as fscrypt_file_open checks the
// encryption policy of dget_parent(file_dentry(filp)).
type ParentOpener interface {
	// OpenIn is called after Open (Opener) for every open but O_PATH
	// ones, with the inode of the directory the opened dentry is in;
	// not at the root of a mount.
	OpenIn(parent Inode, flags int) error
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

// ---- The write side ----
//
// A filesystem mounted read-write implements these on its inodes and
// superblock. The VFS does every check that does not need the filesystem
// before calling them (the name is one valid component, not "." or "..";
// the mount is writable; the types are right: Unlink is never called on a
// directory nor Rmdir on a non-directory; a name Create, Mkdir, Mknod,
// Symlink and Link are given was just looked up and is missing; nothing is
// mounted on a name removed or renamed), and serialises all namespace
// changes in one directory (and renames across directories) as Linux's
// i_rwsem and s_vfs_rename_mutex do, and the writes, truncations and
// fallocates of one regular file as its i_rwsem does. Permission bits are
// not checked: the library kernel's one process has root's capabilities
// (CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_CHOWN, CAP_FSETID), so no write or
// truncate clears S_ISUID; only chown does (see Setattrer).

// Ctx carries what a write operation takes from the calling task: the owner
// of new inodes (current_fsuid/fsgid, already adjusted by the VFS for a
// set-group-ID parent directory), the umask (current_umask(), which a
// PosixACLer applies itself) and the time stamp to set (current_time,
// from Config.Now, so that builds can be reproducible).
type Ctx struct {
	Uid, Gid uint32
	Umask    uint32
	Now      abi.Timespec
}

// Which fields of SetAttr apply (struct iattr's ia_valid, ATTR_*).
const (
	SetMode  = 1 << iota // permission bits (07777)
	SetUid               // owner
	SetGid               // group
	SetSize              // truncate or extend (regular files)
	SetAtime             // access time
	SetMtime             // modification time
	SetCtime             // change time; the VFS sets it with every change
)

// SetAttr is a change of attributes (struct iattr).
type SetAttr struct {
	Valid        uint32 // Set* bits
	Mode         uint32 // permission bits only: the type never changes
	Uid, Gid     uint32
	Size         int64
	Atime, Mtime abi.Timespec
	Ctime        abi.Timespec
}

// Setattrer is implemented by every inode of a writable filesystem
// (inode_operations.setattr). Setattr applies the fields of a that Valid
// names, durably at the next Sync. The VFS has already applied Linux's
// rules: chown clears S_ISUID and S_ISGID (the latter only with group
// execute), utimensat's UTIME_NOW became ctx time and UTIME_OMIT is
// absent from Valid, and SetCtime is always set, to ctx.Now. A size
// change comes with SetMtime when Linux changes the times (ftruncate and
// O_TRUNC always, truncate(2) when the size differs); its errors are
// EISDIR for a directory, EINVAL for what is not a regular file, EFBIG
// past the largest file.
type Setattrer interface {
	Setattr(ctx Ctx, a SetAttr) error
}

// PosixACLer is implemented by the superblocks of filesystems that keep
// POSIX ACLs (SB_POSIXACL). The VFS then leaves the umask to the driver
// (mode_strip_umask): a new inode in a directory with a default ACL takes
// its permissions from that ACL instead (posix_acl_create), the others
// lose ctx.Umask's bits.
type PosixACLer interface {
	PosixACL() bool
}

// Exporter is implemented by the superblocks of filesystems that hand
// out file handles (s_export_op's encode_fh, Documentation/filesystems/
// nfs/exporting.rst): name_to_handle_at(2) asks them; the others refuse
// it with EOPNOTSUPP, as Linux's ramfs does.
type Exporter interface {
	// EncodeFH returns the handle of ino, an inode of this superblock,
	// without its parent (encode_fh with a NULL parent).
	EncodeFH(ino Inode) (abi.FileHandle, error)
}

// DirWriter is implemented by the directories of a writable filesystem
// (inode_operations create, mkdir, mknod, symlink, link, unlink, rmdir,
// rename). mode holds the type bits and the permission bits after the
// umask (before it on a PosixACLer, which applies it); new inodes are owned by ctx.Uid and ctx.Gid and stamped ctx.Now,
// and so is the directory's mtime and ctime.
type DirWriter interface {
	// Create makes an empty regular file (mode is S_IFREG|perm).
	Create(ctx Ctx, name string, mode uint32) (Inode, error)
	// Mkdir makes an empty directory (mode is S_IFDIR|perm).
	Mkdir(ctx Ctx, name string, mode uint32) (Inode, error)
	// Mknod makes a device node, FIFO or socket (mode holds its type);
	// rdev is abi.Makedev(major, minor) for devices.
	Mknod(ctx Ctx, name string, mode uint32, rdev uint64) (Inode, error)
	// Symlink makes a symbolic link to target (1 to PATH_MAX-1 bytes).
	Symlink(ctx Ctx, name, target string) (Inode, error)
	// Link adds name for old, an inode of the same filesystem that is not
	// a directory. EMLINK when old has the most links the format allows.
	Link(ctx Ctx, name string, old Inode) error
	// Unlink removes name, which is not a directory. An inode whose last
	// link goes is freed when the VFS evicts it (Evicter), so that open
	// files can still be read and written.
	Unlink(ctx Ctx, name string) error
	// Rmdir removes the directory name: ENOTEMPTY unless it is empty.
	Rmdir(ctx Ctx, name string) error
	// Rename moves old to newDir (a directory of the same filesystem,
	// maybe this one) as newName (renameat2). flags may hold
	// abi.RENAME_NOREPLACE (the VFS has checked newName is missing),
	// abi.RENAME_EXCHANGE (both exist; they swap) and abi.RENAME_WHITEOUT
	// (oldName is left naming a new whiteout, a character device 0:0,
	// as the union filesystems want; EINVAL where the driver cannot). Otherwise an existing
	// newName is replaced: the VFS has checked the types agree (EISDIR,
	// ENOTDIR) and that old is not an ancestor of newDir (EINVAL); the
	// driver returns ENOTEMPTY for a non-empty directory being replaced.
	Rename(ctx Ctx, oldName string, newDir Inode, newName string, flags uint32) error
}

// FileWriter is implemented by the regular files of a writable filesystem
// (file_operations.write_iter, fallocate). Truncation is Setattr with
// SetSize.
type FileWriter interface {
	// WriteAt writes p at off, extending the file as needed, and updates
	// the file's mtime and ctime to ctx.Now (file_update_time). It returns
	// the bytes written; ENOSPC or EDQUOT (with the count written) when
	// the filesystem fills; EFBIG past the largest file the format holds.
	WriteAt(ctx Ctx, p []byte, off int64) (int, error)
	// Fallocate is fallocate(2): mode 0 or FALLOC_FL_KEEP_SIZE allocates
	// (as unwritten extents where the format has them, reading as zeros);
	// FALLOC_FL_PUNCH_HOLE|FALLOC_FL_KEEP_SIZE frees whole blocks and
	// zeroes partial ones; FALLOC_FL_ZERO_RANGE zeroes. EOPNOTSUPP for a
	// mode the format cannot do (ext2 has no unwritten extents).
	Fallocate(ctx Ctx, mode uint32, off, n int64) error
}

// XattrWriter is implemented by inodes whose extended attributes can be
// changed (setxattr and removexattr handlers).
type XattrWriter interface {
	// Setxattr sets the attribute with the full name to value. flags may
	// hold abi.XATTR_CREATE (EEXIST if it exists) or abi.XATTR_REPLACE
	// (ENODATA if it does not). ENOSPC when the value does not fit;
	// EOPNOTSUPP for a namespace the filesystem does not store. ACLs come
	// as getxattr returns them (the generic posix_acl_xattr format).
	Setxattr(ctx Ctx, name string, value []byte, flags int) error
	// Removexattr removes it, or returns ENODATA.
	Removexattr(ctx Ctx, name string) error
}

// Evicter is implemented by inodes that must learn when the VFS forgets
// them (super_operations.evict_inode, iput's last reference).
//
// The protocol: every inode a driver returns from Superblock.Root,
// Lookuper.Lookup or DirWriter's Create, Mkdir, Mknod and Symlink is a
// handout, and the VFS calls Evict on it exactly once for each handout,
// when it drops that reference for good:
//
//   - the dentry holding it is evicted from the dentry cache's LRU with
//     no users;
//   - its name was unlinked, removed by rmdir or replaced by a rename,
//     and its last reference goes (open files included: an unlinked file
//     stays readable and writable through its descriptors until the last
//     is closed);
//   - its mount is unmounted (every inode the cache still holds, before
//     the superblock's Sync and Unmount);
//   - the VFS could not use it (Getattr failed right after the handout,
//     or the directory was removed meanwhile): at once.
//
// A driver may hand out one inode several times (two names of a hard
// link, a lookup after an eviction, a new lookup of a name whose Link the
// VFS did not cache): it counts handouts less Evicts, and when the count
// falls to zero it may drop the in-memory inode, and must free an inode
// with no link left (its blocks, its orphan entry). Evict is never called
// with a VFS lock held, never after Unmount, and never concurrently with
// another call on the same handout; it may run concurrently with a new
// Lookup of the same inode, which the driver's own locking orders.
type Evicter interface {
	Evict() error
}

// Fsyncer is implemented by inodes that can be written back alone
// (file_operations.fsync). Without it fsync syncs the whole filesystem.
type Fsyncer interface {
	Fsync(datasync bool) error
}

// Syncer is implemented by the superblocks of writable filesystems
// (super_operations.sync_fs): Sync makes every change so far durable on
// the device (on a journaled filesystem: committed, so that a crash after
// it loses nothing). The VFS calls it for sync(2), syncfs(2), fsync(2) of
// an inode without Fsyncer, and before Unmount of a writable mount (umount
// and Halt); Unmount of a writable filesystem syncs too and leaves it
// clean (no recovery needed). It is never called on a read-only mount.
type Syncer interface {
	Sync() error
}

// Clocker is implemented by superblocks that stamp times of their own
// (a superblock's mount and write times, a journal's commit times): the
// VFS gives them the kernel's clock (Config.Now) right after the mount,
// so that a fixed clock makes the whole image reproducible.
type Clocker interface {
	SetClock(now func() abi.Timespec)
}

// ReadOnlyer is implemented by superblocks that can refuse a read-write
// mount they were asked for (a feature the driver cannot write, an error
// state): the VFS then marks the mount read-only, as Linux does when
// ext4_fill_super sets SB_RDONLY. The driver logs why.
type ReadOnlyer interface {
	ReadOnly() bool
}

// BlockWriter is implemented by block devices that can be written (a
// kernel/block Device on a read-write disk). A driver mounts read-write
// only on such a device.
type BlockWriter interface {
	// WriteAt writes p at off, as io.WriterAt, through the page cache.
	WriteAt(p []byte, off int64) (int, error)
	// Sync writes back every dirty page and flushes the disk's cache:
	// what was written before it is durable when it returns.
	Sync() error
}

// FreshReader is implemented by block devices that can read past their
// cache: ReadFresh reads from the disk what the cache may hold stale,
// another host having written it since (ext4's MMP block).
type FreshReader interface {
	ReadFresh(p []byte, off int64) (int, error)
}

// Writebacker is implemented by block devices that can write their dirty
// pages back without flushing the disk's cache (Sync without the flush):
// what a filesystem mounted with nobarrier does where it would flush.
type Writebacker interface {
	Writeback() error
}

// ---- Device nodes ----

// DeviceFile is an open device node (the file_operations a special inode
// gets from init_special_inode, def_blk_fops for a block device): what
// the VFS calls for read, write, lseek, fallocate, fsync and close of a
// file opened on a device node. Options.OpenDevice makes them; a kernel/block
// File is one.
type DeviceFile interface {
	// ReadAt reads from off as io.ReaderAt does: io.EOF at the end.
	ReadAt(p []byte, off int64) (int, error)
	// WriteAt writes p at off and returns the count, short at the end
	// of the device with no error; ENOSPC at or past the end, EPERM on
	// a read-only device.
	WriteAt(p []byte, off int64) (int, error)
	// Size is the device's size: lseek's SEEK_END and its limit.
	Size() int64
	// Fallocate is fallocate(2) once the VFS has checked mode and range.
	Fallocate(mode uint32, off, n int64) error
	// Fsync writes what was written back to the device and flushes it.
	Fsync(datasync bool) error
	// Release ends the open, when the file's last reference goes.
	Release() error
}

// Claimer is implemented by block devices that can be held exclusively
// (a kernel/block Device, bd_prepare_to_claim): a mount holds its device
// from before the driver's Mount until Unmount, so that an O_EXCL open of
// it, or of its whole disk, fails with EBUSY, and a mount of a device
// held by an O_EXCL open fails with EBUSY.
type Claimer interface {
	Claim(holder any) error
	Unclaim(holder any)
}
