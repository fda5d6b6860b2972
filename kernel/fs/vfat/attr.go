package vfat

import (
	"github.com/lklimg/lklimg/format/fat"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// The DOS attributes (fs/fat/file.c: fat_ioctl_get_attributes,
// fat_ioctl_set_attributes; fat.h: fat_make_attrs): hidden, system and
// archive as the entry has them, read-only as the mode shows it where
// the mode can hold it, the directory bit for directories.

// DOSAttributes is vfs.DOSAttributer's. The root is a directory and
// nothing else.
func (ip *inode) DOSAttributes() (uint32, error) {
	f := ip.f
	f.mu.RLock()
	defer f.mu.RUnlock()
	if ip.ipos == 0 {
		return fat.AttrDirectory, nil
	}
	attr := uint32(ip.de.Attr)
	if ip.dir {
		attr |= fat.AttrDirectory
	}
	return attr, nil
}

// SetDOSAttributes is vfs.DOSAttributer's: only the root's own value is
// taken for the root (EINVAL otherwise); read-only goes through chmod's
// rules (fat_sanitize_mode), the others into the entry as they are.
func (ip *inode) SetDOSAttributes(ctx vfs.Ctx, attr uint32) error {
	f := ip.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if ip.ipos == 0 {
		if attr != fat.AttrDirectory {
			return abi.Errorf(abi.EINVAL, "vfat: the root directory's attributes are fixed")
		}
		return nil
	}
	keep := ip.de.Attr & (fat.AttrVolumeID | fat.AttrDirectory)
	a := uint8(attr) &^ (fat.AttrVolumeID | fat.AttrDirectory)
	mode := ip.mode() & 0o777
	if a&fat.AttrReadOnly != 0 {
		mode &^= 0o222
	} else {
		mode |= 0o222
	}
	ip.chmod(mode)
	ro := ip.de.Attr & fat.AttrReadOnly
	ip.de.Attr = a&^fat.AttrReadOnly | ro | keep
	return ip.writeInode()
}

// VolumeID is vfs.VolumeIDer's: BS_VolID.
func (f *fsys) VolumeID() uint32 { return f.boot.VolID }
