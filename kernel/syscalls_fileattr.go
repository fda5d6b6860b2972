package kernel

import (
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// The inode-flag and fsxattr calls: the ioctls FS_IOC_GETFLAGS,
// FS_IOC_SETFLAGS, FS_IOC_FSGETXATTR and FS_IOC_FSSETXATTR on a
// descriptor, and the file_getattr(2) and file_setattr(2) syscalls on a
// path (fs/file_attr.c). They carry a file's flags (immutable, append,
// noatime, ...) and its project ID with the project-inherit flag, which
// decide what the project quota counts.

func toFsxattr(fa vfs.Fileattr) abi.Fsxattr {
	return abi.Fsxattr{Xflags: fa.Xflags & abi.FS_XFLAGS_MASK, Extsize: fa.Extsize,
		Nextents: fa.Nextents, Projid: fa.Projid, Cowextsize: fa.Cowextsize}
}

func fromFsxattr(x abi.Fsxattr) vfs.Fileattr {
	fa := vfs.FileattrFromXflags(x.Xflags &^ abi.FS_XFLAG_HASATTR)
	fa.Extsize, fa.Nextents, fa.Projid, fa.Cowextsize = x.Extsize, x.Nextents, x.Projid, x.Cowextsize
	return fa
}

// Fsgetxattr is ioctl(fd, FS_IOC_FSGETXATTR): the file's extended flags
// and project ID.
// Errors: EBADF for a descriptor not open or O_PATH; ENOTTY if the
// filesystem has no such attributes.
func (k *Kernel) Fsgetxattr(fd int) (abi.Fsxattr, error) {
	var x abi.Fsxattr
	err := k.withFd(fd, func(f *vfs.File) error {
		fa, err := k.vfs.FileattrGet(f.Dentry())
		x = toFsxattr(fa)
		return err
	})
	return x, err
}

// Fssetxattr is ioctl(fd, FS_IOC_FSSETXATTR): sets the file's extended
// flags (those with an inode-flag peer; the file's other flags stay) and
// its project ID, whose usage the project quota then moves, as Linux
// does. Setting FS_XFLAG_PROJINHERIT on a directory makes its new
// entries take its project.
//
// Errors: EOPNOTSUPP for unknown xflags; EBADF for a descriptor not open
// or O_PATH; EROFS; ENOTTY if the filesystem has no such attributes;
// EINVAL (see vfs.FileattrSet); the filesystem's: for ext4, EOPNOTSUPP
// for a flag the file type cannot have (PROJINHERIT on a regular file) or
// a project ID other than 0 without the project feature, EPERM to change
// an immutable file's other flags or project, EOVERFLOW when the inode
// has no room for i_projid.
func (k *Kernel) Fssetxattr(fd int, x abi.Fsxattr) error {
	if x.Xflags&^abi.FS_XFLAGS_MASK != 0 {
		return abi.EOPNOTSUPP
	}
	return k.withFd(fd, func(f *vfs.File) error { return k.vfs.FileattrSet(f.Dentry(), fromFsxattr(x)) })
}

// Getflags is ioctl(fd, FS_IOC_GETFLAGS): the file's FS_*_FL flags.
// Errors: as Fsgetxattr.
func (k *Kernel) Getflags(fd int) (uint32, error) {
	var flags uint32
	err := k.withFd(fd, func(f *vfs.File) error {
		fa, err := k.vfs.FileattrGet(f.Dentry())
		flags = fa.Flags
		return err
	})
	return flags, err
}

// Setflags is ioctl(fd, FS_IOC_SETFLAGS): sets the file's FS_*_FL flags
// (chattr); the project ID stays.
// Errors: EBADF for a descriptor not open or O_PATH; EROFS; ENOTTY; the
// filesystem's, as Fssetxattr.
func (k *Kernel) Setflags(fd int, flags uint32) error {
	return k.withFd(fd, func(f *vfs.File) error { return k.vfs.FileattrSet(f.Dentry(), vfs.FileattrFromFlags(flags)) })
}

// FileGetattr is file_getattr(2) on dirfd and path (flags:
// AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH): Fsgetxattr without opening the
// file.
// Errors: EINVAL for other flags; the path walk's; EOPNOTSUPP if the
// filesystem has no such attributes.
func (k *Kernel) FileGetattr(dirfd int, path string, flags int) (abi.Fsxattr, error) {
	var x abi.Fsxattr
	err := k.withAt(dirfd, path, flags, func(d *vfs.Dentry) error {
		fa, err := k.vfs.FileattrGet(d)
		x = toFsxattr(fa)
		return notTTY(err)
	})
	return x, err
}

// FileSetattr is file_setattr(2) on dirfd and path (flags as
// FileGetattr): Fssetxattr without opening the file.
// Errors: EINVAL for unknown xflags or other flags; the path walk's;
// EOPNOTSUPP if the filesystem has no such attributes; as Fssetxattr.
func (k *Kernel) FileSetattr(dirfd int, path string, x abi.Fsxattr, flags int) error {
	if x.Xflags&^abi.FS_XFLAGS_MASK != 0 {
		return abi.EINVAL
	}
	return k.withAt(dirfd, path, flags, func(d *vfs.Dentry) error {
		return notTTY(k.vfs.FileattrSet(d, fromFsxattr(x)))
	})
}

// notTTY turns "no such ioctl" into EOPNOTSUPP, as the syscalls report it.
func notTTY(err error) error {
	if err == abi.ENOTTY {
		return abi.EOPNOTSUPP
	}
	return err
}
