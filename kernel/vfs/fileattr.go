package vfs

import (
	"github.com/lklimg/lklimg/kernel/abi"
)

// Miscellaneous file attributes: the inode flags of FS_IOC_GETFLAGS and
// FS_IOC_SETFLAGS and the struct fsxattr of FS_IOC_FSGETXATTR and
// FS_IOC_FSSETXATTR, both views of one struct fileattr (fs/file_attr.c,
// include/linux/fileattr.h).

// Fileattr is struct file_kattr: the flags (FS_*_FL) and the fsxattr
// fields, both filled whichever call made it.
type Fileattr struct {
	Flags      uint32 // FS_*_FL
	Xflags     uint32 // FS_XFLAG_*
	Extsize    uint32
	Nextents   uint32
	Projid     uint32
	Cowextsize uint32
	// FlagsValid: made from flags (SETFLAGS), the fsxattr fields are to
	// be taken from the inode; else made from an fsxattr (FSSETXATTR),
	// the flags without an xflag peer are.
	FlagsValid bool
}

// Fileattrer is implemented by inodes with such attributes
// (inode_operations fileattr_get, fileattr_set). GetFileattr fills both
// views. SetFileattr applies fa after the VFS's checks (vfs_fileattr_set
// merged the unset fields from the inode and applied
// fileattr_set_prepare); its errors are the driver's (EOPNOTSUPP for flags
// it does not keep, EPERM, ...).
type Fileattrer interface {
	GetFileattr() (Fileattr, error)
	SetFileattr(ctx Ctx, fa Fileattr) error
}

// The flags with an xflag peer, in fileattr_fill_xflags's pairs.
var xflagPairs = [...]struct{ x, fl uint32 }{
	{abi.FS_XFLAG_IMMUTABLE, abi.FS_IMMUTABLE_FL},
	{abi.FS_XFLAG_APPEND, abi.FS_APPEND_FL},
	{abi.FS_XFLAG_SYNC, abi.FS_SYNC_FL},
	{abi.FS_XFLAG_NOATIME, abi.FS_NOATIME_FL},
	{abi.FS_XFLAG_NODUMP, abi.FS_NODUMP_FL},
	{abi.FS_XFLAG_DAX, abi.FS_DAX_FL},
	{abi.FS_XFLAG_PROJINHERIT, abi.FS_PROJINHERIT_FL},
}

// FileattrFromXflags is fileattr_fill_xflags: xflags and the flags they
// stand for; the other fields zero.
func FileattrFromXflags(xflags uint32) Fileattr {
	fa := Fileattr{Xflags: xflags}
	for _, p := range xflagPairs {
		if xflags&p.x != 0 {
			fa.Flags |= p.fl
		}
	}
	return fa
}

// FileattrFromFlags is fileattr_fill_flags: flags and the xflags they
// stand for; the other fields zero.
func FileattrFromFlags(flags uint32) Fileattr {
	fa := Fileattr{Flags: flags, FlagsValid: true}
	for _, p := range xflagPairs {
		if flags&p.fl != 0 {
			fa.Xflags |= p.x
		}
	}
	return fa
}

// FileattrGet returns d's attributes (vfs_fileattr_get).
// Errors: ENOTTY if the filesystem has none (the ioctl is unknown to it);
// what the driver returns.
func (v *VFS) FileattrGet(d *Dentry) (Fileattr, error) {
	fi, ok := d.inode.(Fileattrer)
	if !ok {
		return Fileattr{}, abi.ENOTTY
	}
	return fi.GetFileattr()
}

// FileattrSet changes d's attributes to fa (mnt_want_write_file, then
// vfs_fileattr_set): the fields fa does not carry are taken from the
// inode, then fileattr_set_prepare's checks, as a task of the initial
// user namespace with every capability.
//
// Errors: EROFS on a read-only mount; ENOTTY if the filesystem has no such
// attributes; EINVAL for a project ID of -1 (not a valid projid), an
// extent size hint on what is not a regular file, an inherited one on
// what is not a directory, a CoW hint or DAX on what is neither; what the
// driver returns.
func (v *VFS) FileattrSet(d *Dentry, fa Fileattr) error {
	if d.mnt.ReadOnly() {
		return abi.EROFS
	}
	fi, ok := d.inode.(Fileattrer)
	if !ok {
		return abi.ENOTTY
	}
	old, err := fi.GetFileattr()
	if err != nil {
		return err
	}
	if fa.FlagsValid {
		fa.Xflags |= old.Xflags &^ commonXflags
		fa.Extsize, fa.Nextents, fa.Projid, fa.Cowextsize = old.Extsize, old.Nextents, old.Projid, old.Cowextsize
	} else {
		fa.Flags |= old.Flags &^ abi.FS_COMMON_FL
	}
	if old.Projid != fa.Projid && fa.Projid == ^uint32(0) {
		return abi.EINVAL
	}
	isReg, isDir := d.mode == abi.S_IFREG, d.mode == abi.S_IFDIR
	switch {
	case fa.Xflags&abi.FS_XFLAG_EXTSIZE != 0 && !isReg,
		fa.Xflags&abi.FS_XFLAG_EXTSZINHERIT != 0 && !isDir,
		fa.Xflags&abi.FS_XFLAG_COWEXTSIZE != 0 && !isReg && !isDir,
		fa.Xflags&abi.FS_XFLAG_DAX != 0 && !isReg && !isDir:
		return abi.EINVAL
	}
	if fa.Extsize == 0 {
		fa.Xflags &^= abi.FS_XFLAG_EXTSIZE | abi.FS_XFLAG_EXTSZINHERIT
	}
	if fa.Cowextsize == 0 {
		fa.Xflags &^= abi.FS_XFLAG_COWEXTSIZE
	}
	return fi.SetFileattr(v.ctx(v.cred), fa)
}

// commonXflags is the xflags with a flag peer (FS_XFLAG_COMMON).
const commonXflags = abi.FS_XFLAG_IMMUTABLE | abi.FS_XFLAG_APPEND | abi.FS_XFLAG_SYNC |
	abi.FS_XFLAG_NOATIME | abi.FS_XFLAG_NODUMP | abi.FS_XFLAG_DAX | abi.FS_XFLAG_PROJINHERIT
