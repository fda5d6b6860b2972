package squashfs

import (
	"io"

	"github.com/lklimg/lklimg/kernel/abi"
)

// Xattr key types (squashfs_fs.h's SQUASHFS_XATTR_*): the name's prefix,
// and whether the value is out of line (the record holds a reference to
// the value, kept once for several inodes).
const (
	XattrUser      = 0
	XattrTrusted   = 1
	XattrSecurity  = 2
	XattrValueOOL  = 0x100
	XattrPrefixMsk = 0xff
)

// XattrPrefix returns the name prefix of a key type, as Linux's xattr
// handlers give them (fs/squashfs/xattr.c); false for a type it does not
// know, whose records Linux passes over.
func XattrPrefix(typ uint16) (string, bool) {
	switch typ & XattrPrefixMsk {
	case XattrUser:
		return "user.", true
	case XattrTrusted:
		return "trusted.", true
	case XattrSecurity:
		return "security.", true
	}
	return "", false
}

// XattrKey is struct squashfs_xattr_entry and its name (without the
// prefix).
type XattrKey struct {
	Type uint16
	Name []byte
}

// DecodeXattrKey reads a key from r, its name into name: a name longer
// than name is refused (EIO), as longer than any the VFS takes.
func DecodeXattrKey(r io.Reader, name []byte) (XattrKey, error) {
	var p [4]byte
	if _, err := io.ReadFull(r, p[:]); err != nil {
		return XattrKey{}, readErr("xattr key", err)
	}
	k := XattrKey{Type: le.Uint16(p[:])}
	size := int(le.Uint16(p[2:]))
	if size > len(name) {
		return k, abi.Errorf(abi.EIO, "squashfs: xattr name of %d bytes", size)
	}
	if _, err := io.ReadFull(r, name[:size]); err != nil {
		return k, readErr("xattr name", err)
	}
	k.Name = name[:size]
	return k, nil
}

// DecodeXattrValueSize reads a value's size (struct squashfs_xattr_val),
// which the value follows; an out-of-line key's value is 8 bytes, the
// reference to the real value (DecodeXattrOOL).
func DecodeXattrValueSize(r io.Reader) (uint32, error) {
	var p [4]byte
	if _, err := io.ReadFull(r, p[:]); err != nil {
		return 0, readErr("xattr value", err)
	}
	return le.Uint32(p[:]), nil
}

// DecodeXattrOOL decodes an out-of-line value's reference.
func DecodeXattrOOL(p []byte) (Ref, error) {
	if len(p) != 8 {
		return 0, abi.Errorf(abi.EIO, "squashfs: out-of-line xattr value reference of %d bytes", len(p))
	}
	return Ref(le.Uint64(p)), nil
}
