package archive

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/lklimg/lklimg/kernel/abi"
)

// Importing: a tar stream turned into files in a mounted filesystem, as
// GNU tar --extract --xattrs --xattrs-include='*' --acls --numeric-owner
// --same-permissions does as root, through the kernel's syscalls only
// (tar2fs).
//
// What each entry becomes:
//
//   - a regular file is created (O_EXCL) and only its data is written, in
//     writes of up to the buffer's size: for a sparse entry only its
//     regions, at their offsets, then ftruncate to the size, so that holes
//     stay holes;
//   - a directory is made, or merged into when one is there; missing
//     parents are made with mode 0755 (GNU tar's, with umask 022), owned by
//     the kernel's user, as GNU tar makes them;
//   - a symlink, a character or block device, a FIFO are made as they are;
//     a hard link links to the earlier entry it names (an error for that
//     entry when there is none);
//   - then, in this order (chown clears setuid and security.capability):
//     owner (numeric: uname and gname are not looked at), mode with setuid,
//     setgid and sticky, xattrs (security.capability, POSIX ACLs as the
//     system.posix_acl_* xattrs, security.selinux, trusted.*, user.*),
//     and access and modification times (the access time is the
//     modification time when the archive has none);
//   - a directory's owner, mode, xattrs and times are set at the end, after
//     everything inside it, as GNU tar delays them: making its contents
//     would change its times, and a default ACL would be inherited. What is
//     kept until then is per directory, never per file.
//
// A later entry replaces an earlier one of the same name: a non-directory
// is unlinked and made anew (a hard link to the old one keeps its
// content); an empty directory is removed for a non-directory, one that
// is not empty stays and the entry fails (as GNU tar's "Cannot open: File
// exists"); a directory over a directory merges, the later one's
// metadata winning; a directory over a non-directory replaces it.
//
// Names: leading "/" are removed and "." components dropped; a name with a
// ".." component is refused (GNU tar's "Member name contains '..'"), as is
// one with a NUL. A symlink among an entry's parents is followed as a
// process chrooted at root would (Resolve): no entry is made outside
// root, whatever the archive's symlinks say; the entry's own name is never
// followed.
//
// Whiteouts (ImportOptions.Whiteouts "overlay"): an entry "DIR/.wh.NAME"
// of an OCI layer becomes the character device 0:0 "DIR/NAME", mode 0000,
// as overlayfs makes whiteouts (replacing what was there, a directory
// with its contents), and "DIR/.wh..wh..opq" makes DIR opaque
// (trusted.overlay.opaque="y").
//
// Failures on one entry are reported (ImportOptions.Report, a *PathError
// naming the entry as the archive does) and the import goes on; Import
// then returns an error wrapping ErrIncomplete. A full filesystem
// (ENOSPC), a filesystem that cannot be written (EROFS, ENOSYS), and a
// damaged archive stop the import at once: directories' metadata is still
// set for what was imported, and the error says where it stopped. (An
// xattr too large to sit beside its inode is ENOSPC too, in ext4: that
// fails its entry only.)

// ImportSyscalls is the part of the kernel's syscall API Import uses.
// *kernel.Kernel implements it.
type ImportSyscalls interface {
	Syscalls
	Pwrite(fd int, p []byte, off int64) (int, error)
	Ftruncate(fd int, size int64) error
	Mkdirat(dirfd int, path string, mode uint32) error
	Mknodat(dirfd int, path string, mode uint32, dev uint64) error
	Symlinkat(target string, dirfd int, path string) error
	Linkat(olddirfd int, oldpath string, newdirfd int, newpath string, flags int) error
	Unlinkat(dirfd int, path string, flags int) error
	Fchmodat(dirfd int, path string, mode uint32, flags int) error
	Fchownat(dirfd int, path string, uid, gid int, flags int) error
	Utimensat(dirfd int, path string, times *[2]abi.Timespec, flags int) error
	Lsetxattr(path, name string, value []byte, flags int) error
	// Lsetxattr on an open regular file, which needs no walk of its
	// path (the *at calls take it with AT_EMPTY_PATH).
	Fsetxattr(fd int, name string, value []byte, flags int) error
}

// ImportOptions changes what Import does.
type ImportOptions struct {
	// Whiteouts is how OCI whiteouts (".wh." names) are taken: "" keeps
	// them as the files they are, "overlay" makes overlayfs whiteouts
	// (0/0 character devices, and trusted.overlay.opaque="y" on a
	// directory for ".wh..wh..opq").
	Whiteouts string
	// Report, when set, is told of every entry that failed (a
	// *PathError); the import goes on.
	Report func(err error)
	// OnEntry, when set, is called with each entry's header before it is
	// imported: tar -v's listing.
	OnEntry func(h *Header)
	// OnBytes, when set, is told of file data written, as it is.
	OnBytes func(n int64)
	// BufferSize is the file data buffer, the largest write; zero means
	// DefaultBufferSize.
	BufferSize int
}

// Whiteout names of OCI layers (image-spec, layer.md, "Whiteouts").
const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
	xattrOpaque    = "trusted.overlay.opaque"
)

// ImportIncompleteError is what Import returns when some entries failed
// (each was reported) and the others were imported. It wraps
// ErrIncomplete.
type ImportIncompleteError struct{ Failed int }

func (e *ImportIncompleteError) Error() string {
	if e.Failed == 1 {
		return "1 entry of the archive could not be imported"
	}
	return fmt.Sprintf("%d entries of the archive could not be imported", e.Failed)
}
func (e *ImportIncompleteError) Unwrap() error { return ErrIncomplete }

// ImportStoppedError is a failure that stopped the import: Path is the
// entry being imported (empty when the archive itself failed), Err what
// happened (ENOSPC, EROFS, a *FormatError, ...). Imported counts the
// entries done before.
type ImportStoppedError struct {
	Path     string
	Op       string
	Err      error
	Imported int
}

func (e *ImportStoppedError) Error() string {
	what := e.Err.Error()
	if errors.Is(e.Err, abi.ENOSPC) {
		what = "the filesystem is full (" + what + ")"
	}
	where := ""
	switch {
	case e.Path != "" && e.Op != "":
		where = e.Path + ": " + e.Op + ": "
	case e.Path != "":
		where = e.Path + ": "
	}
	return fmt.Sprintf("%s%s; import stopped after %d entries", where, what, e.Imported)
}
func (e *ImportStoppedError) Unwrap() error { return e.Err }

// errDotDot is GNU tar's reason to refuse a name.
var errDotDot = errors.New("member name contains '..'")

// Import reads the (uncompressed) tar stream r and creates its entries
// under root (a directory of the kernel sys, usually a mount point), in
// one pass; see above for what each becomes. It returns nil when every
// entry was imported, an *ImportIncompleteError (wrapping ErrIncomplete)
// when some were not, or an *ImportStoppedError when the import stopped.
func Import(sys ImportSyscalls, root string, r io.Reader, opts ImportOptions) error {
	size := opts.BufferSize
	if size <= 0 {
		size = DefaultBufferSize
	}
	im := &importer{
		sys:     sys,
		root:    strings.TrimSuffix(root, "/"),
		opts:    opts,
		dirs:    map[string]bool{"": true},
		pending: map[string]*Header{},
	}
	var st abi.Stat
	if err := sys.Fstatat(abi.AT_FDCWD, root, &st, 0); err != nil {
		return &ImportStoppedError{Path: root, Op: "stat", Err: err}
	}
	if st.Mode&abi.S_IFMT != abi.S_IFDIR {
		return &ImportStoppedError{Path: root, Err: abi.ENOTDIR}
	}
	im.feed = newFeed(NewReader(r), size)
	defer im.feed.stop()
	for im.stop == nil {
		h, warnings, err := im.feed.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			im.stop = &ImportStoppedError{Err: err}
			break
		}
		if opts.OnEntry != nil {
			opts.OnEntry(h)
		}
		for _, w := range warnings {
			im.fail(h.Name, "", w)
		}
		im.entry(h)
		if im.stop == nil {
			im.done++
		}
	}
	im.finishDirs()
	if im.stop != nil {
		im.stop.Imported = im.done
		return im.stop
	}
	if im.failed > 0 {
		return &ImportIncompleteError{Failed: im.failed}
	}
	return nil
}

type importer struct {
	sys  ImportSyscalls
	root string // without a trailing "/"
	opts ImportOptions
	feed *feed // the archive, read on a goroutine of its own
	// dirs holds the paths (relative to root, "" for root) known to be
	// directories reached without a symlink: made or seen by the import.
	dirs map[string]bool
	// pending is the header of each directory entry whose metadata is
	// set at the end, by path.
	pending map[string]*Header
	order   []string // pending's paths, in the order first seen
	failed  int
	done    int
	stop    *ImportStoppedError
}

// fatal reports whether err stops the whole import rather than one entry.
func fatal(err error) bool {
	return errors.Is(err, abi.ENOSPC) || errors.Is(err, abi.ENOSYS) || errors.Is(err, abi.EROFS)
}

// fail reports a failure on the entry named name, or records a fatal one.
func (im *importer) fail(name, op string, err error) {
	if fatal(err) {
		if im.stop == nil {
			im.stop = &ImportStoppedError{Path: name, Op: op, Err: err}
		}
		return
	}
	im.report(name, op, err)
}

// report reports a failure on the entry named name, which does not stop
// the import whatever its errno.
func (im *importer) report(name, op string, err error) {
	im.failed++
	if im.opts.Report != nil {
		im.opts.Report(&PathError{Path: name, Op: op, Err: err})
	}
}

// kpath is the kernel path of rel.
func (im *importer) kpath(rel string) string {
	switch {
	case rel != "":
		return im.root + "/" + rel
	case im.root == "":
		return "/" // the kernel's own root
	}
	return im.root
}

// CleanName turns an entry's name into a path relative to root ("" for
// root itself), as GNU tar does: leading "/" removed, "." and empty
// components dropped; ".." refused (EINVAL for a NUL), as Import and the
// image writers take names.
func CleanName(name string) (string, error) {
	if strings.IndexByte(name, 0) >= 0 {
		return "", abi.Errorf(abi.EINVAL, "NUL in the name")
	}
	parts := strings.Split(name, "/")
	out := parts[:0]
	for _, p := range parts {
		switch p {
		case "", ".":
			continue
		case "..":
			return "", errDotDot
		}
		out = append(out, p)
	}
	return strings.Join(out, "/"), nil
}

// entry imports one entry.
func (im *importer) entry(h *Header) {
	rel, err := CleanName(h.Name)
	if err != nil {
		im.fail(h.Name, "", err)
		return
	}
	if im.opts.Whiteouts == "overlay" {
		if done := im.whiteout(h, rel); done {
			return
		}
	}
	if rel == "" {
		if h.Typeflag != TypeDir {
			im.fail(h.Name, "", abi.Errorf(abi.EEXIST, "the root can only be a directory"))
			return
		}
		im.setPending("", h)
		return
	}
	parent, err := im.parent(rel)
	if err != nil {
		im.fail(h.Name, "parent directory", err)
		return
	}
	kp := parent + "/" + path.Base(rel)
	switch h.Typeflag {
	case TypeDir:
		im.dir(h, rel, kp)
	case TypeReg:
		im.file(h, kp)
	case TypeLink:
		im.link(h, kp)
	case TypeSymlink:
		if err := im.create(kp, func() error { return im.sys.Symlinkat(h.Linkname, abi.AT_FDCWD, kp) }); err != nil {
			im.fail(h.Name, "symlink", err)
			return
		}
		im.meta(h, kp, -1)
	case TypeChar, TypeBlock, TypeFifo:
		mode := map[byte]uint32{TypeChar: abi.S_IFCHR, TypeBlock: abi.S_IFBLK, TypeFifo: abi.S_IFIFO}[h.Typeflag]
		dev := abi.Makedev(h.Devmajor, h.Devminor)
		if h.Typeflag == TypeFifo {
			dev = 0
		}
		if err := im.create(kp, func() error { return im.sys.Mknodat(abi.AT_FDCWD, kp, mode|h.Mode&0o7777, dev) }); err != nil {
			im.fail(h.Name, "mknod", err)
			return
		}
		im.meta(h, kp, -1)
	default:
		im.fail(h.Name, "", abi.Errorf(abi.EINVAL, "unsupported entry type %q", h.Typeflag))
	}
}

// parent returns the kernel path of rel's directory, making the missing
// ones (mode 0755). A symlink on the way is resolved inside root.
func (im *importer) parent(rel string) (string, error) {
	dir := path.Dir(rel)
	if dir == "." {
		dir = ""
	}
	if im.dirs[dir] {
		return im.kpath(dir), nil
	}
	// Walk from root: cur is the kernel path reached so far, plain says
	// no symlink was met (so that what is found may be cached).
	cur, plain := im.root, true
	parts := strings.Split(dir, "/")
	for i, c := range parts {
		prefix := strings.Join(parts[:i+1], "/")
		if plain && im.dirs[prefix] {
			cur = im.kpath(prefix)
			continue
		}
		next := cur + "/" + c
		var st abi.Stat
		err := im.sys.Fstatat(abi.AT_FDCWD, next, &st, abi.AT_SYMLINK_NOFOLLOW)
		switch {
		case errors.Is(err, abi.ENOENT):
			if err := im.sys.Mkdirat(abi.AT_FDCWD, next, 0o755); err != nil {
				return "", err
			}
		case err != nil:
			return "", err
		case st.Mode&abi.S_IFMT == abi.S_IFDIR:
		case st.Mode&abi.S_IFMT == abi.S_IFLNK:
			// Followed as a chrooted process would: never out of root.
			resolved, err := Resolve(im.sys, im.root, strings.TrimPrefix(next, im.root+"/"))
			if err != nil {
				return "", err
			}
			if err := im.sys.Fstatat(abi.AT_FDCWD, resolved, &st, abi.AT_SYMLINK_NOFOLLOW); err != nil {
				return "", err
			}
			if st.Mode&abi.S_IFMT != abi.S_IFDIR {
				return "", abi.ENOTDIR
			}
			next, plain = resolved, false
		default:
			return "", abi.ENOTDIR
		}
		if plain {
			im.dirs[prefix] = true
		}
		cur = next
	}
	return cur, nil
}

// create makes an entry with mk; when something is in the way (EEXIST) it
// is removed (a non-directory, or an empty directory) and mk tried again.
func (im *importer) create(kp string, mk func() error) error {
	err := mk()
	if !errors.Is(err, abi.EEXIST) {
		return err
	}
	if err := im.remove(kp, false); err != nil {
		return err
	}
	return mk()
}

// remove removes what is at kp: a non-directory, or a directory when it
// is empty (all of it when recursive).
func (im *importer) remove(kp string, recursive bool) error {
	err := im.sys.Unlinkat(abi.AT_FDCWD, kp, 0)
	if err == nil || !errors.Is(err, abi.EISDIR) && !errors.Is(err, abi.EPERM) {
		return err
	}
	if recursive {
		if err := im.removeContents(kp); err != nil {
			return err
		}
	}
	if err := im.sys.Unlinkat(abi.AT_FDCWD, kp, abi.AT_REMOVEDIR); err != nil {
		if errors.Is(err, abi.ENOTEMPTY) || errors.Is(err, abi.EEXIST) {
			return abi.Errorf(abi.ENOTEMPTY, "cannot replace a directory that is not empty")
		}
		return err
	}
	im.forgetDir(kp)
	return nil
}

// forgetDir drops what is known of the removed directory kp and its
// contents.
func (im *importer) forgetDir(kp string) {
	rel, ok := strings.CutPrefix(kp, im.root+"/")
	if !ok {
		return
	}
	for d := range im.dirs {
		if d == rel || strings.HasPrefix(d, rel+"/") {
			delete(im.dirs, d)
		}
	}
	for d := range im.pending {
		if d == rel || strings.HasPrefix(d, rel+"/") {
			delete(im.pending, d)
		}
	}
}

// removeContents removes everything in the directory kp.
func (im *importer) removeContents(kp string) error {
	names, err := ReadDirNames(im.sys, kp, make([]byte, 32<<10))
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := im.remove(kp+"/"+n, true); err != nil {
			return err
		}
	}
	return nil
}

// dir makes (or merges into) a directory; its metadata waits for the end.
func (im *importer) dir(h *Header, rel, kp string) {
	err := im.sys.Mkdirat(abi.AT_FDCWD, kp, 0o700)
	if errors.Is(err, abi.EEXIST) {
		var st abi.Stat
		if err = im.sys.Fstatat(abi.AT_FDCWD, kp, &st, abi.AT_SYMLINK_NOFOLLOW); err == nil && st.Mode&abi.S_IFMT != abi.S_IFDIR {
			err = im.create(kp, func() error { return im.sys.Mkdirat(abi.AT_FDCWD, kp, 0o700) })
		}
	}
	if err != nil {
		im.fail(h.Name, "mkdir", err)
		return
	}
	if kp == im.kpath(rel) {
		im.dirs[rel] = true
	}
	im.setPending(strings.TrimPrefix(kp, im.root+"/"), h)
}

// setPending records a directory's header for finishDirs; a later entry
// for the same directory replaces it.
func (im *importer) setPending(rel string, h *Header) {
	if _, ok := im.pending[rel]; !ok {
		im.order = append(im.order, rel)
	}
	im.pending[rel] = h
}

// finishDirs sets the metadata of every directory entry, now that their
// contents are in place.
func (im *importer) finishDirs() {
	for _, rel := range im.order {
		h, ok := im.pending[rel]
		if !ok {
			continue // removed since
		}
		delete(im.pending, rel)
		im.meta(h, im.kpath(rel), -1)
	}
}

// file creates a regular file and writes its data.
func (im *importer) file(h *Header, kp string) {
	var fd int
	err := im.create(kp, func() error {
		var err error
		fd, err = im.sys.Openat(abi.AT_FDCWD, kp, abi.O_WRONLY|abi.O_CREAT|abi.O_EXCL|abi.O_NOFOLLOW|abi.O_CLOEXEC, 0o600)
		return err
	})
	if err != nil {
		im.fail(h.Name, "create", err)
		return
	}
	regions := h.Sparse
	if regions == nil {
		regions = []Extent{{0, h.Size}}
	}
	var end int64 // the end of the data written
	ok := true
	for _, r := range regions {
		if !im.region(h, fd, r) {
			ok = false
			break
		}
		end = r.Offset + r.Length
	}
	// A file ending in a hole (or all hole) gets its size from
	// ftruncate; one whose data reach its end has it already.
	if ok && end != h.Size {
		if err := im.sys.Ftruncate(fd, h.Size); err != nil {
			im.fail(h.Name, "truncate", err)
			ok = false
		}
	}
	if ok {
		im.meta(h, kp, fd)
	}
	if err := im.sys.Close(fd); err != nil && ok {
		im.fail(h.Name, "close", err)
	}
}

// region copies one data region from the archive to the file: each chunk
// of it the feed read (up to the buffer size) is one pwrite, from the
// feed's buffer.
func (im *importer) region(h *Header, fd int, r Extent) bool {
	for off, left := r.Offset, r.Length; left > 0; {
		chunk, err := im.feed.chunk(int(min(left, 1<<30)))
		if err != nil {
			if im.stop == nil {
				im.stop = &ImportStoppedError{Path: h.Name, Op: "read archive", Err: err}
			}
			return false
		}
		n := len(chunk)
		for p := chunk; len(p) > 0; {
			w, err := im.sys.Pwrite(fd, p, off)
			if err == nil && w <= 0 {
				err = abi.Errorf(abi.EIO, "pwrite wrote nothing")
			}
			if err != nil {
				im.fail(h.Name, "write", err)
				return false
			}
			p, off = p[w:], off+int64(w)
		}
		left -= int64(n)
		if im.opts.OnBytes != nil {
			im.opts.OnBytes(int64(n))
		}
	}
	return true
}

// link makes a hard link to the earlier entry h names.
func (im *importer) link(h *Header, kp string) {
	rel, err := CleanName(h.Linkname)
	if err == nil && rel == "" {
		err = abi.Errorf(abi.EPERM, "a hard link to the root")
	}
	if err != nil {
		im.fail(h.Name, "link", err)
		return
	}
	target := im.kpath(rel)
	dir := path.Dir(rel)
	if dir == "." {
		dir = ""
	}
	if !im.dirs[dir] {
		// A symlink among the target's parents: resolved inside root.
		var d string
		if d, err = Resolve(im.sys, im.root, dir); err == nil {
			target = d + "/" + path.Base(rel)
		}
	}
	if err == nil {
		err = im.sys.Linkat(abi.AT_FDCWD, target, abi.AT_FDCWD, kp, 0)
	}
	if errors.Is(err, abi.EEXIST) {
		var a, b abi.Stat
		if im.sys.Fstatat(abi.AT_FDCWD, target, &a, abi.AT_SYMLINK_NOFOLLOW) == nil &&
			im.sys.Fstatat(abi.AT_FDCWD, kp, &b, abi.AT_SYMLINK_NOFOLLOW) == nil && a.Dev == b.Dev && a.Ino == b.Ino {
			return // already that file
		}
		err = im.create(kp, func() error { return im.sys.Linkat(abi.AT_FDCWD, target, abi.AT_FDCWD, kp, 0) })
	}
	if errors.Is(err, abi.ENOENT) {
		err = fmt.Errorf("no earlier entry %q to link to: %w", h.Linkname, err)
	}
	if err != nil {
		im.fail(h.Name, "link", err)
	}
}

// whiteout takes an OCI whiteout entry (ImportOptions.Whiteouts
// "overlay"); it reports whether h was one.
func (im *importer) whiteout(h *Header, rel string) bool {
	base := path.Base(rel)
	if !strings.HasPrefix(base, whiteoutPrefix) {
		return false
	}
	if base == whiteoutOpaque {
		kp, err := im.parent(rel)
		if err == nil {
			err = im.sys.Lsetxattr(kp, xattrOpaque, []byte("y"), 0)
		}
		if err != nil {
			im.fail(h.Name, "opaque directory", err)
		}
		return true
	}
	name := strings.TrimPrefix(base, whiteoutPrefix)
	if name == "" || name == "." || name == ".." {
		// ".wh." alone, or a whiteout of the directory itself or of its
		// parent: nothing a layer can mean.
		im.fail(h.Name, "", abi.Errorf(abi.EINVAL, "a whiteout of %q", name))
		return true
	}
	parent, err := im.parent(rel)
	if err != nil {
		im.fail(h.Name, "", err)
		return true
	}
	kp := parent + "/" + name
	var st abi.Stat
	if err := im.sys.Fstatat(abi.AT_FDCWD, kp, &st, abi.AT_SYMLINK_NOFOLLOW); err == nil {
		if err := im.remove(kp, true); err != nil {
			im.fail(h.Name, "remove whited-out "+name, err)
			return true
		}
	}
	if err := im.sys.Mknodat(abi.AT_FDCWD, kp, abi.S_IFCHR, 0); err != nil {
		im.fail(h.Name, "mknod whiteout", err)
		return true
	}
	w := *h
	w.Typeflag, w.Mode, w.Devmajor, w.Devminor, w.Xattrs = TypeChar, 0, 0, 0, nil
	im.meta(&w, kp, -1)
	return true
}

// meta gives kp the owner, mode, xattrs and times of h, in that order:
// chown clears setuid bits and security.capability, so both come after
// it; times come last, as every other change sets ctime and may set
// mtime. fd, when not -1, is kp open (a regular file the import wrote):
// the calls go to it (AT_EMPTY_PATH), as GNU tar's do, without a walk of
// the path each.
func (im *importer) meta(h *Header, kp string, fd int) {
	dirfd, path, at := abi.AT_FDCWD, kp, abi.AT_SYMLINK_NOFOLLOW
	setxattr := func(name string, value []byte) error { return im.sys.Lsetxattr(kp, name, value, 0) }
	if fd >= 0 {
		dirfd, path, at = fd, "", abi.AT_EMPTY_PATH
		setxattr = func(name string, value []byte) error { return im.sys.Fsetxattr(fd, name, value, 0) }
	}
	if err := im.sys.Fchownat(dirfd, path, int(h.Uid), int(h.Gid), at); err != nil {
		im.fail(h.Name, "chown", err)
		return
	}
	if h.Typeflag != TypeSymlink {
		if err := im.sys.Fchmodat(dirfd, path, h.Mode&0o7777, at&abi.AT_EMPTY_PATH); err != nil {
			im.fail(h.Name, "chmod", err)
			return
		}
	}
	var tooBig []string // the names of the attributes that did not fit
	var tooBigErr error
	for _, x := range h.Xattrs {
		err := setxattr(x.Name, x.Value)
		if errors.Is(err, abi.ENOSPC) {
			// ext4 says ENOSPC for an attribute that does not fit in
			// the inode and its one xattr block: this entry's trouble,
			// not a full filesystem (which the next allocation says).
			// The others may fit.
			tooBig = append(tooBig, x.Name)
			tooBigErr = cmp.Or(tooBigErr, err)
			continue
		}
		if err != nil {
			im.fail(h.Name, "setxattr "+x.Name, err)
			return
		}
	}
	if tooBig != nil {
		im.report(h.Name, "setxattr "+strings.Join(tooBig, ", "), tooBigErr)
	}
	atime := h.Mtime
	if h.Atime != nil {
		atime = *h.Atime
	}
	times := [2]abi.Timespec{{Sec: atime.Sec, Nsec: atime.Nsec}, {Sec: h.Mtime.Sec, Nsec: h.Mtime.Nsec}}
	if err := im.sys.Utimensat(dirfd, path, &times, at); err != nil {
		im.fail(h.Name, "utimensat", err)
	}
}
