package kernel

import (
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// at returns the dentry a *at syscall starts from, with the reference to
// release by calling done: nil (the root) for an absolute path, the
// working directory (nil, the root, until Chdir) for AT_FDCWD, else
// dirfd's dentry.
//
// Errors: EBADF for a dirfd not open; ENOTDIR if path is relative and not
// empty and dirfd is not a directory.
func (k *Kernel) at(dirfd int, path string) (start *vfs.Dentry, done func(), err error) {
	if path != "" && path[0] == '/' {
		return nil, func() {}, nil
	}
	if dirfd == abi.AT_FDCWD {
		k.cwdMu.RLock()
		defer k.cwdMu.RUnlock()
		if k.cwd == nil {
			return nil, func() {}, nil
		}
		d := k.cwd
		k.vfs.Get(d)
		return d, func() { k.vfs.Put(d) }, nil
	}
	f, err := k.fds.Get(dirfd)
	if err != nil {
		return nil, nil, err
	}
	d := f.Dentry()
	if path != "" && !d.IsDir() {
		f.DecRef()
		return nil, nil, abi.ENOTDIR
	}
	return d, f.DecRef, nil
}

// Chdir is chdir(2): relative paths of every thread (AT_FDCWD) start at
// the directory path names from now on. The working directory is the
// process's, shared by the threads As makes (LKL's lklfuse chroots into
// its mount the same way, so that a request's path is short); a mount
// holding it cannot be unmounted (EBUSY), as on Linux.
//
// Errors: the path walk's; ENOTDIR for a path that is not a directory.
func (k *Kernel) Chdir(path string) error {
	d, err := k.walkAt(abi.AT_FDCWD, path, 0)
	if err != nil {
		return err
	}
	return k.setCwd(d)
}

// Fchdir is fchdir(2): the working directory becomes fd's.
// Errors: EBADF for an fd not open; ENOTDIR for a file that is not a
// directory.
func (k *Kernel) Fchdir(fd int) error {
	f, err := k.fds.Get(fd)
	if err != nil {
		return err
	}
	defer f.DecRef()
	d := f.Dentry()
	k.vfs.Get(d)
	return k.setCwd(d)
}

// setCwd makes d, whose reference it takes over, the working directory.
func (k *Kernel) setCwd(d *vfs.Dentry) error {
	if !d.IsDir() {
		k.vfs.Put(d)
		return abi.ENOTDIR
	}
	k.cwdMu.Lock()
	old := k.cwd
	k.cwd = d
	k.cwdMu.Unlock()
	if old != nil {
		k.vfs.Put(old)
	}
	return nil
}

// walkAt resolves path from dirfd with vfs.Walk flags, returning the
// dentry with a reference the caller must Put.
func (k *Kernel) walkAt(dirfd int, path string, flags int) (*vfs.Dentry, error) {
	start, done, err := k.at(dirfd, path)
	if err != nil {
		return nil, err
	}
	defer done()
	return k.vfs.Walk(start, path, flags)
}

// Openat is openat(2) and returns the lowest free file descriptor.
//
// flags: the access mode, O_CREAT (a missing regular file is made with
// permissions mode &^ umask, or as the directory's default ACL says (see
// Mkdirat), even where a dangling symlink points unless
// O_EXCL), O_EXCL, O_TRUNC (an existing regular file is emptied),
// O_APPEND (writes go to the end), O_DIRECTORY, O_NOFOLLOW, O_PATH (then
// only O_DIRECTORY, O_NOFOLLOW and O_CLOEXEC count), O_CLOEXEC; the rest
// are accepted and ignored. A symlink at the end of path is followed
// unless O_NOFOLLOW. A block device node (/dev/vda, /dev/vda1) opens the
// device itself, as Linux's blkdev_open does (see syscalls_blkdev.go);
// O_EXCL on it holds the device exclusively until close, as mke2fs opens
// a device it must not find mounted.
//
// Errors: EBADF/ENOTDIR for a bad dirfd; the path walk's ENOENT, ENOTDIR,
// ELOOP, ENAMETOOLONG; ENOTDIR for O_DIRECTORY on a non-directory; ELOOP
// for O_NOFOLLOW on a symlink (without O_PATH); EISDIR for write access to
// a directory, O_CREAT of one, or O_CREAT with a trailing slash; EROFS for
// write access or O_TRUNC, or creating a file, on a read-only mount;
// EEXIST for O_CREAT|O_EXCL on an existing name; EINVAL for
// O_CREAT|O_DIRECTORY; ENXIO for a block device node of no device, for
// character device nodes, FIFOs and sockets; EBUSY for O_EXCL on a block
// device that is mounted or held, or whose disk or partition is; ENOENT
// for O_CREAT in a removed directory; ENOSPC; EMFILE when MaxFiles
// descriptors are open.
func (k *Kernel) Openat(dirfd int, path string, flags int, mode uint32) (int, error) {
	start, done, err := k.at(dirfd, path)
	if err != nil {
		return -1, err
	}
	f, err := k.vfs.Openat(k.cred(), start, path, flags, mode)
	done()
	if err != nil {
		return -1, err
	}
	fd, err := k.fds.Install(f)
	if err != nil {
		f.DecRef()
		return -1, err
	}
	return fd, nil
}

// Close is close(2). Errors: EBADF for a descriptor not open.
func (k *Kernel) Close(fd int) error {
	f, err := k.fds.Remove(fd)
	if err != nil {
		return err
	}
	f.DecRef()
	return nil
}

// Read is read(2): it reads from the file offset and advances it; 0 bytes
// and a nil error at the end of the file.
//
// Errors: EBADF for a descriptor not open, opened with O_PATH or
// write-only; EISDIR for a directory; EINVAL if the file cannot be read;
// EIO/EUCLEAN from the filesystem or the device. A block device reads 0
// at and past its end.
func (k *Kernel) Read(fd int, p []byte) (int, error) {
	f, err := k.fds.Get(fd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	return f.Read(p)
}

// Pread is pread64(2): Read at off, leaving the file offset alone.
// Errors: as Read; EINVAL for a negative offset.
func (k *Kernel) Pread(fd int, p []byte, off int64) (int, error) {
	f, err := k.fds.Get(fd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	return f.Pread(p, off)
}

// Lseek is lseek(2), with SEEK_DATA and SEEK_HOLE (from the filesystem's
// extent map where it has one; otherwise the whole file is data). On a
// directory, SEEK_SET to 0 rewinds getdents64 and SEEK_SET to a d_off
// resumes after that entry. On a block device SEEK_END counts from the
// device's size and no position lies past it (fixed_size_llseek); its
// SEEK_DATA and SEEK_HOLE find the holes of a read-only disk's image
// (kernel/block holes.go), where Linux's find none.
//
// Errors: EBADF for a descriptor not open or O_PATH; EINVAL for a bad
// whence or a negative result, and on a block device for a position
// past the end; ENXIO for SEEK_DATA/SEEK_HOLE at or past
// the end of the file, or SEEK_DATA in a final hole; EOVERFLOW if the
// result overflows.
func (k *Kernel) Lseek(fd int, off int64, whence int) (int64, error) {
	f, err := k.fds.Get(fd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	return f.Seek(off, whence)
}

// Getdents64 is getdents64(2): it fills buf with linux_dirent64 records
// (abi.ParseDirents decodes them) and returns the bytes used, 0 at the end.
// "." and ".." come first, then the directory's entries in its own order;
// ".." of a mounted filesystem's root is the directory holding the
// mountpoint. Each record's d_off resumes after it.
//
// Errors: EBADF for a descriptor not open or O_PATH; ENOTDIR if fd is not
// a directory; EINVAL if buf is too small for the next record; EIO/EUCLEAN
// from the filesystem when no record could be returned.
func (k *Kernel) Getdents64(fd int, buf []byte) (int, error) {
	f, err := k.fds.Get(fd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	return f.Getdents64(buf)
}

// Mkdirat is mkdirat(2): the permissions are mode&(0777|S_ISVTX) &^
// umask; a directory made in a set-group-ID directory takes its group and
// S_ISGID. On a filesystem with POSIX ACLs, a directory with a default
// ACL takes the umask's place: the new inode's permissions are mode
// masked by that ACL, which it inherits (posix_acl_create), and so for
// the files Openat and Mknodat make.
//
// Errors: EBADF/ENOTDIR for a bad dirfd; the path walk's ENOENT, ENOTDIR,
// ELOOP, ENAMETOOLONG for the parent; EEXIST if the name exists (or is
// ".", ".." or "/"); ENOENT in a removed directory; EROFS on a read-only
// mount; EPERM if the filesystem cannot make directories; EMLINK; ENOSPC.
func (k *Kernel) Mkdirat(dirfd int, path string, mode uint32) error {
	start, done, err := k.at(dirfd, path)
	if err != nil {
		return err
	}
	defer done()
	return k.vfs.Mkdirat(k.cred(), start, path, mode)
}
