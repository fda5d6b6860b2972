package kernel

import (
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/block"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// AT_STATX_SYNC_TYPE is the mask of statx's sync flags, which change
// nothing here: the kernel is the only user of its filesystems.
const atStatxSyncType = 0x6000

// statxReserved is STATX__RESERVED: a mask asking for it is EINVAL.
const statxReserved = 0x80000000

func walkFlags(flags int) int {
	wf := 0
	if flags&abi.AT_SYMLINK_NOFOLLOW != 0 {
		wf |= vfs.WalkNoFollow
	}
	if flags&abi.AT_EMPTY_PATH != 0 {
		wf |= vfs.WalkEmptyPath
	}
	return wf
}

// getattrAt resolves path as the stat family does and returns the inode's
// attributes and the st_dev of its mount.
func (k *Kernel) getattrAt(dirfd int, path string, flags int) (vfs.Attr, uint64, error) {
	d, err := k.walkAt(dirfd, path, walkFlags(flags))
	if err != nil {
		return vfs.Attr{}, 0, err
	}
	defer k.vfs.Put(d)
	attr, err := k.vfs.Getattr(d)
	if err != nil {
		return vfs.Attr{}, 0, err
	}
	if attr.Blksize == 0 {
		attr.Blksize = 4096
	}
	if attr.Mode&abi.S_IFMT == abi.S_IFBLK && k.deviceOf(attr.Rdev) != nil {
		// bdev_statx: a node of a device the kernel has reports
		// the device's minimum I/O size, the 512-byte sector of a
		// virtio disk without topology.
		attr.Blksize = block.SectorSize
	}
	if attr.Dev != 0 {
		return attr, attr.Dev, nil
	}
	return attr, d.Mount().Dev(), nil
}

// Fstatat is newfstatat(2). st_dev is the device number of the mounted
// block device, Makedev(VirtblkMajor, minor) (254:1 for vda1; see
// VirtblkMajor), or an anonymous 0:n for the ramfs at "/".
//
// flags: AT_SYMLINK_NOFOLLOW (describe a final symlink itself),
// AT_EMPTY_PATH (an empty path describes dirfd itself), AT_NO_AUTOMOUNT
// (no effect).
//
// Errors: EINVAL for other flags; EBADF/ENOTDIR for a bad dirfd; the path
// walk's ENOENT, ENOTDIR, ELOOP, ENAMETOOLONG; EIO/EUCLEAN.
func (k *Kernel) Fstatat(dirfd int, path string, st *abi.Stat, flags int) error {
	if flags&^(abi.AT_SYMLINK_NOFOLLOW|abi.AT_EMPTY_PATH|abi.AT_NO_AUTOMOUNT) != 0 {
		return abi.EINVAL
	}
	a, dev, err := k.getattrAt(dirfd, path, flags)
	if err != nil {
		return err
	}
	*st = abi.Stat{
		Dev: dev, Ino: a.Ino, Nlink: uint64(a.Nlink), Mode: a.Mode,
		Uid: a.Uid, Gid: a.Gid, Rdev: a.Rdev, Size: a.Size,
		Blksize: int64(a.Blksize), Blocks: a.Blocks,
		Atim: a.Atime, Mtim: a.Mtime, Ctim: a.Ctime,
	}
	return nil
}

// Fstat is fstat(2): Fstatat(fd, "", st, AT_EMPTY_PATH). It works on O_PATH
// descriptors too. Errors: EBADF for a descriptor not open; EIO/EUCLEAN.
func (k *Kernel) Fstat(fd int, st *abi.Stat) error {
	if fd < 0 {
		return abi.EBADF
	}
	return k.Fstatat(fd, "", st, abi.AT_EMPTY_PATH)
}

func statxTime(t abi.Timespec) abi.StatxTimestamp {
	return abi.StatxTimestamp{Sec: t.Sec, Nsec: uint32(t.Nsec)}
}

// Statx is statx(2). It fills every basic field whatever mask asks, and
// sets stx.Mask to what it filled: STATX_BASIC_STATS, plus STATX_BTIME when
// the filesystem records birth times. stx.Dev* are as Fstatat's st_dev.
//
// flags: as Fstatat, plus the AT_STATX_SYNC_* values (no effect).
//
// Errors: EINVAL for unknown flags or a mask with STATX__RESERVED; the rest
// as Fstatat.
func (k *Kernel) Statx(dirfd int, path string, flags int, mask uint32, stx *abi.Statx) error {
	if flags&^(abi.AT_SYMLINK_NOFOLLOW|abi.AT_EMPTY_PATH|abi.AT_NO_AUTOMOUNT|atStatxSyncType) != 0 ||
		flags&atStatxSyncType == atStatxSyncType || mask&statxReserved != 0 {
		return abi.EINVAL
	}
	a, dev, err := k.getattrAt(dirfd, path, flags)
	if err != nil {
		return err
	}
	*stx = abi.Statx{
		Mask:           abi.STATX_BASIC_STATS,
		Blksize:        a.Blksize,
		Attributes:     a.Attributes,
		AttributesMask: statxAttributesKnown,
		Nlink:          a.Nlink,
		Uid:            a.Uid,
		Gid:            a.Gid,
		Mode:           uint16(a.Mode),
		Ino:            a.Ino,
		Size:           uint64(a.Size),
		Blocks:         uint64(a.Blocks),
		Atime:          statxTime(a.Atime),
		Ctime:          statxTime(a.Ctime),
		Mtime:          statxTime(a.Mtime),
		RdevMajor:      abi.Major(a.Rdev),
		RdevMinor:      abi.Minor(a.Rdev),
		DevMajor:       abi.Major(dev),
		DevMinor:       abi.Minor(dev),
	}
	if a.HasBtime {
		stx.Mask |= abi.STATX_BTIME
		stx.Btime = statxTime(a.Btime)
	}
	return nil
}

// statxAttributesKnown is stx_attributes_mask: the STATX_ATTR_* flags the
// drivers can report.
const statxAttributesKnown = abi.STATX_ATTR_COMPRESSED | abi.STATX_ATTR_IMMUTABLE |
	abi.STATX_ATTR_APPEND | abi.STATX_ATTR_NODUMP | abi.STATX_ATTR_ENCRYPTED | abi.STATX_ATTR_VERITY

// Statfs is statfs(2) on the filesystem holding path.
// Errors: the path walk's; what the filesystem returns.
func (k *Kernel) Statfs(path string, st *abi.Statfs) error {
	d, err := k.walkAt(abi.AT_FDCWD, path, 0)
	if err != nil {
		return err
	}
	defer k.vfs.Put(d)
	s, err := d.Mount().Superblock().Statfs()
	if err != nil {
		return err
	}
	if s.Flags == 0 && d.Mount().ReadOnly() {
		s.Flags = abi.MS_RDONLY // ST_RDONLY
	}
	*st = s
	return nil
}

// Readlinkat is readlinkat(2): it returns the bytes of the target copied
// into buf, truncated to len(buf) as Linux does (no NUL is added). An empty
// path reads the symlink dirfd was opened on (O_PATH|O_NOFOLLOW).
//
// Errors: EINVAL if len(buf) is 0 or path is not a symlink; ENOENT for an
// empty path when dirfd is not a symlink (or is AT_FDCWD); the path walk's
// ENOENT, ENOTDIR, ELOOP, ENAMETOOLONG; EBADF for a bad dirfd.
func (k *Kernel) Readlinkat(dirfd int, path string, buf []byte) (int, error) {
	if len(buf) == 0 {
		return 0, abi.EINVAL
	}
	if path == "" && dirfd == abi.AT_FDCWD {
		return 0, abi.ENOENT
	}
	d, err := k.walkAt(dirfd, path, vfs.WalkNoFollow|vfs.WalkEmptyPath)
	if err != nil {
		return 0, err
	}
	defer k.vfs.Put(d)
	if path == "" && !d.IsSymlink() {
		// As do_readlinkat: an empty path names dirfd, which is not a
		// symlink.
		return 0, abi.ENOENT
	}
	target, err := k.vfs.Readlink(d)
	if err != nil {
		return 0, err
	}
	return copy(buf, target), nil
}
