package hostcopy

import (
	"errors"
	"strconv"
	"unsafe"

	"github.com/lklimg/lklimg/kernel/abi"
	"golang.org/x/sys/unix"
)

// hostErr turns the host's errno into the kernel's (the values are
// Linux's on both sides), so that one errors.Is test sees either.
func hostErr(err error) error {
	var e unix.Errno
	if errors.As(err, &e) {
		return abi.Errno(e)
	}
	return err
}

// lsetxattrAt sets an xattr of e.name in e.dir, a symlink or special
// file, which has no descriptor to set it on: /proc/self/fd/DIRFD/NAME
// names it through its directory's descriptor, and lsetxattr does not
// follow the last component.
func lsetxattrAt(e hostEntry, name string, value []byte) error {
	return unix.Lsetxattr("/proc/self/fd/"+strconv.Itoa(e.dir)+"/"+e.name, name, value, 0)
}

// setTimes sets the entry's access and modification times: by its
// descriptor (futimens), or, for a symlink or special file, by name
// without following it.
func (e hostEntry) setTimes(atime, mtime abi.Timespec) error {
	ts := []unix.Timespec{{Sec: atime.Sec, Nsec: atime.Nsec}, {Sec: mtime.Sec, Nsec: mtime.Nsec}}
	if e.fd >= 0 {
		return hostErr(futimens(e.fd, ts))
	}
	return hostErr(unix.UtimesNanoAt(e.dir, e.name, ts, unix.AT_SYMLINK_NOFOLLOW))
}

// futimens is futimens(3): utimensat(2) with a NULL path sets the times of
// fd itself (x/sys/unix has no wrapper for it).
func futimens(fd int, ts []unix.Timespec) error {
	_, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// mknodAt makes a device, FIFO or socket node as name in its directory.
func mknodAt(e hostEntry, mode uint32, rdev uint64) error {
	dev := unix.Mkdev(abi.Major(rdev), abi.Minor(rdev))
	return hostErr(unix.Mknodat(e.dir, e.name, mode, int(dev)))
}
