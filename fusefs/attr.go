//go:build linux || darwin

package fusefs

import (
	"context"
	"errors"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/lklimg/lklimg/kernel/abi"
)

var (
	_ fs.NodeGetxattrer    = (*node)(nil)
	_ fs.NodeSetxattrer    = (*node)(nil)
	_ fs.NodeRemovexattrer = (*node)(nil)
	_ fs.NodeListxattrer   = (*node)(nil)
)

// Setattr is FUSE_SETATTR: chown, chmod, truncate and utimes, in that
// order, on the handle the host names when it names one (ftruncate, and
// the changes Linux makes through an open file), else on the path. The
// host has checked the caller's right to each and, when a write or a
// chown must clear set-user-ID bits, sends the mode without them
// (file_remove_privs and setattr_prepare in fuse_do_setattr).
func (n *node) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	n.srv.names.RLock()
	defer n.srv.names.RUnlock()
	k := n.srv.k
	dirfd, path, at := n.at(f)
	if in.Valid&(fuse.FATTR_UID|fuse.FATTR_GID) != 0 {
		uid, gid := -1, -1
		if in.Valid&fuse.FATTR_UID != 0 {
			uid = int(in.Uid)
		}
		if in.Valid&fuse.FATTR_GID != 0 {
			gid = int(in.Gid)
		}
		if err := k.Fchownat(dirfd, path, uid, gid, at); err != nil {
			return errno(err)
		}
	}
	if in.Valid&fuse.FATTR_MODE != 0 {
		if err := k.Fchmodat(dirfd, path, in.Mode&0o7777, at&abi.AT_EMPTY_PATH); err != nil {
			return errno(err)
		}
	}
	if in.Valid&fuse.FATTR_SIZE != 0 {
		var err error
		if h, ok := f.(*handle); ok {
			err = k.Ftruncate(h.fd, int64(in.Size))
		} else {
			err = k.Truncate(path, int64(in.Size))
		}
		if err != nil {
			return errno(err)
		}
	}
	if in.Valid&(fuse.FATTR_ATIME|fuse.FATTR_MTIME) != 0 {
		times := [2]abi.Timespec{
			setTime(in.Valid, fuse.FATTR_ATIME, fuse.FATTR_ATIME_NOW, in.Atime, in.Atimensec),
			setTime(in.Valid, fuse.FATTR_MTIME, fuse.FATTR_MTIME_NOW, in.Mtime, in.Mtimensec),
		}
		if err := k.Utimensat(dirfd, path, &times, at); err != nil {
			return errno(err)
		}
	}
	return n.getattr(f, out)
}

// setTime is one time of utimensat(2) from a setattr: UTIME_OMIT when it
// is not set, UTIME_NOW for FATTR_[AM]TIME_NOW.
func setTime(valid, set, now uint32, sec uint64, nsec uint32) abi.Timespec {
	switch {
	case valid&set == 0:
		return abi.Timespec{Nsec: abi.UTIME_OMIT}
	case valid&now != 0:
		return abi.Timespec{Nsec: abi.UTIME_NOW}
	}
	return abi.Timespec{Sec: int64(sec), Nsec: int64(nsec)}
}

// Getxattr is FUSE_GETXATTR: lgetxattr(2). An empty dest asks for the
// size.
//
// A filesystem without extended attributes (FAT) answers EOPNOTSUPP.
// Linux never asks one for an ACL (no SB_POSIXACL), but the host asks the
// server for the ACL of each inode it checks a non-owner's permission on
// (FUSE_POSIX_ACL) and takes anything but ENODATA, or ENOSYS (which would
// turn getxattr off for the whole mount), as the check's error
// (fuse_get_inode_acl in fs/fuse/acl.c): every access to a FAT mounted
// with uid= other than the caller's failed with EOPNOTSUPP. No ACL is
// ENODATA.
func (n *node) Getxattr(ctx context.Context, name string, dest []byte) (uint32, syscall.Errno) {
	n.srv.names.RLock()
	defer n.srv.names.RUnlock()
	m, err := n.srv.k.Lgetxattr(n.path(), name, dest)
	if errors.Is(err, abi.EOPNOTSUPP) && (name == "system.posix_acl_access" || name == "system.posix_acl_default") {
		return 0, errno(abi.ENODATA)
	}
	return uint32(m), errno(err)
}

// Listxattr is FUSE_LISTXATTR: llistxattr(2).
func (n *node) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	n.srv.names.RLock()
	defer n.srv.names.RUnlock()
	m, err := n.srv.k.Llistxattr(n.path(), dest)
	return uint32(m), errno(err)
}

// Setxattr is FUSE_SETXATTR: lsetxattr(2), ACLs included (with
// FUSE_POSIX_ACL the host sends system.posix_acl_access and _default as
// xattrs, and the mode change an access ACL implies is the driver's, as
// ext4_set_acl makes it).
func (n *node) Setxattr(ctx context.Context, name string, data []byte, flags uint32) syscall.Errno {
	n.srv.names.RLock()
	defer n.srv.names.RUnlock()
	return errno(n.srv.k.Lsetxattr(n.path(), name, data, int(kernelXattrFlags(flags))))
}

// Removexattr is FUSE_REMOVEXATTR.
func (n *node) Removexattr(ctx context.Context, name string) syscall.Errno {
	n.srv.names.RLock()
	defer n.srv.names.RUnlock()
	return errno(n.srv.k.Lremovexattr(n.path(), name))
}
