package vfs

import (
	"errors"
	"io"
	"math"
	"sync"
	"sync/atomic"

	"github.com/lklimg/lklimg/kernel/abi"
)

// File is struct file: an open file description. It holds a reference on
// its Dentry (and so on its Mount) until the last reference to the File is
// dropped.
type File struct {
	v     *VFS
	d     *Dentry // immutable
	flags int     // open flags; immutable
	refs  atomic.Int64

	// mu (f_pos_lock) guards pos. For a regular file pos is the offset of
	// read(2). For a directory it is the getdents64 position: 0 before
	// ".", 1 before "..", and 2+n before the driver's position n, so that
	// d_off values can be handed back to lseek.
	mu  sync.Mutex
	pos int64
	// dirErr is a driver's readdir error that came after records were
	// written: the call returned them, the next call returns the error
	// (guarded by mu).
	dirErr error
}

// dirDotEntries is the directory position of the driver's first entry.
const dirDotEntries = 2

// Dentry returns the file's dentry.
func (f *File) Dentry() *Dentry { return f.d }

// Flags returns the flags the file was opened with.
func (f *File) Flags() int { return f.flags }

// IsPath reports whether the file was opened with O_PATH.
func (f *File) IsPath() bool { return f.flags&abi.O_PATH != 0 }

// IncRef takes a reference on f (get_file).
func (f *File) IncRef() { f.refs.Add(1) }

// DecRef drops a reference; the last one releases the dentry (fput).
func (f *File) DecRef() {
	switch n := f.refs.Add(-1); {
	case n == 0:
		f.v.Put(f.d)
	case n < 0:
		panic("vfs: file reference count underflow")
	}
}

// Openat resolves path from start as openat(2) does and opens it
// (do_filp_open). The returned File has one reference.
//
// Errors: those of Walk; ENOTDIR for O_DIRECTORY on a non-directory; ELOOP
// for O_NOFOLLOW on a symlink (O_PATH|O_NOFOLLOW opens the link itself);
// EISDIR for write access to, or O_CREAT of, a directory; EROFS for write
// access on a read-only mount, or O_CREAT of a missing file there; EEXIST
// for O_CREAT|O_EXCL on an existing name; EINVAL for O_CREAT|O_DIRECTORY;
// ENXIO for a device, FIFO or socket (no drivers for them); ENOSYS for
// creating or truncating a file on a writable mount (no write path yet).
func (v *VFS) Openat(start *Dentry, path string, flags int, mode uint32) (*File, error) {
	if flags&abi.O_PATH != 0 {
		flags &= abi.O_PATH | abi.O_DIRECTORY | abi.O_NOFOLLOW | abi.O_CLOEXEC
	}
	creat := flags&abi.O_CREAT != 0
	if creat && flags&abi.O_DIRECTORY != 0 {
		return nil, abi.EINVAL
	}
	wf := 0
	if flags&abi.O_NOFOLLOW != 0 || (creat && flags&abi.O_EXCL != 0) {
		wf |= WalkNoFollow
	}
	d, err := v.Walk(start, path, wf)
	if errors.Is(err, abi.ENOENT) && creat {
		dir, name, trailing, perr := v.WalkParent(start, path)
		if perr != nil {
			return nil, perr
		}
		defer v.Put(dir)
		switch {
		case trailing || name == "":
			return nil, abi.EISDIR
		case dir.mnt.ReadOnly():
			return nil, abi.EROFS
		}
		return nil, abi.Errorf(abi.ENOSYS, "creating %q: no write support", name)
	}
	if err != nil {
		return nil, err
	}
	defer v.Put(d)
	if creat {
		if flags&abi.O_EXCL != 0 {
			return nil, abi.EEXIST
		}
		if d.IsDir() {
			return nil, abi.EISDIR
		}
	}
	return v.Open(d, flags)
}

// Open opens d (vfs_open after may_open), taking its own reference on d.
// Errors: as Openat, for the checks that concern an existing file; what
// the inode's Open returns (Opener), such as ENOKEY.
func (v *VFS) Open(d *Dentry, flags int) (*File, error) {
	if flags&abi.O_PATH == 0 {
		write := flags&abi.O_ACCMODE != abi.O_RDONLY || flags&abi.O_TRUNC != 0
		switch d.mode {
		case abi.S_IFLNK:
			return nil, abi.ELOOP
		case abi.S_IFDIR:
			if write {
				return nil, abi.EISDIR
			}
		case abi.S_IFREG:
			if write && d.mnt.ReadOnly() {
				return nil, abi.EROFS
			}
			if flags&abi.O_TRUNC != 0 {
				return nil, abi.Errorf(abi.ENOSYS, "truncate: no write support")
			}
		default:
			return nil, abi.ENXIO
		}
	}
	if flags&abi.O_DIRECTORY != 0 && !d.IsDir() {
		return nil, abi.ENOTDIR
	}
	if o, ok := d.inode.(Opener); ok && flags&abi.O_PATH == 0 {
		if err := o.Open(flags); err != nil {
			return nil, err
		}
	}
	v.Get(d)
	f := &File{v: v, d: d, flags: flags}
	f.refs.Store(1)
	return f, nil
}

// readable returns EBADF unless f was opened for reading.
func (f *File) readable() error {
	if f.IsPath() || f.flags&abi.O_ACCMODE == abi.O_WRONLY {
		return abi.EBADF
	}
	return nil
}

// Read reads from the file's offset and advances it (read(2)). It returns
// 0 and no error at the end of the file.
//
// Errors: EBADF for an O_PATH or write-only file; EISDIR for a directory;
// EINVAL if the inode cannot be read; what the driver returns.
func (f *File) Read(p []byte) (int, error) {
	if err := f.readable(); err != nil {
		return 0, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.pread(p, f.pos)
	f.pos += int64(n)
	return n, err
}

// Pread reads from offset off without moving the file's offset (pread64).
//
// Errors: as Read, and EINVAL for a negative offset.
func (f *File) Pread(p []byte, off int64) (int, error) {
	if err := f.readable(); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, abi.EINVAL
	}
	return f.pread(p, off)
}

func (f *File) pread(p []byte, off int64) (int, error) {
	if f.d.IsDir() {
		return 0, abi.EISDIR
	}
	r, ok := f.d.inode.(FileReader)
	if !ok {
		return 0, abi.EINVAL
	}
	if len(p) == 0 {
		return 0, nil
	}
	if off > math.MaxInt64-int64(len(p)) {
		p = p[:math.MaxInt64-off]
	}
	n, err := r.ReadAt(p, off)
	if n < 0 || n > len(p) {
		return 0, abi.Errorf(abi.EIO, "driver read returned %d of %d bytes", n, len(p))
	}
	if err == io.EOF || (err != nil && n > 0) {
		// A short read ends at EOF, or before the first failing page as
		// filemap_read returns what it copied.
		err = nil
	}
	return n, err
}

// Seek is lseek(2). For a regular file whence is SEEK_SET, SEEK_CUR,
// SEEK_END, SEEK_DATA or SEEK_HOLE (by the driver's Seeker, or treating
// the whole file as data). For a directory SEEK_SET and SEEK_CUR move the
// getdents64 position (0 rewinds; d_off values resume after their entry).
//
// Errors: EBADF for an O_PATH file; EINVAL for a bad whence or a negative
// result; ENXIO for SEEK_DATA/SEEK_HOLE at or past the end of the file,
// or SEEK_DATA with no data after the offset; EOVERFLOW if the result does
// not fit.
func (f *File) Seek(off int64, whence int) (int64, error) {
	if f.IsPath() {
		return 0, abi.EBADF
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var base int64
	switch whence {
	case abi.SEEK_SET:
	case abi.SEEK_CUR:
		base = f.pos
	case abi.SEEK_END, abi.SEEK_DATA, abi.SEEK_HOLE:
		if f.d.IsDir() {
			return 0, abi.EINVAL
		}
		attr, err := f.d.inode.Getattr()
		if err != nil {
			return 0, err
		}
		if whence == abi.SEEK_END {
			base = attr.Size
			break
		}
		if off < 0 || off >= attr.Size {
			return 0, abi.ENXIO
		}
		pos := off
		if s, ok := f.d.inode.(Seeker); ok {
			if whence == abi.SEEK_DATA {
				pos, err = s.SeekData(off)
			} else {
				pos, err = s.SeekHole(off)
			}
			if err != nil {
				return 0, err
			}
			pos = min(pos, attr.Size)
		} else if whence == abi.SEEK_HOLE {
			pos = attr.Size
		}
		f.pos = pos
		return pos, nil
	default:
		return 0, abi.EINVAL
	}
	if off > 0 && base > math.MaxInt64-off {
		return 0, abi.EOVERFLOW
	}
	pos := base + off
	if pos < 0 {
		return 0, abi.EINVAL
	}
	f.pos = pos
	return pos, nil
}

// Getdents64 fills buf with linux_dirent64 records from the directory
// position and advances it (getdents64(2)). "." and ".." come first; ".."
// of the root of a mount is the directory above its mountpoint. It returns
// 0 at the end of the directory.
//
// Errors: EBADF for an O_PATH or write-only file; ENOTDIR if f is not a
// directory; EINVAL if buf cannot hold the next record; what the driver
// returns: at once if no record was written before it failed, else from
// the next call, which returns it alone (a damaged directory then lists
// every entry the driver could read, and still says it was damaged).
func (f *File) Getdents64(buf []byte) (int, error) {
	if err := f.readable(); err != nil {
		return 0, err
	}
	dr, ok := f.d.inode.(DirReader)
	if !ok || !f.d.IsDir() {
		return 0, abi.ENOTDIR
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.dirErr; err != nil {
		f.dirErr = nil
		return 0, err
	}
	n := 0
	full := false
	put := func(ino uint64, next int64, typ uint8, name string) bool {
		l := abi.PutDirent(buf[n:], ino, next, typ, name)
		if l == 0 {
			full = true
			return false
		}
		n += l
		f.pos = next
		return true
	}
	if f.pos == 0 && !put(f.d.ino, 1, abi.DT_DIR, ".") {
		return 0, abi.EINVAL
	}
	if f.pos == 1 {
		p := f.v.Parent(f.d)
		ino := p.ino
		f.v.Put(p)
		if !put(ino, dirDotEntries, abi.DT_DIR, "..") {
			return n, nil
		}
	}
	var stuck error // a driver's entry the VFS refuses
	err := dr.ReadDir(f.pos-dirDotEntries, func(e DirEntry) bool {
		next := e.Next
		if next < 0 || next > math.MaxInt64-dirDotEntries {
			next = math.MaxInt64 - dirDotEntries
		}
		if e.Name == "" || len(e.Name) > abi.NAME_MAX {
			stuck = abi.Errorf(abi.EUCLEAN, "directory inode %d: entry name of %d bytes", f.d.ino, len(e.Name))
			return false
		}
		if next+dirDotEntries <= f.pos {
			// A driver that does not move forward would have
			// readdir loop for ever.
			stuck = abi.Errorf(abi.EUCLEAN, "directory inode %d: position %d does not advance", f.d.ino, e.Next)
			return false
		}
		return put(e.Ino, next+dirDotEntries, e.Type, e.Name)
	})
	if err == nil {
		err = stuck
	}
	if n > 0 && err != nil {
		f.dirErr = err
	}
	if n == 0 {
		if err != nil {
			return 0, err
		}
		if full {
			return 0, abi.EINVAL
		}
	}
	return n, nil
}
