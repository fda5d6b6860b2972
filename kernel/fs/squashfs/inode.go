package squashfs

import (
	"bytes"
	"sync"

	sq "github.com/lklimg/lklimg/format/squashfs"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// inode is an inode read from the inode table (struct squashfs_inode_info):
// its decoded fields, and where what follows them starts (a regular
// file's block list, an extended directory's index).
type inode struct {
	f     *fsys
	sq    *sq.Inode
	extra sq.Ref           // the reference just after the fixed part
	xattr *sq.XattrID      // its xattr id entry, nil for none
	frag  sq.FragmentEntry // a regular file's fragment, if it has one

	// A regular file's block list cursor (file.go), guarded by mu.
	mu  sync.Mutex
	cur blockCursor
	cps []blockCursor // a cursor every cursorStep blocks, as reached
	// raNext is one past the block readahead last asked after (0:
	// none), guarded by mu.
	raNext uint64
}

// readInode reads the inode at ref (squashfs_read_inode) and checks its
// owner's ids.
func (f *fsys) readInode(ref sq.Ref) (*inode, error) {
	r := f.reader(int64(f.sb.InodeTableStart), ref)
	i, err := sq.DecodeInode(r)
	if err != nil {
		return nil, err
	}
	if int(i.UID) >= len(f.ids) || int(i.GUID) >= len(f.ids) {
		return nil, abi.Errorf(abi.EIO, "squashfs: inode %d: id index %d/%d past the id table (%d ids)", i.InodeNumber, i.UID, i.GUID, len(f.ids))
	}
	if i.Fragment != sq.InvalidFrag && uint64(i.Fragment) >= uint64(f.sb.Fragments) {
		return nil, abi.Errorf(abi.EIO, "squashfs: inode %d: fragment %d of %d", i.InodeNumber, i.Fragment, f.sb.Fragments)
	}
	xid, err := f.xattrID(i.Xattr, i.InodeNumber)
	if err != nil {
		return nil, err
	}
	ip := &inode{f: f, sq: i, extra: r.ref(), xattr: xid}
	if i.Fragment != sq.InvalidFrag {
		// Linux looks the fragment up as it reads the inode
		// (squashfs_frag_lookup), and fails the inode if it cannot.
		if ip.frag, err = f.fragment(i.Fragment); err != nil {
			return nil, where(err, "inode %d: fragment %d", i.InodeNumber, i.Fragment)
		}
	}
	ip.cur = blockCursor{dev: int64(i.StartBlock), list: ip.extra}
	if i.BasicType() == sq.TypeReg && i.Blocks(f.sb.BlockLog) > 0 && i.StartBlock < f.sb.BytesUsed {
		f.mu.Lock()
		f.upcoming.add(int64(i.StartBlock), ip)
		f.mu.Unlock()
	}
	return ip, nil
}

// Ino is the inode's inode_number, as Linux's i_ino.
func (ip *inode) Ino() uint64 { return uint64(ip.sq.InodeNumber) }

// typeBits are the S_IF* bits of each basic type.
var typeBits = [...]uint32{
	sq.TypeDir: abi.S_IFDIR, sq.TypeReg: abi.S_IFREG, sq.TypeSymlink: abi.S_IFLNK,
	sq.TypeBlkdev: abi.S_IFBLK, sq.TypeChrdev: abi.S_IFCHR, sq.TypeFifo: abi.S_IFIFO, sq.TypeSocket: abi.S_IFSOCK,
}

// Getattr reports the inode as squashfs_read_inode fills it: the one
// time stored as mtime, atime and ctime; a regular file's blocks from
// its size less its sparse bytes, and any inode's xattrs' size in
// blocks added; st_blksize the device block size.
func (ip *inode) Getattr() (vfs.Attr, error) {
	i := ip.sq
	t := abi.Timespec{Sec: int64(i.Mtime)}
	a := vfs.Attr{
		Ino:     uint64(i.InodeNumber),
		Mode:    uint32(i.Mode)&0o7777 | typeBits[i.BasicType()],
		Nlink:   i.Nlink,
		Uid:     ip.f.ids[i.UID],
		Gid:     ip.f.ids[i.GUID],
		Blksize: devBlockSize,
		Atime:   t,
		Mtime:   t,
		Ctime:   t,
	}
	switch i.BasicType() {
	case sq.TypeReg:
		a.Size = int64(i.FileSize)
		if i.Type == sq.TypeLReg {
			a.Blocks = (int64(i.FileSize) - int64(i.Sparse) + 511) >> 9
		} else {
			a.Blocks = (int64(i.FileSize)-1)>>9 + 1
		}
	case sq.TypeDir, sq.TypeSymlink:
		a.Size = int64(i.FileSize)
	case sq.TypeBlkdev, sq.TypeChrdev:
		a.Rdev = abi.Makedev(sq.DecodeRdev(i.Rdev))
	}
	if ip.xattr != nil {
		// The xattrs count as blocks of the inode's.
		a.Blocks += (int64(ip.xattr.Size)-1)>>9 + 1
	}
	return a, nil
}

// The inode as the VFS sees it: one type per kind of inode, each with
// the operations of its kind (a directory's lookup, a file's read, a
// symlink's target), as Linux gives each its own inode_operations.
type (
	dirInode     struct{ *inode }
	fileInode    struct{ *inode }
	symlinkInode struct{ *inode }
)

// vfsInode returns ip with the operations of its type.
func (ip *inode) vfsInode() vfs.Inode {
	switch ip.sq.BasicType() {
	case sq.TypeDir:
		return dirInode{ip}
	case sq.TypeReg:
		return fileInode{ip}
	case sq.TypeSymlink:
		return symlinkInode{ip}
	}
	return ip
}

// Readlink returns a symlink's target (squashfs_symlink_aops), up to a
// NUL byte, as Linux's readlink copies it as a C string.
func (s symlinkInode) Readlink() (string, error) {
	t := s.sq.Target
	if i := bytes.IndexByte(t, 0); i >= 0 {
		t = t[:i]
	}
	return string(t), nil
}
