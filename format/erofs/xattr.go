package erofs

import "github.com/lklimg/lklimg/kernel/abi"

// Extended attributes (erofs_fs.h). An inode's inline xattr body follows
// it (xattr_isize bytes, see Inode.XattrISize):
//
//	struct erofs_xattr_ibody_header (12 bytes):
//	  0 h_name_filter u32   4 h_shared_count u8   5 h_reserved2[7]
//	  12 h_shared_xattrs[h_shared_count] u32: ids of shared xattrs
//	then erofs_xattr_entry records to the end of the body.
//
// A shared xattr is one entry at xattr_blkaddr's block + id * 4. An entry
// (struct erofs_xattr_entry) is
//
//	0 e_name_len u8   1 e_name_index u8   2 e_value_size u16
//	4 the name (without its prefix), then the value,
//
// padded to 4 bytes. e_name_index picks the name's prefix ("user.",
// ...), or with bit 7 (EROFS_XATTR_LONG_PREFIX) one of the image's long
// prefixes: records of a u16 length and struct erofs_xattr_long_prefix
// (a base index and an infix) at xattr_prefix_start * 4 in the packed
// inode, or in the metadata when there is none, each padded to 4 bytes.
const (
	XattrIbodyHeaderSize = 12
	XattrEntrySize       = 4

	XattrIndexUser            = 1
	XattrIndexPosixACLAccess  = 2
	XattrIndexPosixACLDefault = 3
	XattrIndexTrusted         = 4
	XattrIndexLustre          = 5
	XattrIndexSecurity        = 6

	XattrLongPrefix     = 0x80
	XattrLongPrefixMask = 0x7f
)

// XattrIbodyHeader is struct erofs_xattr_ibody_header.
type XattrIbodyHeader struct {
	NameFilter  uint32
	SharedCount uint8
}

// DecodeXattrIbodyHeader decodes the header at the start of body, the
// whole inline xattr body, and checks that the shared ids fit in it.
func DecodeXattrIbodyHeader(body []byte) (XattrIbodyHeader, error) {
	if len(body) < XattrIbodyHeaderSize {
		return XattrIbodyHeader{}, abi.Errorf(abi.EUCLEAN, "erofs: xattr ibody of %d bytes", len(body))
	}
	h := XattrIbodyHeader{NameFilter: le.Uint32(body), SharedCount: body[4]}
	if XattrIbodyHeaderSize+4*int(h.SharedCount) > len(body) {
		return h, abi.Errorf(abi.EUCLEAN, "erofs: xattr ibody: %d shared xattrs in %d bytes", h.SharedCount, len(body))
	}
	return h, nil
}

// SharedXattr returns the i-th shared xattr id of a body DecodeXattrIbodyHeader checked.
func SharedXattr(body []byte, i int) uint32 { return le.Uint32(body[XattrIbodyHeaderSize+4*i:]) }

// XattrEntry is one decoded xattr entry: Name and Value are views of the
// bytes it was decoded from.
type XattrEntry struct {
	NameIndex uint8
	Name      []byte
	Value     []byte
}

// XattrEntryHead returns the length of the whole entry whose 4-byte
// header starts p (erofs_xattr_entry_size), padding included.
func XattrEntryHead(p []byte) int {
	return (XattrEntrySize + int(p[0]) + int(le.Uint16(p[2:])) + 3) &^ 3
}

// DecodeXattrEntry decodes the entry at the start of p and returns it and
// its padded size; the entry must lie within p (the padding may not).
func DecodeXattrEntry(p []byte) (XattrEntry, int, error) {
	if len(p) < XattrEntrySize {
		return XattrEntry{}, 0, abi.Errorf(abi.EUCLEAN, "erofs: xattr entry header cut at %d bytes", len(p))
	}
	nl, vs := int(p[0]), int(le.Uint16(p[2:]))
	if XattrEntrySize+nl+vs > len(p) {
		return XattrEntry{}, 0, abi.Errorf(abi.EUCLEAN, "erofs: xattr entry of %d+%d bytes in %d", nl, vs, len(p)-XattrEntrySize)
	}
	e := XattrEntry{NameIndex: p[1], Name: p[4 : 4+nl], Value: p[4+nl : 4+nl+vs]}
	return e, XattrEntryHead(p), nil
}

// XattrPrefix returns the name prefix of a short name index
// (erofs_xattr_prefix), or "" for an index Linux does not show.
func XattrPrefix(index uint8) string {
	switch index {
	case XattrIndexUser:
		return "user."
	case XattrIndexPosixACLAccess:
		return "system.posix_acl_access"
	case XattrIndexPosixACLDefault:
		return "system.posix_acl_default"
	case XattrIndexTrusted:
		return "trusted."
	case XattrIndexSecurity:
		return "security."
	}
	return ""
}

// DecodeLongPrefix decodes a long prefix record's payload (after its u16
// length): the full prefix, its base prefix and the infix, and whether
// the base index is one Linux has a handler for. A record of no byte, or
// of more than a base and a name, is EUCLEAN (erofs_xattr_prefixes_init);
// an unknown base is not (mkfs.erofs's --xattr-inode-digest stores one of
// base 0), but names under it are never shown.
func DecodeLongPrefix(p []byte) (string, bool, error) {
	if len(p) < 1 || len(p) > 1+NameLen {
		return "", false, abi.Errorf(abi.EUCLEAN, "erofs: long xattr prefix of %d bytes", len(p))
	}
	base := XattrPrefix(p[0])
	return base + string(p[1:]), base != "", nil
}
