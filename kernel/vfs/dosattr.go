package vfs

import "github.com/lklimg/lklimg/kernel/abi"

// DOSAttributer is implemented by the inodes of FAT filesystems: the DOS
// attribute byte of a file (read-only, hidden, system, archive, and the
// directory and volume bits), which FAT_IOCTL_GET_ATTRIBUTES and
// FAT_IOCTL_SET_ATTRIBUTES read and write on Linux (fs/fat/file.c).
type DOSAttributer interface {
	// DOSAttributes returns the attribute byte as fat_make_attrs makes it.
	DOSAttributes() (uint32, error)
	// SetDOSAttributes sets it (fat_ioctl_set_attributes): the volume
	// and directory bits are the file's own whatever attr says; read-only
	// goes through the mode as a chmod would. EINVAL for the root unless
	// attr is just ATTR_DIR.
	SetDOSAttributes(ctx Ctx, attr uint32) error
}

// VolumeIDer is implemented by the superblocks of filesystems with a
// volume serial number (FAT_IOCTL_GET_VOLUME_ID).
type VolumeIDer interface {
	VolumeID() uint32
}

// DOSAttrs returns d's DOS attributes. ENOTTY where the filesystem has
// none, as Linux answers an ioctl no driver knows.
func (v *VFS) DOSAttrs(d *Dentry) (uint32, error) {
	da, ok := d.inode.(DOSAttributer)
	if !ok {
		return 0, abi.ENOTTY
	}
	return da.DOSAttributes()
}

// SetDOSAttrs sets d's DOS attributes: EROFS on a read-only mount, ENOTTY
// where the filesystem has none, and the driver's errors.
func (v *VFS) SetDOSAttrs(d *Dentry, attr uint32) error {
	da, ok := d.inode.(DOSAttributer)
	if !ok {
		return abi.ENOTTY
	}
	if d.mnt.ReadOnly() {
		return abi.EROFS
	}
	return da.SetDOSAttributes(v.ctx(v.cred), attr)
}

// VolumeID returns the volume serial number of d's filesystem. ENOTTY
// where it has none.
func (v *VFS) VolumeID(d *Dentry) (uint32, error) {
	vi, ok := d.mnt.sb.(VolumeIDer)
	if !ok {
		return 0, abi.ENOTTY
	}
	return vi.VolumeID(), nil
}
