package kernel

import (
	"errors"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lklimg/lklimg/kernel/abi"
)

// FS returns an io/fs view of the directory dir of the kernel's namespace
// (usually a mountpoint such as "/mnt/vda1"). It is made of syscalls: Open
// is Openat(O_RDONLY) and symlinks are followed as the kernel follows them
// (an absolute target resolves from the kernel's root, not from dir).
//
// The value implements fs.FS, fs.ReadDirFS, fs.StatFS and fs.ReadLinkFS;
// its files implement fs.ReadDirFile, io.ReaderAt and io.Seeker, and their
// Stat's Sys() is an *abi.Stat. Device nodes, FIFOs and sockets, which the
// kernel has no drivers for (openat gives ENXIO), open as O_PATH
// descriptors that Stat and read as empty, so that a walk over a whole
// tree (fs.WalkDir, fstest.TestFS) can open every file. Errors are *fs.PathError wrapping the errno,
// so errors.Is(err, fs.ErrNotExist) works. Each open file holds a kernel
// file descriptor until it is closed.
func (k *Kernel) FS(dir string) fs.FS {
	return &kernelFS{k: k, dir: path.Clean("/" + dir)}
}

type kernelFS struct {
	k   *Kernel
	dir string // absolute and clean
}

// full returns the kernel path of an fs.FS name, or a *fs.PathError for an
// invalid one.
func (f *kernelFS) full(op, name string) (string, error) {
	if !fs.ValidPath(name) {
		return "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return f.dir, nil
	}
	if f.dir == "/" {
		return "/" + name, nil
	}
	return f.dir + "/" + name, nil
}

func (f *kernelFS) Open(name string) (fs.File, error) {
	p, err := f.full("open", name)
	if err != nil {
		return nil, err
	}
	fd, err := f.k.Openat(abi.AT_FDCWD, p, abi.O_RDONLY|abi.O_CLOEXEC, 0)
	if errors.Is(err, abi.ENXIO) {
		// A device node, FIFO or socket: no driver serves it, but it can
		// be opened for Stat, as os.Open can open it.
		fd, err = f.k.Openat(abi.AT_FDCWD, p, abi.O_PATH|abi.O_CLOEXEC, 0)
		if err == nil {
			return &kernelFile{fsys: f, fd: fd, name: name, special: true}, nil
		}
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return &kernelFile{fsys: f, fd: fd, name: name}, nil
}

func (f *kernelFS) stat(op, name string, flags int) (fs.FileInfo, error) {
	p, err := f.full(op, name)
	if err != nil {
		return nil, err
	}
	var st abi.Stat
	if err := f.k.Fstatat(abi.AT_FDCWD, p, &st, flags); err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	return &fileInfo{name: path.Base(name), st: st}, nil
}

func (f *kernelFS) Stat(name string) (fs.FileInfo, error) { return f.stat("stat", name, 0) }

func (f *kernelFS) Lstat(name string) (fs.FileInfo, error) {
	return f.stat("lstat", name, abi.AT_SYMLINK_NOFOLLOW)
}

func (f *kernelFS) ReadLink(name string) (string, error) {
	p, err := f.full("readlink", name)
	if err != nil {
		return "", err
	}
	for size := abi.PATH_MAX; ; size *= 4 {
		buf := make([]byte, size)
		n, err := f.k.Readlinkat(abi.AT_FDCWD, p, buf)
		if err != nil {
			return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
		}
		if n < size || size >= 1<<20 {
			return string(buf[:n]), nil
		}
	}
}

func (f *kernelFS) ReadDir(name string) ([]fs.DirEntry, error) {
	file, err := f.Open(name)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	d, ok := file.(*kernelFile)
	if !ok {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: abi.ENOTDIR}
	}
	ents, err := d.ReadDir(-1)
	slices.SortFunc(ents, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return ents, err
}

// kernelFile is an open kernel file descriptor. mu guards closed, pending,
// dirEOF and specialPos.
type kernelFile struct {
	fsys    *kernelFS
	fd      int
	name    string
	special bool // an O_PATH descriptor of a device node: reads as empty

	mu         sync.Mutex
	closed     bool
	pending    []abi.Dirent // read by getdents64, not yet returned
	specialPos int64        // the offset of a special file
	dirEOF     bool
}

func (f *kernelFile) err(op string, err error) error {
	return &fs.PathError{Op: op, Path: f.name, Err: err}
}

func (f *kernelFile) Stat() (fs.FileInfo, error) {
	var st abi.Stat
	if err := f.fsys.k.Fstat(f.fd, &st); err != nil {
		return nil, f.err("stat", err)
	}
	return &fileInfo{name: path.Base(f.name), st: st}, nil
}

func (f *kernelFile) Read(p []byte) (int, error) {
	if f.special {
		return 0, io.EOF
	}
	n, err := f.fsys.k.Read(f.fd, p)
	if err != nil {
		return n, f.err("read", err)
	}
	if n == 0 && len(p) > 0 {
		return 0, io.EOF
	}
	return n, nil
}

func (f *kernelFile) ReadAt(p []byte, off int64) (int, error) {
	if f.special {
		return 0, io.EOF
	}
	total := 0
	for total < len(p) {
		n, err := f.fsys.k.Pread(f.fd, p[total:], off+int64(total))
		if err != nil {
			return total, f.err("read", err)
		}
		if n == 0 {
			return total, io.EOF
		}
		total += n
	}
	return total, nil
}

func (f *kernelFile) Seek(off int64, whence int) (int64, error) {
	if f.special {
		// An empty file: any offset at or past its end is fine.
		f.mu.Lock()
		defer f.mu.Unlock()
		switch whence {
		case io.SeekStart:
		case io.SeekCurrent:
			off += f.specialPos
		case io.SeekEnd:
		default:
			return 0, f.err("seek", abi.EINVAL)
		}
		if off < 0 {
			return 0, f.err("seek", abi.EINVAL)
		}
		f.specialPos = off
		return off, nil
	}
	pos, err := f.fsys.k.Lseek(f.fd, off, whence)
	if err != nil {
		return 0, f.err("seek", err)
	}
	return pos, nil
}

func (f *kernelFile) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return f.err("close", fs.ErrClosed)
	}
	f.closed = true
	if err := f.fsys.k.Close(f.fd); err != nil {
		return f.err("close", err)
	}
	return nil
}

// ReadDir returns the next n entries ("." and ".." left out), or all the
// rest if n <= 0, as fs.ReadDirFile specifies.
func (f *kernelFile) ReadDir(n int) ([]fs.DirEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []fs.DirEntry
	var buf []byte
	for n <= 0 || len(out) < n {
		if len(f.pending) == 0 {
			if f.dirEOF {
				break
			}
			if buf == nil {
				buf = make([]byte, 8192)
			}
			m, err := f.fsys.k.Getdents64(f.fd, buf)
			if err != nil {
				return out, f.err("readdir", err)
			}
			if m == 0 {
				f.dirEOF = true
				break
			}
			f.pending = abi.ParseDirents(buf[:m], f.pending[:0])
			continue
		}
		d := f.pending[0]
		f.pending = f.pending[1:]
		if d.Name == "." || d.Name == ".." {
			continue
		}
		out = append(out, &dirEntry{fsys: f.fsys, dir: f.name, name: d.Name, typ: d.Type})
	}
	if n > 0 && len(out) == 0 {
		return nil, io.EOF
	}
	return out, nil
}

// dirEntry is an entry of a kernelFile directory; Info is an Lstat.
type dirEntry struct {
	fsys *kernelFS
	dir  string
	name string
	typ  uint8
}

func (e *dirEntry) Name() string { return e.name }
func (e *dirEntry) IsDir() bool  { return e.Type().IsDir() }

func (e *dirEntry) Type() fs.FileMode {
	if e.typ == abi.DT_UNKNOWN {
		if fi, err := e.Info(); err == nil {
			return fi.Mode().Type()
		}
	}
	return fileMode(abi.ModeFromDT(e.typ)).Type()
}

func (e *dirEntry) Info() (fs.FileInfo, error) {
	return e.fsys.Lstat(path.Join(e.dir, e.name))
}

func (e *dirEntry) String() string { return fs.FormatDirEntry(e) }

// fileInfo is an fs.FileInfo over a struct stat.
type fileInfo struct {
	name string
	st   abi.Stat
}

func (fi *fileInfo) Name() string       { return fi.name }
func (fi *fileInfo) Size() int64        { return fi.st.Size }
func (fi *fileInfo) Mode() fs.FileMode  { return fileMode(fi.st.Mode) }
func (fi *fileInfo) ModTime() time.Time { return time.Unix(fi.st.Mtim.Sec, fi.st.Mtim.Nsec) }
func (fi *fileInfo) IsDir() bool        { return fi.st.Mode&abi.S_IFMT == abi.S_IFDIR }
func (fi *fileInfo) Sys() any           { return &fi.st }
func (fi *fileInfo) String() string     { return fs.FormatFileInfo(fi) }

// fileMode converts st_mode to an fs.FileMode, as os does on Linux.
func fileMode(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	switch m & abi.S_IFMT {
	case abi.S_IFREG:
	case abi.S_IFDIR:
		mode |= fs.ModeDir
	case abi.S_IFLNK:
		mode |= fs.ModeSymlink
	case abi.S_IFBLK:
		mode |= fs.ModeDevice
	case abi.S_IFCHR:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case abi.S_IFIFO:
		mode |= fs.ModeNamedPipe
	case abi.S_IFSOCK:
		mode |= fs.ModeSocket
	default:
		mode |= fs.ModeIrregular
	}
	if m&abi.S_ISUID != 0 {
		mode |= fs.ModeSetuid
	}
	if m&abi.S_ISGID != 0 {
		mode |= fs.ModeSetgid
	}
	if m&abi.S_ISVTX != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

var _ interface {
	fs.ReadDirFS
	fs.StatFS
	fs.ReadLinkFS
} = (*kernelFS)(nil)

var _ interface {
	fs.ReadDirFile
	io.ReaderAt
	io.Seeker
} = (*kernelFile)(nil)
