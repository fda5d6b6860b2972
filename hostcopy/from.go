//go:build linux || darwin || freebsd || windows

package hostcopy

import (
	"errors"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/lklimg/lklimg/archive"
	"github.com/lklimg/lklimg/kernel/abi"
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
// name relative to its directory, held open (a descriptor on the unixes,
// a handle Windows will not let be renamed), each directory opened
// without following a symlink (O_NOFOLLOW; on Windows, a reparse point
// is refused), so that a symlink, from the image or already on the host,
// is never gone through; names that are not plain names are refused,
// and on Windows the names it would read as something else
// (windowsRefused: devices, streams, drives, case twins). Owners are set
// only with Options.Owners (or Uid/Gid).
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
	top, err := openTop(topPath)
	if err != nil {
		return &PathError{Path: topPath, Op: "open", Err: err}
	}
	defer closeDir(top)
	c.top, c.hostRoot, c.root = top, topPath, root
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
	root     string            // the image's mount point in the kernel
	top      dirHandle         // host directory every file is made under
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
		c.meta(kp, &st, dirFD(c.top), "", c.top, c.hostRoot)
	}
}

// copy copies the image entry kp, and the tree under it, to name in the
// host directory dirfd; rel is its host path relative to top.
func (c *fromCopier) copy(kp string, dirfd dirHandle, name, rel string) {
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
			c.dir(kp, noDir, rel)
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

	oldDir, err := statAt(dirfd, name)
	exists := err == nil
	if exists && !(isDir && oldDir) {
		if !c.clear(kp, dirfd, name, rel, isDir) {
			return
		}
		exists = false
	}

	switch typ {
	case abi.S_IFDIR:
		if !exists {
			if err := mkdirAt(dirfd, name); err != nil {
				c.fail(kp, "mkdir "+c.show(rel), err)
				return
			}
		}
		fd, err := openDirAt(dirfd, name)
		if err != nil {
			c.fail(kp, "open "+c.show(rel), err)
			return
		}
		defer closeDir(fd)
		c.dir(kp, fd, rel)
		if !c.stopped() {
			c.meta(kp, &st, dirFD(fd), "", dirfd, c.show(rel))
		}
		return
	case abi.S_IFREG:
		fd, ok := c.file(kp, &st, dirfd, name, rel)
		if !ok {
			return
		}
		defer closeFD(fd)
		c.meta(kp, &st, fd, name, dirfd, c.show(rel))
	case abi.S_IFLNK:
		n, err := c.k.Readlinkat(abi.AT_FDCWD, kp, c.link)
		if err != nil {
			c.fail(kp, "readlink", err)
			return
		}
		target := string(c.link[:n])
		if err := symlinkAt(target, dirfd, name, func() bool { return c.linksToDir(kp, target) }); err != nil {
			c.fail(kp, "symlink "+c.show(rel), err)
			return
		}
		c.meta(kp, &st, noFD, name, dirfd, c.show(rel))
	case abi.S_IFCHR, abi.S_IFBLK, abi.S_IFIFO, abi.S_IFSOCK:
		if err := mknodAt(hostEntry{fd: noFD, dir: dirfd, name: name, path: c.show(rel)}, typ|st.Mode&0o7777, st.Rdev); err != nil {
			c.fail(kp, "mknod "+c.show(rel), err)
			return
		}
		c.meta(kp, &st, noFD, name, dirfd, c.show(rel))
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
func (c *fromCopier) clear(kp string, dirfd dirHandle, name, rel string, srcIsDir bool) bool {
	return c.replace(kp, c.show(rel), srcIsDir, func() (bool, error) { return statAt(dirfd, name) },
		func() error { return unlinkAt(dirfd, name) })
}

// linksToDir reports whether the symlink kp's target leads to a directory
// inside the image, resolved as a process chrooted at the image's root
// would: a host whose symlinks have a type (Windows) needs it.
func (c *fromCopier) linksToDir(kp, target string) bool {
	rel := strings.TrimPrefix(kp, strings.TrimSuffix(c.root, "/"))
	if !strings.HasPrefix(target, "/") {
		target = path.Join(path.Dir(rel), target)
	}
	full, err := archive.Resolve(c.k, c.root, target)
	if err != nil {
		return false
	}
	var st abi.Stat
	return c.k.Fstatat(abi.AT_FDCWD, full, &st, 0) == nil && st.Mode&abi.S_IFMT == abi.S_IFDIR
}

// hardLink links name in dirfd to first, the host path (under top) of the
// first copy of the same image inode; linkBeneath reaches first's
// directory from top without following a symlink put in its way since.
func (c *fromCopier) hardLink(kp, first string, dirfd dirHandle, name string) {
	if err := linkBeneath(c.top, first, dirfd, name); err != nil {
		c.fail(kp, "link to "+c.show(first), err)
	}
}

// dir copies the entries of the image directory kp into the host
// directory fd (noDir in a dry run); rel is fd's path under top. The
// names the host refuses (refusedNames) are reported, one each.
func (c *fromCopier) dir(kp string, fd dirHandle, rel string) {
	names, err := readDir(c.k, kp, c.dents)
	if err != nil {
		c.fail(kp, "readdir", err)
	}
	refused := refusedNames(names)
	for _, n := range names {
		child := join(kp, n)
		if !plainName(n) {
			c.fail(child, "", abi.Errorf(abi.EINVAL, "the name %q in the image is not a plain name", n))
			continue
		}
		if err := refused[n]; err != nil {
			c.fail(child, "", err)
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
func (c *fromCopier) file(kp string, st *abi.Stat, dirfd dirHandle, name, rel string) (hostFD, bool) {
	kfd, err := c.k.Openat(abi.AT_FDCWD, kp, abi.O_RDONLY|abi.O_NOFOLLOW|abi.O_CLOEXEC, 0)
	if err != nil {
		c.fail(kp, "open", err)
		return noFD, false
	}
	defer c.k.Close(kfd)
	fd, err := createAt(dirfd, name)
	if err != nil {
		c.fail(kp, "create "+c.show(rel), err)
		return noFD, false
	}
	if st.Blocks*512 < st.Size {
		// Holes to leave: a host whose files are not sparse by default
		// (NTFS) is told first.
		setSparse(fd)
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
	if err := truncateFD(fd, st.Size); err != nil {
		c.fail(kp, "truncate "+c.show(rel), err)
	}
	return fd, true
}

// region copies the bytes [start, end) of the image file kfd to the host
// file fd.
func (c *fromCopier) region(kp string, kfd int, fd hostFD, start, end int64, rel string) bool {
	for off := start; off < end; {
		n, err := c.k.Pread(kfd, c.data[:min(int64(len(c.data)), end-off)], off)
		if err != nil {
			c.fail(kp, "read", err)
			return false
		}
		if n == 0 {
			return false // the file shrank
		}
		if err := pwriteFull(func(p []byte, off int64) (int, error) { return pwriteFD(fd, p, off) }, c.data[:n], off); err != nil {
			c.fail(kp, "write "+c.show(rel), err)
			return false
		}
		c.bytes(n)
		off += int64(n)
	}
	return true
}

// hostEntry is a host entry meta sets (through its host's methods chown,
// chmod, setxattr, setTimes): the open fd (a regular file or a
// directory), or name in dir (a symlink, a special file); path is its
// host path, for the hosts whose calls have no *at form; mode is the
// image entry's.
type hostEntry struct {
	fd   hostFD
	dir  dirHandle
	name string
	path string
	mode uint32
}

// meta gives a host entry the owner, mode, xattrs and times of the image
// entry kp (see toCopier.meta for the order). The entry is the open
// descriptor fd (a regular file, named name in dirfd, or a directory,
// with name ""), or, when fd is noFD, name in dirfd (a symlink or a
// special file, which cannot be opened for this). What the host cannot
// hold (its calls' errNotHeld) is told to Options.Dropped, one call for
// the entry, rather than reported as a failure. hostPath is the entry's
// host path, for the hosts that have no call by descriptor for it.
func (c *fromCopier) meta(kp string, st *abi.Stat, fd hostFD, name string, dirfd dirHandle, hostPath string) {
	e := hostEntry{fd: fd, dir: dirfd, name: name, path: hostPath, mode: st.Mode}
	var dropped []string
	fail := func(op string, err error) {
		var nh *errNotHeld
		if errors.As(err, &nh) {
			dropped = append(dropped, nh.what)
			return
		}
		c.fail(kp, op, err)
	}
	typ := st.Mode & abi.S_IFMT
	if uid, gid, ok := c.owner(st.Uid, st.Gid); ok {
		if err := e.chown(uid, gid); err != nil {
			fail("chown", err)
		}
	}
	if typ != abi.S_IFLNK {
		if err := e.chmod(st.Mode & 0o7777); err != nil {
			fail("chmod", err)
		}
	}
	xs, err := c.readXattrs(
		func(b []byte) (int, error) { return c.k.Llistxattr(kp, b) },
		func(n string, b []byte) (int, error) { return c.k.Lgetxattr(kp, n, b) })
	if err != nil {
		c.fail(kp, "read xattrs", err)
	}
	var xdropped []string
	for _, x := range c.withSELinux(xs) {
		err := e.setxattr(x.name, x.value)
		if err != nil && !c.opts.Owners && errors.Is(err, abi.EPERM) {
			continue // trusted.* and security.* need root: cp -a as a user leaves them too
		}
		var nh *errNotHeld
		if errors.As(err, &nh) {
			xdropped = append(xdropped, x.name)
			continue
		}
		if err != nil {
			c.fail(kp, "setxattr "+x.name, setxattrError(err))
		}
	}
	if len(xdropped) > 0 {
		dropped = append(dropped, "xattrs "+strings.Join(xdropped, ", "))
	}
	if err := e.setTimes(st.Atim, st.Mtim); err != nil {
		fail("utimensat", err)
	}
	if len(dropped) > 0 {
		c.dropped(kp, dropped)
	}
}
