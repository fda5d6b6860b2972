package btrfs

import (
	"bytes"

	disk "github.com/lklimg/lklimg/format/btrfs"
	"github.com/lklimg/lklimg/kernel/abi"
)

// Extended attributes (fs/btrfs/xattr.c): XATTR_ITEMs keyed by the
// name's hash, dir items whose data is the value. POSIX ACLs are the
// xattrs system.posix_acl_access and _default, stored as getxattr
// returns them.

// Getxattr returns the value of the attribute name, or ENODATA.
func (ip *inode) Getxattr(name string) ([]byte, error) {
	if ip.empty {
		return nil, abi.ENODATA
	}
	bname := []byte(name)
	it, ok, err := ip.sv.t.lookup(disk.Key{Objectid: ip.ino, Type: disk.XattrItemKey, Offset: uint64(disk.NameHash(bname))})
	if err != nil {
		return nil, ip.errf(err)
	}
	if !ok {
		return nil, abi.ENODATA
	}
	items, err := disk.DecodeDirItems(it.Data)
	if err != nil {
		return nil, ip.errf(err)
	}
	for _, d := range items {
		if bytes.Equal(d.Name, bname) {
			return bytes.Clone(d.Data), nil
		}
	}
	return nil, abi.ENODATA
}

// Listxattr returns the names in key (hash) order, as btrfs_listxattr.
func (ip *inode) Listxattr() ([]string, error) {
	if ip.empty {
		return nil, nil
	}
	var names []string
	err := ip.sv.t.each(disk.Key{Objectid: ip.ino, Type: disk.XattrItemKey}, func(it disk.Item) (bool, error) {
		if it.Key.Objectid != ip.ino || it.Key.Type != disk.XattrItemKey {
			return false, nil
		}
		items, err := disk.DecodeDirItems(it.Data)
		if err != nil {
			return false, err
		}
		for _, d := range items {
			names = append(names, string(d.Name))
		}
		return true, nil
	})
	if err != nil {
		return nil, ip.errf(err)
	}
	return names, nil
}
