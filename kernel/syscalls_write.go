package kernel

import (
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// The write syscalls. Each follows its Linux man page: the flags it
// takes, the errno for each failure, checked in Linux's order (so a call
// wrong in two ways fails as on Linux). They act as a task with root's
// capabilities whose owner for new files is Config.Uid/Gid, whose clock is
// Config.Now and whose umask is Umask's (022 at boot). Every one returns
// EROFS for a change on a read-only mount.

// fdget returns the file of fd with a reference, refusing O_PATH
// descriptors as Linux's fdget does: EBADF.
func (k *Kernel) fdget(fd int) (*vfs.File, error) {
	f, err := k.fds.Get(fd)
	if err != nil {
		return nil, err
	}
	if f.IsPath() {
		f.DecRef()
		return nil, abi.EBADF
	}
	return f, nil
}

// withFd calls fn on the file of fd, refusing what fdget refuses (EBADF
// for a descriptor not open or O_PATH).
func (k *Kernel) withFd(fd int, fn func(f *vfs.File) error) error {
	f, err := k.fdget(fd)
	if err != nil {
		return err
	}
	defer f.DecRef()
	return fn(f)
}

// withAt resolves path from dirfd as fchmodat, fchownat and utimensat do
// (flags: AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH; EINVAL for others) and calls
// fn on what it names.
func (k *Kernel) withAt(dirfd int, path string, flags int, fn func(d *vfs.Dentry) error) error {
	if flags&^(abi.AT_SYMLINK_NOFOLLOW|abi.AT_EMPTY_PATH) != 0 {
		return abi.EINVAL
	}
	d, err := k.walkAt(dirfd, path, walkFlags(flags))
	if err != nil {
		return err
	}
	defer k.vfs.Put(d)
	return fn(d)
}

// Write is write(2): at the file's offset, or at its end with O_APPEND;
// it advances the offset. A count short of len(p) with no error means the
// filesystem filled (the next write returns ENOSPC).
//
// On a block device the write is cut at the device's end (a short count)
// and O_APPEND changes nothing, as on Linux.
//
// Errors: EBADF for a descriptor not open, O_PATH or read-only; EINVAL for
// a file that cannot be written or an offset that would overflow; EFBIG
// past the largest file of the filesystem; ENOSPC, EDQUOT, EIO; on a block
// device, ENOSPC for a write at or past its end and EPERM on a read-only
// disk.
func (k *Kernel) Write(fd int, p []byte) (int, error) {
	f, err := k.fds.Get(fd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	return f.Write(p)
}

// Pwrite is pwrite64(2): Write at off, leaving the offset alone. As on
// Linux, O_APPEND files write at the end whatever off says.
// Errors: EINVAL for a negative off, before anything else; as Write.
func (k *Kernel) Pwrite(fd int, p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, abi.EINVAL
	}
	f, err := k.fds.Get(fd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	return f.Pwrite(p, off)
}

// Ftruncate is ftruncate(2): mtime and ctime change even if the size does
// not.
//
// Errors: EINVAL for a negative size (first); EBADF for a descriptor not
// open or O_PATH; EINVAL for a file not open for writing, or not regular;
// EFBIG past the largest file; EIO.
func (k *Kernel) Ftruncate(fd int, size int64) error {
	if size < 0 {
		return abi.EINVAL
	}
	f, err := k.fds.Get(fd)
	if err != nil {
		return err
	}
	defer f.DecRef()
	return f.Truncate(size)
}

// Truncate is truncate(2) on the file path names (a final symlink
// followed): mtime and ctime change only if the size does.
//
// Errors: EINVAL for a negative size (first); the path walk's ENOENT,
// ENOTDIR, ELOOP, ENAMETOOLONG; EISDIR for a directory; EINVAL for what is
// not a regular file; EROFS; EFBIG; EIO.
func (k *Kernel) Truncate(path string, size int64) error {
	if size < 0 {
		return abi.EINVAL
	}
	d, err := k.walkAt(abi.AT_FDCWD, path, 0)
	if err != nil {
		return err
	}
	defer k.vfs.Put(d)
	return k.vfs.Truncate(d, size)
}

// Fallocate is fallocate(2): mode 0 (allocate, extending the size),
// FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE|FALLOC_FL_KEEP_SIZE,
// FALLOC_FL_ZERO_RANGE (with or without KEEP_SIZE), as the filesystem
// supports them.
//
// Errors: EBADF for a descriptor not open, O_PATH or not open for
// writing (the mode and range are checked in between: EINVAL for off < 0
// or n <= 0 and for COLLAPSE/INSERT/UNSHARE_RANGE mixed with other bits;
// EOPNOTSUPP for unknown bits, PUNCH_HOLE with ZERO_RANGE, PUNCH_HOLE
// without KEEP_SIZE); ESPIPE for a FIFO, ENODEV for what is not a regular
// file; EFBIG if off+n overflows; EOPNOTSUPP for a mode the filesystem
// cannot do; ENOSPC; EIO. On a block device (blkdev_fallocate):
// PUNCH_HOLE|KEEP_SIZE deallocates the range (the image file gets a
// hole), ZERO_RANGE zeroes it, WRITE_ZEROES too; other modes EOPNOTSUPP;
// EINVAL for a range not of whole sectors, starting at or past the end,
// or running past it without KEEP_SIZE (which cuts it there); EPERM on a
// read-only disk.
func (k *Kernel) Fallocate(fd int, mode uint32, off, n int64) error {
	return k.withFd(fd, func(f *vfs.File) error { return f.Fallocate(mode, off, n) })
}

// Mknodat is mknodat(2): block and character devices, FIFOs, sockets,
// and regular files (type S_IFREG or 0). The permissions are mode &^
// umask (or as a default ACL says: see Mkdirat); dev is abi.Makedev(major, minor).
//
// Errors: EPERM for S_IFDIR, EINVAL for an unknown type (before the
// path); EBADF/ENOTDIR for a bad dirfd; the walk's errors for the parent;
// EEXIST if the name exists; ENOENT for a trailing slash on a missing name
// or in a removed directory; EROFS; EPERM if the filesystem cannot make
// nodes; ENOSPC; EIO.
func (k *Kernel) Mknodat(dirfd int, path string, mode uint32, dev uint64) error {
	if err := vfs.CheckMknodMode(mode); err != nil {
		return err
	}
	start, done, err := k.at(dirfd, path)
	if err != nil {
		return err
	}
	defer done()
	return k.vfs.Mknodat(k.cred(), start, path, mode, dev)
}

// Symlinkat is symlinkat(2): path becomes a symbolic link to target, with
// permissions 0777.
//
// Errors: ENOENT for an empty target, ENAMETOOLONG for one of PATH_MAX
// bytes or more (before the path); then as Mknodat.
func (k *Kernel) Symlinkat(target string, dirfd int, path string) error {
	if err := vfs.CheckSymlinkTarget(target); err != nil {
		return err
	}
	start, done, err := k.at(dirfd, path)
	if err != nil {
		return err
	}
	defer done()
	return k.vfs.Symlinkat(k.cred(), target, start, path)
}

// Linkat is linkat(2): newpath becomes another name of oldpath's file.
// flags may hold AT_SYMLINK_FOLLOW (link what a final symlink of oldpath
// points to, rather than the symlink) and AT_EMPTY_PATH (an empty oldpath
// names olddirfd itself, which may be an O_PATH descriptor).
//
// Errors: EINVAL for other flags (first); EBADF/ENOTDIR for a bad dirfd;
// the walks' errors (ENOENT for an empty oldpath without AT_EMPTY_PATH);
// EEXIST if newpath exists; ENOENT for a trailing slash on newpath;
// EROFS; EXDEV across mounts; EPERM for a directory; ENOENT for a file
// unlinked while open; EMLINK at the format's most links; ENOSPC; EIO.
func (k *Kernel) Linkat(olddirfd int, oldpath string, newdirfd int, newpath string, flags int) error {
	if flags&^(abi.AT_SYMLINK_FOLLOW|abi.AT_EMPTY_PATH) != 0 {
		return abi.EINVAL
	}
	ostart, nstart, done, err := k.at2(olddirfd, oldpath, newdirfd, newpath)
	if err != nil {
		return err
	}
	defer done()
	return k.vfs.Linkat(ostart, oldpath, nstart, newpath, flags)
}

// Unlinkat is unlinkat(2): it removes a name of a non-directory, or with
// AT_REMOVEDIR an empty directory (rmdir). An open file whose last name
// goes stays readable and writable until closed.
//
// Errors: EINVAL for other flags (first); EBADF/ENOTDIR for a bad dirfd;
// the walk's errors for the parent; EROFS (before ENOENT); ENOENT for a
// missing name. rmdir: ENOTDIR for a non-directory, EINVAL for a last
// component ".", ENOTEMPTY for ".." or a directory with entries, EBUSY for
// "/" or a mountpoint. unlink: EISDIR for a directory (and ".", "..",
// "/"), ENOTDIR for a trailing slash after a non-directory, EBUSY for a
// mountpoint. EIO.
func (k *Kernel) Unlinkat(dirfd int, path string, flags int) error {
	if flags&^abi.AT_REMOVEDIR != 0 {
		return abi.EINVAL
	}
	start, done, err := k.at(dirfd, path)
	if err != nil {
		return err
	}
	defer done()
	return k.vfs.Unlinkat(start, path, flags)
}

// Renameat2 is renameat2(2); flags: RENAME_NOREPLACE (EEXIST rather than
// replace), RENAME_EXCHANGE (swap two existing names), RENAME_WHITEOUT
// (leave a whiteout, a character device 0:0, at oldpath, as overlayfs
// wants: on ext4; EINVAL on the ramfs, after the other checks). Renaming
// onto another name of the same file does nothing, and both names stay.
//
// Errors: EINVAL for unknown flags, or EXCHANGE with another flag
// (first); EBADF/ENOTDIR for a bad dirfd; the walks'
// errors for the parents; EXDEV across mounts; EBUSY for ".", ".." or
// "/" as either last component (EEXIST for the new one with NOREPLACE);
// EROFS; ENOENT for a missing oldpath (or newpath with EXCHANGE); EEXIST
// for an existing newpath with NOREPLACE; ENOTDIR for a trailing slash
// after a non-directory; EINVAL for moving a directory under itself;
// ENOTEMPTY when newpath is an ancestor of oldpath or a non-empty
// directory; EISDIR for a non-directory onto a directory, ENOTDIR for the
// reverse; EBUSY for a mountpoint; EMLINK; ENOSPC; EIO.
func (k *Kernel) Renameat2(olddirfd int, oldpath string, newdirfd int, newpath string, flags uint32) error {
	ostart, nstart, done, err := k.at2(olddirfd, oldpath, newdirfd, newpath)
	if err != nil {
		return err
	}
	defer done()
	return k.vfs.Renameat2(k.cred(), ostart, oldpath, nstart, newpath, flags)
}

// at2 is at for the two paths of linkat and renameat2.
func (k *Kernel) at2(olddirfd int, oldpath string, newdirfd int, newpath string) (ostart, nstart *vfs.Dentry, done func(), err error) {
	ostart, odone, err := k.at(olddirfd, oldpath)
	if err != nil {
		return nil, nil, nil, err
	}
	nstart, ndone, err := k.at(newdirfd, newpath)
	if err != nil {
		odone()
		return nil, nil, nil, err
	}
	return ostart, nstart, func() { ndone(); odone() }, nil
}

// Fchmodat is fchmodat2(2): the permission bits become mode&07777.
// flags: AT_SYMLINK_NOFOLLOW (a final symlink is not followed, and
// changing its mode is EOPNOTSUPP, as Linux's fchmodat2 says),
// AT_EMPTY_PATH.
//
// Errors: EINVAL for other flags; EBADF/ENOTDIR for a bad dirfd; the path
// walk's errors; EROFS; EOPNOTSUPP for a symlink; EIO.
func (k *Kernel) Fchmodat(dirfd int, path string, mode uint32, flags int) error {
	return k.withAt(dirfd, path, flags, func(d *vfs.Dentry) error { return k.vfs.Chmod(d, mode) })
}

// Fchmod is fchmod(2).
// Errors: EBADF for a descriptor not open or O_PATH; EROFS; EIO.
func (k *Kernel) Fchmod(fd int, mode uint32) error {
	return k.withFd(fd, func(f *vfs.File) error { return k.vfs.Chmod(f.Dentry(), mode) })
}

// Fchownat is fchownat(2): -1 leaves the owner or group unchanged. As
// Linux does for every chown of a non-directory, S_ISUID is cleared, and
// S_ISGID if group execute is set. flags: AT_SYMLINK_NOFOLLOW (change
// the symlink itself), AT_EMPTY_PATH.
//
// Errors: EINVAL for other flags or an id that is neither -1 nor a
// uint32; EBADF/ENOTDIR for a bad dirfd; the path walk's errors; EROFS;
// EIO.
func (k *Kernel) Fchownat(dirfd int, path string, uid, gid int, flags int) error {
	return k.withAt(dirfd, path, flags, func(d *vfs.Dentry) error { return k.vfs.Chown(d, uid, gid) })
}

// Fchown is fchown(2).
// Errors: EBADF for a descriptor not open or O_PATH; as Fchownat.
func (k *Kernel) Fchown(fd int, uid, gid int) error {
	return k.withFd(fd, func(f *vfs.File) error { return k.vfs.Chown(f.Dentry(), uid, gid) })
}

// bothOmitted reports whether times leaves both times alone, when
// utimensat returns at once, "we must not even check the path".
func bothOmitted(times *[2]abi.Timespec) bool {
	return times != nil && times[0].Nsec == abi.UTIME_OMIT && times[1].Nsec == abi.UTIME_OMIT
}

// Utimensat is utimensat(2): times nil sets both to now; a Nsec of
// UTIME_NOW or UTIME_OMIT means now or unchanged. The change time
// becomes now. Both UTIME_OMIT does nothing, whatever the rest says.
// flags: AT_SYMLINK_NOFOLLOW (the symlink's own times), AT_EMPTY_PATH.
//
// Errors: EINVAL for other flags; EBADF/ENOTDIR for a bad dirfd; the path
// walk's errors (ENOENT for an empty path without AT_EMPTY_PATH); EINVAL
// for a Nsec out of range; EROFS; EIO.
func (k *Kernel) Utimensat(dirfd int, path string, times *[2]abi.Timespec, flags int) error {
	if bothOmitted(times) {
		return nil
	}
	return k.withAt(dirfd, path, flags, func(d *vfs.Dentry) error { return k.vfs.Utimens(d, times) })
}

// Futimens is futimens(3), utimensat(fd, NULL, times, 0).
// Errors: EBADF for a descriptor not open or O_PATH; as Utimensat.
func (k *Kernel) Futimens(fd int, times *[2]abi.Timespec) error {
	if bothOmitted(times) {
		return nil
	}
	return k.withFd(fd, func(f *vfs.File) error { return k.vfs.Utimens(f.Dentry(), times) })
}

// Setxattr is setxattr(2); flags: XATTR_CREATE (EEXIST if the attribute
// exists), XATTR_REPLACE (ENODATA if it does not).
//
// Errors: EINVAL for other flags, ERANGE for an empty name or one over
// XATTR_NAME_MAX, E2BIG for a value over XATTR_SIZE_MAX (all before the
// path); the path walk's errors; EROFS; EOPNOTSUPP for a name in no
// namespace or one the filesystem does not store; EINVAL for a bare
// namespace ("user."); EPERM for a user. attribute of a symlink or a
// device; EEXIST; ENODATA; ENOSPC; EIO.
func (k *Kernel) Setxattr(path, name string, value []byte, flags int) error {
	return k.setxattr(path, 0, name, value, flags)
}

// Lsetxattr is lsetxattr(2): Setxattr on a final symlink itself.
func (k *Kernel) Lsetxattr(path, name string, value []byte, flags int) error {
	return k.setxattr(path, vfs.WalkNoFollow, name, value, flags)
}

func (k *Kernel) setxattr(path string, wf int, name string, value []byte, flags int) error {
	if err := vfs.CheckSetxattr(name, value, flags); err != nil {
		return err
	}
	d, err := k.walkAt(abi.AT_FDCWD, path, wf)
	if err != nil {
		return err
	}
	defer k.vfs.Put(d)
	return k.vfs.Setxattr(d, name, value, flags)
}

// Fsetxattr is fsetxattr(2).
// Errors: as Setxattr; EBADF for a descriptor not open or O_PATH.
func (k *Kernel) Fsetxattr(fd int, name string, value []byte, flags int) error {
	if err := vfs.CheckSetxattr(name, value, flags); err != nil {
		return err
	}
	return k.withFd(fd, func(f *vfs.File) error { return k.vfs.Setxattr(f.Dentry(), name, value, flags) })
}

// Removexattr is removexattr(2).
// Errors: ERANGE for a bad name (before the path); the path walk's
// errors; EROFS; EOPNOTSUPP, EINVAL, EPERM as Setxattr; ENODATA if there
// is no such attribute; EIO.
func (k *Kernel) Removexattr(path, name string) error {
	return k.removexattr(path, 0, name)
}

// Lremovexattr is lremovexattr(2): Removexattr on a final symlink itself.
func (k *Kernel) Lremovexattr(path, name string) error {
	return k.removexattr(path, vfs.WalkNoFollow, name)
}

func (k *Kernel) removexattr(path string, wf int, name string) error {
	if err := vfs.CheckXattrName(name); err != nil {
		return err
	}
	d, err := k.walkAt(abi.AT_FDCWD, path, wf)
	if err != nil {
		return err
	}
	defer k.vfs.Put(d)
	return k.vfs.Removexattr(d, name)
}

// Fremovexattr is fremovexattr(2).
// Errors: as Removexattr; EBADF for a descriptor not open or O_PATH.
func (k *Kernel) Fremovexattr(fd int, name string) error {
	if err := vfs.CheckXattrName(name); err != nil {
		return err
	}
	return k.withFd(fd, func(f *vfs.File) error { return k.vfs.Removexattr(f.Dentry(), name) })
}

// Fsync is fsync(2): the file's data and metadata are durable when it
// returns (its filesystem is committed; for a block device, the disk's
// dirty pages are written back and the disk flushed).
// Errors: EBADF for a descriptor not open or O_PATH; EIO.
func (k *Kernel) Fsync(fd int) error { return k.fsync(fd, false) }

// Fdatasync is fdatasync(2). Errors: as Fsync.
func (k *Kernel) Fdatasync(fd int) error { return k.fsync(fd, true) }

func (k *Kernel) fsync(fd int, datasync bool) error {
	return k.withFd(fd, func(f *vfs.File) error { return f.Fsync(datasync) })
}

// Syncfs is syncfs(2): it syncs the filesystem fd is on.
// Errors: EBADF for a descriptor not open or O_PATH; EIO.
func (k *Kernel) Syncfs(fd int) error {
	return k.withFd(fd, func(f *vfs.File) error { return k.vfs.Syncfs(f.Dentry().Mount()) })
}

// Sync is sync(2): every writable filesystem is synced, which flushes
// its disk. Unlike Linux's, it returns the first error.
func (k *Kernel) Sync() error {
	k.mountMu.Lock()
	defer k.mountMu.Unlock()
	if k.halted {
		return nil
	}
	return k.vfs.Sync()
}

// Umask is umask(2): it sets the calling thread's mask (mask&0777) and
// returns the old one.
func (k *Kernel) Umask(mask uint32) uint32 {
	return k.umask.Swap(mask & 0o777)
}

// CopyFileRange is copy_file_range(2): up to n bytes from fdIn at *offIn
// (its file position when offIn is nil) to fdOut at *offOut (likewise),
// copied by the kernel without passing through the caller; the offsets
// given advance. It returns the bytes copied, 0 at fdIn's end.
//
// Errors: EBADF for a descriptor not open, O_PATH, fdIn not readable,
// fdOut not writable or O_APPEND; the rest as vfs.CopyFileRange (EINVAL,
// EISDIR, EOVERFLOW, EXDEV, EFBIG, ENOSPC, EIO).
func (k *Kernel) CopyFileRange(fdIn int, offIn *int64, fdOut int, offOut *int64, n int64, flags uint32) (int64, error) {
	in, err := k.fds.Get(fdIn)
	if err != nil {
		return 0, err
	}
	defer in.DecRef()
	out, err := k.fds.Get(fdOut)
	if err != nil {
		return 0, err
	}
	defer out.DecRef()
	return vfs.CopyFileRange(in, offIn, out, offOut, n, flags)
}
