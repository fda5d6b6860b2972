//go:build linux || darwin || freebsd

package hostcopy

import (
	"errors"
	"os"
	"strings"

	"github.com/lklimg/lklimg/kernel/abi"
	"golang.org/x/sys/unix"
)

// The host layer on the unixes (Linux, macOS, FreeBSD): descriptors and
// the *at calls, which the three share. What differs (errno numbers,
// futimens, xattrs of a symlink) is in host_linux.go and host_bsd.go.

// dirHandle is an open host directory: its descriptor. hostFD is an open
// host file's.
type (
	dirHandle = int
	hostFD    = int
)

// noDir and noFD stand for no descriptor (a dry run; a symlink's meta).
const (
	noDir = -1
	noFD  = -1
)

// dirFD is the descriptor of the directory d, for meta.
func dirFD(d dirHandle) hostFD { return d }

// refusedNames is nil here: every plain name can be made on these hosts.
func refusedNames(names []string) map[string]error { return nil }

// openTop opens the directory From makes everything under.
func openTop(path string) (dirHandle, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	return fd, hostErr(err)
}

func closeDir(d dirHandle) { unix.Close(d) }
func closeFD(fd hostFD)    { unix.Close(fd) }

// statAt reports whether name in d is a directory (a symlink is not
// followed); its error is ENOENT when there is nothing.
func statAt(d dirHandle, name string) (bool, error) {
	var st unix.Stat_t
	err := unix.Fstatat(d, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	return st.Mode&unix.S_IFMT == unix.S_IFDIR, hostErr(err)
}

func mkdirAt(d dirHandle, name string) error { return hostErr(unix.Mkdirat(d, name, 0o700)) }

// openDirAt opens the directory name in d, following no symlink.
func openDirAt(d dirHandle, name string) (dirHandle, error) {
	fd, err := unix.Openat(d, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	return fd, hostErr(err)
}

func unlinkAt(d dirHandle, name string) error { return hostErr(unix.Unlinkat(d, name, 0)) }

// createAt makes the new file name in d (O_EXCL, following no symlink),
// mode 0600 until meta sets the source's.
func createAt(d dirHandle, name string) (hostFD, error) {
	fd, err := unix.Openat(d, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	return fd, hostErr(err)
}

func truncateFD(fd hostFD, size int64) error { return hostErr(unix.Ftruncate(fd, size)) }

func pwriteFD(fd hostFD, p []byte, off int64) (int, error) {
	n, err := unix.Pwrite(fd, p, off)
	return n, hostErr(err)
}

// setSparse does nothing: a unix file is sparse wherever it is not
// written.
func setSparse(hostFD) {}

// symlinkAt makes the symlink name in d; a unix symlink has no type, so
// isDir is not asked.
func symlinkAt(target string, d dirHandle, name string, isDir func() bool) error {
	return hostErr(unix.Symlinkat(target, d, name))
}

// linkBeneath links name in d to first, a path under top whose directory
// is reached from top one component at a time with O_NOFOLLOW
// (openBeneath), so that a symlink put in its way since cannot lead the
// link outside.
func linkBeneath(top dirHandle, first string, d dirHandle, name string) error {
	i := strings.LastIndexByte(first, '/')
	dir, base := first[:i+1], first[i+1:]
	pfd, err := openBeneath(top, dir)
	if err != nil {
		return hostErr(err)
	}
	defer unix.Close(pfd)
	return hostErr(unix.Linkat(pfd, base, d, name, 0))
}

// openBeneath opens the directory rel under the directory top, following
// no symlink and no "..": each component is opened with O_NOFOLLOW from
// the previous one.
func openBeneath(top int, rel string) (int, error) {
	fd, err := unix.Dup(top)
	if err != nil {
		return -1, err
	}
	for _, name := range strings.Split(rel, "/") {
		if name == "" || name == "." {
			continue
		}
		if name == ".." {
			unix.Close(fd)
			return -1, unix.EXDEV
		}
		next, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if err != nil {
			return -1, err
		}
		fd = next
	}
	return fd, nil
}

func (e hostEntry) chown(uid, gid int) error {
	if e.fd >= 0 {
		return hostErr(unix.Fchown(e.fd, uid, gid))
	}
	return hostErr(unix.Fchownat(e.dir, e.name, uid, gid, unix.AT_SYMLINK_NOFOLLOW))
}

func (e hostEntry) chmod(mode uint32) error {
	if e.fd >= 0 {
		return hostErr(unix.Fchmod(e.fd, mode))
	}
	// name was just made by mknod, not a symlink: chmod cannot follow
	// one.
	return hostErr(unix.Fchmodat(e.dir, e.name, mode, 0))
}

func (e hostEntry) setxattr(name string, value []byte) error {
	if e.fd >= 0 {
		return hostErr(unix.Fsetxattr(e.fd, name, value, 0))
	}
	return hostErr(lsetxattrAt(e, name, value))
}

// The host side of To: lstat, readlink, the file's data and holes, xattrs.

// lstat describes the host entry path, a symlink not followed. Its error
// is the host's own (as the host words it: "no such file or directory");
// hostErr gives it the kernel's errno.
func lstat(path string) (hostStat, error) {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return hostStat{}, err
	}
	// The conversions fit every unix's field types (Mode is 16 bits on
	// the BSDs, Dev 32 bits on macOS); the S_IF* values are the same.
	rdev := uint64(st.Rdev)
	return hostStat{
		mode:   uint32(st.Mode),
		uid:    st.Uid,
		gid:    st.Gid,
		rdev:   abi.Makedev(unix.Major(rdev), unix.Minor(rdev)),
		nlink:  uint64(st.Nlink),
		size:   st.Size,
		blocks: st.Blocks,
		id:     hostID{uint64(st.Dev), uint64(st.Ino)},
		atime:  abi.Timespec{Sec: int64(st.Atim.Sec), Nsec: int64(st.Atim.Nsec)},
		mtime:  abi.Timespec{Sec: int64(st.Mtim.Sec), Nsec: int64(st.Mtim.Nsec)},
	}, nil
}

func readlink(path string) (string, error) {
	target, err := os.Readlink(path)
	return target, unwrapPath(err)
}

func listXattrs(path string, buf []byte) (int, error) {
	n, err := unix.Llistxattr(path, buf)
	return n, hostErr(err)
}

func getXattr(path, name string, buf []byte) (int, error) {
	n, err := unix.Lgetxattr(path, name, buf)
	return n, hostErr(err)
}

// srcFile is a host file To reads.
type srcFile struct{ fd int }

// openSource opens the host file path for reading, following no symlink.
func openSource(path string) (srcFile, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	return srcFile{fd}, hostErr(err)
}

func (f srcFile) close() { unix.Close(f.fd) }

func (f srcFile) pread(p []byte, off int64) (int, error) {
	n, err := unix.Pread(f.fd, p, off)
	return n, hostErr(err)
}

// regions calls data with each data region of the file, of size bytes,
// found with SEEK_DATA and SEEK_HOLE; a filesystem without them is all
// data.
func (f srcFile) regions(size int64, data func(start, end int64) error) error {
	for off := int64(0); off < size; {
		start, err := unix.Seek(f.fd, off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			return nil // a hole to the end
		}
		if err != nil {
			return data(off, size) // no SEEK_DATA here
		}
		end, err := unix.Seek(f.fd, start, unix.SEEK_HOLE)
		if err != nil || end > size {
			end = size
		}
		if err := data(start, end); err != nil {
			return err
		}
		off = end
	}
	return nil
}
