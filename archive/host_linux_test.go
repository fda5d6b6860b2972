package archive

import (
	"errors"

	"github.com/lklimg/lklimg/kernel/abi"
	"golang.org/x/sys/unix"
)

// hostSys runs the exporter on the host's own kernel: the same syscalls,
// so Export can be tested against a host directory, with GNU tar and the
// host's idea of every entry as the oracle.
type hostSys struct{}

var _ Syscalls = hostSys{}

// errno turns a host errno into the kernel ABI's (the numbers are the same
// on Linux; the type is what errors.Is looks at).
func errno(err error) error {
	var e unix.Errno
	if errors.As(err, &e) {
		return abi.Errno(e)
	}
	return err
}

// openFlags translates the abi's open flags to the host's, whose values
// differ on some architectures.
func openFlags(f int) int {
	h := f & abi.O_ACCMODE
	for _, m := range [][2]int{
		{abi.O_DIRECTORY, unix.O_DIRECTORY}, {abi.O_NOFOLLOW, unix.O_NOFOLLOW},
		{abi.O_CLOEXEC, unix.O_CLOEXEC},
	} {
		if f&m[0] != 0 {
			h |= m[1]
		}
	}
	return h
}

func (hostSys) Openat(dirfd int, path string, flags int, mode uint32) (int, error) {
	fd, err := unix.Openat(dirfd, path, openFlags(flags), mode)
	return fd, errno(err)
}
func (hostSys) Close(fd int) error { return errno(unix.Close(fd)) }
func (hostSys) Read(fd int, p []byte) (int, error) {
	n, err := unix.Read(fd, p)
	return n, errno(err)
}
func (hostSys) Lseek(fd int, off int64, whence int) (int64, error) {
	n, err := unix.Seek(fd, off, whence)
	return n, errno(err)
}
func (hostSys) Getdents64(fd int, buf []byte) (int, error) {
	n, err := unix.Getdents(fd, buf)
	return n, errno(err)
}
func (hostSys) Fstatat(dirfd int, path string, st *abi.Stat, flags int) error {
	var s unix.Stat_t
	if err := unix.Fstatat(dirfd, path, &s, flags); err != nil {
		return errno(err)
	}
	*st = abi.Stat{
		Dev: uint64(s.Dev), Ino: s.Ino, Nlink: uint64(s.Nlink), Mode: s.Mode,
		Uid: s.Uid, Gid: s.Gid, Rdev: uint64(s.Rdev), Size: s.Size,
		Blksize: int64(s.Blksize), Blocks: s.Blocks,
		Atim: abi.Timespec{Sec: s.Atim.Sec, Nsec: s.Atim.Nsec},
		Mtim: abi.Timespec{Sec: s.Mtim.Sec, Nsec: s.Mtim.Nsec},
		Ctim: abi.Timespec{Sec: s.Ctim.Sec, Nsec: s.Ctim.Nsec},
	}
	return nil
}
func (hostSys) Readlinkat(dirfd int, path string, buf []byte) (int, error) {
	n, err := unix.Readlinkat(dirfd, path, buf)
	return n, errno(err)
}
func (hostSys) Llistxattr(path string, dest []byte) (int, error) {
	n, err := unix.Llistxattr(path, dest)
	return n, errno(err)
}
func (hostSys) Lgetxattr(path, name string, dest []byte) (int, error) {
	n, err := unix.Lgetxattr(path, name, dest)
	return n, errno(err)
}
func (hostSys) Flistxattr(fd int, dest []byte) (int, error) {
	n, err := unix.Flistxattr(fd, dest)
	return n, errno(err)
}
func (hostSys) Fgetxattr(fd int, name string, dest []byte) (int, error) {
	n, err := unix.Fgetxattr(fd, name, dest)
	return n, errno(err)
}
