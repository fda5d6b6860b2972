package vfs

import (
	"strings"

	"github.com/lklimg/lklimg/kernel/abi"
)

// Getattr returns the attributes of d's inode (vfs_getattr).
// Errors: what the driver returns.
func (v *VFS) Getattr(d *Dentry) (Attr, error) {
	return d.inode.Getattr()
}

// Readlink returns the target of symlink d (vfs_readlink).
// Errors: EINVAL if d is not a symlink; what the driver returns.
func (v *VFS) Readlink(d *Dentry) (string, error) {
	return readlink(d)
}

// checkXattrName applies the checks of setxattr/getxattr's import of the
// name: ERANGE for an empty name or one longer than XATTR_NAME_MAX.
func checkXattrName(name string) error {
	if name == "" || len(name) > abi.XATTR_NAME_MAX {
		return abi.ERANGE
	}
	return nil
}

// Getxattr returns the value of extended attribute name of d (vfs_getxattr).
// Errors: ERANGE for a bad name; EOPNOTSUPP if the filesystem has no
// xattrs; ENODATA if d has no such attribute, or for a user.* name on
// an inode neither a regular file nor a directory; what the driver
// returns.
func (v *VFS) Getxattr(d *Dentry, name string) ([]byte, error) {
	if err := checkXattrName(name); err != nil {
		return nil, err
	}
	x, ok := d.inode.(Xattrer)
	if !ok {
		return nil, abi.EOPNOTSUPP
	}
	// xattr_permission: only regular files and directories have user.*
	// attributes; those a damaged disk gives others are not read.
	if strings.HasPrefix(name, "user.") && d.mode != abi.S_IFREG && d.mode != abi.S_IFDIR {
		return nil, abi.ENODATA
	}
	return x.Getxattr(name)
}

// Listxattr returns the names of d's extended attributes (vfs_listxattr).
// A filesystem without xattrs has none (as Linux's generic listxattr
// returns an empty list, not an error).
func (v *VFS) Listxattr(d *Dentry) ([]string, error) {
	x, ok := d.inode.(Xattrer)
	if !ok {
		return nil, nil
	}
	return x.Listxattr()
}
