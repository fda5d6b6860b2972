package kernel

import (
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// Getxattr is getxattr(2): with an empty dest it returns the value's size;
// otherwise it copies the value into dest and returns its length.
//
// Errors: ERANGE if dest is too small, or name is empty or longer than
// XATTR_NAME_MAX; ENODATA if there is no such attribute; EOPNOTSUPP if the
// filesystem has no xattrs; E2BIG for a value over XATTR_SIZE_MAX; the
// path walk's ENOENT, ENOTDIR, ELOOP, ENAMETOOLONG.
func (k *Kernel) Getxattr(path, name string, dest []byte) (int, error) {
	return k.getxattr(path, 0, name, dest)
}

// Lgetxattr is lgetxattr(2): Getxattr without following a final symlink.
func (k *Kernel) Lgetxattr(path, name string, dest []byte) (int, error) {
	return k.getxattr(path, vfs.WalkNoFollow, name, dest)
}

// Fgetxattr is fgetxattr(2): Getxattr on an open descriptor. Errors:
// EBADF for a descriptor not open or O_PATH (as fdget refuses it); the
// rest as Getxattr.
func (k *Kernel) Fgetxattr(fd int, name string, dest []byte) (int, error) {
	f, err := k.fdget(fd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	return k.getxattrDentry(f.Dentry(), name, dest)
}

func (k *Kernel) getxattr(path string, flags int, name string, dest []byte) (int, error) {
	d, err := k.walkAt(abi.AT_FDCWD, path, flags)
	if err != nil {
		return 0, err
	}
	defer k.vfs.Put(d)
	return k.getxattrDentry(d, name, dest)
}

func (k *Kernel) getxattrDentry(d *vfs.Dentry, name string, dest []byte) (int, error) {
	val, err := k.vfs.Getxattr(d, name)
	if err != nil {
		return 0, err
	}
	if len(val) > abi.XATTR_SIZE_MAX {
		return 0, abi.E2BIG
	}
	if len(dest) == 0 {
		return len(val), nil
	}
	if len(val) > len(dest) {
		return 0, abi.ERANGE
	}
	return copy(dest, val), nil
}

// Listxattr is listxattr(2): the names, each NUL-terminated, in the
// filesystem's order; with an empty dest it returns the size needed.
// A filesystem without xattrs has none.
//
// Errors: ERANGE if dest is too small; E2BIG if the list is over
// XATTR_LIST_MAX; the path walk's ENOENT, ENOTDIR, ELOOP, ENAMETOOLONG.
func (k *Kernel) Listxattr(path string, dest []byte) (int, error) {
	return k.listxattr(path, 0, dest)
}

// Llistxattr is llistxattr(2): Listxattr without following a final
// symlink.
func (k *Kernel) Llistxattr(path string, dest []byte) (int, error) {
	return k.listxattr(path, vfs.WalkNoFollow, dest)
}

// Flistxattr is flistxattr(2): Listxattr on an open descriptor.
// Errors: EBADF for a descriptor not open or O_PATH; the rest as
// Listxattr.
func (k *Kernel) Flistxattr(fd int, dest []byte) (int, error) {
	f, err := k.fdget(fd)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	return k.listxattrDentry(f.Dentry(), dest)
}

func (k *Kernel) listxattr(path string, flags int, dest []byte) (int, error) {
	d, err := k.walkAt(abi.AT_FDCWD, path, flags)
	if err != nil {
		return 0, err
	}
	defer k.vfs.Put(d)
	return k.listxattrDentry(d, dest)
}

func (k *Kernel) listxattrDentry(d *vfs.Dentry, dest []byte) (int, error) {
	names, err := k.vfs.Listxattr(d)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, name := range names {
		n += len(name) + 1
	}
	if n > abi.XATTR_LIST_MAX {
		return 0, abi.E2BIG
	}
	if len(dest) == 0 {
		return n, nil
	}
	if n > len(dest) {
		return 0, abi.ERANGE
	}
	off := 0
	for _, name := range names {
		off += copy(dest[off:], name)
		dest[off] = 0
		off++
	}
	return n, nil
}
