package vfs

import (
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
// xattrs; ENODATA if d has no such attribute; what the driver returns.
func (v *VFS) Getxattr(d *Dentry, name string) ([]byte, error) {
	if err := checkXattrName(name); err != nil {
		return nil, err
	}
	x, ok := d.inode.(Xattrer)
	if !ok {
		return nil, abi.EOPNOTSUPP
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

// dirMaker is implemented by directories that can create subdirectories
// (inode_operations.mkdir). It is the VFS's own interface for now, used by
// the ramfs; it is not yet part of the driver contract in fs.go.
type dirMaker interface {
	Mkdir(name string, mode uint32) (Inode, error)
}

// nodeMaker is implemented by directories that can create device nodes
// (inode_operations.mknod); the ramfs uses it for /dev.
type nodeMaker interface {
	Mknod(name string, mode uint32, rdev uint64) (Inode, error)
}

// Mkdirat creates the directory path (mkdirat(2)).
// Errors: those of WalkParent; EEXIST if the name exists (including "/");
// EROFS on a read-only mount; EPERM if the filesystem cannot make
// directories; what the driver returns.
func (v *VFS) Mkdirat(start *Dentry, path string, mode uint32) error {
	return v.create(start, path, func(dir *Dentry, name string) error {
		mk, ok := dir.inode.(dirMaker)
		if !ok {
			return abi.EPERM
		}
		_, err := mk.Mkdir(name, abi.S_IFDIR|mode&0o7777)
		return err
	})
}

// Mknodat creates a device node path of type and permissions mode with
// device number rdev (mknodat(2)).
// Errors: as Mkdirat; EINVAL for a type that is not a device, FIFO or
// socket; ENOENT for a trailing slash on a missing name.
func (v *VFS) Mknodat(start *Dentry, path string, mode uint32, rdev uint64) error {
	switch mode & abi.S_IFMT {
	case abi.S_IFBLK, abi.S_IFCHR, abi.S_IFIFO, abi.S_IFSOCK:
	default:
		return abi.EINVAL
	}
	if len(path) > 0 && path[len(path)-1] == '/' {
		return abi.ENOENT
	}
	return v.create(start, path, func(dir *Dentry, name string) error {
		mk, ok := dir.inode.(nodeMaker)
		if !ok {
			return abi.EPERM
		}
		_, err := mk.Mknod(name, mode, rdev)
		return err
	})
}

// create resolves the parent of path and calls make for a missing name,
// serialised with lookups in the directory.
func (v *VFS) create(start *Dentry, path string, make func(dir *Dentry, name string) error) error {
	dir, name, _, err := v.WalkParent(start, path)
	if err != nil {
		return err
	}
	defer v.Put(dir)
	if name == "" || name == "." || name == ".." {
		return abi.EEXIST
	}
	// A name covered by a cached dentry exists.
	if c, err := v.lookupChild(dir, name); err == nil {
		v.Put(c)
		return abi.EEXIST
	} else if abi.ErrnoOf(err) != abi.ENOENT {
		return err
	}
	if dir.mnt.ReadOnly() {
		return abi.EROFS
	}
	dir.lookupMu.Lock()
	defer dir.lookupMu.Unlock()
	return make(dir, name)
}
