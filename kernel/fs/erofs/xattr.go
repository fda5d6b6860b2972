package erofs

import (
	"strings"

	disk "github.com/lklimg/lklimg/format/erofs"
	"github.com/lklimg/lklimg/kernel/abi"
)

// Extended attributes (fs/erofs/xattr.c): the inline body's entries,
// then the shared ones its header names, in that order (erofs_listxattr).

// maxXattrBody bounds an inline body: 12 bytes and 65535 4-byte units.
const maxXattrBody = disk.XattrIbodyHeaderSize + 4*65534

// xattr is one attribute with its full name.
type xattr struct {
	name  string
	value []byte
}

// xattrs reads every attribute of the inode, calling each for each in
// Linux's order until it returns false. Names of an unknown prefix index
// are passed over, as Linux's listxattr does.
func (ip *inode) xattrs(each func(xattr) bool) error {
	f := ip.f
	size := ip.di.XattrISize()
	if size == 0 {
		return nil
	}
	if size > maxXattrBody {
		return abi.Errorf(abi.EUCLEAN, "erofs: nid %d: xattr body of %d bytes", ip.nid, size)
	}
	body := make([]byte, size)
	if err := ip.readMeta(body, ip.pos+int64(ip.di.ISize()), "xattr body"); err != nil {
		return inodeErr(ip.nid, err)
	}
	h, err := disk.DecodeXattrIbodyHeader(body)
	if err != nil {
		return inodeErr(ip.nid, err)
	}
	rest := body[disk.XattrIbodyHeaderSize+4*int(h.SharedCount):]
	for len(rest) > 0 {
		e, n, err := disk.DecodeXattrEntry(rest)
		if err != nil {
			return inodeErr(ip.nid, err)
		}
		if x, ok := f.fullName(e); ok && !each(x) {
			return nil
		}
		if n > len(rest) {
			n = len(rest)
		}
		rest = rest[n:]
	}
	// The shared area lies in the metabox with SHARED_EA_IN_METABOX
	// (erofs_xattr_iter_shared).
	mbox := f.sb.FeatureCompat&disk.FeatureCompatSharedEaInMetabox != 0
	for i := 0; i < int(h.SharedCount); i++ {
		id := disk.SharedXattr(body, i)
		pos := int64(f.sb.XattrBlkAddr)<<f.blkbits + int64(id)*4
		var hd [disk.XattrEntrySize]byte
		if err := f.readMetaIn(mbox, hd[:], pos, "shared xattr"); err != nil {
			return inodeErr(ip.nid, err)
		}
		b := make([]byte, disk.XattrEntrySize+int(hd[0])+(int(hd[2])|int(hd[3])<<8))
		if err := f.readMetaIn(mbox, b, pos, "shared xattr"); err != nil {
			return inodeErr(ip.nid, err)
		}
		e, _, err := disk.DecodeXattrEntry(b)
		if err != nil {
			return inodeErr(ip.nid, err)
		}
		if x, ok := f.fullName(e); ok && !each(x) {
			return nil
		}
	}
	return nil
}

// fullName returns the entry with its full name, or false for a prefix
// Linux does not show.
func (f *fsys) fullName(e disk.XattrEntry) (xattr, bool) {
	var prefix string
	if e.NameIndex&disk.XattrLongPrefix != 0 {
		i := int(e.NameIndex & disk.XattrLongPrefixMask)
		if i >= len(f.prefixes) {
			return xattr{}, false
		}
		if prefix = f.prefixes[i]; prefix == "" {
			return xattr{}, false
		}
	} else if prefix = disk.XattrPrefix(e.NameIndex); prefix == "" {
		return xattr{}, false
	}
	x := xattr{name: prefix + string(e.Name), value: e.Value}
	return x, f.shown(x.name)
}

// shown reports whether the mount shows the attribute name: user.* ones
// unless nouser_xattr, POSIX ACLs unless noacl (the handlers' list and
// get refuse them then).
func (f *fsys) shown(name string) bool {
	switch {
	case strings.HasPrefix(name, "user."):
		return f.opts.userXattr
	case name == "system.posix_acl_access" || name == "system.posix_acl_default":
		return f.opts.acl
	}
	return true
}

// Getxattr returns the value of the attribute name, or ENODATA;
// EOPNOTSUPP for a namespace the mount hides (nouser_xattr, noacl).
func (ip *inode) Getxattr(name string) ([]byte, error) {
	if !ip.f.shown(name) {
		return nil, abi.EOPNOTSUPP
	}
	var v []byte
	found := false
	err := ip.xattrs(func(x xattr) bool {
		if x.name == name {
			v, found = x.value, true
			return false
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, abi.ENODATA
	}
	return v, nil
}

// Listxattr returns the names of the attributes.
func (ip *inode) Listxattr() ([]string, error) {
	var names []string
	err := ip.xattrs(func(x xattr) bool {
		names = append(names, x.name)
		return true
	})
	return names, err
}

// loadPrefixes reads the long xattr name prefixes
// (erofs_xattr_prefixes_init): xattr_prefix_count records from
// xattr_prefix_start * 4, in the packed inode or else the metadata.
func (f *fsys) loadPrefixes() error {
	pos := int64(f.sb.XattrPrefixStart) << 2
	for i := 0; i < int(f.sb.XattrPrefixCount); i++ {
		var l [2]byte
		if err := f.readPrefixBytes(l[:], pos); err != nil {
			return err
		}
		n := int(l[0]) | int(l[1])<<8
		b := make([]byte, n)
		if err := f.readPrefixBytes(b, pos+2); err != nil {
			return err
		}
		p, known, err := disk.DecodeLongPrefix(b)
		if err != nil {
			return err
		}
		if !known {
			p = "" // fullName passes over its names
		}
		f.prefixes = append(f.prefixes, p)
		pos += int64(2+n+3) &^ 3
	}
	return nil
}

// readPrefixBytes reads the prefix records: in the metabox when the
// image has one, else in the packed inode, else (or with
// PLAIN_XATTR_PFX) on the device, as erofs-utils' reader.
func (f *fsys) readPrefixBytes(p []byte, pos int64) error {
	if f.sb.FeatureCompat&disk.FeatureCompatPlainXattrPfx != 0 {
		return f.readMeta(p, pos, "long xattr prefixes")
	}
	if f.metabox != nil {
		return f.readMetaIn(true, p, pos, "long xattr prefixes")
	}
	if f.packed == nil {
		return f.readMeta(p, pos, "long xattr prefixes")
	}
	if pos+int64(len(p)) > int64(f.packed.di.Size) {
		return abi.Errorf(abi.EUCLEAN, "erofs: long xattr prefix at %d beyond the packed inode", pos)
	}
	_, err := f.packed.readData(p, pos)
	return err
}
