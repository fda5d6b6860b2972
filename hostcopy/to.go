//go:build linux || darwin || freebsd || windows

package hostcopy

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/lklimg/lklimg/kernel/abi"
)

// To copies the host paths srcs into the kernel's tree at root (a mount
// point), to dst (a path inside that tree, resolved as a process chrooted
// at root would). As cp: when dst is an existing directory each source is
// copied into it under its own name; otherwise the one source is copied
// as dst. A source whose last component holds a shell pattern, and names
// nothing itself, stands for the names of its directory it matches
// (path.Match); "dir/." stands for the contents of dir, merged into dst.
//
// It returns nil when every entry was copied; an error wrapping
// ErrIncomplete when some were not (each reported); a *FatalError when
// the copy stopped (ENOSPC, ENOSYS, EROFS); another error when dst cannot
// be used.
func To(k Kernel, root string, srcs []string, dst string, opts Options) error {
	c := &toCopier{copier: newCopier(opts), k: k, root: strings.TrimSuffix(root, "/"), links: map[hostID]string{}}
	var items []source
	for _, src := range srcs {
		found, err := hostSources(src)
		if err != nil {
			c.fail(src, "", err)
			continue
		}
		items = append(items, found...)
	}
	if len(items) == 0 {
		return c.result()
	}
	target, into, err := imageDest(k, root, dst, len(items))
	if err != nil {
		return &PathError{Path: dst, Err: err}
	}
	for _, it := range items {
		kp := target
		if into && it.name != "" {
			kp = join(target, it.name)
		}
		c.copy(it.path, kp, false)
		if c.stopped() {
			break
		}
	}
	return c.result()
}

// hostSources expands one host source as To describes.
func hostSources(src string) ([]source, error) {
	_, err := lstat(src)
	if err == nil {
		clean := filepath.Clean(src)
		if filepath.Base(src) == "." || src == "." {
			// The contents of the directory; "dir/." keeps its "/." so
			// that a symlink dir is followed to the directory, as the
			// shell's cp does.
			return []source{{path: clean + "/.", name: ""}}, nil
		}
		return []source{{path: clean, name: filepath.Base(clean)}}, nil
	}
	dir, base := filepath.Split(src)
	if !errors.Is(err, fs.ErrNotExist) || !hasMeta(base) {
		return nil, err // the host's words, as cp says them
	}
	if dir == "" {
		dir = "."
	}
	f, err := os.Open(dir)
	if err != nil {
		return nil, unwrapPath(err)
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return nil, unwrapPath(err)
	}
	matched, err := match(base, names)
	if err == nil && len(matched) == 0 {
		err = errors.New("no match")
	}
	if err != nil {
		return nil, err
	}
	out := make([]source, len(matched))
	for i, n := range matched {
		out[i] = source{path: filepath.Join(dir, n), name: n}
	}
	return out, nil
}

// SourceBytes estimates the file data To would copy from srcs (expanded
// as To expands them): the allocated bytes of each regular file, at most
// its size, hard links counted once. It is a progress bar's total; what
// cannot be read counts nothing.
func SourceBytes(srcs []string) int64 {
	var total int64
	seen := map[hostID]bool{}
	var walk func(p string)
	walk = func(p string) {
		st, err := lstat(p)
		if err != nil {
			return
		}
		switch st.mode & abi.S_IFMT {
		case abi.S_IFREG:
			if !seen[st.id] {
				seen[st.id] = true
				total += min(st.size, st.blocks*512)
			}
		case abi.S_IFDIR:
			names, _ := readNames(p)
			for _, n := range names {
				walk(filepath.Join(p, n))
			}
		}
	}
	for _, src := range srcs {
		found, _ := hostSources(src)
		for _, s := range found {
			walk(s.path)
		}
	}
	return total
}

// unwrapPath drops an *os.PathError's operation and path (the caller
// names the entry) and gives the errno the kernel's type (hostErr), so
// that host and image failures read alike.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return hostErr(pe.Err)
	}
	return hostErr(err)
}

// hostStat is what To needs of a host entry's lstat, in the kernel ABI's
// terms: mode and rdev encoded as Linux's, times with nanoseconds (at the
// host's precision).
type hostStat struct {
	mode         uint32 // S_IFMT and permission bits
	uid, gid     uint32
	rdev         uint64 // abi.Makedev's encoding
	nlink        uint64
	size, blocks int64 // blocks: 512-byte units allocated
	id           hostID
	atime, mtime abi.Timespec
}

// hostID identifies a host file for hard links.
type hostID struct{ dev, ino uint64 }

type toCopier struct {
	*copier
	k     Kernel
	root  string            // the mount point, without a trailing "/"
	links map[hostID]string // kernel path of the first copy of each multiply linked file
	bufs  chan []byte       // the prefetchers' data buffers (prefetch.go)
}

// copy copies the host entry src, and the tree under it, to the kernel
// path kp. fresh says kp's directory was just made by the copy: nothing
// is in the way, which saves a lookup per entry.
func (c *toCopier) copy(src, kp string, fresh bool) { c.copyAhead(src, kp, fresh, nil) }

// copyAhead is copy with what a prefetcher found of src (a: nil for
// nothing); it gives a's buffer back.
func (c *toCopier) copyAhead(src, kp string, fresh bool, a *ahead) {
	defer c.release(a)
	var st hostStat
	var err error
	if a != nil {
		st, err = a.st, a.err
	} else {
		st, err = lstat(src)
	}
	if err != nil {
		c.fail(src, "lstat", hostErr(err))
		return
	}
	typ := st.mode & abi.S_IFMT
	isDir := typ == abi.S_IFDIR
	c.entry(src, kp)
	if c.opts.DryRun {
		if isDir {
			c.dir(src, kp, true)
		}
		return
	}

	if !isDir && st.nlink > 1 {
		if first, ok := c.links[st.id]; ok {
			if !fresh && !c.clear(src, kp, false) {
				return
			}
			if err := c.k.Linkat(abi.AT_FDCWD, first, abi.AT_FDCWD, kp, 0); err != nil {
				c.fail(src, "link", err)
			}
			return
		}
	}

	// What is there already: a directory is merged into, anything else
	// replaced.
	var old abi.Stat
	exists := !fresh && c.k.Fstatat(abi.AT_FDCWD, kp, &old, abi.AT_SYMLINK_NOFOLLOW) == nil
	if exists && !(isDir && old.Mode&abi.S_IFMT == abi.S_IFDIR) {
		if !c.clear(src, kp, isDir) {
			return
		}
		exists = false
	}

	kfd := -1 // a regular file's, open for meta
	switch typ {
	case abi.S_IFDIR:
		if !exists {
			err = c.k.Mkdirat(abi.AT_FDCWD, kp, 0o700)
		}
		if err == nil {
			c.dir(src, kp, !exists)
		}
	case abi.S_IFREG:
		if kfd = c.file(src, kp, &st, a); kfd < 0 {
			return
		}
		defer c.k.Close(kfd)
	case abi.S_IFLNK:
		var target string
		target, err = readlink(src)
		if err != nil {
			c.fail(src, "readlink", err)
			return
		}
		err = c.k.Symlinkat(target, abi.AT_FDCWD, kp)
	case abi.S_IFCHR, abi.S_IFBLK, abi.S_IFIFO, abi.S_IFSOCK:
		err = c.k.Mknodat(abi.AT_FDCWD, kp, st.mode&(abi.S_IFMT|0o7777), st.rdev)
	default:
		c.fail(src, "", errors.New("unknown file type"))
		return
	}
	if err != nil {
		c.fail(src, "create", err)
		return
	}
	if c.stopped() {
		return
	}
	if !isDir && st.nlink > 1 {
		c.links[st.id] = kp
	}
	c.meta(src, kp, &st, kfd, a != nil && a.noXattrs)
}

// show is the kernel path kp as a path inside the image.
func (c *toCopier) show(kp string) string {
	if rel, ok := strings.CutPrefix(kp, c.root); ok && strings.HasPrefix(rel, "/") {
		return rel
	}
	return kp
}

// clear removes the existing non-directory at kp so that src can take its
// place; a directory in the way of a non-directory (or the reverse, when
// srcIsDir) is an error, as cp's "cannot overwrite".
func (c *toCopier) clear(src, kp string, srcIsDir bool) bool {
	return c.replace(src, c.show(kp), srcIsDir, func() (bool, error) {
		var old abi.Stat
		err := c.k.Fstatat(abi.AT_FDCWD, kp, &old, abi.AT_SYMLINK_NOFOLLOW)
		return old.Mode&abi.S_IFMT == abi.S_IFDIR, err
	}, func() error { return c.k.Unlinkat(abi.AT_FDCWD, kp, 0) })
}

// dir copies the entries of the host directory src into kp, which is
// empty when fresh.
func (c *toCopier) dir(src, kp string, fresh bool) {
	names, err := readNames(src)
	var pe *PathError
	if errors.As(err, &pe) {
		c.fail(src, pe.Op, pe.Err)
	}
	if len(names) == 0 {
		return
	}
	p := c.prefetch(src, names)
	defer c.stopPrefetch(p)
	for _, n := range names {
		c.copyAhead(filepath.Join(src, n), join(kp, n), fresh, p.next())
		if c.stopped() {
			return
		}
	}
}

// file creates kp and writes the data regions of the host file src (of
// lstat st) into it, leaving its holes unwritten, then sets its size. It
// reports its own failures, and returns the new file open for writing
// (for meta; the caller closes it), or -1 when it was not made. The
// host file is read through a bare handle (openSource): an os.File would
// register it with the runtime's poller, a syscall more per file for
// nothing.
func (c *toCopier) file(src, kp string, st *hostStat, a *ahead) int {
	if a != nil && a.data != nil {
		return c.fileAhead(src, kp, st, a)
	}
	size := st.size
	// openSource follows no symlink: src was a regular file when lstat
	// saw it; if a symlink has taken its place since, it is not followed.
	in, err := openSource(src)
	if err != nil {
		c.fail(src, "open", err)
		return -1
	}
	defer in.close()
	kfd := c.create(src, kp)
	if kfd < 0 {
		return -1
	}
	var written int64 // the end of the data written
	// A file with as many blocks as its size needs has no hole to look
	// for (st_blocks counts 512-byte units).
	regions := in.regions
	if st.blocks*512 >= size {
		regions = func(size int64, data func(start, end int64) error) error { return data(0, size) }
	}
	err = regions(size, func(start, end int64) error {
		for off := start; off < end; {
			n, err := in.pread(c.data[:min(int64(len(c.data)), end-off)], off)
			if errors.Is(err, abi.EINTR) {
				continue
			}
			if n <= 0 {
				if err == nil {
					return nil // the file shrank under us
				}
				return &PathError{Path: src, Op: "read", Err: err}
			}
			if err := pwriteFull(func(p []byte, off int64) (int, error) { return c.k.Pwrite(kfd, p, off) }, c.data[:n], off); err != nil {
				return &PathError{Path: src, Op: "write", Err: err}
			}
			c.bytes(n)
			off += int64(n)
			written = off
		}
		return nil
	})
	var pe *PathError
	if errors.As(err, &pe) {
		c.fail(src, pe.Op, pe.Err)
		return kfd // made, with what could be written
	}
	// A file ending in a hole (or all hole) gets its size from
	// ftruncate; one whose data reach its end has it already.
	if written != size {
		if err := c.k.Ftruncate(kfd, size); err != nil {
			c.fail(src, "truncate", err)
		}
	}
	return kfd
}

// create makes the regular file kp, open for writing, or reports why it
// could not and returns -1.
func (c *toCopier) create(src, kp string) int {
	kfd, err := c.k.Openat(abi.AT_FDCWD, kp, abi.O_WRONLY|abi.O_CREAT|abi.O_EXCL|abi.O_NOFOLLOW|abi.O_CLOEXEC, 0o600)
	if err != nil {
		c.fail(src, "create", err)
		return -1
	}
	return kfd
}

// fileAhead is file for a small file a prefetcher read whole (a.data):
// its data written at once, a failure to open or read it reported as
// file reports them.
func (c *toCopier) fileAhead(src, kp string, st *hostStat, a *ahead) int {
	if a.readOp == "open" {
		c.fail(src, "open", a.readErr)
		return -1
	}
	kfd := c.create(src, kp)
	if kfd < 0 {
		return -1
	}
	if err := pwriteFull(func(p []byte, off int64) (int, error) { return c.k.Pwrite(kfd, p, off) }, a.data[:a.n], 0); err != nil {
		c.fail(src, "write", err)
		return kfd
	}
	c.bytes(a.n)
	if a.readErr != nil {
		c.fail(src, a.readOp, a.readErr)
		return kfd
	}
	if int64(a.n) != st.size {
		if err := c.k.Ftruncate(kfd, st.size); err != nil {
			c.fail(src, "truncate", err)
		}
	}
	return kfd
}

// dropInheritedACLs removes from kp the ACLs src does not have, which kp
// inherited from a default ACL of its directory in the image: cp -a
// leaves a copy with exactly the source's ACLs (libacl's perm_copy sets
// the access ACL from the mode and removes the default one). A target
// that lists no more names than src's xs has none to drop, which one
// listing tells.
func (c *toCopier) dropInheritedACLs(src, kp string, xs []xattr) {
	want := 0
	for _, x := range xs {
		want += len(x.name) + 1
	}
	if n, err := c.k.Llistxattr(kp, nil); err != nil || n <= want {
		return
	}
	for _, name := range []string{"system.posix_acl_access", "system.posix_acl_default"} {
		if slices.ContainsFunc(xs, func(x xattr) bool { return x.name == name }) {
			continue
		}
		err := c.k.Lremovexattr(kp, name)
		if err != nil && !errors.Is(err, abi.ENODATA) && !errors.Is(err, abi.EOPNOTSUPP) {
			c.fail(src, "removexattr "+name, err)
		}
	}
}

// xattrs gives kp the extended attributes of src (of lstat st), with
// setxattr, and removes the ACLs kp inherited that src lacks.
func (c *toCopier) xattrs(src, kp string, st *hostStat, setxattr func(name string, value []byte) error, none bool) {
	var xs []xattr
	if !none {
		var err error
		xs, err = c.readXattrs(
			func(b []byte) (int, error) { return listXattrs(src, b) },
			func(name string, b []byte) (int, error) { return getXattr(src, name, b) })
		if err != nil {
			c.fail(src, "read xattrs", err)
		}
	}
	xs = c.withSELinux(xs)
	for _, x := range xs {
		if err := setxattr(x.name, x.value); err != nil {
			c.fail(src, "setxattr "+x.name, setxattrError(err))
		}
	}
	if st.mode&abi.S_IFMT != abi.S_IFLNK {
		c.dropInheritedACLs(src, kp, xs)
	}
}

// meta gives kp the owner, mode, xattrs and times of src, in that order:
// chown clears setuid bits and security.capability, so both come after it;
// times come last, as every other change sets ctime and may set mtime.
// kfd, when not -1, is kp open (a regular file): the calls go to it
// (AT_EMPTY_PATH) without a walk of kp each.
func (c *toCopier) meta(src, kp string, st *hostStat, kfd int, noXattrs bool) {
	dirfd, path, at := abi.AT_FDCWD, kp, abi.AT_SYMLINK_NOFOLLOW
	setxattr := func(name string, value []byte) error { return c.k.Lsetxattr(kp, name, value, 0) }
	if kfd >= 0 {
		dirfd, path, at = kfd, "", abi.AT_EMPTY_PATH
		setxattr = func(name string, value []byte) error { return c.k.Fsetxattr(kfd, name, value, 0) }
	}
	if uid, gid, ok := c.owner(st.uid, st.gid); ok {
		if err := c.k.Fchownat(dirfd, path, uid, gid, at); err != nil {
			c.fail(src, "chown", err)
		}
	}
	if st.mode&abi.S_IFMT != abi.S_IFLNK {
		if err := c.k.Fchmodat(dirfd, path, st.mode&0o7777, at&abi.AT_EMPTY_PATH); err != nil {
			c.fail(src, "chmod", err)
		}
	}
	if !c.opts.NoXattrs {
		c.xattrs(src, kp, st, setxattr, noXattrs)
	}
	times := [2]abi.Timespec{st.atime, st.mtime}
	if err := c.k.Utimensat(dirfd, path, &times, at); err != nil {
		c.fail(src, "utimensat", err)
	}
}
