package squashfs

import (
	"strings"

	sq "github.com/lklimg/lklimg/format/squashfs"
	"github.com/lklimg/lklimg/kernel/abi"
)

// Xattrs (fs/squashfs/xattr.c): an inode's xattr index names an entry of
// the xattr id table, which says where its key/value records start in the
// xattr table and how many there are. Names carry the prefix of their
// type (user., trusted., security.); a record of another type is passed
// over, as Linux has no handler for it. A value marked out of line is a
// reference to the value kept elsewhere in the table.

// xattrID reads entry x of the xattr id table (squashfs_xattr_lookup):
// nil when the inode has none, or the image no xattr table (Linux then
// shows none).
func (f *fsys) xattrID(x uint32, ino uint32) (*sq.XattrID, error) {
	if x == sq.InvalidXattr || f.xattrIndex == nil {
		return nil, nil
	}
	if x >= f.xattrs.XattrIDs {
		return nil, abi.Errorf(abi.EIO, "squashfs: inode %d: xattr index %d of %d", ino, x, f.xattrs.XattrIDs)
	}
	slot, off := sq.TableRef(uint64(x), sq.XattrIDEntrySize)
	var b [sq.XattrIDEntrySize]byte
	if _, err := f.reader(0, sq.MakeRef(f.xattrIndex[slot], uint16(off))).Read(b[:]); err != nil {
		return nil, err
	}
	id, err := sq.DecodeXattrID(b[:])
	if err != nil {
		return nil, err
	}
	return &id, nil
}

// xattrSizeMax is XATTR_SIZE_MAX: the largest value getxattr returns.
const xattrSizeMax = 65536

// xattrRecords calls fn for each of the inode's records with its full
// name and a reader at its value's size; fn returns whether to go on,
// and has read the value (or not: a value not read is passed over).
func (ip *inode) xattrRecords(fn func(name string, known bool, typ uint16, r *metaReader) (more, read bool, err error)) error {
	f := ip.f
	id := ip.xattr
	if id == nil {
		return nil
	}
	r := f.reader(int64(f.xattrs.XattrTableStart), id.Xattr)
	var nb [256]byte // XATTR_NAME_MAX and one: a longer name is damage
	name := nb[:]
	for range id.Count {
		k, err := sq.DecodeXattrKey(r, name)
		if err != nil {
			return err
		}
		prefix, known := sq.XattrPrefix(k.Type)
		more, read, err := fn(prefix+string(k.Name), known, k.Type, r)
		if err != nil || !more {
			return err
		}
		if !read {
			size, err := sq.DecodeXattrValueSize(r)
			if err != nil {
				return err
			}
			if err := r.skip(int(size)); err != nil {
				return err
			}
		}
	}
	return nil
}

// Listxattr returns the names of the inode's xattrs of the known types,
// in the image's order (squashfs_listxattr).
func (ip *inode) Listxattr() ([]string, error) {
	var names []string
	err := ip.xattrRecords(func(name string, known bool, _ uint16, _ *metaReader) (bool, bool, error) {
		if known {
			names = append(names, name)
		}
		return true, false, nil
	})
	return names, err
}

// Getxattr returns the value of the xattr name, following an out-of-line
// value's reference (squashfs_xattr_get). EOPNOTSUPP for a name of a
// namespace SquashFS has no handler for (system.*: no ACLs); ENODATA
// when there is none; E2BIG for a value larger than XATTR_SIZE_MAX.
func (ip *inode) Getxattr(name string) ([]byte, error) {
	if !strings.HasPrefix(name, "user.") && !strings.HasPrefix(name, "trusted.") && !strings.HasPrefix(name, "security.") {
		return nil, abi.EOPNOTSUPP
	}
	f := ip.f
	var value []byte
	found := false
	err := ip.xattrRecords(func(n string, known bool, typ uint16, r *metaReader) (bool, bool, error) {
		if !known || n != name {
			return true, false, nil
		}
		found = true
		size, err := sq.DecodeXattrValueSize(r)
		if err != nil {
			return false, true, err
		}
		if typ&sq.XattrValueOOL != 0 {
			var b [8]byte
			if size != 8 {
				return false, true, abi.Errorf(abi.EIO, "squashfs: inode %d: out-of-line xattr reference of %d bytes", ip.sq.InodeNumber, size)
			}
			if _, err := r.Read(b[:]); err != nil {
				return false, true, err
			}
			ref, _ := sq.DecodeXattrOOL(b[:])
			r = f.reader(int64(f.xattrs.XattrTableStart), ref)
			if size, err = sq.DecodeXattrValueSize(r); err != nil {
				return false, true, err
			}
		}
		if size > xattrSizeMax {
			return false, true, abi.E2BIG
		}
		value = make([]byte, size)
		_, err = r.Read(value)
		return false, true, err
	})
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, abi.ENODATA
	}
	return value, nil
}
