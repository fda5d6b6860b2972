//go:build linux || darwin

package fusefs

import (
	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// With FUSE_DONT_MASK the host leaves the umask out of the mode of a new
// inode and sends it beside it (fuse_mkdir, fuse_mknod, fuse_create_open
// in fs/fuse/dir.c), so that the filesystem applies it, or the parent's
// default ACL in its place, as posix_acl_create does. go-fuse's node API
// passes the mode and drops that umask; umaskFS carries it to the node
// methods in bits of the mode that no file type uses, and splitMode takes
// it back.
const (
	umaskShift = 16
	umaskSent  = 1 << 31 // a umask came with the request, even 0
)

// NewRawFS returns the FUSE filesystem of root with opts (both from
// Root), ready for fuse.NewServer.
func NewRawFS(root fs.InodeEmbedder, opts *fs.Options) fuse.RawFileSystem {
	u := umaskFS{RawFileSystem: fs.NewNodeFS(root, opts)}
	if n, ok := root.(*node); ok {
		u.srv = n.srv
	}
	return u
}

// umaskFS is go-fuse's node filesystem with the umask of each request
// that makes an inode put into its mode, and its renames made under the
// server's names lock.
type umaskFS struct {
	fuse.RawFileSystem
	srv *server
}

// Rename is go-fuse's rename (the kernel's renameat2, then the move of
// the name in go-fuse's tree) with the server's names held exclusively.
func (u umaskFS) Rename(cancel <-chan struct{}, in *fuse.RenameIn, oldName, newName string) fuse.Status {
	if u.srv != nil {
		u.srv.names.Lock()
		defer u.srv.names.Unlock()
	}
	return u.RawFileSystem.Rename(cancel, in, oldName, newName)
}

func withUmask(mode, umask uint32) uint32 {
	return mode&0xffff | (umask&0o777)<<umaskShift | umaskSent
}

func (u umaskFS) Mkdir(cancel <-chan struct{}, in *fuse.MkdirIn, name string, out *fuse.EntryOut) fuse.Status {
	in.Mode = withUmask(in.Mode, in.Umask)
	return u.RawFileSystem.Mkdir(cancel, in, name, out)
}

func (u umaskFS) Mknod(cancel <-chan struct{}, in *fuse.MknodIn, name string, out *fuse.EntryOut) fuse.Status {
	in.Mode = withUmask(in.Mode, in.Umask)
	return u.RawFileSystem.Mknod(cancel, in, name, out)
}

func (u umaskFS) Create(cancel <-chan struct{}, in *fuse.CreateIn, name string, out *fuse.CreateOut) fuse.Status {
	in.Mode = withUmask(in.Mode, in.Umask)
	return u.RawFileSystem.Create(cancel, in, name, out)
}

// splitMode returns the mode and the umask umaskFS put into mode; without
// one (a host that ignored FUSE_DONT_MASK has applied the umask itself),
// the umask is 0.
func splitMode(mode uint32) (uint32, uint32) {
	if mode&umaskSent == 0 {
		return mode & 0xffff, 0
	}
	return mode & 0xffff, mode >> umaskShift & 0o777
}
