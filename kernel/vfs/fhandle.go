package vfs

import "github.com/lklimg/lklimg/kernel/abi"

// EncodeFH returns the file handle of d's inode and the ID of its mount,
// as name_to_handle_at(2) does once it has walked the path
// (do_sys_name_to_handle in fs/fhandle.c).
//
// Errors: EOPNOTSUPP for a filesystem that hands out no handles (not an
// Exporter); what the driver returns.
func (v *VFS) EncodeFH(d *Dentry) (abi.FileHandle, int, error) {
	e, ok := d.mnt.sb.(Exporter)
	if !ok {
		return abi.FileHandle{}, 0, abi.Errorf(abi.EOPNOTSUPP, "%s: no file handles", d.mnt.fstype)
	}
	fh, err := e.EncodeFH(d.inode)
	if err != nil {
		return abi.FileHandle{}, 0, err
	}
	return fh, d.mnt.id, nil
}
