package vfs

import (
	"errors"
	"io"
	"math"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/lklimg/lklimg/kernel/abi"
)

// File is struct file: an open file description. It holds a reference on
// its Dentry (and so on its Mount) until the last reference to the File is
// dropped.
type File struct {
	v     *VFS
	d     *Dentry    // immutable
	flags int        // open flags; immutable
	dev   DeviceFile // the open device of a block device node; nil otherwise; immutable
	refs  atomic.Int64

	// mu (f_pos_lock) guards pos. For a regular file pos is the offset of
	// read(2). For a directory it is the getdents64 position: 0 before
	// ".", 1 before "..", and 2+n before the driver's position n, so that
	// d_off values can be handed back to lseek.
	mu  sync.Mutex
	pos int64
	// dirRepeat is how many of the driver's entries at position pos the
	// file has already returned: the directory cursor is (pos,
	// dirRepeat), as Linux's ext4 keeps the rest of a hash collision
	// chain in the file's dir_private_info (extra_fname) while f_pos
	// stays put (guarded by mu; see DirReader).
	dirRepeat int
	// dirErr is a driver's readdir error that came after records were
	// written: the call returned them, the next call returns the error
	// (guarded by mu).
	dirErr error
}

// dirDotEntries is the directory position of the driver's first entry.
const dirDotEntries = 2

// maxDirRepeat bounds how many entries may share one directory position
// (see DirReader), so that a driver that never advances ends in EUCLEAN
// rather than a readdir that never ends. Linux's longest runs are ext4
// hash collision chains; a million names with one 63-bit hash is far past
// any real directory.
const maxDirRepeat = 1 << 20

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
		if f.dev != nil {
			// blkdev_release's errors, as every release's, do
			// not reach close(2).
			_ = f.dev.Release()
		}
		f.v.Put(f.d)
	case n < 0:
		panic("vfs: file reference count underflow")
	}
}

// Openat resolves path from start as openat(2) does and opens it
// (do_filp_open). The returned File has one reference. With O_CREAT a
// missing regular file is made with permissions mode, owned by cred and
// less its umask (see make), even through a dangling symlink (unless O_EXCL);
// O_TRUNC empties an existing regular file.
//
// Errors: those of Walk; ENOTDIR for O_DIRECTORY on a non-directory; ELOOP
// for O_NOFOLLOW on a symlink (O_PATH|O_NOFOLLOW opens the link itself);
// EISDIR for write access to, or O_CREAT of, a directory, and for O_CREAT
// with a trailing slash; EROFS for write access or O_TRUNC on a read-only
// mount, or O_CREAT of a missing file there; EEXIST for O_CREAT|O_EXCL on
// an existing name (a symlink included); EINVAL for O_CREAT|O_DIRECTORY;
// for a block device node, what Options.OpenDevice returns (ENXIO for an
// unknown device; EBUSY for O_EXCL on a held one); ENXIO for a character
// device, FIFO or socket (no drivers for them); ENOENT for
// O_CREAT in a removed directory; EACCES if the filesystem cannot create;
// what the driver returns (ENOSPC).
func (v *VFS) Openat(cred Cred, start *Dentry, path string, flags int, mode uint32) (*File, error) {
	if flags&abi.O_PATH != 0 {
		flags &= abi.O_PATH | abi.O_DIRECTORY | abi.O_NOFOLLOW | abi.O_CLOEXEC
	}
	if flags&abi.O_CREAT == 0 {
		wf := 0
		if flags&abi.O_NOFOLLOW != 0 {
			wf |= WalkNoFollow
		}
		d, err := v.Walk(start, path, wf)
		if err != nil {
			return nil, err
		}
		defer v.Put(d)
		return v.open(d, flags, false)
	}
	if flags&abi.O_DIRECTORY != 0 {
		return nil, abi.EINVAL
	}
	// open_last_lookups with O_CREAT: a symlink as the last component is
	// followed (unless O_EXCL or O_NOFOLLOW) and the name it points to
	// created if missing, each link counting towards MAXSYMLINKS.
	for links := 0; ; links++ {
		d, created, target, err := v.openCreate(cred, start, path, flags, mode)
		if start != nil && links > 0 {
			v.Put(start)
		}
		if err != nil {
			return nil, err
		}
		if d != nil {
			defer v.Put(d)
			return v.open(d, flags, created)
		}
		// A symlink to follow: target is relative to its directory.
		if links >= abi.MAXSYMLINKS {
			v.Put(target.dir)
			return nil, abi.ELOOP
		}
		start, path = target.dir, target.path
	}
}

// symlinkTarget is a symlink met as the last component of an O_CREAT
// open: its directory (with a reference) and target.
type symlinkTarget struct {
	dir  *Dentry
	path string
}

// openCreate is one step of an O_CREAT open: it returns the dentry to
// open (created reports it is new), or a symlink to follow.
func (v *VFS) openCreate(cred Cred, start *Dentry, path string, flags int, mode uint32) (d *Dentry, created bool, link symlinkTarget, err error) {
	dir, name, trailing, err := v.WalkParent(start, path)
	if err != nil {
		return nil, false, link, err
	}
	defer v.Put(dir)
	if lastType(name) != lastNorm {
		// "/", "." and "..": the directory itself.
		d, err := v.Walk(start, path, 0)
		if err != nil {
			return nil, false, link, err
		}
		if flags&abi.O_EXCL != 0 {
			v.Put(d)
			return nil, false, link, abi.EEXIST
		}
		v.Put(d)
		return nil, false, link, abi.EISDIR
	}
	if trailing {
		return nil, false, link, abi.EISDIR
	}
	dir.lookupMu.Lock()
	defer dir.lookupMu.Unlock()
	c, err := v.lookupChildLocked(dir, name)
	switch {
	case err == nil:
	case !errors.Is(err, abi.ENOENT):
		return nil, false, link, err
	case dir.mnt.ReadOnly():
		return nil, false, link, abi.EROFS
	default:
		n := &newName{v: v, dir: dir, name: name, cred: cred}
		c, err = n.make(abi.S_IFREG|mode&0o7777, abi.EACCES,
			func(w DirWriter, ctx Ctx, name string, mode uint32) (Inode, error) {
				return w.Create(ctx, name, mode)
			})
		return c, err == nil, link, err
	}
	if flags&abi.O_EXCL != 0 {
		v.Put(c)
		return nil, false, link, abi.EEXIST
	}
	if c.IsSymlink() && flags&abi.O_NOFOLLOW == 0 {
		target, err := readlink(c)
		v.Put(c)
		if err != nil {
			return nil, false, link, err
		}
		if target == "" {
			return nil, false, link, abi.ENOENT
		}
		v.Get(dir)
		return nil, false, symlinkTarget{dir: dir, path: target}, nil
	}
	c = v.followMounts(c)
	if c.IsDir() {
		v.Put(c)
		return nil, false, link, abi.EISDIR
	}
	return c, false, link, nil
}

// Open opens d (vfs_open after may_open), taking its own reference on d.
// O_TRUNC empties a regular file.
// Errors: as Openat, for the checks that concern an existing file; what
// the inode's Open returns (Opener), such as ENOKEY, and its OpenIn
// (ParentOpener), such as EPERM.
func (v *VFS) Open(d *Dentry, flags int) (*File, error) {
	return v.open(d, flags, false)
}

// open is Open; created says d was just made by this open, which then
// does not truncate it.
func (v *VFS) open(d *Dentry, flags int, created bool) (*File, error) {
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
		case abi.S_IFBLK:
			// A device node may be written on a read-only mount
			// (special_file: the device is written, not the
			// filesystem), and O_TRUNC means nothing to it.
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
	if o, ok := d.inode.(ParentOpener); ok && flags&abi.O_PATH == 0 {
		v.mu.Lock()
		p := d.parent
		v.mu.Unlock()
		if p != nil {
			if err := o.OpenIn(p.inode, flags); err != nil {
				return nil, err
			}
		}
	}
	if flags&abi.O_TRUNC != 0 && flags&abi.O_PATH == 0 && d.mode == abi.S_IFREG && !created {
		// handle_truncate: the times change even if the file was
		// empty already.
		unlock := v.lockInode(d)
		err := v.setattr(d, SetAttr{Valid: SetSize | SetMtime, Size: 0})
		unlock()
		if err != nil {
			return nil, err
		}
	}
	var dev DeviceFile
	if d.mode == abi.S_IFBLK && flags&abi.O_PATH == 0 {
		var err error
		if dev, err = v.openDevice(d, flags); err != nil {
			return nil, err
		}
	}
	v.Get(d)
	f := &File{v: v, d: d, flags: flags, dev: dev}
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
	if f.dev != nil {
		return f.devPread(p, off)
	}
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
// For a block device see devSeek: no position past the end, and
// SEEK_DATA and SEEK_HOLE as the device says.
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
	if f.dev != nil {
		return f.devSeek(off, whence)
	}
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
	if pos != f.pos {
		// A new position restarts at its first entry; seeking to
		// the current one keeps the cursor, as vfs_setpos leaves
		// f_pos and ext4's last_pos alone then.
		f.pos = pos
		f.dirRepeat = 0
	}
	return pos, nil
}

// Getdents64 fills buf with linux_dirent64 records from the directory
// position and advances it (getdents64(2)). "." and ".." come first, or
// where a DotsReader driver lists them; ".." of the root of a mount is the
// directory above its mountpoint. It returns 0 at the end of the
// directory.
//
// Entries sharing a position (a run, see DirReader) all report it as d_off
// but the last; a call that fills mid-run resumes at the run's next member.
//
// Errors: EBADF for an O_PATH or write-only file; ENOTDIR if f is not a
// directory; EINVAL if buf cannot hold the next record; EUCLEAN for a
// driver whose positions go back or repeat without end; what the driver
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
		if next == f.pos {
			f.dirRepeat++
		} else {
			f.pos, f.dirRepeat = next, 0
		}
		return true
	}
	read := dr.ReadDir
	base := int64(dirDotEntries) // the driver's position 0
	// The inode of "..", found before the driver runs: emit is called
	// under the driver's locks, where the VFS's must not be taken.
	p := f.v.Parent(f.d)
	dotdot := p.ino
	f.v.Put(p)
	if ddr, ok := f.d.inode.(DotsReader); ok {
		read, base = ddr.ReadDirDots, 0
	} else {
		if f.pos == 0 && !put(f.d.ino, 1, abi.DT_DIR, ".") {
			return 0, abi.EINVAL
		}
		if f.pos == 1 && !put(dotdot, dirDotEntries, abi.DT_DIR, "..") {
			return n, nil
		}
	}
	var stuck error // a driver's entry the VFS refuses
	// The first dirRepeat entries at f.pos were returned by an earlier
	// call: the driver emits them again and they are dropped.
	drop := f.dirRepeat
	err := read(f.pos-base, func(e DirEntry) bool {
		next := e.Next
		if next < 0 || next > math.MaxInt64-base {
			next = math.MaxInt64 - base
		}
		next += base
		if e.Name == "" || strings.IndexByte(e.Name, '/') >= 0 {
			// verify_dirent_name (fs/readdir.c): such a name would
			// make a path of another file; the listing stops there.
			stuck = abi.Errorf(abi.EIO, "directory inode %d: bad entry name %q", f.d.ino, e.Name)
			return false
		}
		if len(e.Name) > abi.NAME_MAX {
			stuck = abi.Errorf(abi.EUCLEAN, "directory inode %d: entry name of %d bytes", f.d.ino, len(e.Name))
			return false
		}
		if next < f.pos {
			stuck = abi.Errorf(abi.EUCLEAN, "directory inode %d: position %d goes back", f.d.ino, e.Next)
			return false
		}
		if next == f.pos && f.dirRepeat >= maxDirRepeat {
			// A driver that does not move forward would have
			// readdir loop for ever.
			stuck = abi.Errorf(abi.EUCLEAN, "directory inode %d: position %d does not advance", f.d.ino, e.Next)
			return false
		}
		if drop > 0 {
			drop--
			if next != f.pos {
				// The run at f.pos is shorter than it was
				// (the directory changed): go on after it.
				f.pos, f.dirRepeat, drop = next, 0, 0
			}
			return true
		}
		ino := e.Ino
		if e.Name == ".." {
			// The directory above a mount's root is the
			// mountpoint's parent, whatever the disk says.
			ino = dotdot
		}
		return put(ino, next, e.Type, e.Name)
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

// writable returns EBADF unless f was opened for writing.
func (f *File) writable() error {
	if f.IsPath() || f.flags&abi.O_ACCMODE == abi.O_RDONLY {
		return abi.EBADF
	}
	return nil
}

// maxRWCount is MAX_RW_COUNT: the most one read or write moves.
const maxRWCount = 0x7ffff000

// Write writes p at the file's offset, or at the end of the file with
// O_APPEND, and advances the offset (write(2)). A short count, with no
// error, means the filesystem filled after writing some.
//
// Errors: EBADF for an O_PATH or read-only file; EINVAL if the inode
// cannot be written or the offset would overflow; EFBIG past the largest
// file the filesystem holds; ENOSPC, EDQUOT, EIO from the driver.
func (f *File) Write(p []byte) (int, error) {
	if err := f.writable(); err != nil {
		return 0, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	n, end, err := f.pwrite(p, f.pos, f.flags&abi.O_APPEND != 0)
	if n > 0 {
		f.pos = end
	}
	return n, err
}

// Pwrite writes p at off without moving the offset (pwrite64(2)); as on
// Linux, a file opened with O_APPEND is written at its end whatever off
// says.
//
// Errors: EINVAL for a negative offset (before EBADF, as ksys_pwrite64
// checks it first); as Write.
func (f *File) Pwrite(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, abi.EINVAL
	}
	if err := f.writable(); err != nil {
		return 0, err
	}
	n, _, err := f.pwrite(p, off, f.flags&abi.O_APPEND != 0)
	return n, err
}

// pwrite writes p at off, or at the end for appends, under the inode's
// write lock, and returns the count and the offset after the bytes
// written.
func (f *File) pwrite(p []byte, off int64, appending bool) (int, int64, error) {
	if f.dev != nil {
		n, err := f.devPwrite(p, off)
		return n, off + int64(n), err
	}
	w, ok := f.d.inode.(FileWriter)
	if !ok || f.d.mode != abi.S_IFREG {
		return 0, off, abi.EINVAL
	}
	if len(p) > maxRWCount {
		p = p[:maxRWCount]
	}
	unlock := f.v.lockInode(f.d)
	defer unlock()
	if appending {
		attr, err := f.d.inode.Getattr()
		if err != nil {
			return 0, off, err
		}
		off = attr.Size
	}
	if off > math.MaxInt64-int64(len(p)) {
		// rw_verify_area: the end would wrap.
		return 0, off, abi.EINVAL
	}
	if len(p) == 0 {
		return 0, off, nil
	}
	n, err := w.WriteAt(f.v.ctx(f.v.cred), p, off)
	if n < 0 || n > len(p) {
		return 0, off, abi.Errorf(abi.EIO, "driver write returned %d of %d bytes", n, len(p))
	}
	if n > 0 {
		// A short write returns its count; the error, if it lasts,
		// comes with the next write (generic_perform_write).
		err = nil
	}
	return n, off + int64(n), err
}

// Truncate sets the size of the file (ftruncate(2)); mtime and ctime
// change even when the size does not.
//
// Errors: EINVAL for a negative size; EBADF for an O_PATH file; EINVAL for
// a file not opened for writing or not regular; EFBIG and what the driver
// returns.
func (f *File) Truncate(size int64) error {
	if size < 0 {
		return abi.EINVAL
	}
	if f.IsPath() {
		return abi.EBADF
	}
	if f.flags&abi.O_ACCMODE == abi.O_RDONLY || f.d.mode != abi.S_IFREG {
		return abi.EINVAL
	}
	unlock := f.v.lockInode(f.d)
	defer unlock()
	return f.v.setattr(f.d, SetAttr{Valid: SetSize | SetMtime, Size: size})
}

// fallocate mode bits beyond those in abi (include/uapi/linux/falloc.h).
const (
	fallocUnshareRange = 0x40
	fallocWriteZeroes  = 0x80
	// fallocModeMask is FALLOC_FL_MODE_MASK: the bits that choose the
	// operation, at most one of which may be set.
	fallocModeMask = abi.FALLOC_FL_PUNCH_HOLE | abi.FALLOC_FL_COLLAPSE_RANGE | abi.FALLOC_FL_ZERO_RANGE |
		abi.FALLOC_FL_INSERT_RANGE | fallocUnshareRange | fallocWriteZeroes
)

// Fallocate is fallocate(2) (vfs_fallocate as Linux 6.12 and later check
// it): it checks mode and range and passes them to the driver. mode is one
// operation (0 allocates; PUNCH_HOLE, ZERO_RANGE, COLLAPSE_RANGE,
// INSERT_RANGE, UNSHARE_RANGE, WRITE_ZEROES) and maybe KEEP_SIZE.
//
// Errors, in Linux's order: EINVAL for a negative offset or a length not
// positive; EOPNOTSUPP for unknown bits (FALLOC_FL_NO_HIDE_STALE
// included), two operations, PUNCH_HOLE without KEEP_SIZE, or KEEP_SIZE
// with COLLAPSE_RANGE, INSERT_RANGE or WRITE_ZEROES; EBADF for a file not
// open for writing; ESPIPE for a FIFO, EISDIR for a directory, ENODEV for
// what is neither a regular file nor a block device (whose DeviceFile
// does the rest); EFBIG if the end overflows; EOPNOTSUPP if
// the filesystem cannot allocate, or not in this mode; ENOSPC and what the
// driver returns.
func (f *File) Fallocate(mode uint32, off, n int64) error {
	if off < 0 || n <= 0 {
		return abi.EINVAL
	}
	if mode&^(fallocModeMask|abi.FALLOC_FL_KEEP_SIZE) != 0 {
		return abi.EOPNOTSUPP
	}
	keep := mode&abi.FALLOC_FL_KEEP_SIZE != 0
	switch mode & fallocModeMask {
	case 0, fallocUnshareRange, abi.FALLOC_FL_ZERO_RANGE:
	case abi.FALLOC_FL_PUNCH_HOLE:
		if !keep {
			return abi.EOPNOTSUPP
		}
	case abi.FALLOC_FL_COLLAPSE_RANGE, abi.FALLOC_FL_INSERT_RANGE, fallocWriteZeroes:
		if keep {
			return abi.EOPNOTSUPP
		}
	default:
		return abi.EOPNOTSUPP
	}
	if err := f.writable(); err != nil {
		return err
	}
	switch f.d.mode {
	case abi.S_IFIFO:
		return abi.ESPIPE
	case abi.S_IFDIR:
		return abi.EISDIR
	case abi.S_IFREG, abi.S_IFBLK:
	default:
		return abi.ENODEV
	}
	if off > math.MaxInt64-n {
		return abi.EFBIG
	}
	if f.dev != nil {
		return f.dev.Fallocate(mode, off, n)
	}
	w, ok := f.d.inode.(FileWriter)
	if !ok {
		return abi.EOPNOTSUPP
	}
	unlock := f.v.lockInode(f.d)
	defer unlock()
	return w.Fallocate(f.v.ctx(f.v.cred), mode, off, n)
}

// Fsync writes the file's changes back (fsync(2), fdatasync(2) with
// datasync): the inode alone if the driver can (Fsyncer), else the whole
// filesystem (Syncer). A file of a read-only mount has nothing to write.
//
// Errors: EBADF for an O_PATH file; what the driver returns (EIO).
func (f *File) Fsync(datasync bool) error {
	if f.IsPath() {
		return abi.EBADF
	}
	if f.dev != nil {
		return f.dev.Fsync(datasync)
	}
	if f.d.mnt.ReadOnly() {
		return nil
	}
	if s, ok := f.d.inode.(Fsyncer); ok {
		return s.Fsync(datasync)
	}
	return f.v.Syncfs(f.d.mnt)
}
