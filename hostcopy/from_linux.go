package hostcopy

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unsafe"

	"github.com/lklimg/lklimg/kernel/abi"
	"golang.org/x/sys/unix"
)

// From copies the image paths srcs (inside the kernel's tree at root, a
// mount point, resolved as a process chrooted at root would) to the host
// path dst. As cp: when dst is an existing directory each source is copied
// into it under its own name; otherwise the one source is copied as dst.
// A source whose last component holds a shell pattern, and names nothing
// itself, stands for the names of its directory it matches (path.Match on
// the image's names); "/" (the image's root) and "dir/." stand for their
// contents, merged into dst.
//
// Nothing is written outside dst: below it, every host file is made by
// name relative to the descriptor of its directory, each directory opened
// with O_NOFOLLOW (a symlink, from the image or already on the host, is
// never gone through), and names that are not plain names are refused.
// Owners are set only with Options.Owners (or Uid/Gid).
//
// It returns as To does.
func From(k Kernel, root string, srcs []string, dst string, opts Options) error {
	c := &fromCopier{copier: newCopier(opts), k: k, links: map[uint64]string{},
		dents: make([]byte, 64<<10), link: make([]byte, abi.PATH_MAX)}
	items := imageSources(k, root, srcs, c.dents, func(src string, err error) { c.fail(src, "", err) })
	if len(items) == 0 {
		return c.result()
	}
	dst = filepath.Clean(dst)
	fi, err := os.Stat(dst)
	into := err == nil && fi.IsDir()
	if err == nil && !into && len(items) > 1 {
		return &PathError{Path: dst, Err: abi.ENOTDIR}
	}
	if err != nil && (!errors.Is(err, os.ErrNotExist) || len(items) > 1) {
		return &PathError{Path: dst, Err: unwrapPath(err)}
	}
	// top is the directory every host file is made under; c.hostRoot its
	// path, for the messages.
	topPath, name := dst, ""
	if !into {
		topPath, name = filepath.Dir(dst), filepath.Base(dst)
	}
	top, err := unix.Open(topPath, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &PathError{Path: topPath, Op: "open", Err: err}
	}
	defer unix.Close(top)
	c.top, c.hostRoot = top, topPath
	for _, it := range items {
		switch {
		case !into:
			c.copy(it.path, top, name, name)
		case it.name == "":
			// The contents of a directory, into dst itself.
			c.mergeTop(it.path)
		default:
			c.copy(it.path, top, it.name, it.name)
		}
		if c.stopped() {
			break
		}
	}
	return c.result()
}

type fromCopier struct {
	*copier
	k        Kernel
	top      int               // host directory every file is made under
	hostRoot string            // its path
	links    map[uint64]string // image inode -> host path (under top) of its first copy
	dents    []byte            // getdents64 buffer
	link     []byte            // readlink buffer
}

// show is the host path of rel under top, for messages and -v.
func (c *fromCopier) show(rel string) string { return filepath.Join(c.hostRoot, rel) }

// mergeTop copies the entries of the image directory kp into top itself,
// then gives top the directory's metadata.
func (c *fromCopier) mergeTop(kp string) {
	var st abi.Stat
	if err := c.k.Fstatat(abi.AT_FDCWD, kp, &st, 0); err != nil {
		c.fail(kp, "stat", err)
		return
	}
	c.entry(kp, c.hostRoot)
	c.dir(kp, c.top, "")
	if !c.opts.DryRun && !c.stopped() {
		c.meta(kp, &st, c.top, "", c.top)
	}
}

// copy copies the image entry kp, and the tree under it, to name in the
// host directory dirfd; rel is its host path relative to top.
func (c *fromCopier) copy(kp string, dirfd int, name, rel string) {
	var st abi.Stat
	if err := c.k.Fstatat(abi.AT_FDCWD, kp, &st, abi.AT_SYMLINK_NOFOLLOW); err != nil {
		c.fail(kp, "stat", err)
		return
	}
	typ := st.Mode & abi.S_IFMT
	isDir := typ == abi.S_IFDIR
	c.entry(kp, c.show(rel))
	if c.opts.DryRun {
		if isDir {
			c.dir(kp, -1, rel)
		}
		return
	}

	if !isDir && st.Nlink > 1 {
		if first, ok := c.links[st.Ino]; ok {
			if c.clear(kp, dirfd, name, rel, false) {
				c.hardLink(kp, first, dirfd, name)
			}
			return
		}
	}

	var old unix.Stat_t
	exists := unix.Fstatat(dirfd, name, &old, unix.AT_SYMLINK_NOFOLLOW) == nil
	if exists && !(isDir && old.Mode&unix.S_IFMT == unix.S_IFDIR) {
		if !c.clear(kp, dirfd, name, rel, isDir) {
			return
		}
		exists = false
	}

	switch typ {
	case abi.S_IFDIR:
		if !exists {
			if err := unix.Mkdirat(dirfd, name, 0o700); err != nil {
				c.fail(kp, "mkdir "+c.show(rel), hostErr(err))
				return
			}
		}
		fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			c.fail(kp, "open "+c.show(rel), hostErr(err))
			return
		}
		defer unix.Close(fd)
		c.dir(kp, fd, rel)
		if !c.stopped() {
			c.meta(kp, &st, fd, "", dirfd)
		}
		return
	case abi.S_IFREG:
		fd, ok := c.file(kp, &st, dirfd, name, rel)
		if !ok {
			return
		}
		defer unix.Close(fd)
		c.meta(kp, &st, fd, "", dirfd)
	case abi.S_IFLNK:
		n, err := c.k.Readlinkat(abi.AT_FDCWD, kp, c.link)
		if err != nil {
			c.fail(kp, "readlink", err)
			return
		}
		if err := unix.Symlinkat(string(c.link[:n]), dirfd, name); err != nil {
			c.fail(kp, "symlink "+c.show(rel), hostErr(err))
			return
		}
		c.meta(kp, &st, -1, name, dirfd)
	case abi.S_IFCHR, abi.S_IFBLK, abi.S_IFIFO, abi.S_IFSOCK:
		dev := unix.Mkdev(abi.Major(st.Rdev), abi.Minor(st.Rdev))
		if err := unix.Mknodat(dirfd, name, typ|st.Mode&0o7777, int(dev)); err != nil {
			c.fail(kp, "mknod "+c.show(rel), hostErr(err))
			return
		}
		c.meta(kp, &st, -1, name, dirfd)
	default:
		c.fail(kp, "", errors.New("unknown file type"))
		return
	}
	if st.Nlink > 1 {
		c.links[st.Ino] = rel
	}
}

// clear removes the existing host non-directory name in dirfd so that kp
// can take its place; directories clash as in toCopier.clear.
func (c *fromCopier) clear(kp string, dirfd int, name, rel string, srcIsDir bool) bool {
	return c.replace(kp, c.show(rel), srcIsDir, func() (bool, error) {
		var old unix.Stat_t
		err := unix.Fstatat(dirfd, name, &old, unix.AT_SYMLINK_NOFOLLOW)
		return old.Mode&unix.S_IFMT == unix.S_IFDIR, hostErr(err)
	}, func() error { return hostErr(unix.Unlinkat(dirfd, name, 0)) })
}

// hardLink links name in dirfd to first, the host path (under top) of the
// first copy of the same image inode. first's directory is reached from
// top one component at a time with O_NOFOLLOW, so a symlink put in its
// way since cannot lead the link outside.
func (c *fromCopier) hardLink(kp, first string, dirfd int, name string) {
	dir, base := filepath.Split(first)
	pfd, err := openBeneath(c.top, dir)
	if err != nil {
		c.fail(kp, "link to "+c.show(first), hostErr(err))
		return
	}
	defer unix.Close(pfd)
	if err := unix.Linkat(pfd, base, dirfd, name, 0); err != nil {
		c.fail(kp, "link to "+c.show(first), hostErr(err))
	}
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

// dir copies the entries of the image directory kp into the host
// directory fd (-1 in a dry run); rel is fd's path under top.
func (c *fromCopier) dir(kp string, fd int, rel string) {
	names, err := readDir(c.k, kp, c.dents)
	if err != nil {
		c.fail(kp, "readdir", err)
	}
	for _, n := range names {
		child := join(kp, n)
		if !plainName(n) {
			c.fail(child, "", abi.Errorf(abi.EINVAL, "the name %q in the image is not a plain name", n))
			continue
		}
		c.copy(child, fd, n, filepath.Join(rel, n))
		if c.stopped() {
			return
		}
	}
}

// file makes name in dirfd and writes the data regions of the image file
// kp into it, leaving its holes unwritten, then sets its size. It returns
// the host file open for its metadata, and whether it was made.
func (c *fromCopier) file(kp string, st *abi.Stat, dirfd int, name, rel string) (int, bool) {
	kfd, err := c.k.Openat(abi.AT_FDCWD, kp, abi.O_RDONLY|abi.O_NOFOLLOW|abi.O_CLOEXEC, 0)
	if err != nil {
		c.fail(kp, "open", err)
		return -1, false
	}
	defer c.k.Close(kfd)
	fd, err := unix.Openat(dirfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		c.fail(kp, "create "+c.show(rel), hostErr(err))
		return -1, false
	}
	for off := int64(0); off < st.Size; {
		start, err := c.k.Lseek(kfd, off, abi.SEEK_DATA)
		if errors.Is(err, abi.ENXIO) {
			break // a hole to the end
		}
		if err != nil {
			c.fail(kp, "seek", err)
			break
		}
		end, err := c.k.Lseek(kfd, start, abi.SEEK_HOLE)
		if err != nil || end > st.Size {
			end = st.Size
		}
		if !c.region(kp, kfd, fd, start, end, rel) {
			break
		}
		off = end
	}
	if err := unix.Ftruncate(fd, st.Size); err != nil {
		c.fail(kp, "truncate "+c.show(rel), hostErr(err))
	}
	return fd, true
}

// region copies the bytes [start, end) of the image file kfd to the host
// file fd.
func (c *fromCopier) region(kp string, kfd, fd int, start, end int64, rel string) bool {
	for off := start; off < end; {
		n, err := c.k.Pread(kfd, c.data[:min(int64(len(c.data)), end-off)], off)
		if err != nil {
			c.fail(kp, "read", err)
			return false
		}
		if n == 0 {
			return false // the file shrank
		}
		if err := pwriteFull(func(p []byte, off int64) (int, error) { return unix.Pwrite(fd, p, off) }, c.data[:n], off); err != nil {
			c.fail(kp, "write "+c.show(rel), hostErr(err))
			return false
		}
		c.bytes(n)
		off += int64(n)
	}
	return true
}

// meta gives a host entry the owner, mode, xattrs and times of the image
// entry kp (see toCopier.meta for the order). The entry is the open
// descriptor fd, or, when fd is -1, name in dirfd (a symlink or a special
// file, which cannot be opened for this).
func (c *fromCopier) meta(kp string, st *abi.Stat, fd int, name string, dirfd int) {
	typ := st.Mode & abi.S_IFMT
	if uid, gid, ok := c.owner(st.Uid, st.Gid); ok {
		var err error
		if fd >= 0 {
			err = unix.Fchown(fd, uid, gid)
		} else {
			err = unix.Fchownat(dirfd, name, uid, gid, unix.AT_SYMLINK_NOFOLLOW)
		}
		if err != nil {
			c.fail(kp, "chown", hostErr(err))
		}
	}
	if typ != abi.S_IFLNK {
		var err error
		if fd >= 0 {
			err = unix.Fchmod(fd, st.Mode&0o7777)
		} else {
			// name was just made by mknod, not a symlink: chmod cannot
			// follow one.
			err = unix.Fchmodat(dirfd, name, st.Mode&0o7777, 0)
		}
		if err != nil {
			c.fail(kp, "chmod", hostErr(err))
		}
	}
	xs, err := c.readXattrs(
		func(b []byte) (int, error) { return c.k.Llistxattr(kp, b) },
		func(n string, b []byte) (int, error) { return c.k.Lgetxattr(kp, n, b) })
	if err != nil {
		c.fail(kp, "read xattrs", err)
	}
	// A symlink or special file has no descriptor to set xattrs on;
	// /proc/self/fd/DIRFD/NAME names it through its directory's
	// descriptor, and lsetxattr does not follow the last component.
	xpath := "/proc/self/fd/" + strconv.Itoa(dirfd) + "/" + name
	for _, x := range c.withSELinux(xs) {
		var err error
		if fd >= 0 {
			err = unix.Fsetxattr(fd, x.name, x.value, 0)
		} else {
			err = unix.Lsetxattr(xpath, x.name, x.value, 0)
		}
		if err != nil && !c.opts.Owners && errors.Is(err, unix.EPERM) {
			continue // trusted.* and security.* need root: cp -a as a user leaves them too
		}
		if err != nil {
			c.fail(kp, "setxattr "+x.name, setxattrError(hostErr(err)))
		}
	}
	ts := []unix.Timespec{
		{Sec: st.Atim.Sec, Nsec: st.Atim.Nsec},
		{Sec: st.Mtim.Sec, Nsec: st.Mtim.Nsec},
	}
	if fd >= 0 {
		err = futimens(fd, ts)
	} else {
		err = unix.UtimesNanoAt(dirfd, name, ts, unix.AT_SYMLINK_NOFOLLOW)
	}
	if err != nil {
		c.fail(kp, "utimensat", hostErr(err))
	}
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
