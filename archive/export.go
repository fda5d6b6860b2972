package archive

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/lklimg/lklimg/kernel/abi"
)

// Syscalls is the part of the kernel's syscall API the exporter uses, with
// the kernel's contracts (Linux errno values, linux_dirent64 records).
// *kernel.Kernel implements it (cmd/fs2tar passes one); tests also run
// the exporter on the host's own kernel through it.
type Syscalls interface {
	Openat(dirfd int, path string, flags int, mode uint32) (int, error)
	Close(fd int) error
	Read(fd int, p []byte) (int, error)
	Lseek(fd int, off int64, whence int) (int64, error)
	Getdents64(fd int, buf []byte) (int, error)
	Fstatat(dirfd int, path string, st *abi.Stat, flags int) error
	Readlinkat(dirfd int, path string, buf []byte) (int, error)
	Llistxattr(path string, dest []byte) (int, error)
	Lgetxattr(path, name string, dest []byte) (int, error)
	Flistxattr(fd int, dest []byte) (int, error)
	Fgetxattr(fd int, name string, dest []byte) (int, error)
}

// Sendfiler is implemented by kernels that can send a file's data
// straight to a host descriptor (kernel.Kernel.Sendfile: sendfile(2) with
// the host's descriptor as its output). When the output of Export is one
// (abi.HostFile: an *os.File, uncompressed), the data of large files goes
// that way instead of through the output buffer; where the kernel cannot
// send (EOPNOTSUPP), or stops early, the rest is read as usual. Export
// then writes its output on a goroutine of its own (output.go), which
// calls Sendfile, Read and Close on the files it sends while the walk
// goes on: the implementation must be safe for concurrent callers, as the
// kernel's syscalls are.
type Sendfiler interface {
	Sendfile(out abi.HostFile, in int, count int64) (int64, error)
}

// Options tunes Export.
type Options struct {
	// SELinuxFile, when set, receives a line "PATH CONTEXT" for every
	// entry with a security.selinux xattr (PATH as "/etc/passwd", the
	// context without its trailing NUL), as LKL's fs2tar -s writes.
	SELinuxFile io.Writer
	// Report, when set, is told of every entry skipped on purpose (a
	// socket: errors.Is(err, ErrSocket)) and of every failure that did
	// not stop the export, each a *PathError.
	Report func(err error)
	// Times adds atime and ctime records to every entry; they are left
	// out by default, for reproducible archives.
	Times bool
	// BufferSize is the output buffer, which file data is read into in
	// one copy; zero means DefaultBufferSize.
	BufferSize int
	// Strict stops the export at the first failure on an entry, after
	// reporting it, instead of going on with the others. The archive is
	// still closed: it is a valid tar holding every entry before the
	// failure (and the failed entry itself if its header was already
	// written, its data zero-filled from the failure on), and Export
	// returns an error wrapping ErrIncomplete and the entry's *PathError.
	Strict bool
	// Exclude lists patterns of entries to leave out, with GNU tar's
	// --exclude rules (see Excluder); an excluded directory is not
	// descended into.
	Exclude []string
	// Rewrite changes owners, times and xattrs of every entry.
	Rewrite Rewrite
	// Format is the tar format written: FormatPAX (the default) or
	// FormatGNU, which has no place for xattrs and nanoseconds.
	Format Format
	// OnEntry, when set, is called with each entry's header (as
	// rewritten) once it is written: tar -v's listing, progress.
	OnEntry func(h *Header)
}

// ErrIncomplete is returned (wrapped, with a count) by Export when some
// entries failed: each was reported, the others were archived.
var ErrIncomplete = errors.New("some entries could not be archived")

// ErrSocket is reported for a socket, which tar cannot hold.
var ErrSocket = errors.New("socket ignored")

// ErrEncrypted is reported for an encrypted file, directory or symlink
// whose key the kernel does not have (it returned ENOKEY): the entry, and
// a directory's contents, are left out, and Export goes on. It counts as a
// failed entry: the archive does not hold all the image holds.
var ErrEncrypted = errors.New("encrypted, no key: skipped")

// PathError is a failure on one entry: the path inside the filesystem
// ("/etc/shadow"), the operation ("read", "readlink", "listxattr", ...)
// and the kernel's error, which keeps its errno for errors.Is.
type PathError struct {
	Path string
	Op   string
	Err  error
}

func (e *PathError) Error() string {
	if e.Op == "" {
		return e.Path + ": " + e.Err.Error()
	}
	return e.Path + ": " + e.Op + ": " + e.Err.Error()
}
func (e *PathError) Unwrap() error { return e.Err }

// Export writes the tree under root (a directory of the kernel, usually a
// mount point) to w as a tar archive: first "./" for root itself, then
// every entry depth-first, the entries of each directory sorted bytewise
// by name, so that a directory precedes its contents and the output does
// not depend on the order of the directory's blocks.
//
// Entries carry numeric owners, mode, mtime (with nanoseconds), every
// xattr, device numbers and link targets; a file (any type but a
// directory) already archived under another name (same st_dev and st_ino)
// becomes a hard link entry naming the first; a file with holes (SEEK_HOLE finds one before its end) is a
// GNU sparse 1.0 entry holding only its data regions. Sockets are skipped.
//
// A failure on one entry does not stop the export: it is reported
// (Options.Report) and Export goes on, returning an error wrapping
// ErrIncomplete at the end. An entry that cannot be stat'ed, opened or
// read before its header is written is left out; one whose xattrs cannot
// be read is archived with those that could; one whose data fails midway
// keeps its place, filled with zeros from the failure on (as GNU tar does
// when a file shrinks), so the archive stays well-formed; a directory whose
// listing fails is archived with the entries listed before the failure. An
// encrypted entry the kernel has no key for (ENOKEY) is reported as
// ErrEncrypted and left out, with all that is under it. A failure to write
// w, or to stat root itself, stops the export at once.
func Export(sys Syscalls, root string, w io.Writer, opts Options) error {
	size := opts.BufferSize
	if size == 0 {
		size = DefaultBufferSize
	}
	exclude, err := NewExcluder(opts.Exclude)
	if err != nil {
		return err
	}
	x := &exporter{
		sys:    sys,
		root:   strings.TrimSuffix(root, "/"),
		opts:   opts,
		tw:     NewWriterSize(w, size),
		links:  map[fileID]string{},
		onPath: map[fileID]bool{},
		dents:  make([]byte, 64<<10),
	}
	x.exclude = exclude
	if s, ok := sys.(Sendfiler); ok {
		if out, ok := w.(abi.HostFile); ok {
			x.sendfile = func(fd int, n int64) (int64, error) {
				k, err := s.Sendfile(out, fd, n)
				var we *abi.HostWriteError
				if f, ok := w.(interface{ Name() string }); ok && errors.As(err, &we) {
					// As os.File says its write errors.
					err = &abi.HostWriteError{Err: &fs.PathError{Op: "write", Path: f.Name(), Err: we.Err}}
				}
				return k, err
			}
			if !opts.Strict {
				// Strict stops at the first failure, which the output
				// goroutine would see after the walk went past it.
				x.out = newAsyncOutput(w, size)
				x.tw = NewWriterSize(x.out, size)
				defer x.out.close()
			}
		}
	}
	x.tw.SetFormat(opts.Format)
	var st abi.Stat
	if err := sys.Fstatat(abi.AT_FDCWD, root, &st, 0); err != nil {
		return &PathError{Path: root, Op: "stat", Err: err}
	}
	if st.Mode&abi.S_IFMT != abi.S_IFDIR {
		return &PathError{Path: root, Op: "export", Err: abi.ENOTDIR}
	}
	if err := x.entry(dir{fd: abi.AT_FDCWD}, "", "", &st); err != nil && err != errStopped {
		return err
	}
	err = x.tw.Close()
	if x.out != nil {
		if oerr := x.out.close(); err == nil {
			err = oerr
		}
		x.reportLate()
	}
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if x.stopped != nil {
		return fmt.Errorf("%w: stopped at the first failure: %w", ErrIncomplete, x.stopped)
	}
	if x.failed > 0 {
		return fmt.Errorf("%w: %d failed", ErrIncomplete, x.failed)
	}
	return nil
}

// fileID identifies a file for hard-link detection.
type fileID struct{ dev, ino uint64 }

type exporter struct {
	sys    Syscalls
	root   string // the kernel path of the tree's root, without a trailing "/"
	opts   Options
	tw     *Writer
	links  map[fileID]string // tar name of the first entry of each multiply linked file
	onPath map[fileID]bool   // the directories being walked, root to current
	dents  []byte            // getdents64 buffer
	xlist  []byte            // listxattr buffer, XATTR_LIST_MAX bytes once needed
	xval   []byte            // getxattr buffer, XATTR_SIZE_MAX bytes once needed
	link   []byte            // readlink buffer, PATH_MAX bytes once needed
	depth  int               // directories open in dir.fd above the current entry
	failed int
	// stopped is the first failure under Options.Strict; the walk then
	// unwinds with errStopped.
	stopped *PathError

	exclude *Excluder // Options.Exclude
	// sendfile sends n bytes of the file open as fd to the output (see
	// Sendfiler); nil when the output or the kernel cannot. Set before
	// the walk, never changed after: the output goroutine calls it too.
	sendfile func(fd int, n int64) (int64, error)
	// sentAny: some data went by sendfile; cannotSend: it failed with
	// EOPNOTSUPP before any did, and is not asked again. Shared by the
	// walk and the output goroutine (sendRun).
	sentAny, cannotSend atomic.Bool
	out                 *asyncOutput // the output goroutine, when files are sent
}

// errStopped unwinds the walk after a failure under Options.Strict.
var errStopped = errors.New("stopped at the first failure")

// maxDirFDs bounds the directory descriptors the walk keeps open, one per
// level of the tree it is in (the kernel allows MaxFiles); deeper levels
// are reached by their full path, as they all were before.
const maxDirFDs = 64

// dir is a directory being walked: its entries are reached by name from
// its descriptor, so that each syscall resolves one path component
// instead of the whole path from the root (the walk is the largest cost
// per entry). fd is AT_FDCWD when the directory is not open; its entries
// are then reached by their kernel path.
type dir struct {
	fd  int
	rel string
}

// at returns the dirfd and path that name the entry rel, called name in d.
func (x *exporter) at(d dir, rel, name string) (int, string) {
	if d.fd == abi.AT_FDCWD {
		return abi.AT_FDCWD, x.kpath(rel)
	}
	return d.fd, name
}

// kpath returns the kernel path of rel ("" for the root, else "/a/b").
func (x *exporter) kpath(rel string) string {
	if rel == "" {
		if x.root == "" {
			return "/"
		}
		return x.root
	}
	return x.root + rel
}

// showPath is rel as the user knows it: a path inside the filesystem.
func showPath(rel string) string {
	if rel == "" {
		return "/"
	}
	return rel
}

// fail reports a failure on one entry; the export goes on unless
// Options.Strict (see stop). ENOKEY, an encrypted entry, is reported as
// ErrEncrypted.
func (x *exporter) fail(rel, op string, err error) {
	x.failed++
	pe := &PathError{Path: showPath(rel), Op: op, Err: err}
	if errors.Is(err, abi.ENOKEY) {
		pe = &PathError{Path: showPath(rel), Err: ErrEncrypted}
	}
	if x.opts.Strict && x.stopped == nil {
		x.stopped = pe
	}
	x.report(pe)
}

// stop returns errStopped once a failure has stopped a strict export.
func (x *exporter) stop() error {
	if x.stopped != nil {
		return errStopped
	}
	return nil
}

// reportLate reports the failures of the output goroutine, which
// reads what it could not send: they count as the walk's own.
func (x *exporter) reportLate() {
	if x.out == nil {
		return
	}
	for _, pe := range x.out.takeLate() {
		x.failed++
		x.report(pe)
	}
}

func (x *exporter) report(err error) {
	if x.opts.Report != nil {
		x.opts.Report(err)
	}
}

// fatal returns the writer's error, which stops the export.
func (x *exporter) fatal() error {
	if x.tw.err != nil {
		return fmt.Errorf("write: %w", x.tw.err)
	}
	return nil
}

// walk archives the entries names (in the directory's own order) of
// directory d in bytewise order, recursing into subdirectories after their
// own entry.
//
// The entries are stat'ed first, in the directory's order: ext4 looks a
// name up from the block where the previous lookup succeeded, so each
// block is searched about once, where the lookups in sorted order
// searched half the directory each (a linear directory's lookups were
// 15% of an export). Failures are reported in the walk's order all the
// same. A directory of more than maxStatAhead entries is stat'ed as it is
// walked, to bound the memory held.
//
// A directory that is its own ancestor (on a damaged filesystem, a
// directory linked into its own subtree) would make the walk endless: it
// is reported with ELOOP and left out, as Linux's lookup refuses it
// (d_splice_alias: "would have caused loop"). Depth is thus bounded by the
// number of distinct directories.
func (x *exporter) walk(d dir, names []string) error {
	ents := make([]dirEntry, 0, len(names))
	ahead := len(names) <= maxStatAhead
	for _, name := range names {
		e := dirEntry{name: name}
		if ahead {
			if x.excluded(d.rel + "/" + name) {
				continue
			}
			e.stat(x, d)
		}
		ents = append(ents, e)
	}
	slices.SortFunc(ents, func(a, b dirEntry) int { return strings.Compare(a.name, b.name) })
	for i := range ents {
		e := &ents[i]
		child := d.rel + "/" + e.name
		if !e.done {
			if x.excluded(child) {
				continue
			}
			e.stat(x, d)
		}
		if e.err != nil {
			x.fail(child, "stat", e.err)
			if err := x.stop(); err != nil {
				return err
			}
			continue
		}
		st := &e.st
		if st.Mode&abi.S_IFMT == abi.S_IFDIR && x.onPath[fileID{st.Dev, st.Ino}] {
			x.fail(child, "walk", abi.Errorf(abi.ELOOP, "directory cycle: inode %d is an ancestor of itself", st.Ino))
			if err := x.stop(); err != nil {
				return err
			}
			continue
		}
		if err := x.entry(d, child, e.name, st); err != nil {
			return err
		}
		if err := x.stop(); err != nil {
			return err
		}
	}
	return nil
}

// maxStatAhead is the most entries of one directory walk stats before it
// walks them (about 200 bytes each).
const maxStatAhead = 1 << 14

// dirEntry is an entry of a directory being walked, with its lstat once
// taken.
type dirEntry struct {
	name string
	st   abi.Stat
	err  error
	done bool // st or err is set
}

// stat takes the entry's lstat, named from directory d.
func (e *dirEntry) stat(x *exporter, d dir) {
	dirfd, path := x.at(d, d.rel+"/"+e.name, e.name)
	e.err = x.sys.Fstatat(dirfd, path, &e.st, abi.AT_SYMLINK_NOFOLLOW)
	e.done = true
}

// readDir returns the names in directory d, without "." and "..", in
// the directory's own order. On a failure it returns the names listed
// before it with the error.
func (x *exporter) readDir(d dir) ([]string, error) {
	fd := d.fd
	if fd == abi.AT_FDCWD {
		flags := abi.O_RDONLY | abi.O_DIRECTORY | abi.O_CLOEXEC
		if d.rel != "" {
			flags |= abi.O_NOFOLLOW // a symlink that replaced a directory
		}
		var err error
		fd, err = x.sys.Openat(abi.AT_FDCWD, x.kpath(d.rel), flags, 0)
		if err != nil {
			return nil, err
		}
		defer x.sys.Close(fd)
	}
	var names []string
	var ds []abi.Dirent
	for {
		n, err := x.sys.Getdents64(fd, x.dents)
		if err != nil {
			return names, err
		}
		if n == 0 {
			break
		}
		ds = abi.ParseDirents(x.dents[:n], ds[:0])
		for _, d := range ds {
			if d.Name != "." && d.Name != ".." {
				names = append(names, d.Name)
			}
		}
	}
	return names, nil
}

// tarName is the archive name of rel: "./" for the root, "./a/b" below.
func tarName(rel string) string { return "." + rel }

// entry archives one entry, rel, called name in directory d, whose lstat
// is st, and the tree under it if it is a directory. It returns only
// errors that stop the export.
func (x *exporter) entry(d dir, rel, name string, st *abi.Stat) error {
	x.reportLate()
	h := &Header{
		Name:  tarName(rel),
		Mode:  st.Mode & 0o7777,
		Uid:   st.Uid,
		Gid:   st.Gid,
		Mtime: Time{Sec: st.Mtim.Sec, Nsec: st.Mtim.Nsec},
	}
	if x.opts.Times {
		h.Atime = &Time{Sec: st.Atim.Sec, Nsec: st.Atim.Nsec}
		h.Ctime = &Time{Sec: st.Ctim.Sec, Nsec: st.Ctim.Nsec}
	}
	typ := st.Mode & abi.S_IFMT
	switch typ {
	case abi.S_IFSOCK:
		x.report(&PathError{Path: showPath(rel), Err: ErrSocket})
		return nil
	case abi.S_IFDIR:
		h.Typeflag = TypeDir
		if rel == "" {
			h.Name = "./"
		}
	case abi.S_IFREG:
		h.Typeflag = TypeReg
		h.Size = st.Size
	case abi.S_IFLNK:
		h.Typeflag = TypeSymlink
		target, err := x.readlink(d, rel, name)
		if err != nil {
			x.fail(rel, "readlink", err)
			return nil
		}
		h.Linkname = target
	case abi.S_IFCHR, abi.S_IFBLK:
		h.Typeflag = TypeChar
		if typ == abi.S_IFBLK {
			h.Typeflag = TypeBlock
		}
		h.Devmajor, h.Devminor = abi.Major(st.Rdev), abi.Minor(st.Rdev)
	case abi.S_IFIFO:
		h.Typeflag = TypeFifo
	default:
		x.fail(rel, "stat", fmt.Errorf("unknown file type %#o", typ))
		return nil
	}

	// A file seen before under another name: a link entry, which carries
	// nothing but the name of the first (GNU tar writes the same).
	id := fileID{st.Dev, st.Ino}
	if typ != abi.S_IFDIR && st.Nlink > 1 {
		if first, ok := x.links[id]; ok {
			link := &Header{Name: h.Name, Typeflag: TypeLink, Linkname: first,
				Mode: h.Mode, Uid: h.Uid, Gid: h.Gid, Mtime: h.Mtime}
			if err := x.writeHeader(link); err != nil {
				if f := x.fatal(); f != nil {
					return f
				}
				x.fail(rel, "archive", err)
			}
			return nil
		}
	}

	// A file or directory is opened first: its xattrs are then read from
	// the descriptor, its data or entries too.
	fd := abi.AT_FDCWD
	handed := false
	var openErr error
	switch {
	case typ == abi.S_IFREG:
		dirfd, path := x.at(d, rel, name)
		fd, openErr = x.sys.Openat(dirfd, path, abi.O_RDONLY|abi.O_NOFOLLOW|abi.O_CLOEXEC, 0)
		if openErr != nil {
			x.fail(rel, "open", openErr)
			return nil
		}
		defer func() {
			if !handed { // to the output goroutine, which closes it
				x.sys.Close(fd)
			}
		}()
	case typ == abi.S_IFDIR && x.depth < maxDirFDs:
		dirfd, path := x.at(d, rel, name)
		flags := abi.O_RDONLY | abi.O_DIRECTORY | abi.O_CLOEXEC
		if rel != "" {
			flags |= abi.O_NOFOLLOW // a symlink that replaced a directory
		}
		fd, openErr = x.sys.Openat(dirfd, path, flags, 0)
		if openErr != nil {
			fd = abi.AT_FDCWD // readDir fails again, and reports it
		} else {
			defer x.sys.Close(fd)
		}
	}

	// A directory is listed before its entry is written, so that one that
	// cannot be listed because it is encrypted (ENOKEY) is left out whole;
	// one whose listing fails for another reason is archived with the
	// entries listed before the failure.
	var names []string
	if typ == abi.S_IFDIR {
		var err error
		if names, err = x.readDir(dir{fd: fd, rel: rel}); err != nil {
			x.fail(rel, "readdir", err)
			if errors.Is(err, abi.ENOKEY) {
				return nil
			}
			if err := x.stop(); err != nil {
				return err
			}
		}
	}

	xattrs, err := x.xattrs(fd, rel)
	if err != nil {
		x.fail(rel, "xattrs", err) // archived with the xattrs that could be read
	}
	h.Xattrs = xattrs
	if err := x.selinux(rel, xattrs); err != nil {
		return err
	}

	if typ == abi.S_IFREG {
		var err error
		handed, err = x.file(fd, rel, h, id, st.Nlink > 1)
		return err
	}
	if err := x.writeHeader(h); err != nil {
		if f := x.fatal(); f != nil {
			return f
		}
		x.fail(rel, "archive", err)
		return nil
	}
	if typ != abi.S_IFDIR && st.Nlink > 1 {
		x.links[id] = h.Name
	}
	if typ == abi.S_IFDIR {
		x.depth++
		x.onPath[id] = true
		defer func() { x.depth--; delete(x.onPath, id) }()
		return x.walk(dir{fd: fd, rel: rel}, names)
	}
	return nil
}

// readlink returns a symlink's target, whatever its length up to
// PATH_MAX.
func (x *exporter) readlink(d dir, rel, name string) (string, error) {
	if x.link == nil {
		x.link = make([]byte, abi.PATH_MAX)
	}
	dirfd, path := x.at(d, rel, name)
	n, err := x.sys.Readlinkat(dirfd, path, x.link)
	if err != nil {
		return "", err
	}
	return string(x.link[:n]), nil
}

// selinux writes the entry's SELinux context to Options.SELinuxFile.
func (x *exporter) selinux(rel string, xattrs []Xattr) error {
	if x.opts.SELinuxFile == nil {
		return nil
	}
	for _, xa := range xattrs {
		if xa.Name == "security.selinux" {
			ctx := strings.TrimRight(string(xa.Value), "\x00")
			if _, err := fmt.Fprintf(x.opts.SELinuxFile, "%s %s\n", showPath(rel), ctx); err != nil {
				return fmt.Errorf("selinux file: %w", err)
			}
		}
	}
	return nil
}
