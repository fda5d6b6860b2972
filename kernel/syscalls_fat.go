package kernel

import "github.com/lklimg/lklimg/kernel/vfs"

// The FAT ioctls on a descriptor (include/uapi/linux/msdos_fs.h,
// fs/fat/file.c): the DOS attribute byte of a file and the volume's
// serial number.

// FatGetAttributes is ioctl(fd, FAT_IOCTL_GET_ATTRIBUTES): the file's
// attributes (fat.Attr*: read-only, hidden, system, volume, directory,
// archive).
// Errors: EBADF; ENOTTY on a filesystem other than FAT.
func (k *Kernel) FatGetAttributes(fd int) (uint32, error) {
	var attr uint32
	err := k.withFd(fd, func(f *vfs.File) error {
		var err error
		attr, err = k.vfs.DOSAttrs(f.Dentry())
		return err
	})
	return attr, err
}

// FatSetAttributes is ioctl(fd, FAT_IOCTL_SET_ATTRIBUTES): sets the
// hidden, system, archive and read-only bits (the volume and directory
// bits stay the file's). No time changes.
// Errors: EBADF; ENOTTY on a filesystem other than FAT; EROFS; EINVAL
// for the root directory unless attr is just the directory bit.
func (k *Kernel) FatSetAttributes(fd int, attr uint32) error {
	return k.withFd(fd, func(f *vfs.File) error { return k.vfs.SetDOSAttrs(f.Dentry(), attr) })
}

// FatGetVolumeID is ioctl(fd, FAT_IOCTL_GET_VOLUME_ID): the volume serial
// number from the boot sector.
// Errors: EBADF; ENOTTY on a filesystem without one.
func (k *Kernel) FatGetVolumeID(fd int) (uint32, error) {
	var id uint32
	err := k.withFd(fd, func(f *vfs.File) error {
		var err error
		id, err = k.vfs.VolumeID(f.Dentry())
		return err
	})
	return id, err
}
