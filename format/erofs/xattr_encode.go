package erofs

import "strings"

// xattrPrefixes are the name prefixes a short e_name_index stands for
// (erofs_xattr_prefix's table), the ACLs' whole names.
var xattrPrefixes = []struct {
	prefix string
	index  uint8
}{
	{"user.", XattrIndexUser},
	{"system.posix_acl_access", XattrIndexPosixACLAccess},
	{"system.posix_acl_default", XattrIndexPosixACLDefault},
	{"trusted.", XattrIndexTrusted},
	{"security.", XattrIndexSecurity},
}

// SplitXattrName returns the e_name_index and the rest of a full xattr
// name ("user.x": 1, "x"; "system.posix_acl_access": 2, ""), as
// erofs-utils' match_prefix does; ok is false for a name of no prefix
// erofs has (those cannot be stored), or whose rest is over 255 bytes.
func SplitXattrName(name string) (index uint8, suffix string, ok bool) {
	for _, p := range xattrPrefixes {
		if rest, found := strings.CutPrefix(name, p.prefix); found {
			if (p.index == XattrIndexPosixACLAccess || p.index == XattrIndexPosixACLDefault) && rest != "" {
				return 0, "", false
			}
			if len(rest) > 255 {
				return 0, "", false
			}
			return p.index, rest, true
		}
	}
	return 0, "", false
}

// XattrEntryLen returns the padded size of an erofs_xattr_entry of a
// name (without its prefix) and value: what XattrEntryHead reads back.
func XattrEntryLen(suffix string, valueLen int) int {
	return (XattrEntrySize + len(suffix) + valueLen + 3) &^ 3
}

// EncodeXattrEntry writes the entry at the start of p (XattrEntryLen
// bytes, the padding zeroed) and returns its length: DecodeXattrEntry's
// mirror. The value is at most 65535 bytes (e_value_size).
func EncodeXattrEntry(p []byte, index uint8, suffix string, value []byte) int {
	n := XattrEntryLen(suffix, len(value))
	clear(p[:n])
	p[0] = uint8(len(suffix))
	p[1] = index
	le.PutUint16(p[2:], uint16(len(value)))
	copy(p[4+copy(p[4:], suffix):], value)
	return n
}

// EncodeXattrIbodyHeader writes the inline xattr body's header and its
// shared xattr ids at the start of p (XattrIbodyHeaderSize + 4 per id)
// and returns their length. The name filter is left zero: the image
// does not set COMPAT_XATTR_FILTER, so readers do not consult it.
func EncodeXattrIbodyHeader(p []byte, shared []uint32) int {
	clear(p[:XattrIbodyHeaderSize])
	p[4] = uint8(len(shared))
	for i, id := range shared {
		le.PutUint32(p[XattrIbodyHeaderSize+4*i:], id)
	}
	return XattrIbodyHeaderSize + 4*len(shared)
}

// XattrICount returns i_xattr_icount for an inline body of size bytes
// (XattrISize's inverse): 0 for none.
func XattrICount(size int) uint16 {
	if size == 0 {
		return 0
	}
	return uint16((size-XattrIbodyHeaderSize)/4 + 1)
}
