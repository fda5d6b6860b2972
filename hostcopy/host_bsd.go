//go:build darwin || freebsd

package hostcopy

import (
	"errors"

	"github.com/lklimg/lklimg/kernel/abi"
	"golang.org/x/sys/unix"
)

// bsdErrnos maps the errnos the host calls return on macOS and FreeBSD,
// whose numbers differ from Linux's past EAGAIN, to the kernel ABI's.
var bsdErrnos = map[unix.Errno]abi.Errno{
	unix.EPERM: abi.EPERM, unix.ENOENT: abi.ENOENT, unix.EINTR: abi.EINTR, unix.EIO: abi.EIO,
	unix.ENXIO: abi.ENXIO, unix.EBADF: abi.EBADF, unix.ENOMEM: abi.ENOMEM, unix.EACCES: abi.EACCES,
	unix.EBUSY: abi.EBUSY, unix.EEXIST: abi.EEXIST, unix.EXDEV: abi.EXDEV, unix.ENOTDIR: abi.ENOTDIR,
	unix.EISDIR: abi.EISDIR, unix.EINVAL: abi.EINVAL, unix.EMFILE: abi.EMFILE, unix.EFBIG: abi.EFBIG,
	unix.ENOSPC: abi.ENOSPC, unix.EROFS: abi.EROFS, unix.EMLINK: abi.EMLINK, unix.ERANGE: abi.ERANGE,
	unix.ENAMETOOLONG: abi.ENAMETOOLONG, unix.ENOSYS: abi.ENOSYS, unix.ENOTEMPTY: abi.ENOTEMPTY,
	unix.ELOOP: abi.ELOOP, unix.EDQUOT: abi.EDQUOT, unix.EOPNOTSUPP: abi.EOPNOTSUPP,
	unix.ENOATTR: abi.ENODATA, unix.EFTYPE: abi.ELOOP,
}

// hostErr turns the host's errno into the kernel's, so that one
// errors.Is test sees either; one without a counterpart stays the host's.
func hostErr(err error) error {
	var e unix.Errno
	if errors.As(err, &e) {
		if a, ok := bsdErrnos[e]; ok {
			return a
		}
		if e == unix.ENOTSUP { // EOPNOTSUPP's value on FreeBSD, not on macOS
			return abi.EOPNOTSUPP
		}
	}
	return err
}

// lsetxattrAt sets an xattr of a symlink or special file, which has no
// descriptor to set it on and, here, no *at call: by its path, the last
// component not followed (XATTR_NOFOLLOW).
func lsetxattrAt(e hostEntry, name string, value []byte) error {
	return unix.Lsetxattr(e.path, name, value, 0)
}

// setTimes sets the entry's access and modification times with
// utimensat: a regular file, a symlink or a special file by its name in
// its directory (not followed), a directory through its own descriptor
// as ".". Birth times are left to the host.
func (e hostEntry) setTimes(atime, mtime abi.Timespec) error {
	ts := []unix.Timespec{unix.NsecToTimespec(atime.Sec*1e9 + atime.Nsec), unix.NsecToTimespec(mtime.Sec*1e9 + mtime.Nsec)}
	if e.name != "" {
		return hostErr(unix.UtimesNanoAt(e.dir, e.name, ts, unix.AT_SYMLINK_NOFOLLOW))
	}
	return hostErr(unix.UtimesNanoAt(e.fd, ".", ts, 0))
}
