//go:build linux || darwin

package fusefs

import (
	"context"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/lklimg/lklimg/kernel/abi"
)

// The requests that make, link, remove and rename names. Each makes one
// syscall as the caller, then looks the new name up for the reply.

var (
	_ fs.NodeMkdirer   = (*node)(nil)
	_ fs.NodeMknoder   = (*node)(nil)
	_ fs.NodeSymlinker = (*node)(nil)
	_ fs.NodeLinker    = (*node)(nil)
	_ fs.NodeCreater   = (*node)(nil)
	_ fs.NodeUnlinker  = (*node)(nil)
	_ fs.NodeRmdirer   = (*node)(nil)
	_ fs.NodeRenamer   = (*node)(nil)
)

// Mkdir is FUSE_MKDIR: mkdirat(2) as the caller, with its umask.
func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	n.srv.names.RLock()
	defer n.srv.names.RUnlock()
	mode, umask := splitMode(mode)
	p := n.child(name)
	if err := n.srv.as(ctx, umask).Mkdirat(abi.AT_FDCWD, p, mode&0o7777); err != nil {
		return nil, errno(err)
	}
	return n.newChild(ctx, p, out)
}

// Mknod is FUSE_MKNOD: mknodat(2) of a regular file, fifo, socket or
// device node, its number as the host's FUSE carries it (kernelRdev).
func (n *node) Mknod(ctx context.Context, name string, mode, rdev uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	n.srv.names.RLock()
	defer n.srv.names.RUnlock()
	mode, umask := splitMode(mode)
	p := n.child(name)
	if err := n.srv.as(ctx, umask).Mknodat(abi.AT_FDCWD, p, mode, kernelRdev(rdev)); err != nil {
		return nil, errno(err)
	}
	return n.newChild(ctx, p, out)
}

// Symlink is FUSE_SYMLINK.
func (n *node) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	n.srv.names.RLock()
	defer n.srv.names.RUnlock()
	p := n.child(name)
	if err := n.srv.as(ctx, 0).Symlinkat(target, abi.AT_FDCWD, p); err != nil {
		return nil, errno(err)
	}
	return n.newChild(ctx, p, out)
}

// Link is FUSE_LINK: a new name for the inode of target.
func (n *node) Link(ctx context.Context, target fs.InodeEmbedder, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	n.srv.names.RLock()
	defer n.srv.names.RUnlock()
	t, ok := target.(*node)
	if !ok {
		return nil, syscall.EXDEV
	}
	p := n.child(name)
	if err := n.srv.k.Linkat(abi.AT_FDCWD, t.path(), abi.AT_FDCWD, p, 0); err != nil {
		return nil, errno(err)
	}
	return n.newChild(ctx, p, out)
}

// Create is FUSE_CREATE: openat(2) with O_CREAT as the caller, the new
// file's descriptor becoming the handle.
func (n *node) Create(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	n.srv.names.RLock()
	defer n.srv.names.RUnlock()
	mode, umask := splitMode(mode)
	p := n.child(name)
	fd, err := n.srv.as(ctx, umask).Openat(abi.AT_FDCWD, p, openFlags(flags)|abi.O_CREAT, mode&0o7777)
	if err != nil {
		return nil, nil, 0, errno(err)
	}
	child, e := n.newChild(ctx, p, out)
	if e != 0 {
		n.srv.k.Close(fd)
		return nil, nil, 0, e
	}
	return child, n.srv.newHandle(fd), fileOpenFlags, 0
}

// Unlink is FUSE_UNLINK.
func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	n.srv.names.RLock()
	defer n.srv.names.RUnlock()
	return errno(n.srv.k.Unlinkat(abi.AT_FDCWD, n.child(name), 0))
}

// Rmdir is FUSE_RMDIR.
func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	n.srv.names.RLock()
	defer n.srv.names.RUnlock()
	return errno(n.srv.k.Unlinkat(abi.AT_FDCWD, n.child(name), abi.AT_REMOVEDIR))
}

// Rename is FUSE_RENAME2: renameat2(2) with its flags (RENAME_NOREPLACE,
// RENAME_EXCHANGE, RENAME_WHITEOUT). go-fuse moves the names in its tree
// when it succeeds.
func (n *node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	np, ok := newParent.(*node)
	if !ok {
		return syscall.EXDEV
	}
	err := n.srv.k.Renameat2(abi.AT_FDCWD, n.child(name), abi.AT_FDCWD, np.child(newName), kernelRenameFlags(flags))
	if renameDelay > 0 {
		time.Sleep(renameDelay)
	}
	return errno(err)
}

// renameDelay, set by tests only, widens the moment between the kernel's
// rename and go-fuse's, where a request walking a path would fail
// without the names lock.
var renameDelay time.Duration
