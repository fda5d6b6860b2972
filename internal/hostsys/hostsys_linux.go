//go:build linux

package hostsys

import (
	"errors"

	"github.com/lklimg/lklimg/kernel/abi"
	"golang.org/x/sys/unix"
)

// Sys is the host's own Linux behind the library kernel's syscall
// signatures (kernel.Kernel's), for the packages that walk or build trees
// through syscalls (archive, hostcopy): archive.Export walks a host
// directory through it (hostcopy.DirSource), and their tests run them
// host directory to host directory, with the host's idea of every entry
// as the oracle.
type Sys struct{}

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
		{abi.O_CLOEXEC, unix.O_CLOEXEC}, {abi.O_CREAT, unix.O_CREAT},
		{abi.O_EXCL, unix.O_EXCL}, {abi.O_TRUNC, unix.O_TRUNC},
	} {
		if f&m[0] != 0 {
			h |= m[1]
		}
	}
	return h
}

func (Sys) Openat(dirfd int, path string, flags int, mode uint32) (int, error) {
	fd, err := unix.Openat(dirfd, path, openFlags(flags), mode)
	return fd, errno(err)
}
func (Sys) Close(fd int) error { return errno(unix.Close(fd)) }
func (Sys) Read(fd int, p []byte) (int, error) {
	n, err := unix.Read(fd, p)
	return n, errno(err)
}
func (Sys) Pread(fd int, p []byte, off int64) (int, error) {
	n, err := unix.Pread(fd, p, off)
	return n, errno(err)
}
func (Sys) Pwrite(fd int, p []byte, off int64) (int, error) {
	n, err := unix.Pwrite(fd, p, off)
	return n, errno(err)
}
func (Sys) Ftruncate(fd int, size int64) error { return errno(unix.Ftruncate(fd, size)) }
func (Sys) Lseek(fd int, off int64, whence int) (int64, error) {
	n, err := unix.Seek(fd, off, whence)
	return n, errno(err)
}
func (Sys) Getdents64(fd int, buf []byte) (int, error) {
	n, err := unix.Getdents(fd, buf)
	return n, errno(err)
}
func (Sys) Fstatat(dirfd int, path string, st *abi.Stat, flags int) error {
	var s unix.Stat_t
	if err := unix.Fstatat(dirfd, path, &s, flags); err != nil {
		return errno(err)
	}
	*st = abi.Stat{
		Dev: uint64(s.Dev), Ino: s.Ino, Nlink: uint64(s.Nlink), Mode: s.Mode,
		Uid: s.Uid, Gid: s.Gid, Rdev: abi.Makedev(unix.Major(s.Rdev), unix.Minor(s.Rdev)), Size: s.Size,
		Blksize: int64(s.Blksize), Blocks: s.Blocks,
		Atim: abi.Timespec{Sec: s.Atim.Sec, Nsec: s.Atim.Nsec},
		Mtim: abi.Timespec{Sec: s.Mtim.Sec, Nsec: s.Mtim.Nsec},
		Ctim: abi.Timespec{Sec: s.Ctim.Sec, Nsec: s.Ctim.Nsec},
	}
	return nil
}
func (Sys) Readlinkat(dirfd int, path string, buf []byte) (int, error) {
	n, err := unix.Readlinkat(dirfd, path, buf)
	return n, errno(err)
}
func (Sys) Llistxattr(path string, dest []byte) (int, error) {
	n, err := unix.Llistxattr(path, dest)
	return n, errno(err)
}
func (Sys) Lgetxattr(path, name string, dest []byte) (int, error) {
	n, err := unix.Lgetxattr(path, name, dest)
	return n, errno(err)
}
func (Sys) Flistxattr(fd int, dest []byte) (int, error) {
	n, err := unix.Flistxattr(fd, dest)
	return n, errno(err)
}
func (Sys) Fgetxattr(fd int, name string, dest []byte) (int, error) {
	n, err := unix.Fgetxattr(fd, name, dest)
	return n, errno(err)
}
func (Sys) Mkdirat(dirfd int, path string, mode uint32) error {
	return errno(unix.Mkdirat(dirfd, path, mode))
}
func (Sys) Mknodat(dirfd int, path string, mode uint32, dev uint64) error {
	return errno(unix.Mknodat(dirfd, path, mode, int(unix.Mkdev(abi.Major(dev), abi.Minor(dev)))))
}
func (Sys) Symlinkat(target string, dirfd int, path string) error {
	return errno(unix.Symlinkat(target, dirfd, path))
}
func (Sys) Linkat(olddirfd int, oldpath string, newdirfd int, newpath string, flags int) error {
	return errno(unix.Linkat(olddirfd, oldpath, newdirfd, newpath, flags))
}
func (Sys) Unlinkat(dirfd int, path string, flags int) error {
	return errno(unix.Unlinkat(dirfd, path, flags))
}

// Fchmodat takes AT_EMPTY_PATH as the kernel's fchmodat2 does; x/sys's
// fchmodat takes no flags.
func (Sys) Fchmodat(dirfd int, path string, mode uint32, flags int) error {
	if flags == abi.AT_EMPTY_PATH && path == "" {
		return errno(unix.Fchmod(dirfd, mode))
	}
	return errno(unix.Fchmodat(dirfd, path, mode, flags))
}
func (Sys) Fchownat(dirfd int, path string, uid, gid int, flags int) error {
	return errno(unix.Fchownat(dirfd, path, uid, gid, flags))
}
func (Sys) Utimensat(dirfd int, path string, times *[2]abi.Timespec, flags int) error {
	ts := []unix.Timespec{{Sec: times[0].Sec, Nsec: times[0].Nsec}, {Sec: times[1].Sec, Nsec: times[1].Nsec}}
	return errno(unix.UtimesNanoAt(dirfd, path, ts, flags))
}
func (Sys) Lsetxattr(path, name string, value []byte, flags int) error {
	return errno(unix.Lsetxattr(path, name, value, flags))
}
func (Sys) Fsetxattr(fd int, name string, value []byte, flags int) error {
	return errno(unix.Fsetxattr(fd, name, value, flags))
}
func (Sys) Lremovexattr(path, name string) error {
	return errno(unix.Lremovexattr(path, name))
}
