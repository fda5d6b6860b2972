//go:build linux || darwin

package fusefs

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/lklimg/lklimg/kernel/abi"
)

// node is one inode the host knows. It holds nothing of the kernel's:
// each request finds the inode again by its path (see the package
// documentation).
type node struct {
	fs.Inode
	srv *server
}

// path is the kernel path of n, relative to the served directory (the
// kernel's working directory): the names from the root to n, as go-fuse
// last saw them. Relative, it is never longer than the host's own path
// to n, so the host's PATH_MAX holds for it.
func (n *node) path() string {
	if p := n.Path(n.srv.root.EmbeddedInode()); p != "" {
		return p
	}
	return "."
}

// child is the kernel path of name in the directory n.
func (n *node) child(name string) string {
	if p := n.path(); p != "." {
		return p + "/" + name
	}
	return name
}

// at names what a request on n changes or reads, for the *at syscalls:
// the open file of the handle the host gives (AT_EMPTY_PATH), which may
// have no name left, or else n's path (AT_SYMLINK_NOFOLLOW).
func (n *node) at(f fs.FileHandle) (dirfd int, path string, flags int) {
	if h, ok := f.(*handle); ok {
		return h.fd, "", abi.AT_EMPTY_PATH
	}
	return abi.AT_FDCWD, n.path(), abi.AT_SYMLINK_NOFOLLOW
}

// newChild returns the node of the inode at path (just looked up or
// made), filling out with its attributes: go-fuse returns the node it
// has for the same inode number and generation, so hard links are one
// node.
func (n *node) newChild(ctx context.Context, path string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	var st abi.Stat
	if err := n.srv.k.Fstatat(abi.AT_FDCWD, path, &st, abi.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil, errno(err)
	}
	gen, err := n.srv.generation(path)
	if err != nil {
		return nil, errno(err)
	}
	st.Ino = n.srv.ino(st.Ino, st.Dev)
	fillAttr(&out.Attr, &st)
	out.Generation = uint64(gen)
	id := fs.StableAttr{Mode: st.Mode & abi.S_IFMT, Ino: st.Ino, Gen: uint64(gen)}
	ino := n.NewInode(ctx, &node{srv: n.srv}, id)
	n.srv.nodes.made(ino)
	return ino, 0
}

var (
	_ fs.NodeLookuper   = (*node)(nil)
	_ fs.NodeGetattrer  = (*node)(nil)
	_ fs.NodeSetattrer  = (*node)(nil)
	_ fs.NodeStatfser   = (*node)(nil)
	_ fs.NodeReadlinker = (*node)(nil)
)

// Lookup is FUSE_LOOKUP: fstatat of the name.
func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	n.srv.names.RLock()
	defer n.srv.names.RUnlock()
	return n.newChild(ctx, n.child(name), out)
}

// Getattr is FUSE_GETATTR: fstatat of the handle the host names (an
// fstat of an open file, which may have no name left), or of the path.
func (n *node) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	n.srv.names.RLock()
	defer n.srv.names.RUnlock()
	return n.getattr(f, out)
}

// getattr is Getattr for a caller holding the names.
func (n *node) getattr(f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	var st abi.Stat
	dirfd, path, at := n.at(f)
	if err := n.srv.k.Fstatat(dirfd, path, &st, at); err != nil {
		return errno(err)
	}
	st.Ino = n.srv.ino(st.Ino, st.Dev)
	fillAttr(&out.Attr, &st)
	return 0
}

// Statx is FUSE_STATX, which the host sends when a caller of statx(2)
// asks for more than getattr gives (the birth time): statx of the handle
// or of the path, with the attributes (immutable, append-only, ...).
func (n *node) Statx(ctx context.Context, f fs.FileHandle, flags, mask uint32, out *fuse.StatxOut) syscall.Errno {
	n.srv.names.RLock()
	defer n.srv.names.RUnlock()
	var stx abi.Statx
	dirfd, path, at := n.at(f)
	if err := n.srv.k.Statx(dirfd, path, at, mask, &stx); err != nil {
		return errno(err)
	}
	x := &out.Statx
	x.Mask, x.Blksize, x.Attributes, x.AttributesMask = stx.Mask, stx.Blksize, stx.Attributes, stx.AttributesMask
	x.Nlink, x.Uid, x.Gid, x.Mode = stx.Nlink, stx.Uid, stx.Gid, stx.Mode
	x.Ino, x.Size, x.Blocks = n.srv.ino(stx.Ino, abi.Makedev(stx.DevMajor, stx.DevMinor)), stx.Size, stx.Blocks
	x.Atime = fuse.SxTime{Sec: uint64(stx.Atime.Sec), Nsec: stx.Atime.Nsec}
	x.Btime = fuse.SxTime{Sec: uint64(stx.Btime.Sec), Nsec: stx.Btime.Nsec}
	x.Ctime = fuse.SxTime{Sec: uint64(stx.Ctime.Sec), Nsec: stx.Ctime.Nsec}
	x.Mtime = fuse.SxTime{Sec: uint64(stx.Mtime.Sec), Nsec: stx.Mtime.Nsec}
	x.RdevMajor, x.RdevMinor = stx.RdevMajor, stx.RdevMinor
	return 0
}

// Statfs is FUSE_STATFS: statfs(2) of the served directory.
func (n *node) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	n.srv.names.RLock()
	defer n.srv.names.RUnlock()
	var st abi.Statfs
	if err := n.srv.k.Statfs(n.path(), &st); err != nil {
		return errno(err)
	}
	out.Blocks, out.Bfree, out.Bavail = st.Blocks, st.Bfree, st.Bavail
	out.Files, out.Ffree = st.Files, st.Ffree
	out.Bsize, out.Frsize = uint32(st.Bsize), uint32(st.Frsize)
	out.NameLen = uint32(st.Namelen)
	return 0
}

// Readlink is FUSE_READLINK.
func (n *node) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	n.srv.names.RLock()
	defer n.srv.names.RUnlock()
	buf := make([]byte, abi.PATH_MAX)
	m, err := n.srv.k.Readlinkat(abi.AT_FDCWD, n.path(), buf)
	if err != nil {
		return nil, errno(err)
	}
	return buf[:m], 0
}

// fillAttr copies a stat into FUSE's attributes, the device number as the
// host's FUSE carries it (hostRdev).
func fillAttr(a *fuse.Attr, st *abi.Stat) {
	a.Ino = st.Ino
	a.Size = uint64(st.Size)
	a.Blocks = uint64(st.Blocks)
	a.Atime, a.Atimensec = uint64(st.Atim.Sec), uint32(st.Atim.Nsec)
	a.Mtime, a.Mtimensec = uint64(st.Mtim.Sec), uint32(st.Mtim.Nsec)
	a.Ctime, a.Ctimensec = uint64(st.Ctim.Sec), uint32(st.Ctim.Nsec)
	a.Mode = st.Mode
	a.Nlink = uint32(st.Nlink)
	a.Owner = fuse.Owner{Uid: st.Uid, Gid: st.Gid}
	a.Rdev = hostRdev(abi.Major(st.Rdev), abi.Minor(st.Rdev))
	a.Blksize = uint32(st.Blksize)
}
