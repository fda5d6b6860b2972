package xfs

import (
	"encoding/binary"

	"github.com/lklimg/lklimg/kernel/abi"
)

// Extended attributes (xfs_da_format.h). A small set lives in the
// inode's attribute fork (shortform); a larger one in attribute blocks
// of one file system block: a single leaf at fork block 0, or a da
// btree of leaves rooted there. A value too big for its leaf lives in
// remote blocks of the fork. Each name carries its namespace in flags:
// none for user., XFS_ATTR_ROOT for trusted., XFS_ATTR_SECURE for
// security., XFS_ATTR_PARENT for parent pointers (never shown).
const (
	AttrLocal      = 1 << 0 // the value follows the name in the leaf
	AttrRoot       = 1 << 1 // trusted.
	AttrSecure     = 1 << 2 // security.
	AttrParent     = 1 << 3 // a parent pointer
	AttrIncomplete = 1 << 7 // being set: not there yet
	// AttrSfHdrSize is struct xfs_attr_sf_hdr: totsize u16, count u8,
	// padding.
	AttrSfHdrSize = 4
	// Attribute leaf magics (XFS_ATTR_LEAF_MAGIC, XFS_ATTR3_LEAF_MAGIC)
	// and header sizes (struct xfs_attr_leaf_hdr, xfs_attr3_leaf_hdr).
	AttrLeafMagic    = 0xfbee
	Attr3LeafMagic   = 0x3bee
	AttrLeafHdrSize  = 32
	Attr3LeafHdrSize = 80
	// AttrLeafEntrySize is struct xfs_attr_leaf_entry: hashval u32,
	// nameidx u16, flags u8, pad.
	AttrLeafEntrySize = 8
	// RemoteHdrSize is the v5 header of a remote value block (struct
	// xfs_attr3_rmt_hdr) and of a remote symlink block (struct
	// xfs_dsymlink_hdr): magic, offset, bytes, crc at 12, uuid,
	// owner at 32, blkno at 40, lsn.
	RemoteHdrSize = 56
	RemoteCRCOff  = 12
	AttrRmtMagic  = 0x5841524d // "XARM"
	SymlinkMagic  = 0x58534c4d // "XSLM"
	MaxSymlinkLen = 1024       // XFS_SYMLINK_MAXLEN
	MaxAttrValue  = 65536      // XFS_XATTR_SIZE_MAX
	SGIACLFile    = "SGI_ACL_FILE"
	SGIACLDefault = "SGI_ACL_DEFAULT"
)

// Attr is one attribute: its name without the namespace, the namespace
// flags, and the value, or where a remote value lies.
type Attr struct {
	Name   []byte
	Flags  uint8
	Value  []byte // local values
	Remote bool
	// ValueBlk and ValueLen: a remote value's first fork block and
	// length.
	ValueBlk uint32
	ValueLen int
}

// DecodeAttrShortform decodes a shortform attribute fork (struct
// xfs_attr_sf_hdr and entries of namelen u8, valuelen u8, flags u8, name
// and value), checked as xfs_attr_shortform_verify does: totsize within
// the fork, every entry within totsize, names not empty.
func DecodeAttrShortform(fork []byte) ([]Attr, error) {
	bad := func(f string, args ...any) ([]Attr, error) {
		return nil, abi.Errorf(abi.EUCLEAN, "xfs: shortform attributes: "+f, args...)
	}
	if len(fork) < AttrSfHdrSize {
		return bad("fork of %d bytes", len(fork))
	}
	size, count := int(be.Uint16(fork)), int(fork[2])
	if size < AttrSfHdrSize || size > len(fork) {
		return bad("size %d in a fork of %d bytes", size, len(fork))
	}
	p := fork[:size]
	out := make([]Attr, 0, count)
	pos := AttrSfHdrSize
	for i := range count {
		if pos+3 > len(p) {
			return bad("entry %d cut", i)
		}
		nl, vl, fl := int(p[pos]), int(p[pos+1]), p[pos+2]
		if nl == 0 || pos+3+nl+vl > len(p) {
			return bad("entry %d: name of %d bytes, value of %d", i, nl, vl)
		}
		out = append(out, Attr{Name: p[pos+3 : pos+3+nl], Flags: fl, Value: p[pos+3+nl : pos+3+nl+vl]})
		pos += 3 + nl + vl
	}
	return out, nil
}

// DecodeAttrLeaf decodes the entries of an attribute leaf block b whose
// header DecodeDaBlock has checked (h): each entry's name (and local
// value) within the block. Incomplete entries are left out, as
// xfs_attr3_leaf_list_int skips them.
func DecodeAttrLeaf(b []byte, h DaBlkinfo, out []Attr) ([]Attr, error) {
	bad := func(f string, args ...any) ([]Attr, error) {
		return out, abi.Errorf(abi.EUCLEAN, "xfs: attribute leaf: "+f, args...)
	}
	for i := range h.Count {
		e := b[h.HdrSize+i*AttrLeafEntrySize:]
		idx, fl := int(be.Uint16(e[4:])), e[6]
		if idx < h.HdrSize+h.Count*AttrLeafEntrySize || idx >= len(b) {
			return bad("entry %d: name at %d", i, idx)
		}
		if fl&AttrIncomplete != 0 {
			continue
		}
		if fl&AttrLocal != 0 {
			// struct xfs_attr_leaf_name_local: valuelen u16,
			// namelen u8, name and value.
			if idx+3 > len(b) {
				return bad("entry %d cut", i)
			}
			vl, nl := int(be.Uint16(b[idx:])), int(b[idx+2])
			if nl == 0 || idx+3+nl+vl > len(b) {
				return bad("entry %d: name of %d bytes, value of %d", i, nl, vl)
			}
			out = append(out, Attr{Name: b[idx+3 : idx+3+nl], Flags: fl, Value: b[idx+3+nl : idx+3+nl+vl]})
			continue
		}
		// struct xfs_attr_leaf_name_remote: valueblk u32, valuelen
		// u32, namelen u8, name.
		if idx+9 > len(b) {
			return bad("entry %d cut", i)
		}
		blk, vl, nl := be.Uint32(b[idx:]), int(be.Uint32(b[idx+4:])), int(b[idx+8])
		if nl == 0 || idx+9+nl > len(b) || vl > MaxAttrValue {
			return bad("entry %d: name of %d bytes, remote value of %d", i, nl, vl)
		}
		out = append(out, Attr{Name: b[idx+9 : idx+9+nl], Flags: fl, Remote: true, ValueBlk: blk, ValueLen: vl})
	}
	return out, nil
}

// DecodeRemoteHdr checks a v5 remote block's header (a remote attribute
// value's or a symlink's): magic, checksum, owner and address; it
// returns the offset and length of the piece it holds.
func DecodeRemoteHdr(b []byte, magic uint32, owner, daddr uint64, what string) (off, n int, err error) {
	bad := func(f string, args ...any) (int, int, error) {
		return 0, 0, abi.Errorf(abi.EUCLEAN, "xfs: %s block: "+f, append([]any{what}, args...)...)
	}
	if len(b) < RemoteHdrSize {
		return bad("cut at %d bytes", len(b))
	}
	if m := be.Uint32(b); m != magic {
		return bad("bad magic 0x%08x", m)
	}
	if !VerifyChecksum(b, RemoteCRCOff) {
		return bad("bad checksum")
	}
	if o := be.Uint64(b[32:]); o != owner {
		return bad("owner %d", o)
	}
	if a := be.Uint64(b[40:]); a != daddr {
		return bad("at daddr %d says %d", daddr, a)
	}
	off, n = int(be.Uint32(b[4:])), int(be.Uint32(b[8:]))
	if n > len(b)-RemoteHdrSize || off > MaxAttrValue {
		return bad("%d bytes at %d", n, off)
	}
	return off, n, nil
}

// ACL tags (ACL_USER_OBJ...), the same numbers in XFS's struct
// xfs_acl_entry and Linux's posix_acl_xattr_entry.
const (
	aclUserObj  = 0x01
	aclUser     = 0x02
	aclGroupObj = 0x04
	aclGroup    = 0x08
	aclMask     = 0x10
	aclOther    = 0x20
	// xfsACLEntrySize is struct xfs_acl_entry: ae_tag, ae_id, ae_perm
	// u16, padding.
	xfsACLEntrySize = 12
)

// ACLToXattr converts an ACL as XFS stores it (struct xfs_acl: acl_cnt
// u32 then entries, big-endian) into the xattr form Linux's getxattr of
// system.posix_acl_access gives (posix_acl_xattr_header version 2, then
// e_tag u16, e_perm u16, e_id u32, little-endian; e_id -1 for the
// entries without an id), as xfs_acl_from_disk then posix_acl_to_xattr
// do. maxEntries is XFS_ACL_MAX_ENTRIES for the filesystem's version.
func ACLToXattr(v []byte, maxEntries int) ([]byte, error) {
	bad := func(f string, args ...any) ([]byte, error) {
		return nil, abi.Errorf(abi.EUCLEAN, "xfs: ACL: "+f, args...)
	}
	if len(v) < 4 {
		return bad("%d bytes", len(v))
	}
	n := int(be.Uint32(v))
	if n > maxEntries || len(v) != 4+n*xfsACLEntrySize {
		return bad("%d entries in %d bytes", n, len(v))
	}
	out := make([]byte, 4+8*n)
	binary.LittleEndian.PutUint32(out, 2)
	for i := range n {
		e := v[4+i*xfsACLEntrySize:]
		tag, id, perm := be.Uint32(e), be.Uint32(e[4:]), be.Uint16(e[8:])
		switch tag {
		case aclUser, aclGroup:
		case aclUserObj, aclGroupObj, aclMask, aclOther:
			id = ^uint32(0)
		default:
			return bad("entry %d: tag 0x%x", i, tag)
		}
		o := out[4+8*i:]
		binary.LittleEndian.PutUint16(o, uint16(tag))
		binary.LittleEndian.PutUint16(o[2:], perm)
		binary.LittleEndian.PutUint32(o[4:], id)
	}
	return out, nil
}
