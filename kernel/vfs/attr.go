package vfs

import (
	"strings"

	"github.com/lklimg/lklimg/kernel/abi"
)

// This file holds the changes of an inode's attributes (fs/attr.c,
// fs/open.c, fs/utimes.c, fs/xattr.c) and sync (fs/sync.c).

// setattr is notify_change: it stamps the change time and hands a to the
// driver. SetMtime with a zero Mtime means now (a truncation's mtime).
// The caller holds d's inode lock for a size change.
//
// Errors: EROFS on a read-only mount; EPERM if the inode cannot change;
// what the driver returns.
func (v *VFS) setattr(d *Dentry, a SetAttr) error {
	if d.mnt.ReadOnly() {
		return abi.EROFS
	}
	s, ok := d.inode.(Setattrer)
	if !ok {
		return abi.EPERM
	}
	ctx := v.ctx(v.cred)
	a.Valid |= SetCtime
	a.Ctime = ctx.Now
	if a.Valid&SetMtime != 0 && a.Mtime == (abi.Timespec{}) {
		a.Mtime = ctx.Now
	}
	return s.Setattr(ctx, a)
}

// Chmod sets the permission bits of d to mode&07777 (chmod_common).
// Errors: EROFS on a read-only mount; EOPNOTSUPP for a symlink (as
// notify_change refuses to change a symlink's mode); as setattr.
func (v *VFS) Chmod(d *Dentry, mode uint32) error {
	if d.mnt.ReadOnly() {
		return abi.EROFS
	}
	if d.IsSymlink() {
		return abi.EOPNOTSUPP
	}
	return v.setattr(d, SetAttr{Valid: SetMode, Mode: mode & 0o7777})
}

// Chown sets the owner and group of d; -1 leaves one unchanged
// (chown_common). As Linux does for any chown of a non-directory, even
// one that changes nothing, S_ISUID is cleared, and S_ISGID when group
// execute is set (a S_ISGID without it marks mandatory locking and
// stays).
//
// Errors: EINVAL for an id that is neither -1 nor a uint32; as setattr.
func (v *VFS) Chown(d *Dentry, uid, gid int) error {
	var a SetAttr
	if uid != -1 {
		if uid < 0 || uid > 0xffffffff {
			return abi.EINVAL
		}
		a.Valid |= SetUid
		a.Uid = uint32(uid)
	}
	if gid != -1 {
		if gid < 0 || gid > 0xffffffff {
			return abi.EINVAL
		}
		a.Valid |= SetGid
		a.Gid = uint32(gid)
	}
	if d.mnt.ReadOnly() {
		return abi.EROFS
	}
	if !d.IsDir() {
		attr, err := d.inode.Getattr()
		if err != nil {
			return err
		}
		mode := attr.Mode & 0o7777
		if mode&abi.S_ISUID != 0 {
			mode &^= abi.S_ISUID
		}
		if mode&(abi.S_ISGID|0o010) == abi.S_ISGID|0o010 {
			mode &^= abi.S_ISGID
		}
		if mode != attr.Mode&0o7777 {
			a.Valid |= SetMode
			a.Mode = mode
		}
	}
	return v.setattr(d, a)
}

// Utimens sets the access and modification times of d (vfs_utimes):
// times nil sets both to now; a Nsec of UTIME_NOW means now and
// UTIME_OMIT leaves that time alone. The change time becomes now either
// way.
//
// Errors: EINVAL for a Nsec out of [0, 1e9) that is neither UTIME_NOW nor
// UTIME_OMIT; as setattr.
func (v *VFS) Utimens(d *Dentry, times *[2]abi.Timespec) error {
	if times != nil {
		for _, t := range times {
			if (t.Nsec < 0 || t.Nsec >= 1e9) && t.Nsec != abi.UTIME_NOW && t.Nsec != abi.UTIME_OMIT {
				return abi.EINVAL
			}
		}
	}
	if d.mnt.ReadOnly() {
		return abi.EROFS
	}
	now := v.now()
	a := SetAttr{Valid: SetAtime | SetMtime, Atime: now, Mtime: now}
	if times != nil {
		for i, t := range times {
			bit, dst := uint32(SetAtime), &a.Atime
			if i == 1 {
				bit, dst = SetMtime, &a.Mtime
			}
			switch t.Nsec {
			case abi.UTIME_OMIT:
				a.Valid &^= bit
			case abi.UTIME_NOW:
			default:
				*dst = t
			}
		}
	}
	s, ok := d.inode.(Setattrer)
	if !ok {
		return abi.EPERM
	}
	ctx := v.ctx(v.cred)
	ctx.Now = now
	a.Valid |= SetCtime
	a.Ctime = now
	return s.Setattr(ctx, a)
}

// Truncate sets the size of the file d to size (vfs_truncate, for
// truncate(2)): its mtime and ctime change only if the size does.
//
// Errors: EINVAL for a negative size; EISDIR for a directory; EINVAL for
// what is not a regular file; EROFS on a read-only mount; EFBIG past the
// largest file the filesystem holds; what the driver returns.
func (v *VFS) Truncate(d *Dentry, size int64) error {
	switch {
	case size < 0:
		return abi.EINVAL
	case d.IsDir():
		return abi.EISDIR
	case d.mode != abi.S_IFREG:
		return abi.EINVAL
	case d.mnt.ReadOnly():
		return abi.EROFS
	}
	unlock := v.lockInode(d)
	defer unlock()
	attr, err := d.inode.Getattr()
	if err != nil {
		return err
	}
	a := SetAttr{Valid: SetSize, Size: size}
	if attr.Size != size {
		a.Valid |= SetMtime
	}
	return v.setattr(d, a)
}

// xattrPrefixes are the namespaces of extended attribute names Linux
// knows (XATTR_*_PREFIX); a filesystem decides which it stores.
var xattrPrefixes = []string{"user.", "trusted.", "security.", "system."}

// checkXattrChange applies what vfs_setxattr and vfs_removexattr check
// before the driver: EROFS on a read-only mount; EOPNOTSUPP for a name in
// no namespace; EINVAL for a bare prefix ("user."); EPERM for a user.
// attribute of what is neither a regular file nor a directory
// (xattr_permission).
func (v *VFS) checkXattrChange(d *Dentry, name string) (XattrWriter, error) {
	if d.mnt.ReadOnly() {
		return nil, abi.EROFS
	}
	known := false
	for _, p := range xattrPrefixes {
		if strings.HasPrefix(name, p) {
			if len(name) == len(p) {
				return nil, abi.EINVAL
			}
			known = true
		}
	}
	if !known {
		return nil, abi.EOPNOTSUPP
	}
	if strings.HasPrefix(name, "user.") && d.mode != abi.S_IFREG && d.mode != abi.S_IFDIR {
		return nil, abi.EPERM
	}
	x, ok := d.inode.(XattrWriter)
	if !ok {
		return nil, abi.EOPNOTSUPP
	}
	return x, nil
}

// Setxattr sets the extended attribute name of d to value (vfs_setxattr).
// flags: XATTR_CREATE, XATTR_REPLACE.
//
// Errors: EINVAL for other flags; ERANGE for an empty name or one over
// XATTR_NAME_MAX; E2BIG for a value over XATTR_SIZE_MAX; those of
// checkXattrChange; EEXIST (XATTR_CREATE), ENODATA (XATTR_REPLACE),
// ENOSPC, EOPNOTSUPP from the driver.
func (v *VFS) Setxattr(d *Dentry, name string, value []byte, flags int) error {
	if err := CheckSetxattr(name, value, flags); err != nil {
		return err
	}
	x, err := v.checkXattrChange(d, name)
	if err != nil {
		return err
	}
	return x.Setxattr(v.ctx(v.cred), name, value, flags)
}

// CheckSetxattr applies setxattr(2)'s checks of its arguments, which come
// before the path is looked at (setxattr_copy): EINVAL for unknown flags,
// ERANGE for a bad name, E2BIG for a value too large.
func CheckSetxattr(name string, value []byte, flags int) error {
	if flags&^(abi.XATTR_CREATE|abi.XATTR_REPLACE) != 0 {
		return abi.EINVAL
	}
	if err := checkXattrName(name); err != nil {
		return err
	}
	if len(value) > abi.XATTR_SIZE_MAX {
		return abi.E2BIG
	}
	return nil
}

// CheckXattrName returns ERANGE for an empty name or one over
// XATTR_NAME_MAX, as the xattr calls check before the path.
func CheckXattrName(name string) error { return checkXattrName(name) }

// Removexattr removes the extended attribute name of d
// (vfs_removexattr).
//
// Errors: ERANGE for a bad name; those of checkXattrChange; ENODATA if d
// has no such attribute; what the driver returns.
func (v *VFS) Removexattr(d *Dentry, name string) error {
	if err := checkXattrName(name); err != nil {
		return err
	}
	x, err := v.checkXattrChange(d, name)
	if err != nil {
		return err
	}
	return x.Removexattr(v.ctx(v.cred), name)
}

// Syncfs makes every change to m's filesystem durable (sync_filesystem);
// a read-only mount has none.
// Errors: what the driver's Sync returns.
func (v *VFS) Syncfs(m *Mount) error {
	if m.ReadOnly() {
		return nil
	}
	if s, ok := m.sb.(Syncer); ok {
		return s.Sync()
	}
	return nil
}

// Sync syncs every writable mount (ksys_sync) and returns the first error.
func (v *VFS) Sync() error {
	var first error
	for _, m := range v.Mounts() {
		if err := v.Syncfs(m); err != nil && first == nil {
			first = err
		}
	}
	return first
}
