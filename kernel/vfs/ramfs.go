package vfs

import (
	"io"
	"math"
	"sort"
	"strings"
	"sync"

	"github.com/lklimg/lklimg/kernel/abi"
)

// The ramfs is the root filesystem of the namespace (Linux's rootfs, a
// ramfs or tmpfs): a complete writable filesystem held in memory, with
// regular files, directories, symlinks, device nodes, FIFOs and sockets,
// hard links, xattrs, rename and unlink. It implements the whole driver
// contract of fs.go, so it is also the test double that proves the VFS
// without a disk. It behaves as tmpfs does where the two could differ:
// fallocate takes mode 0, FALLOC_FL_KEEP_SIZE and
// FALLOC_FL_PUNCH_HOLE|FALLOC_FL_KEEP_SIZE (EOPNOTSUPP for the rest);
// xattrs in the user, trusted and security namespaces and the two POSIX
// ACL names; directories report a size of 0 as ramfs's do.
//
// File data lives in 4 KiB pages allocated as they are written, so that
// holes cost nothing and SEEK_DATA/SEEK_HOLE see them; memory is what was
// written, never what an offset or a size asks for.

// ramfsPageSize is the size of a page of file data (PAGE_SIZE).
const ramfsPageSize = 4096

// ramfsMaxBytes is s_maxbytes: MAX_LFS_FILESIZE of a 64-bit kernel.
const ramfsMaxBytes = math.MaxInt64

// ramfsType is the ramfs's struct file_system_type. It is not registered:
// the VFS mounts it itself at "/"; tests mount more with RamfsType.
type ramfsType struct{}

// RamfsType returns the ramfs filesystem type. Its Mount needs no device.
func RamfsType() FilesystemType { return ramfsType{} }

func (ramfsType) Name() string               { return "ramfs" }
func (ramfsType) Probe(dev BlockDevice) bool { return false }
func (ramfsType) Mount(dev BlockDevice, flags uint64, data string, log Logger) (Superblock, error) {
	sb := &ramfsSuper{nextIno: 1}
	sb.root = sb.newInodeLocked(abi.S_IFDIR|0o755, 0, Ctx{})
	return sb, nil
}

// ramfsSuper is a mounted ramfs. mu guards every field of the superblock
// and of its inodes but the immutable ones (sb, ino).
type ramfsSuper struct {
	mu      sync.Mutex
	nextIno uint64
	root    *ramfsInode

	// live counts inodes not freed; handouts counts inodes handed to
	// the VFS less its Evict calls; syncs counts Sync calls. Tests read
	// them to check the Evict protocol.
	live, handouts, syncs int
	badEvicts             int // Evict calls without a handout
}

func (sb *ramfsSuper) newInodeLocked(mode uint32, rdev uint64, ctx Ctx) *ramfsInode {
	in := &ramfsInode{
		sb: sb, ino: sb.nextIno, mode: mode, rdev: rdev, nlink: 1,
		uid: ctx.Uid, gid: ctx.Gid, atime: ctx.Now, mtime: ctx.Now, ctime: ctx.Now,
	}
	sb.nextIno++
	sb.live++
	if in.isDir() {
		in.children = make(map[string]*ramfsDirent)
		in.nlink = 2
		in.nextCookie = 1
	}
	return in
}

// Root hands out the root directory.
func (sb *ramfsSuper) Root() (Inode, error) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	return sb.root.handoutLocked(), nil
}

func (sb *ramfsSuper) Statfs() (abi.Statfs, error) {
	return abi.Statfs{Type: abi.RAMFS_MAGIC, Bsize: ramfsPageSize, Frsize: ramfsPageSize, Namelen: abi.NAME_MAX}, nil
}

// Sync has nothing to write.
func (sb *ramfsSuper) Sync() error {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	sb.syncs++
	return nil
}

func (sb *ramfsSuper) Unmount() error { return nil }

// ramfsDirent is a directory entry: the inode and the entry's position
// in readdir order (entries are listed in the order they were made, and a
// position stays valid while entries come and go).
type ramfsDirent struct {
	in     *ramfsInode
	cookie int64
}

// ramfsInode is an inode of the ramfs; all but sb and ino is guarded by
// sb.mu.
type ramfsInode struct {
	sb  *ramfsSuper
	ino uint64

	mode                uint32
	uid, gid            uint32
	rdev                uint64
	nlink               uint32
	atime, mtime, ctime abi.Timespec
	size                int64                          // regular files
	pages               map[int64]*[ramfsPageSize]byte // regular files: page index -> data
	target              string                         // symlinks
	xattrs              map[string][]byte
	children            map[string]*ramfsDirent // directories
	nextCookie          int64                   // directories
	refs                int                     // handouts less Evicts
	freed               bool
}

func (in *ramfsInode) isDir() bool { return in.mode&abi.S_IFMT == abi.S_IFDIR }
func (in *ramfsInode) isReg() bool { return in.mode&abi.S_IFMT == abi.S_IFREG }

// handoutLocked counts one more reference of the VFS to in.
func (in *ramfsInode) handoutLocked() *ramfsInode {
	in.refs++
	in.sb.handouts++
	return in
}

// maybeFreeLocked frees in once it has no link and the VFS holds it no
// more (evict_inode of an unlinked inode).
func (in *ramfsInode) maybeFreeLocked() {
	if in.nlink > 0 || in.refs > 0 || in.freed {
		return
	}
	in.freed = true
	in.pages, in.xattrs, in.children, in.target = nil, nil, nil, ""
	in.size = 0
	in.sb.live--
}

// Evict drops one handout; an unlinked inode is freed with the last.
func (in *ramfsInode) Evict() error {
	sb := in.sb
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if in.refs <= 0 {
		sb.badEvicts++
		return abi.Errorf(abi.EIO, "ramfs: evict of inode %d, which the VFS does not hold", in.ino)
	}
	in.refs--
	sb.handouts--
	in.maybeFreeLocked()
	return nil
}

func (in *ramfsInode) Ino() uint64 { return in.ino }

func (in *ramfsInode) Getattr() (Attr, error) {
	in.sb.mu.Lock()
	defer in.sb.mu.Unlock()
	a := Attr{
		Ino: in.ino, Mode: in.mode, Nlink: in.nlink, Uid: in.uid, Gid: in.gid,
		Rdev: in.rdev, Blksize: ramfsPageSize,
		Atime: in.atime, Mtime: in.mtime, Ctime: in.ctime,
	}
	switch in.mode & abi.S_IFMT {
	case abi.S_IFREG:
		a.Size = in.size
		a.Blocks = int64(len(in.pages)) * (ramfsPageSize / 512)
	case abi.S_IFLNK:
		a.Size = int64(len(in.target))
	}
	return a, nil
}

// Lookup returns ENOENT for a missing name and ENOTDIR on a non-directory.
func (in *ramfsInode) Lookup(name string) (Inode, error) {
	in.sb.mu.Lock()
	defer in.sb.mu.Unlock()
	if !in.isDir() {
		return nil, abi.ENOTDIR
	}
	if e, ok := in.children[name]; ok {
		return e.in.handoutLocked(), nil
	}
	return nil, abi.ENOENT
}

// ReadDir yields the entries in the order they were made; the position is
// the entry's cookie.
func (in *ramfsInode) ReadDir(pos int64, emit func(DirEntry) bool) error {
	in.sb.mu.Lock()
	if !in.isDir() {
		in.sb.mu.Unlock()
		return abi.ENOTDIR
	}
	ents := make([]DirEntry, 0, len(in.children))
	for name, e := range in.children {
		if e.cookie >= pos {
			ents = append(ents, DirEntry{Name: name, Ino: e.in.ino, Type: abi.DTFromMode(e.in.mode), Next: e.cookie + 1})
		}
	}
	in.sb.mu.Unlock()
	sort.Slice(ents, func(i, j int) bool { return ents[i].Next < ents[j].Next })
	for _, e := range ents {
		if !emit(e) {
			break
		}
	}
	return nil
}

// ReadAt reads holes as zeros.
func (in *ramfsInode) ReadAt(p []byte, off int64) (int, error) {
	in.sb.mu.Lock()
	defer in.sb.mu.Unlock()
	if !in.isReg() {
		return 0, abi.EINVAL
	}
	if off >= in.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), in.size-off))
	for done := 0; done < n; {
		pos := off + int64(done)
		idx, po := pos/ramfsPageSize, int(pos%ramfsPageSize)
		chunk := min(n-done, ramfsPageSize-po)
		if pg := in.pages[idx]; pg != nil {
			copy(p[done:done+chunk], pg[po:])
		} else {
			clear(p[done : done+chunk])
		}
		done += chunk
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// SeekData returns the first written page at or after off.
func (in *ramfsInode) SeekData(off int64) (int64, error) {
	in.sb.mu.Lock()
	defer in.sb.mu.Unlock()
	first := int64(-1)
	for idx := range in.pages {
		if idx >= off/ramfsPageSize && (first < 0 || idx < first) {
			first = idx
		}
	}
	if first < 0 {
		return 0, abi.ENXIO
	}
	pos := max(off, first*ramfsPageSize)
	if pos >= in.size {
		return 0, abi.ENXIO
	}
	return pos, nil
}

// SeekHole returns the first unwritten page at or after off, or the end.
func (in *ramfsInode) SeekHole(off int64) (int64, error) {
	in.sb.mu.Lock()
	defer in.sb.mu.Unlock()
	idx := off / ramfsPageSize
	for in.pages[idx] != nil {
		idx++
	}
	return min(max(off, idx*ramfsPageSize), in.size), nil
}

func (in *ramfsInode) Readlink() (string, error) {
	in.sb.mu.Lock()
	defer in.sb.mu.Unlock()
	if in.mode&abi.S_IFMT != abi.S_IFLNK {
		return "", abi.EINVAL
	}
	return in.target, nil
}

// ramfsXattrOK reports whether the ramfs stores the attribute name: the
// namespaces tmpfs has handlers for.
func ramfsXattrOK(name string) bool {
	for _, p := range []string{"user.", "trusted.", "security."} {
		if strings.HasPrefix(name, p) {
			return len(name) > len(p)
		}
	}
	return name == "system.posix_acl_access" || name == "system.posix_acl_default"
}

func (in *ramfsInode) Getxattr(name string) ([]byte, error) {
	in.sb.mu.Lock()
	defer in.sb.mu.Unlock()
	v, ok := in.xattrs[name]
	if !ok {
		return nil, abi.ENODATA
	}
	return append([]byte(nil), v...), nil
}

// Listxattr returns the names sorted.
func (in *ramfsInode) Listxattr() ([]string, error) {
	in.sb.mu.Lock()
	defer in.sb.mu.Unlock()
	names := make([]string, 0, len(in.xattrs))
	for n := range in.xattrs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

// Setxattr returns EOPNOTSUPP outside the namespaces ramfsXattrOK names.
func (in *ramfsInode) Setxattr(ctx Ctx, name string, value []byte, flags int) error {
	if !ramfsXattrOK(name) {
		return abi.EOPNOTSUPP
	}
	in.sb.mu.Lock()
	defer in.sb.mu.Unlock()
	_, exists := in.xattrs[name]
	switch {
	case flags&abi.XATTR_CREATE != 0 && exists:
		return abi.EEXIST
	case flags&abi.XATTR_REPLACE != 0 && !exists:
		return abi.ENODATA
	}
	if in.xattrs == nil {
		in.xattrs = make(map[string][]byte)
	}
	in.xattrs[name] = append([]byte{}, value...)
	in.ctime = ctx.Now
	return nil
}

func (in *ramfsInode) Removexattr(ctx Ctx, name string) error {
	if !ramfsXattrOK(name) {
		return abi.EOPNOTSUPP
	}
	in.sb.mu.Lock()
	defer in.sb.mu.Unlock()
	if _, ok := in.xattrs[name]; !ok {
		return abi.ENODATA
	}
	delete(in.xattrs, name)
	in.ctime = ctx.Now
	return nil
}

// Setattr applies a; a size applies to regular files only (EISDIR for a
// directory, EINVAL for the rest).
func (in *ramfsInode) Setattr(ctx Ctx, a SetAttr) error {
	in.sb.mu.Lock()
	defer in.sb.mu.Unlock()
	if a.Valid&SetSize != 0 {
		switch {
		case in.isDir():
			return abi.EISDIR
		case !in.isReg():
			return abi.EINVAL
		case a.Size < 0:
			return abi.EINVAL
		}
		in.truncateLocked(a.Size)
	}
	if a.Valid&SetMode != 0 {
		in.mode = in.mode&abi.S_IFMT | a.Mode&0o7777
	}
	if a.Valid&SetUid != 0 {
		in.uid = a.Uid
	}
	if a.Valid&SetGid != 0 {
		in.gid = a.Gid
	}
	if a.Valid&SetAtime != 0 {
		in.atime = a.Atime
	}
	if a.Valid&SetMtime != 0 {
		in.mtime = a.Mtime
	}
	if a.Valid&SetCtime != 0 {
		in.ctime = a.Ctime
	}
	return nil
}

// truncateLocked sets the size, dropping the pages past it and zeroing the
// tail of the last, so that extending again reads zeros.
func (in *ramfsInode) truncateLocked(size int64) {
	if size < in.size {
		keep := (size + ramfsPageSize - 1) / ramfsPageSize
		for idx := range in.pages {
			if idx >= keep {
				delete(in.pages, idx)
			}
		}
		if pg := in.pages[size/ramfsPageSize]; pg != nil && size%ramfsPageSize != 0 {
			clear(pg[size%ramfsPageSize:])
		}
	}
	in.size = size
}

// WriteAt writes p at off; EFBIG past s_maxbytes.
func (in *ramfsInode) WriteAt(ctx Ctx, p []byte, off int64) (int, error) {
	in.sb.mu.Lock()
	defer in.sb.mu.Unlock()
	if !in.isReg() {
		return 0, abi.EINVAL
	}
	if off < 0 || off >= ramfsMaxBytes || int64(len(p)) > ramfsMaxBytes-off {
		return 0, abi.EFBIG
	}
	if in.pages == nil {
		in.pages = make(map[int64]*[ramfsPageSize]byte)
	}
	for done := 0; done < len(p); {
		pos := off + int64(done)
		idx, po := pos/ramfsPageSize, int(pos%ramfsPageSize)
		pg := in.pages[idx]
		if pg == nil {
			pg = new([ramfsPageSize]byte)
			in.pages[idx] = pg
		}
		done += copy(pg[po:], p[done:])
	}
	in.size = max(in.size, off+int64(len(p)))
	in.mtime, in.ctime = ctx.Now, ctx.Now
	return len(p), nil
}

// Fallocate takes the modes tmpfs takes. Allocation reserves nothing: a
// hole of the ramfs already reads as zeros and costs no memory.
func (in *ramfsInode) Fallocate(ctx Ctx, mode uint32, off, n int64) error {
	in.sb.mu.Lock()
	defer in.sb.mu.Unlock()
	if !in.isReg() {
		return abi.ENODEV
	}
	end := off + n
	switch mode {
	case 0, abi.FALLOC_FL_KEEP_SIZE:
		if mode == 0 && end > in.size {
			in.size = end
		}
	case abi.FALLOC_FL_PUNCH_HOLE | abi.FALLOC_FL_KEEP_SIZE:
		end = min(end, in.size)
		for pos := off; pos < end; {
			idx, po := pos/ramfsPageSize, pos%ramfsPageSize
			chunk := min(end-pos, ramfsPageSize-po)
			if pg := in.pages[idx]; pg != nil {
				if chunk == ramfsPageSize {
					delete(in.pages, idx)
				} else {
					clear(pg[po : po+chunk])
				}
			}
			pos += chunk
		}
	default:
		return abi.EOPNOTSUPP
	}
	in.mtime, in.ctime = ctx.Now, ctx.Now
	return nil
}

// dirLocked returns ENOTDIR unless in is a directory, and ENOENT for one
// removed (IS_DEADDIR).
func (in *ramfsInode) dirLocked() error {
	if !in.isDir() {
		return abi.ENOTDIR
	}
	if in.nlink == 0 {
		return abi.ENOENT
	}
	return nil
}

// addLocked enters c as name and stamps the directory.
func (in *ramfsInode) addLocked(ctx Ctx, name string, c *ramfsInode) {
	in.children[name] = &ramfsDirent{in: c, cookie: in.nextCookie}
	in.nextCookie++
	in.mtime, in.ctime = ctx.Now, ctx.Now
}

// newChild makes a new inode called name: EEXIST if the name is taken.
func (in *ramfsInode) newChild(ctx Ctx, name string, mode uint32, rdev uint64, target string) (Inode, error) {
	in.sb.mu.Lock()
	defer in.sb.mu.Unlock()
	if err := in.dirLocked(); err != nil {
		return nil, err
	}
	if _, ok := in.children[name]; ok {
		return nil, abi.EEXIST
	}
	c := in.sb.newInodeLocked(mode, rdev, ctx)
	c.target = target
	if c.isDir() {
		in.nlink++
	}
	in.addLocked(ctx, name, c)
	return c.handoutLocked(), nil
}

func (in *ramfsInode) Create(ctx Ctx, name string, mode uint32) (Inode, error) {
	return in.newChild(ctx, name, abi.S_IFREG|mode&0o7777, 0, "")
}

func (in *ramfsInode) Mkdir(ctx Ctx, name string, mode uint32) (Inode, error) {
	return in.newChild(ctx, name, abi.S_IFDIR|mode&0o7777, 0, "")
}

// Mknod makes any type but a directory (EINVAL).
func (in *ramfsInode) Mknod(ctx Ctx, name string, mode uint32, rdev uint64) (Inode, error) {
	if mode&abi.S_IFMT == abi.S_IFDIR || mode&abi.S_IFMT == 0 {
		return nil, abi.EINVAL
	}
	return in.newChild(ctx, name, mode, rdev, "")
}

func (in *ramfsInode) Symlink(ctx Ctx, name, target string) (Inode, error) {
	return in.newChild(ctx, name, abi.S_IFLNK|0o777, 0, target)
}

// Link returns EXDEV for an inode of another filesystem, EPERM for a
// directory and ENOENT for an inode with no link left.
func (in *ramfsInode) Link(ctx Ctx, name string, old Inode) error {
	o, ok := old.(*ramfsInode)
	if !ok || o.sb != in.sb {
		return abi.EXDEV
	}
	in.sb.mu.Lock()
	defer in.sb.mu.Unlock()
	if err := in.dirLocked(); err != nil {
		return err
	}
	switch {
	case o.isDir():
		return abi.EPERM
	case o.nlink == 0:
		return abi.ENOENT
	case o.nlink == math.MaxUint32:
		return abi.EMLINK
	}
	if _, ok := in.children[name]; ok {
		return abi.EEXIST
	}
	o.nlink++
	o.ctime = ctx.Now
	in.addLocked(ctx, name, o)
	return nil
}

// removeLocked takes name out of in and drops the link its inode had.
func (in *ramfsInode) removeLocked(ctx Ctx, name string) {
	c := in.children[name].in
	delete(in.children, name)
	in.mtime, in.ctime = ctx.Now, ctx.Now
	c.ctime = ctx.Now
	if c.isDir() {
		c.nlink = 0
		in.nlink--
	} else {
		c.nlink--
	}
	c.maybeFreeLocked()
}

// Unlink returns ENOENT for a missing name, EISDIR for a directory.
func (in *ramfsInode) Unlink(ctx Ctx, name string) error {
	return in.remove(ctx, name, false)
}

// Rmdir returns ENOENT, ENOTDIR or ENOTEMPTY as rmdir(2).
func (in *ramfsInode) Rmdir(ctx Ctx, name string) error {
	return in.remove(ctx, name, true)
}

// remove is Unlink, or Rmdir when dir is set.
func (in *ramfsInode) remove(ctx Ctx, name string, dir bool) error {
	in.sb.mu.Lock()
	defer in.sb.mu.Unlock()
	if err := in.dirLocked(); err != nil {
		return err
	}
	e, ok := in.children[name]
	switch {
	case !ok:
		return abi.ENOENT
	case !dir && e.in.isDir():
		return abi.EISDIR
	case dir && !e.in.isDir():
		return abi.ENOTDIR
	case len(e.in.children) > 0:
		return abi.ENOTEMPTY
	}
	in.removeLocked(ctx, name)
	return nil
}

// Rename checks again the types the VFS checked: EINVAL for
// RENAME_WHITEOUT; ENOENT, EEXIST
// (RENAME_NOREPLACE), EISDIR, ENOTDIR; ENOTEMPTY for a directory replaced
// that has entries; EXDEV for a directory of another filesystem. Moving a
// directory under itself is the VFS's to refuse.
func (in *ramfsInode) Rename(ctx Ctx, oldName string, newDir Inode, newName string, flags uint32) error {
	if flags&abi.RENAME_WHITEOUT != 0 {
		return abi.EINVAL // no whiteouts: ramfs's simple_rename
	}
	nd, ok := newDir.(*ramfsInode)
	if !ok || nd.sb != in.sb {
		return abi.EXDEV
	}
	in.sb.mu.Lock()
	defer in.sb.mu.Unlock()
	if err := in.dirLocked(); err != nil {
		return err
	}
	if err := nd.dirLocked(); err != nil {
		return err
	}
	src, ok := in.children[oldName]
	if !ok {
		return abi.ENOENT
	}
	dst := nd.children[newName]
	if flags&abi.RENAME_EXCHANGE != 0 {
		if dst == nil {
			return abi.ENOENT
		}
		in.children[oldName], nd.children[newName] = dst, src
		if in != nd && src.in.isDir() != dst.in.isDir() {
			if src.in.isDir() {
				in.nlink--
				nd.nlink++
			} else {
				in.nlink++
				nd.nlink--
			}
		}
		src.in.ctime, dst.in.ctime = ctx.Now, ctx.Now
		in.mtime, in.ctime, nd.mtime, nd.ctime = ctx.Now, ctx.Now, ctx.Now, ctx.Now
		return nil
	}
	if dst != nil {
		switch {
		case flags&abi.RENAME_NOREPLACE != 0:
			return abi.EEXIST
		case dst.in == src.in:
			return nil
		case src.in.isDir() && !dst.in.isDir():
			return abi.ENOTDIR
		case !src.in.isDir() && dst.in.isDir():
			return abi.EISDIR
		case len(dst.in.children) > 0:
			return abi.ENOTEMPTY
		}
		nd.removeLocked(ctx, newName)
	}
	delete(in.children, oldName)
	if src.in.isDir() && in != nd {
		in.nlink--
		nd.nlink++
	}
	in.mtime, in.ctime = ctx.Now, ctx.Now
	nd.addLocked(ctx, newName, src.in)
	src.in.ctime = ctx.Now
	return nil
}

var (
	_ Superblock = (*ramfsSuper)(nil)
	_ Syncer     = (*ramfsSuper)(nil)
	_ interface {
		Inode
		Lookuper
		DirReader
		FileReader
		Seeker
		Readlinker
		Xattrer
		Setattrer
		DirWriter
		FileWriter
		XattrWriter
		Evicter
	} = (*ramfsInode)(nil)
)
