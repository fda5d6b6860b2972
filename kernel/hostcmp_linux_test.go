//go:build linux

package kernel

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel/abi"
)

// The write syscalls compared with the host's Linux: every scenario runs
// the same calls on a tmpfs directory of the host (through
// golang.org/x/sys/unix) and on a directory of the kernel's ramfs, and the
// traces of both (each call's errno, and the stat fields, listings, data
// and xattrs the scenario looks at) must be equal. Times are compared
// where the scenario sets them; inode numbers, st_blocks and directory
// sizes, which differ between tmpfs and ramfs, are not looked at.

// sysAPI is the part of the syscall surface the scenarios use, on paths
// relative to the scenario's directory.
type sysAPI interface {
	Open(p string, flags int, mode uint32) (int, error)
	OpenAt(dirfd int, p string, flags int, mode uint32) (int, error)
	Close(fd int) error
	Read(fd int, b []byte) (int, error)
	Pread(fd int, b []byte, off int64) (int, error)
	Write(fd int, b []byte) (int, error)
	Pwrite(fd int, b []byte, off int64) (int, error)
	Lseek(fd int, off int64, whence int) (int64, error)
	Mkdir(p string, mode uint32) error
	Mknod(p string, mode uint32, dev uint64) error
	Symlink(target, p string) error
	Link(old, new string, flags int) error
	LinkFd(fd int, new string, flags int) error
	Unlink(p string, flags int) error
	UnlinkAt(dirfd int, p string, flags int) error
	Rename(old, new string, flags uint32) error
	Chmod(p string, mode uint32, flags int) error
	Fchmod(fd int, mode uint32) error
	Chown(p string, uid, gid, flags int) error
	ChownFd(fd int, uid, gid, flags int) error
	Fchown(fd int, uid, gid int) error
	Utimens(p string, times *[2]abi.Timespec, flags int) error
	Futimens(fd int, times *[2]abi.Timespec) error
	Truncate(p string, size int64) error
	Ftruncate(fd int, size int64) error
	Fallocate(fd int, mode uint32, off, n int64) error
	Setxattr(p, name string, value []byte, flags int) error
	Lsetxattr(p, name string, value []byte, flags int) error
	Fsetxattr(fd int, name string, value []byte, flags int) error
	Getxattr(p, name string) ([]byte, error)
	Fgetxattr(fd int, name string) ([]byte, error)
	Flistxattr(fd int) (int, error)
	Lgetxattr(p, name string) ([]byte, error)
	Removexattr(p, name string) error
	Lremovexattr(p, name string) error
	Fremovexattr(fd int, name string) error
	Stat(p string, flags int) (abi.Stat, error)
	Fstat(fd int) (abi.Stat, error)
	Readlink(p string) (string, error)
	Fsync(fd int) error
	Fdatasync(fd int) error
	Syncfs(fd int) error
	Umask(mask uint32) uint32
	List(p string) ([]string, error)
}

// kernelSys runs the calls on the kernel under dir.
type kernelSys struct {
	k   *Kernel
	dir string
}

func (s *kernelSys) p(p string) string { return s.dir + "/" + p }

func (s *kernelSys) Open(p string, flags int, mode uint32) (int, error) {
	return s.k.Openat(abi.AT_FDCWD, s.p(p), flags, mode)
}
func (s *kernelSys) OpenAt(dirfd int, p string, flags int, mode uint32) (int, error) {
	return s.k.Openat(dirfd, p, flags, mode)
}
func (s *kernelSys) Close(fd int) error                  { return s.k.Close(fd) }
func (s *kernelSys) Read(fd int, b []byte) (int, error)  { return s.k.Read(fd, b) }
func (s *kernelSys) Write(fd int, b []byte) (int, error) { return s.k.Write(fd, b) }
func (s *kernelSys) Pread(fd int, b []byte, off int64) (int, error) {
	return s.k.Pread(fd, b, off)
}
func (s *kernelSys) Pwrite(fd int, b []byte, off int64) (int, error) {
	return s.k.Pwrite(fd, b, off)
}
func (s *kernelSys) Lseek(fd int, off int64, whence int) (int64, error) {
	return s.k.Lseek(fd, off, whence)
}
func (s *kernelSys) Mkdir(p string, mode uint32) error {
	return s.k.Mkdirat(abi.AT_FDCWD, s.p(p), mode)
}
func (s *kernelSys) Mknod(p string, mode uint32, dev uint64) error {
	return s.k.Mknodat(abi.AT_FDCWD, s.p(p), mode, dev)
}
func (s *kernelSys) Symlink(target, p string) error {
	return s.k.Symlinkat(target, abi.AT_FDCWD, s.p(p))
}
func (s *kernelSys) Link(old, new string, flags int) error {
	return s.k.Linkat(abi.AT_FDCWD, s.p(old), abi.AT_FDCWD, s.p(new), flags)
}
func (s *kernelSys) LinkFd(fd int, new string, flags int) error {
	return s.k.Linkat(fd, "", abi.AT_FDCWD, s.p(new), flags)
}
func (s *kernelSys) Unlink(p string, flags int) error {
	return s.k.Unlinkat(abi.AT_FDCWD, s.p(p), flags)
}
func (s *kernelSys) UnlinkAt(dirfd int, p string, flags int) error {
	return s.k.Unlinkat(dirfd, p, flags)
}
func (s *kernelSys) Rename(old, new string, flags uint32) error {
	return s.k.Renameat2(abi.AT_FDCWD, s.p(old), abi.AT_FDCWD, s.p(new), flags)
}
func (s *kernelSys) Chmod(p string, mode uint32, flags int) error {
	return s.k.Fchmodat(abi.AT_FDCWD, s.p(p), mode, flags)
}
func (s *kernelSys) Fchmod(fd int, mode uint32) error { return s.k.Fchmod(fd, mode) }
func (s *kernelSys) Chown(p string, uid, gid, flags int) error {
	return s.k.Fchownat(abi.AT_FDCWD, s.p(p), uid, gid, flags)
}
func (s *kernelSys) ChownFd(fd int, uid, gid, flags int) error {
	return s.k.Fchownat(fd, "", uid, gid, flags)
}
func (s *kernelSys) Fchown(fd int, uid, gid int) error { return s.k.Fchown(fd, uid, gid) }
func (s *kernelSys) Utimens(p string, times *[2]abi.Timespec, flags int) error {
	return s.k.Utimensat(abi.AT_FDCWD, s.p(p), times, flags)
}
func (s *kernelSys) Futimens(fd int, times *[2]abi.Timespec) error { return s.k.Futimens(fd, times) }
func (s *kernelSys) Truncate(p string, size int64) error           { return s.k.Truncate(s.p(p), size) }
func (s *kernelSys) Ftruncate(fd int, size int64) error            { return s.k.Ftruncate(fd, size) }
func (s *kernelSys) Fallocate(fd int, mode uint32, off, n int64) error {
	return s.k.Fallocate(fd, mode, off, n)
}
func (s *kernelSys) Setxattr(p, name string, value []byte, flags int) error {
	return s.k.Setxattr(s.p(p), name, value, flags)
}
func (s *kernelSys) Lsetxattr(p, name string, value []byte, flags int) error {
	return s.k.Lsetxattr(s.p(p), name, value, flags)
}
func (s *kernelSys) Fsetxattr(fd int, name string, value []byte, flags int) error {
	return s.k.Fsetxattr(fd, name, value, flags)
}
func (s *kernelSys) Getxattr(p, name string) ([]byte, error) {
	b := make([]byte, 70000)
	n, err := s.k.Getxattr(s.p(p), name, b)
	return b[:n], err
}
func (s *kernelSys) Fgetxattr(fd int, name string) ([]byte, error) {
	b := make([]byte, 70000)
	n, err := s.k.Fgetxattr(fd, name, b)
	return b[:n], err
}
func (s *kernelSys) Flistxattr(fd int) (int, error) { return s.k.Flistxattr(fd, nil) }
func (s *kernelSys) Lgetxattr(p, name string) ([]byte, error) {
	b := make([]byte, 70000)
	n, err := s.k.Lgetxattr(s.p(p), name, b)
	return b[:n], err
}
func (s *kernelSys) Removexattr(p, name string) error  { return s.k.Removexattr(s.p(p), name) }
func (s *kernelSys) Lremovexattr(p, name string) error { return s.k.Lremovexattr(s.p(p), name) }
func (s *kernelSys) Fremovexattr(fd int, name string) error {
	return s.k.Fremovexattr(fd, name)
}
func (s *kernelSys) Stat(p string, flags int) (abi.Stat, error) {
	var st abi.Stat
	err := s.k.Fstatat(abi.AT_FDCWD, s.p(p), &st, flags)
	return st, err
}
func (s *kernelSys) Fstat(fd int) (abi.Stat, error) {
	var st abi.Stat
	err := s.k.Fstat(fd, &st)
	return st, err
}
func (s *kernelSys) Readlink(p string) (string, error) {
	b := make([]byte, abi.PATH_MAX)
	n, err := s.k.Readlinkat(abi.AT_FDCWD, s.p(p), b)
	return string(b[:n]), err
}
func (s *kernelSys) Fsync(fd int) error     { return s.k.Fsync(fd) }
func (s *kernelSys) Fdatasync(fd int) error { return s.k.Fdatasync(fd) }
func (s *kernelSys) Syncfs(fd int) error    { return s.k.Syncfs(fd) }
func (s *kernelSys) Umask(m uint32) uint32  { return s.k.Umask(m) }
func (s *kernelSys) List(p string) ([]string, error) {
	fd, err := s.k.Openat(abi.AT_FDCWD, s.p(p), abi.O_RDONLY|abi.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	defer s.k.Close(fd)
	var names []string
	buf := make([]byte, 4096)
	for {
		n, err := s.k.Getdents64(fd, buf)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			break
		}
		for _, d := range abi.ParseDirents(buf[:n], nil) {
			if d.Name != "." && d.Name != ".." {
				names = append(names, fmt.Sprintf("%s:%d", d.Name, d.Type))
			}
		}
	}
	slices.Sort(names)
	return names, nil
}

// hostSys runs the calls on the host under dir.
type hostSys struct{ dir string }

func (s *hostSys) p(p string) string { return s.dir + "/" + p }

func (s *hostSys) Open(p string, flags int, mode uint32) (int, error) {
	return unix.Open(s.p(p), flags|unix.O_CLOEXEC, mode)
}
func (s *hostSys) OpenAt(dirfd int, p string, flags int, mode uint32) (int, error) {
	return unix.Openat(dirfd, p, flags|unix.O_CLOEXEC, mode)
}
func (s *hostSys) Close(fd int) error                  { return unix.Close(fd) }
func (s *hostSys) Read(fd int, b []byte) (int, error)  { return unix.Read(fd, b) }
func (s *hostSys) Write(fd int, b []byte) (int, error) { return unix.Write(fd, b) }
func (s *hostSys) Pread(fd int, b []byte, off int64) (int, error) {
	return unix.Pread(fd, b, off)
}
func (s *hostSys) Pwrite(fd int, b []byte, off int64) (int, error) {
	return unix.Pwrite(fd, b, off)
}
func (s *hostSys) Lseek(fd int, off int64, whence int) (int64, error) {
	return unix.Seek(fd, off, whence)
}
func (s *hostSys) Mkdir(p string, mode uint32) error { return unix.Mkdir(s.p(p), mode) }
func (s *hostSys) Mknod(p string, mode uint32, dev uint64) error {
	return unix.Mknodat(unix.AT_FDCWD, s.p(p), mode, int(dev))
}
func (s *hostSys) Symlink(target, p string) error { return unix.Symlink(target, s.p(p)) }
func (s *hostSys) Link(old, new string, flags int) error {
	return unix.Linkat(unix.AT_FDCWD, s.p(old), unix.AT_FDCWD, s.p(new), flags)
}
func (s *hostSys) LinkFd(fd int, new string, flags int) error {
	return unix.Linkat(fd, "", unix.AT_FDCWD, s.p(new), flags)
}
func (s *hostSys) Unlink(p string, flags int) error {
	return unix.Unlinkat(unix.AT_FDCWD, s.p(p), flags)
}
func (s *hostSys) UnlinkAt(dirfd int, p string, flags int) error {
	return unix.Unlinkat(dirfd, p, flags)
}
func (s *hostSys) Rename(old, new string, flags uint32) error {
	return unix.Renameat2(unix.AT_FDCWD, s.p(old), unix.AT_FDCWD, s.p(new), uint(flags))
}

// Chmod calls fchmodat2 itself: x/sys/unix's Fchmodat answers
// AT_SYMLINK_NOFOLLOW without asking the kernel.
func (s *hostSys) Chmod(p string, mode uint32, flags int) error {
	b, err := unix.BytePtrFromString(s.p(p))
	if err != nil {
		return err
	}
	fd := unix.AT_FDCWD
	_, _, e := unix.Syscall6(unix.SYS_FCHMODAT2, uintptr(fd), uintptr(unsafe.Pointer(b)), uintptr(mode), uintptr(flags), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}
func (s *hostSys) Fchmod(fd int, mode uint32) error { return unix.Fchmod(fd, mode) }
func (s *hostSys) Chown(p string, uid, gid, flags int) error {
	return unix.Fchownat(unix.AT_FDCWD, s.p(p), uid, gid, flags)
}
func (s *hostSys) ChownFd(fd int, uid, gid, flags int) error {
	return unix.Fchownat(fd, "", uid, gid, flags)
}
func (s *hostSys) Fchown(fd int, uid, gid int) error { return unix.Fchown(fd, uid, gid) }

// utimensat calls utimensat(2) itself, for a nil times and a nil path.
func utimensat(dirfd int, p *byte, times *[2]abi.Timespec, flags int) error {
	var ts *[2]unix.Timespec
	if times != nil {
		ts = &[2]unix.Timespec{{Sec: times[0].Sec, Nsec: times[0].Nsec}, {Sec: times[1].Sec, Nsec: times[1].Nsec}}
	}
	_, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(dirfd), uintptr(unsafe.Pointer(p)), uintptr(unsafe.Pointer(ts)), uintptr(flags), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

func (s *hostSys) Utimens(p string, times *[2]abi.Timespec, flags int) error {
	b, err := unix.BytePtrFromString(s.p(p))
	if err != nil {
		return err
	}
	return utimensat(unix.AT_FDCWD, b, times, flags)
}
func (s *hostSys) Futimens(fd int, times *[2]abi.Timespec) error {
	return utimensat(fd, nil, times, 0)
}
func (s *hostSys) Truncate(p string, size int64) error { return unix.Truncate(s.p(p), size) }
func (s *hostSys) Ftruncate(fd int, size int64) error  { return unix.Ftruncate(fd, size) }
func (s *hostSys) Fallocate(fd int, mode uint32, off, n int64) error {
	return unix.Fallocate(fd, mode, off, n)
}
func (s *hostSys) Setxattr(p, name string, value []byte, flags int) error {
	return unix.Setxattr(s.p(p), name, value, flags)
}
func (s *hostSys) Lsetxattr(p, name string, value []byte, flags int) error {
	return unix.Lsetxattr(s.p(p), name, value, flags)
}
func (s *hostSys) Fsetxattr(fd int, name string, value []byte, flags int) error {
	return unix.Fsetxattr(fd, name, value, flags)
}
func (s *hostSys) Getxattr(p, name string) ([]byte, error) {
	b := make([]byte, 70000)
	n, err := unix.Getxattr(s.p(p), name, b)
	if err != nil {
		return nil, err
	}
	return b[:n], nil
}
func (s *hostSys) Fgetxattr(fd int, name string) ([]byte, error) {
	b := make([]byte, 70000)
	n, err := unix.Fgetxattr(fd, name, b)
	if err != nil {
		return nil, err
	}
	return b[:n], nil
}
func (s *hostSys) Flistxattr(fd int) (int, error) { return unix.Flistxattr(fd, nil) }
func (s *hostSys) Lgetxattr(p, name string) ([]byte, error) {
	b := make([]byte, 70000)
	n, err := unix.Lgetxattr(s.p(p), name, b)
	if err != nil {
		return nil, err
	}
	return b[:n], nil
}
func (s *hostSys) Removexattr(p, name string) error  { return unix.Removexattr(s.p(p), name) }
func (s *hostSys) Lremovexattr(p, name string) error { return unix.Lremovexattr(s.p(p), name) }
func (s *hostSys) Fremovexattr(fd int, name string) error {
	return unix.Fremovexattr(fd, name)
}

func hostStat(st *unix.Stat_t) abi.Stat {
	return abi.Stat{
		Dev: st.Dev, Ino: st.Ino, Nlink: uint64(st.Nlink), Mode: st.Mode, Uid: st.Uid, Gid: st.Gid,
		Rdev: st.Rdev, Size: st.Size,
		Atim: abi.Timespec{Sec: st.Atim.Sec, Nsec: st.Atim.Nsec},
		Mtim: abi.Timespec{Sec: st.Mtim.Sec, Nsec: st.Mtim.Nsec},
		Ctim: abi.Timespec{Sec: st.Ctim.Sec, Nsec: st.Ctim.Nsec},
	}
}

func (s *hostSys) Stat(p string, flags int) (abi.Stat, error) {
	var st unix.Stat_t
	err := unix.Fstatat(unix.AT_FDCWD, s.p(p), &st, flags)
	return hostStat(&st), err
}
func (s *hostSys) Fstat(fd int) (abi.Stat, error) {
	var st unix.Stat_t
	err := unix.Fstat(fd, &st)
	return hostStat(&st), err
}
func (s *hostSys) Readlink(p string) (string, error) {
	b := make([]byte, abi.PATH_MAX)
	n, err := unix.Readlink(s.p(p), b)
	if err != nil {
		return "", err
	}
	return string(b[:n]), nil
}
func (s *hostSys) Fsync(fd int) error     { return unix.Fsync(fd) }
func (s *hostSys) Fdatasync(fd int) error { return unix.Fdatasync(fd) }
func (s *hostSys) Syncfs(fd int) error    { return unix.Syncfs(fd) }
func (s *hostSys) Umask(m uint32) uint32  { return uint32(unix.Umask(int(m))) }
func (s *hostSys) List(p string) ([]string, error) {
	ents, err := os.ReadDir(s.p(p))
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, pe.Err
		}
		return nil, err
	}
	var names []string
	for _, e := range ents {
		st, err := s.Stat(path.Join(p, e.Name()), unix.AT_SYMLINK_NOFOLLOW)
		if err != nil {
			return nil, err
		}
		names = append(names, fmt.Sprintf("%s:%d", e.Name(), abi.DTFromMode(st.Mode)))
	}
	slices.Sort(names)
	return names, nil
}

// errName names an error's errno, "ok" for nil.
func errName(err error) string {
	if err == nil {
		return "ok"
	}
	var ue unix.Errno
	if errors.As(err, &ue) {
		return abi.Errno(ue).Error()
	}
	if e := abi.ErrnoOf(err); e != 0 {
		return e.Error()
	}
	return err.Error()
}

// tracer runs a scenario on one sysAPI and records what it sees.
type tracer struct {
	s     sysAPI
	trace []string
}

func (r *tracer) add(format string, args ...any) {
	r.trace = append(r.trace, fmt.Sprintf(format, args...))
}

// e records the errno of a call.
func (r *tracer) e(what string, err error) { r.add("%s: %s", what, errName(err)) }

// open records an open and returns its fd (-1 on failure).
func (r *tracer) open(p string, flags int, mode uint32) int {
	fd, err := r.s.Open(p, flags, mode)
	r.e(fmt.Sprintf("open %s %#o", p, flags), err)
	if err != nil {
		return -1
	}
	return fd
}

func (r *tracer) close(fd int) {
	if fd >= 0 {
		r.s.Close(fd)
	}
}

// stat records the fields tmpfs and ramfs agree on.
func (r *tracer) stat(p string, flags int) {
	st, err := r.s.Stat(p, flags)
	r.statResult("stat "+p, st, err)
}

func (r *tracer) fstat(what string, fd int) {
	st, err := r.s.Fstat(fd)
	r.statResult("fstat "+what, st, err)
}

func (r *tracer) statResult(what string, st abi.Stat, err error) {
	if err != nil {
		r.e(what, err)
		return
	}
	size := st.Size
	if st.Mode&abi.S_IFMT == abi.S_IFDIR {
		size = -1 // tmpfs counts entries, ramfs does not
	}
	r.add("%s: mode %#o nlink %d uid %d gid %d rdev %#x size %d", what, st.Mode, st.Nlink, st.Uid, st.Gid, st.Rdev, size)
}

// times records atime and mtime.
func (r *tracer) times(p string, flags int) {
	st, err := r.s.Stat(p, flags)
	if err != nil {
		r.e("times "+p, err)
		return
	}
	r.add("times %s: atime %v mtime %v", p, st.Atim, st.Mtim)
}

// data records a file's contents.
func (r *tracer) data(p string) {
	fd, err := r.s.Open(p, abi.O_RDONLY, 0)
	if err != nil {
		r.e("data "+p, err)
		return
	}
	defer r.s.Close(fd)
	r.fdata("data "+p, fd)
}

func (r *tracer) fdata(what string, fd int) {
	buf := make([]byte, 1<<16)
	var all []byte
	for off := int64(0); ; {
		n, err := r.s.Pread(fd, buf, off)
		if err != nil {
			r.e(what, err)
			return
		}
		if n == 0 {
			break
		}
		all = append(all, buf[:n]...)
		off += int64(n)
	}
	r.add("%s: %q", what, all)
}

func (r *tracer) ls(p string) {
	names, err := r.s.List(p)
	if err != nil {
		r.e("ls "+p, err)
		return
	}
	r.add("ls %s: %s", p, strings.Join(names, " "))
}

func (r *tracer) write(fd int, s string) {
	n, err := r.s.Write(fd, []byte(s))
	r.count(fmt.Sprintf("write %q", s), n, err)
}

func (r *tracer) pwrite(fd int, s string, off int64) {
	n, err := r.s.Pwrite(fd, []byte(s), off)
	r.count(fmt.Sprintf("pwrite %q at %d", s, off), n, err)
}

// count records a count, or the errno.
func (r *tracer) count(what string, n int, err error) {
	if err != nil {
		r.e(what, err)
		return
	}
	r.add("%s: %d", what, n)
}

func (r *tracer) seek(fd int, off int64, whence int) {
	pos, err := r.s.Lseek(fd, off, whence)
	r.add("lseek %d %d: %d %s", off, whence, pos, errName(err))
}

func (r *tracer) getxattr(p, name string) {
	v, err := r.s.Getxattr(p, name)
	r.add("getxattr %s %s: %q %s", p, name, v, errName(err))
}

// hostcmpScenario is a scenario: a name, and the calls it makes.
type hostcmpScenario struct {
	name string
	run  func(r *tracer)
}

// hostcmpScenarios are the scenarios, by name. Each starts in an empty
// directory with umask 022.
var hostcmpScenarios = []hostcmpScenario{
	{"open-creat", func(r *tracer) {
		s := r.s
		r.e("mkdir d", s.Mkdir("d", 0o777))
		fd := r.open("f", abi.O_CREAT|abi.O_WRONLY, 0o666)
		r.fstat("f", fd)
		r.close(fd)
		r.open("f", abi.O_CREAT|abi.O_EXCL|abi.O_WRONLY, 0o666)
		r.open("f/", abi.O_CREAT|abi.O_WRONLY, 0o666)
		r.open("g/", abi.O_CREAT|abi.O_WRONLY, 0o666)
		r.open("d", abi.O_CREAT|abi.O_RDONLY, 0o666)
		r.open("d", abi.O_CREAT|abi.O_EXCL|abi.O_RDONLY, 0o666)
		r.open(".", abi.O_CREAT|abi.O_RDONLY, 0o666)
		r.open(".", abi.O_CREAT|abi.O_EXCL|abi.O_RDONLY, 0o666)
		r.open("missing/x", abi.O_CREAT|abi.O_WRONLY, 0o666)
		r.open("f/x", abi.O_CREAT|abi.O_WRONLY, 0o666)
		r.open("h", abi.O_CREAT|abi.O_DIRECTORY|abi.O_RDONLY, 0o666)
		r.close(r.open("x", abi.O_CREAT|abi.O_RDWR, 0o4777))
		r.stat("x", 0)
		r.e("symlink dangling", s.Symlink("target", "dangling"))
		r.open("dangling", abi.O_CREAT|abi.O_EXCL|abi.O_WRONLY, 0o600)
		r.close(r.open("dangling", abi.O_CREAT|abi.O_WRONLY, 0o600))
		r.stat("target", 0)
		r.e("symlink tofile", s.Symlink("f", "tofile"))
		r.open("tofile", abi.O_CREAT|abi.O_NOFOLLOW|abi.O_WRONLY, 0o600)
		r.e("symlink todir", s.Symlink("d/sub/x", "deep"))
		r.open("deep", abi.O_CREAT|abi.O_WRONLY, 0o600)
		r.e("symlink loop", s.Symlink("loop", "loop"))
		r.open("loop", abi.O_CREAT|abi.O_WRONLY, 0o600)
		r.ls(".")
	}},
	{"write-read", func(r *tracer) {
		s := r.s
		fd := r.open("f", abi.O_CREAT|abi.O_RDWR, 0o644)
		r.write(fd, "hello")
		r.pwrite(fd, "x", 10)
		r.seek(fd, 0, abi.SEEK_CUR)
		r.write(fd, "!")
		r.fstat("f", fd)
		r.fdata("f", fd)
		r.pwrite(fd, "y", -1)
		r.write(fd, "")
		r.close(fd)
		ro := r.open("f", abi.O_RDONLY, 0)
		r.write(ro, "z")
		r.pwrite(ro, "z", -1)
		r.pwrite(ro, "z", 0)
		r.close(ro)
		path := r.open("f", abi.O_PATH, 0)
		r.write(path, "z")
		r.e("fsync O_PATH", s.Fsync(path))
		r.e("ftruncate O_PATH", s.Ftruncate(path, 0))
		r.e("fallocate O_PATH", s.Fallocate(path, 0, 0, 1))
		r.e("fchmod O_PATH", s.Fchmod(path, 0o600))
		r.e("fchown O_PATH", s.Fchown(path, 1, 1))
		r.e("futimens O_PATH", s.Futimens(path, nil))
		r.e("fsetxattr O_PATH", s.Fsetxattr(path, "user.a", []byte("v"), 0))
		r.e("fremovexattr O_PATH", s.Fremovexattr(path, "user.a"))
		r.e("syncfs O_PATH", s.Syncfs(path))
		r.e("chown AT_EMPTY_PATH O_PATH", s.ChownFd(path, 5, 6, abi.AT_EMPTY_PATH))
		r.stat("f", 0)
		r.close(path)
		ap := r.open("f", abi.O_WRONLY|abi.O_APPEND, 0)
		r.write(ap, "A")
		r.seek(ap, 0, abi.SEEK_CUR)
		r.pwrite(ap, "B", 0)
		r.seek(ap, 0, abi.SEEK_SET)
		r.write(ap, "C")
		r.seek(ap, 0, abi.SEEK_CUR)
		r.e("fsync", s.Fsync(ap))
		r.e("fdatasync", s.Fdatasync(ap))
		r.e("syncfs", s.Syncfs(ap))
		r.close(ap)
		r.data("f")
		tr := r.open("f", abi.O_RDONLY|abi.O_TRUNC, 0)
		r.fstat("f", tr)
		r.close(tr)
		big := r.open("big", abi.O_CREAT|abi.O_RDWR, 0o644)
		r.pwrite(big, "end", 1<<40)
		r.pwrite(big, "x", 1<<62)
		r.pwrite(big, "wrap", 1<<63-2)
		r.pwrite(big, "xy", 1<<63-2)
		r.pwrite(big, "z", 1<<63-1)
		r.pwrite(big, "x", 1<<63-2)
		r.pwrite(big, "", 1<<63-1)
		r.seek(big, 0, abi.SEEK_DATA)
		r.seek(big, 0, abi.SEEK_HOLE)
		r.fstat("big", big)
		r.close(big)
	}},
	{"truncate", func(r *tracer) {
		s := r.s
		r.e("mkdir d", s.Mkdir("d", 0o755))
		fd := r.open("f", abi.O_CREAT|abi.O_RDWR, 0o644)
		r.write(fd, "0123456789")
		r.e("truncate -1", s.Truncate("f", -1))
		r.e("truncate 4", s.Truncate("f", 4))
		r.e("ftruncate 8", s.Ftruncate(fd, 8))
		r.fdata("f", fd)
		r.e("ftruncate -1", s.Ftruncate(fd, -1))
		r.e("ftruncate bad fd", s.Ftruncate(999, 1))
		r.e("truncate d", s.Truncate("d", 0))
		r.e("truncate missing", s.Truncate("missing", 0))
		r.e("truncate f/", s.Truncate("f/", 0))
		r.e("symlink", s.Symlink("f", "l"))
		r.e("truncate l", s.Truncate("l", 2))
		r.stat("f", 0)
		r.close(fd)
		ro := r.open("f", abi.O_RDONLY, 0)
		r.e("ftruncate read-only", s.Ftruncate(ro, 0))
		r.close(ro)
		dfd := r.open("d", abi.O_RDONLY|abi.O_DIRECTORY, 0)
		r.e("ftruncate dir", s.Ftruncate(dfd, 0))
		r.e("fallocate dir", s.Fallocate(dfd, 0, 0, 1))
		r.close(dfd)
		r.e("mknod fifo", s.Mknod("fifo", abi.S_IFIFO|0o644, 0))
		r.e("truncate fifo", s.Truncate("fifo", 0))
	}},
	{"fallocate", func(r *tracer) {
		s := r.s
		fd := r.open("f", abi.O_CREAT|abi.O_RDWR, 0o644)
		r.write(fd, strings.Repeat("a", 10000))
		r.e("alloc", s.Fallocate(fd, 0, 0, 20000))
		r.fstat("f", fd)
		r.e("keep size", s.Fallocate(fd, abi.FALLOC_FL_KEEP_SIZE, 0, 40000))
		r.fstat("f", fd)
		r.e("punch without keep", s.Fallocate(fd, abi.FALLOC_FL_PUNCH_HOLE, 0, 10))
		r.e("punch", s.Fallocate(fd, abi.FALLOC_FL_PUNCH_HOLE|abi.FALLOC_FL_KEEP_SIZE, 100, 8000))
		r.e("punch zero", s.Fallocate(fd, abi.FALLOC_FL_PUNCH_HOLE|abi.FALLOC_FL_ZERO_RANGE|abi.FALLOC_FL_KEEP_SIZE, 0, 10))
		r.fdata("f", fd)
		r.e("len 0", s.Fallocate(fd, 0, 0, 0))
		r.e("off -1", s.Fallocate(fd, 0, -1, 1))
		r.e("unknown bit", s.Fallocate(fd, 0x100, 0, 1))
		r.e("collapse+keep", s.Fallocate(fd, abi.FALLOC_FL_COLLAPSE_RANGE|abi.FALLOC_FL_KEEP_SIZE, 0, 4096))
		r.e("insert+keep", s.Fallocate(fd, abi.FALLOC_FL_INSERT_RANGE|abi.FALLOC_FL_KEEP_SIZE, 0, 4096))
		r.e("collapse", s.Fallocate(fd, abi.FALLOC_FL_COLLAPSE_RANGE, 0, 4096))
		r.e("collapse+punch", s.Fallocate(fd, abi.FALLOC_FL_COLLAPSE_RANGE|abi.FALLOC_FL_PUNCH_HOLE, 0, 4096))
		r.e("zero range", s.Fallocate(fd, abi.FALLOC_FL_ZERO_RANGE, 0, 4096))
		r.e("no hide stale", s.Fallocate(fd, 0x04, 0, 4096))
		r.e("unshare+keep", s.Fallocate(fd, 0x40|abi.FALLOC_FL_KEEP_SIZE, 0, 4096))
		r.e("overflow", s.Fallocate(fd, 0, 1<<62, 1<<62))
		r.e("bad fd", s.Fallocate(999, 0, 0, 1))
		r.e("bad fd and len", s.Fallocate(999, 0, 0, 0))
		r.close(fd)
		ro := r.open("f", abi.O_RDONLY, 0)
		r.e("read-only", s.Fallocate(ro, 0, 0, 1))
		r.e("read-only len 0", s.Fallocate(ro, 0, 0, 0))
		r.close(ro)
		ap := r.open("f", abi.O_WRONLY|abi.O_APPEND, 0)
		r.e("append", s.Fallocate(ap, 0, 0, 50000))
		r.close(ap)
		r.stat("f", 0)
	}},
	{"mkdir-mknod-symlink", func(r *tracer) {
		s := r.s
		r.e("mkdir d", s.Mkdir("d", 0o7777))
		r.stat("d", 0)
		r.e("mkdir d again", s.Mkdir("d", 0o755))
		r.e("mkdir e/", s.Mkdir("e/", 0o755))
		r.e("mkdir .", s.Mkdir(".", 0o755))
		r.e("mkdir d/..", s.Mkdir("d/..", 0o755))
		r.e("mkdir missing/x", s.Mkdir("missing/x", 0o755))
		r.close(r.open("f", abi.O_CREAT|abi.O_WRONLY, 0o644))
		r.e("mkdir f/x", s.Mkdir("f/x", 0o755))
		r.e("mkdir f", s.Mkdir("f", 0o755))
		r.stat(".", 0)
		r.e("chmod g+s", s.Chmod("e", 0o2755, 0))
		r.e("chown e", s.Chown("e", 7, 8, 0))
		r.e("mkdir e/sub", s.Mkdir("e/sub", 0o755))
		r.stat("e/sub", 0)
		r.close(r.open("e/file", abi.O_CREAT|abi.O_WRONLY, 0o2755))
		r.stat("e/file", 0)
		r.e("mknod e/fifo", s.Mknod("e/fifo", abi.S_IFIFO|0o666, 0))
		r.stat("e/fifo", 0)
		r.e("mknod chr", s.Mknod("chr", abi.S_IFCHR|0o600, abi.Makedev(1, 3)))
		r.stat("chr", 0)
		r.e("mknod blk", s.Mknod("blk", abi.S_IFBLK|0o600, abi.Makedev(8, 1)))
		r.stat("blk", 0)
		r.e("mknod sock", s.Mknod("sock", abi.S_IFSOCK|0o777, 0))
		r.stat("sock", 0)
		r.e("mknod reg", s.Mknod("reg", abi.S_IFREG|0o666, 0))
		r.stat("reg", 0)
		r.e("mknod type 0", s.Mknod("zero", 0o640, 0))
		r.stat("zero", 0)
		r.e("mknod dir", s.Mknod("dir", abi.S_IFDIR|0o755, 0))
		r.e("mknod bad type", s.Mknod("bad", 0o170000|0o644, 0))
		r.e("mknod bad type existing", s.Mknod("f", 0o170000|0o644, 0))
		r.e("mknod dir missing parent", s.Mknod("missing/x", abi.S_IFDIR|0o755, 0))
		r.e("mknod slash missing", s.Mknod("fifo2/", abi.S_IFIFO|0o644, 0))
		r.e("mknod slash existing", s.Mknod("f/", abi.S_IFIFO|0o644, 0))
		r.e("open fifo path", func() error {
			fd, err := s.Open("e/fifo", abi.O_PATH, 0)
			if err == nil {
				s.Close(fd)
			}
			return err
		}())
		r.e("symlink empty", s.Symlink("", "l"))
		r.e("symlink long", s.Symlink(strings.Repeat("a", abi.PATH_MAX), "l"))
		r.e("symlink", s.Symlink("some/where", "l"))
		r.e("symlink existing", s.Symlink("x", "l"))
		r.e("symlink slash", s.Symlink("x", "m/"))
		r.e("symlink in missing", s.Symlink("x", "missing/m"))
		r.stat("l", abi.AT_SYMLINK_NOFOLLOW)
		v, err := s.Readlink("l")
		r.add("readlink: %q %s", v, errName(err))
		r.ls(".")
		r.ls("e")
	}},
	{"link", func(r *tracer) {
		s := r.s
		r.e("mkdir d", s.Mkdir("d", 0o755))
		fd := r.open("f", abi.O_CREAT|abi.O_RDWR, 0o644)
		r.write(fd, "data")
		r.e("link", s.Link("f", "g", 0))
		r.stat("f", 0)
		r.e("link dir", s.Link("d", "d2", 0))
		r.e("link existing", s.Link("f", "d", 0))
		r.e("link onto self", s.Link("f", "f", 0))
		r.e("link missing", s.Link("missing", "h", 0))
		r.e("link bad flags", s.Link("f", "h", 0x8))
		r.e("link slash", s.Link("f", "h/", 0))
		r.e("link f/", s.Link("f/", "h", 0))
		r.e("link into missing", s.Link("f", "missing/h", 0))
		r.e("symlink", s.Symlink("f", "sl"))
		r.e("link symlink", s.Link("sl", "sl2", 0))
		r.stat("sl2", abi.AT_SYMLINK_NOFOLLOW)
		r.e("link follow", s.Link("sl", "sl3", abi.AT_SYMLINK_FOLLOW))
		r.stat("sl3", abi.AT_SYMLINK_NOFOLLOW)
		r.e("link dangling follow", s.Symlink("nowhere", "dl"))
		r.e("link dangling", s.Link("dl", "dl2", abi.AT_SYMLINK_FOLLOW))
		r.e("link fd", s.LinkFd(fd, "byfd", abi.AT_EMPTY_PATH))
		r.e("link fd no empty path", s.LinkFd(fd, "byfd2", 0))
		r.e("unlink f", s.Unlink("f", 0))
		r.e("unlink g", s.Unlink("g", 0))
		r.e("unlink byfd", s.Unlink("byfd", 0))
		r.e("unlink sl3", s.Unlink("sl3", 0))
		r.fstat("unlinked", fd)
		r.e("link unlinked fd", s.LinkFd(fd, "again", abi.AT_EMPTY_PATH))
		r.close(fd)
		r.ls(".")
	}},
	{"unlink-rmdir", func(r *tracer) {
		s := r.s
		r.e("mkdir d", s.Mkdir("d", 0o755))
		r.e("mkdir d/e", s.Mkdir("d/e", 0o755))
		r.close(r.open("f", abi.O_CREAT|abi.O_WRONLY, 0o644))
		r.e("unlink dir", s.Unlink("d", 0))
		r.e("unlink dir/", s.Unlink("d/", 0))
		r.e("unlink .", s.Unlink(".", 0))
		r.e("unlink d/..", s.Unlink("d/..", 0))
		r.e("rmdir file", s.Unlink("f", abi.AT_REMOVEDIR))
		r.e("rmdir file/", s.Unlink("f/", abi.AT_REMOVEDIR))
		r.e("rmdir non-empty", s.Unlink("d", abi.AT_REMOVEDIR))
		r.e("rmdir d/.", s.Unlink("d/.", abi.AT_REMOVEDIR))
		r.e("rmdir d/e/..", s.Unlink("d/e/..", abi.AT_REMOVEDIR))
		r.e("unlink f/", s.Unlink("f/", 0))
		r.e("unlink missing", s.Unlink("missing", 0))
		r.e("rmdir missing", s.Unlink("missing", abi.AT_REMOVEDIR))
		r.e("unlink missing/x", s.Unlink("missing/x", 0))
		r.e("unlink f/x", s.Unlink("f/x", 0))
		r.e("unlink bad flags", s.Unlink("f", 0x100))
		r.e("symlink to dir", s.Symlink("d", "ld"))
		r.e("rmdir symlink", s.Unlink("ld", abi.AT_REMOVEDIR))
		r.e("unlink symlink/", s.Unlink("ld/", 0))
		r.e("unlink symlink", s.Unlink("ld", 0))
		r.e("rmdir d/e/", s.Unlink("d/e/", abi.AT_REMOVEDIR))
		r.stat("d", 0)
		fd := r.open("f", abi.O_RDWR, 0)
		r.e("unlink open file", s.Unlink("f", 0))
		r.write(fd, "still here")
		r.fstat("unlinked", fd)
		r.fdata("unlinked", fd)
		r.stat("f", 0)
		r.close(fd)
		dfd := r.open("d", abi.O_RDONLY|abi.O_DIRECTORY, 0)
		r.e("rmdir open dir", s.Unlink("d", abi.AT_REMOVEDIR))
		r.fstat("removed dir", dfd)
		_, err := s.OpenAt(dfd, "new", abi.O_CREAT|abi.O_WRONLY, 0o644)
		r.e("create in removed dir", err)
		r.e("unlinkat in removed dir", s.UnlinkAt(dfd, "x", 0))
		r.close(dfd)
		r.ls(".")
	}},
	{"rename", func(r *tracer) {
		s := r.s
		mk := func(p, data string) {
			fd := r.open(p, abi.O_CREAT|abi.O_WRONLY, 0o644)
			r.write(fd, data)
			r.close(fd)
		}
		r.e("mkdir a", s.Mkdir("a", 0o755))
		r.e("mkdir a/b", s.Mkdir("a/b", 0o755))
		r.e("mkdir empty", s.Mkdir("empty", 0o755))
		r.e("mkdir full", s.Mkdir("full", 0o755))
		mk("full/x", "x")
		mk("f", "f")
		mk("g", "g")
		r.e("rename f h", s.Rename("f", "h", 0))
		r.stat("f", 0)
		r.data("h")
		r.e("rename h g (replace)", s.Rename("h", "g", 0))
		r.data("g")
		r.e("rename missing", s.Rename("missing", "z", 0))
		r.e("rename dir onto file", s.Rename("empty", "g", 0))
		r.e("rename file onto dir", s.Rename("g", "empty", 0))
		r.e("rename dir onto full", s.Rename("a", "full", 0))
		r.e("rename dir into itself", s.Rename("a", "a/b/c", 0))
		r.e("rename dir onto itself", s.Rename("a", "a", 0))
		r.e("rename onto ancestor", s.Rename("a/b", "a", 0))
		r.e("rename onto ancestor exchange", s.Rename("a/b", "a", abi.RENAME_EXCHANGE))
		r.e("rename .", s.Rename("a/.", "z", 0))
		r.e("rename to .", s.Rename("g", "a/.", 0))
		r.e("rename to . noreplace", s.Rename("g", "a/.", abi.RENAME_NOREPLACE))
		r.e("rename to ..", s.Rename("g", "a/..", 0))
		r.e("rename g/", s.Rename("g/", "z", 0))
		r.e("rename to z/", s.Rename("g", "z/", 0))
		r.e("rename dir to z/", s.Rename("empty", "empty2/", 0))
		r.e("rename bad flags", s.Rename("g", "z", 0x10))
		r.e("rename exchange+noreplace", s.Rename("g", "z", abi.RENAME_EXCHANGE|abi.RENAME_NOREPLACE))
		r.e("rename noreplace existing", s.Rename("g", "empty2", abi.RENAME_NOREPLACE))
		r.e("rename noreplace", s.Rename("g", "g2", abi.RENAME_NOREPLACE))
		r.e("rename exchange missing", s.Rename("g2", "nothing", abi.RENAME_EXCHANGE))
		r.e("rename exchange file dir", s.Rename("g2", "empty2", abi.RENAME_EXCHANGE))
		r.stat("g2", 0)
		r.stat("empty2", 0)
		r.e("rename dir onto empty dir", s.Rename("a", "g2", 0))
		r.stat("g2/b", 0)
		r.e("rename into subdir", s.Rename("empty2", "g2/b/moved", 0))
		r.stat("g2", 0)
		r.stat("g2/b", 0)
		r.data("g2/b/moved")
		r.e("link", s.Link("g2/b/moved", "hl", 0))
		r.e("rename onto hard link", s.Rename("hl", "g2/b/moved", 0))
		r.stat("hl", 0)
		r.e("rename into missing dir", s.Rename("hl", "missing/x", 0))
		r.e("rename dir onto dir/", s.Rename("full", "g2/", 0))
		r.ls(".")
		r.ls("g2")
		r.ls("g2/b")
	}},
	{"rename-nlink", func(r *tracer) {
		s := r.s
		for _, d := range []string{"p1", "p2", "p1/a", "p1/a/deep", "p3"} {
			r.e("mkdir "+d, s.Mkdir(d, 0o755))
		}
		r.close(r.open("p2/b", abi.O_CREAT|abi.O_WRONLY, 0o644))
		r.e("exchange dir and file across parents", s.Rename("p1/a", "p2/b", abi.RENAME_EXCHANGE))
		for _, p := range []string{"p1", "p2", "p1/a", "p2/b", "p2/b/deep"} {
			r.stat(p, 0)
		}
		r.e("move dir across parents", s.Rename("p2/b", "p3/c", 0))
		r.e("move dir onto empty dir across parents", s.Rename("p3/c/deep", "p1/a", abi.RENAME_NOREPLACE))
		r.e("mkdir p1/e", s.Mkdir("p1/e", 0o755))
		r.e("move dir onto empty dir", s.Rename("p3/c/deep", "p1/e", 0))
		r.e("both trailing slashes", s.Rename("p1/e/", "p3/e/", 0))
		for _, p := range []string{".", "p1", "p2", "p3", "p3/c", "p3/e"} {
			r.stat(p, 0)
		}
		r.e("rmdir p3/e", s.Unlink("p3/e", abi.AT_REMOVEDIR))
		r.stat("p3", 0)
		r.ls("p1")
		r.ls("p3")
	}},
	{"open-flags", func(r *tracer) {
		s := r.s
		mk := func() {
			fd := r.open("f", abi.O_CREAT|abi.O_WRONLY|abi.O_TRUNC, 0o644)
			r.write(fd, "0123456789")
			r.close(fd)
		}
		mk()
		r.close(r.open("f", abi.O_CREAT|abi.O_WRONLY, 0o600))
		r.stat("f", 0)
		r.close(r.open("f", abi.O_CREAT|abi.O_TRUNC|abi.O_WRONLY, 0o600))
		r.stat("f", 0)
		mk()
		fd := r.open("f", abi.O_APPEND|abi.O_TRUNC|abi.O_RDWR, 0)
		r.write(fd, "ab")
		r.pwrite(fd, "c", 0)
		r.seek(fd, 0, abi.SEEK_CUR)
		r.fdata("f", fd)
		r.close(fd)
		mk()
		fd = r.open("f", abi.O_WRONLY, 0)
		r.seek(fd, 20, abi.SEEK_SET)
		r.write(fd, "x")
		r.fstat("f", fd)
		r.seek(fd, 0, abi.SEEK_DATA)
		r.seek(fd, 0, abi.SEEK_HOLE)
		r.close(fd)
		r.data("f")
		path := r.open("f", abi.O_PATH, 0)
		r.e("link O_PATH fd", s.LinkFd(path, "g", abi.AT_EMPTY_PATH))
		r.e("chown O_PATH fd empty path", s.ChownFd(path, 3, 3, abi.AT_EMPTY_PATH))
		r.stat("g", 0)
		r.close(path)
		dfd := r.open(".", abi.O_RDONLY|abi.O_DIRECTORY, 0)
		fd2, err := s.OpenAt(dfd, "h", abi.O_CREAT|abi.O_EXCL|abi.O_WRONLY, 0o640)
		r.e("openat relative create", err)
		if err == nil {
			s.Close(fd2)
		}
		r.e("unlinkat relative", s.UnlinkAt(dfd, "g", 0))
		r.close(dfd)
		r.stat("h", 0)
		r.ls(".")
	}},
	{"chmod-chown", func(r *tracer) {
		s := r.s
		r.close(r.open("f", abi.O_CREAT|abi.O_WRONLY, 0o644))
		r.e("mkdir d", s.Mkdir("d", 0o755))
		r.e("chmod 4755", s.Chmod("f", 0o104755, 0))
		r.stat("f", 0)
		r.e("chown -1 -1", s.Chown("f", -1, -1, 0))
		r.stat("f", 0)
		r.e("chmod 6755", s.Chmod("f", 0o6755, 0))
		r.e("chown 1000", s.Chown("f", 1000, -1, 0))
		r.stat("f", 0)
		r.e("chmod 2745", s.Chmod("f", 0o2745, 0))
		r.e("chown 0 5", s.Chown("f", -1, 5, 0))
		r.stat("f", 0)
		r.e("chmod d 7777", s.Chmod("d", 0o7777, 0))
		r.e("chown d", s.Chown("d", 3, 4, 0))
		r.stat("d", 0)
		r.e("symlink", s.Symlink("f", "l"))
		r.e("chmod symlink nofollow", s.Chmod("l", 0o600, abi.AT_SYMLINK_NOFOLLOW))
		r.e("chmod symlink", s.Chmod("l", 0o600, 0))
		r.stat("f", 0)
		r.e("lchown", s.Chown("l", 9, 9, abi.AT_SYMLINK_NOFOLLOW))
		r.stat("l", abi.AT_SYMLINK_NOFOLLOW)
		r.stat("f", 0)
		r.e("chmod bad flags", s.Chmod("f", 0o600, 0x2))
		r.e("chown bad flags", s.Chown("f", 1, 1, 0x2))
		r.e("chmod missing", s.Chmod("missing", 0o600, 0))
		r.e("chown the directory, trailing slash", s.Chown("", 1, 1, 0))
		fd := r.open("f", abi.O_RDONLY, 0)
		r.e("fchmod read-only fd", s.Fchmod(fd, 0o640))
		r.e("fchown read-only fd", s.Fchown(fd, 2, 2))
		r.fstat("f", fd)
		r.e("fchmod bad fd", s.Fchmod(999, 0o640))
		r.close(fd)
	}},
	{"utimens", func(r *tracer) {
		s := r.s
		r.close(r.open("f", abi.O_CREAT|abi.O_WRONLY, 0o644))
		t1 := abi.Timespec{Sec: 1000000000, Nsec: 5}
		t2 := abi.Timespec{Sec: 1200000000, Nsec: 999999999}
		r.e("set", s.Utimens("f", &[2]abi.Timespec{t1, t2}, 0))
		r.times("f", 0)
		r.e("omit atime", s.Utimens("f", &[2]abi.Timespec{{Nsec: abi.UTIME_OMIT}, t1}, 0))
		r.times("f", 0)
		r.e("omit mtime", s.Utimens("f", &[2]abi.Timespec{t2, {Nsec: abi.UTIME_OMIT}}, 0))
		r.times("f", 0)
		r.e("omit both, bad flags, missing", s.Utimens("missing", &[2]abi.Timespec{{Nsec: abi.UTIME_OMIT}, {Nsec: abi.UTIME_OMIT}}, 0x2))
		r.e("bad nsec", s.Utimens("f", &[2]abi.Timespec{{Nsec: 1e9}, t1}, 0))
		r.e("negative nsec", s.Utimens("f", &[2]abi.Timespec{t1, {Nsec: -1}}, 0))
		r.e("bad nsec missing", s.Utimens("missing", &[2]abi.Timespec{{Nsec: 1e9}, t1}, 0))
		r.e("bad flags", s.Utimens("f", nil, 0x2))
		r.e("missing", s.Utimens("missing", nil, 0))
		r.e("the directory, trailing slash", s.Utimens("", nil, 0))
		r.times("f", 0)
		r.e("symlink", s.Symlink("f", "l"))
		r.e("set symlink", s.Utimens("l", &[2]abi.Timespec{t2, t2}, abi.AT_SYMLINK_NOFOLLOW))
		r.times("l", abi.AT_SYMLINK_NOFOLLOW)
		r.times("f", 0)
		fd := r.open("f", abi.O_RDONLY, 0)
		r.e("futimens", s.Futimens(fd, &[2]abi.Timespec{t1, t1}))
		r.e("futimens omit both bad fd", s.Futimens(999, &[2]abi.Timespec{{Nsec: abi.UTIME_OMIT}, {Nsec: abi.UTIME_OMIT}}))
		r.e("futimens bad fd", s.Futimens(999, nil))
		r.close(fd)
		r.times("f", 0)
	}},
	{"xattr", func(r *tracer) {
		s := r.s
		r.close(r.open("f", abi.O_CREAT|abi.O_WRONLY, 0o644))
		r.e("mkdir d", s.Mkdir("d", 0o755))
		r.e("set", s.Setxattr("f", "user.a", []byte("alpha"), 0))
		r.getxattr("f", "user.a")
		r.e("create existing", s.Setxattr("f", "user.a", []byte("x"), abi.XATTR_CREATE))
		r.e("replace missing", s.Setxattr("f", "user.b", []byte("x"), abi.XATTR_REPLACE))
		r.e("replace", s.Setxattr("f", "user.a", []byte("beta"), abi.XATTR_REPLACE))
		r.e("create", s.Setxattr("f", "user.b", nil, abi.XATTR_CREATE))
		r.getxattr("f", "user.a")
		r.getxattr("f", "user.b")
		r.e("bad flags", s.Setxattr("f", "user.c", []byte("x"), 4))
		r.e("both flags", s.Setxattr("f", "user.a", []byte("x"), abi.XATTR_CREATE|abi.XATTR_REPLACE))
		r.e("empty name", s.Setxattr("f", "", []byte("x"), 0))
		r.e("long name", s.Setxattr("f", "user."+strings.Repeat("n", 251), []byte("x"), 0))
		r.e("long name missing file", s.Setxattr("missing", "user."+strings.Repeat("n", 251), []byte("x"), 0))
		r.e("max name", s.Setxattr("f", "user."+strings.Repeat("n", 250), []byte("x"), 0))
		r.e("too big", s.Setxattr("f", "user.big", make([]byte, abi.XATTR_SIZE_MAX+1), 0))
		r.e("too big missing file", s.Setxattr("missing", "user.big", make([]byte, abi.XATTR_SIZE_MAX+1), 0))
		r.e("no namespace", s.Setxattr("f", "foo.bar", []byte("x"), 0))
		r.e("bare prefix", s.Setxattr("f", "user.", []byte("x"), 0))
		r.e("trusted", s.Setxattr("f", "trusted.t", []byte("t"), 0))
		r.getxattr("f", "trusted.t")
		r.e("dir", s.Setxattr("d", "user.d", []byte("d"), 0))
		r.getxattr("d", "user.d")
		r.e("symlink", s.Symlink("f", "l"))
		r.e("lset user on symlink", s.Lsetxattr("l", "user.l", []byte("x"), 0))
		r.e("lset trusted on symlink", s.Lsetxattr("l", "trusted.l", []byte("x"), 0))
		r.e("set through symlink", s.Setxattr("l", "user.c", []byte("c"), 0))
		r.getxattr("f", "user.c")
		r.e("lremove user on symlink", s.Lremovexattr("l", "user.c"))
		r.e("remove", s.Removexattr("f", "user.c"))
		r.getxattr("f", "user.c")
		r.e("remove missing", s.Removexattr("f", "user.c"))
		r.e("remove empty name", s.Removexattr("f", ""))
		r.e("remove no namespace", s.Removexattr("f", "foo.bar"))
		r.e("remove missing file", s.Removexattr("missing", "user.a"))
		r.e("mknod fifo", s.Mknod("fifo", abi.S_IFIFO|0o644, 0))
		r.e("set user on fifo", s.Setxattr("fifo", "user.x", []byte("x"), 0))
		fd := r.open("f", abi.O_RDONLY, 0)
		r.e("fset read-only fd", s.Fsetxattr(fd, "user.fd", []byte("fd"), 0))
		r.getxattr("f", "user.fd")
		r.e("fremove", s.Fremovexattr(fd, "user.fd"))
		r.e("fremove missing", s.Fremovexattr(fd, "user.fd"))
		r.close(fd)
		path := r.open("f", abi.O_PATH, 0)
		v, err := s.Fgetxattr(path, "user.a")
		r.add("fgetxattr O_PATH: %q %s", v, errName(err))
		n, err := s.Flistxattr(path)
		r.count("flistxattr O_PATH", n, err)
		fd = r.open("f", abi.O_RDONLY, 0)
		n, err = s.Flistxattr(fd)
		r.count("flistxattr", n, err)
		r.close(fd)
		r.close(path)
	}},
	{"umask", func(r *tracer) {
		s := r.s
		old := s.Umask(0o077)
		r.add("umask: %#o", old)
		r.close(r.open("f", abi.O_CREAT|abi.O_WRONLY, 0o666))
		r.e("mkdir", s.Mkdir("d", 0o777))
		r.e("mknod", s.Mknod("p", abi.S_IFIFO|0o666, 0))
		r.e("symlink", s.Symlink("f", "l"))
		r.stat("f", 0)
		r.stat("d", 0)
		r.stat("p", 0)
		r.stat("l", abi.AT_SYMLINK_NOFOLLOW)
		r.add("umask: %#o", s.Umask(old))
	}},
}

// hostTmpfs returns a tmpfs directory of the host, mounted for the test
// (it needs root), or skips.
func hostTmpfs(t *testing.T) string {
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "mode=0755"); err != nil {
		testutil.Skip(t, "mount tmpfs: %v (needs root)", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}

func TestWriteSyscallsAgainstHost(t *testing.T) {
	host := hostTmpfs(t)
	k := bootRamfs(t, Config{})
	runScenarios(t, hostcmpScenarios, host, k, "", nil)
}

// runScenarios runs every scenario under the host directory host and the
// kernel's directory kdir (of k), each in a directory of its own with
// umask 022, and compares their traces.
func runScenarios(t *testing.T, scenarios []hostcmpScenario, host string, k *Kernel, kdir string, gaps map[string]string) {
	oldMask := unix.Umask(0o022)
	defer unix.Umask(oldMask)
	k.Umask(0o022)
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			hdir := host + "/" + sc.name
			if err := os.Mkdir(hdir, 0o755); err != nil {
				t.Fatal(err)
			}
			kd := kdir + "/" + sc.name
			if err := k.Mkdirat(abi.AT_FDCWD, kd, 0o755); err != nil {
				t.Fatal(err)
			}
			hr := &tracer{s: &hostSys{dir: hdir}}
			kr := &tracer{s: &kernelSys{k: k, dir: kd}}
			sc.run(hr)
			sc.run(kr)
			compareTraces(t, hr.trace, kr.trace, gaps)
		})
	}
	if n := k.fds.Len(); n != 0 {
		t.Errorf("%d descriptors left open", n)
	}
}

// TestWriteSyscallsOnExt4AgainstHost runs the same scenarios on an ext4
// image through the kernel's ext4 driver and on a twin image loop-mounted
// by the host's Linux: the traces must be equal, and after Halt the
// kernel's image must pass e2fsck -fn.
func TestWriteSyscallsOnExt4AgainstHost(t *testing.T) {
	ext4AgainstHost(t)
}

// ext4AgainstHost is TestWriteSyscallsOnExt4AgainstHost on images made
// with mkfs.ext4's extra arguments mkfsArgs.
func ext4AgainstHost(t *testing.T, mkfsArgs ...string) {
	tools := testutil.Need(t, "mkfs.ext4", "e2fsck")
	testutil.NeedLoop(t)
	dir := t.TempDir()
	kimg, himg := dir+"/kernel.img", dir+"/host.img"
	for _, img := range []string{kimg, himg} {
		args := []string{"-q", "-F", "-U", "5e6bd9b1-0b1c-4c8e-9f5e-2b8c1a9d3e4f", "-E", "hash_seed=5e6bd9b1-0b1c-4c8e-9f5e-2b8c1a9d3e4f"}
		testutil.Run(t, tools[0], append(append(args, mkfsArgs...), img, "64M")...)
	}
	host := dir + "/mnt"
	if err := os.Mkdir(host, 0o755); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "mount", "-o", "loop", himg, host)
	t.Cleanup(func() { testutil.Run(t, "umount", host) })
	k, mnt, halt := bootExt4(t, kimg)
	runScenarios(t, append(slices.Clone(hostcmpScenarios), hostcmpExt4Scenarios...), host, k, mnt, ext4Gaps)
	halt()
	if out, err := exec.Command(tools[1], "-fn", kimg).CombinedOutput(); err != nil {
		t.Errorf("e2fsck -fn: %v\n%s", err, out)
	}
}

// bootExt4 boots a kernel with img as its disk, mounted read-write; it
// returns the kernel, the mount's directory, and halt, which halts the
// kernel (failing the test on an error). The kernel halts at the test's
// end if halt was not called.
func bootExt4(t *testing.T, img string) (*Kernel, string, func()) {
	t.Helper()
	k, mnt, halt := bootExt4RW(t, Config{}, img)
	return k, mnt, func() {
		t.Helper()
		if err := halt(); err != nil {
			t.Fatalf("halt: %v\n%s", err, k.Dmesg())
		}
	}
}

// ext4Gaps are the steps of the scenarios where the kernel's ext4 driver
// is known to differ from Linux's, by the host's line: they are logged,
// not failed.
var ext4Gaps = map[string]string{}

// compareTraces reports every step where the host's trace and the
// kernel's differ, but for the host lines in gaps, which are logged.
func compareTraces(t *testing.T, host, kernel []string, gaps map[string]string) {
	t.Helper()
	if testing.Verbose() {
		t.Logf("trace:\n%s", strings.Join(kernel, "\n"))
	}
	for i := 0; i < max(len(host), len(kernel)); i++ {
		var h, g string
		if i < len(host) {
			h = host[i]
		}
		if i < len(kernel) {
			g = kernel[i]
		}
		if why, ok := gaps[h]; ok && h != g {
			t.Logf("known gap at step %d: %s (kernel: %s)", i, why, g)
		} else if h != g {
			t.Errorf("step %d:\n\thost:   %s\n\tkernel: %s", i, h, g)
		}
	}
}
