package ext4

import (
	"bytes"
	"encoding/binary"

	"github.com/lklimg/lklimg/kernel/abi"
)

// Extended attributes (Documentation/filesystems/ext4/attributes.rst;
// struct ext4_xattr_header, ext4_xattr_ibody_header, ext4_xattr_entry in
// fs/ext4/xattr.h). They live after i_extra_isize in the inode (a magic,
// then entries whose value offsets count from the first entry) and in one
// block at i_file_acl (a 32-byte header, then entries whose value offsets
// count from the block start). Entries end with four zero bytes; values are
// packed at the end of the area.
const (
	XattrMagic         = 0xEA020000
	XattrBlockHdrSize  = 32
	OffXattrHChecksum  = 16
	XattrEntryHdrSize  = 16
	XattrIndexUser     = 1
	XattrIndexACLAcc   = 2
	XattrIndexACLDef   = 3
	XattrIndexTrusted  = 4
	XattrIndexLustre   = 5
	XattrIndexSecurity = 6
	XattrIndexSystem   = 7
	XattrIndexRichACL  = 8
	// XattrIndexEncryption holds the fscrypt context, named "c"
	// (EXT4_XATTR_INDEX_ENCRYPTION, EXT4_XATTR_NAME_ENCRYPTION_CONTEXT).
	XattrIndexEncryption = 9
)

// XattrBlockCsum is ext4_xattr_block_csum: the crc32c, from the
// filesystem's seed, of the block number (le64), then of the attribute
// block b with h_checksum taken as zero. The number is the block's home:
// a block that moves gets another checksum.
func (g *Geometry) XattrBlockCsum(b []byte, blk uint64) uint32 {
	var le64 [8]byte
	binary.LittleEndian.PutUint64(le64[:], blk)
	var zero [4]byte
	c := Csum32(g.CrcTab, g.CsumSeed, le64[:])
	c = Csum32(g.CrcTab, c, b[:OffXattrHChecksum])
	c = Csum32(g.CrcTab, c, zero[:])
	return Csum32(g.CrcTab, c, b[OffXattrHChecksum+4:])
}

// XattrPrefixes maps e_name_index to the name prefix (ext4_xattr_handler_map
// and the on-disk index list).
var XattrPrefixes = [...]string{
	XattrIndexUser:     "user.",
	XattrIndexACLAcc:   "system.posix_acl_access",
	XattrIndexACLDef:   "system.posix_acl_default",
	XattrIndexTrusted:  "trusted.",
	XattrIndexSecurity: "security.",
	XattrIndexSystem:   "system.",
	XattrIndexRichACL:  "system.richacl",
}

// XattrEntry is a decoded struct ext4_xattr_entry; value aliases the area.
type XattrEntry struct {
	Index uint8
	Name  string
	Value []byte
	Inum  uint32 // e_value_inum: the value is in an ea_inode
	Size  uint32 // e_value_size
	Hash  uint32 // e_hash
}

// FullName is the entry's name as getxattr(2) takes it, or "" for an index
// without a prefix.
func (e *XattrEntry) FullName() string {
	if int(e.Index) >= len(XattrPrefixes) || XattrPrefixes[e.Index] == "" {
		return ""
	}
	return XattrPrefixes[e.Index] + e.Name
}

// Listed reports whether listxattr(2) shows the entry: Linux's ext4 has no
// handler for the "system." index (system.data of inline data) nor richacl.
func (e *XattrEntry) Listed() bool {
	switch e.Index {
	case XattrIndexUser, XattrIndexACLAcc, XattrIndexACLDef, XattrIndexTrusted, XattrIndexSecurity:
		return true
	}
	return false
}

// DecodeXattrEntries decodes the entries of an area: entries start at
// area[start:], values are at valueBase+e_value_offs and must lie inside
// area[valueMin:] (after the entries). It checks every offset and size
// (ext4_xattr_check_entries).
func DecodeXattrEntries(area []byte, start, valueBase int) ([]XattrEntry, error) {
	le := binary.LittleEndian
	var ents []XattrEntry
	off := start
	for {
		if off+4 > len(area) {
			return nil, abi.Errorf(abi.EUCLEAN, "entry at offset %d: no end marker", off)
		}
		if le.Uint32(area[off:]) == 0 {
			break
		}
		if off+XattrEntryHdrSize > len(area) {
			return nil, abi.Errorf(abi.EUCLEAN, "entry at offset %d: truncated", off)
		}
		e := area[off:]
		nameLen := int(e[0])
		elen := (nameLen + XattrEntryHdrSize + 3) &^ 3
		if off+elen > len(area) || off+XattrEntryHdrSize+nameLen > len(area) {
			return nil, abi.Errorf(abi.EUCLEAN, "entry at offset %d: name overruns the area", off)
		}
		ents = append(ents, XattrEntry{
			Index: e[1],
			Name:  string(e[XattrEntryHdrSize : XattrEntryHdrSize+nameLen]),
			Inum:  le.Uint32(e[4:]),
			Hash:  le.Uint32(e[12:]),
		})
		x := &ents[len(ents)-1]
		voff := int(le.Uint16(e[2:]))
		vsize := int64(le.Uint32(e[8:]))
		x.Size = uint32(vsize)
		if vsize > abi.XATTR_SIZE_MAX {
			return nil, abi.Errorf(abi.EUCLEAN, "entry at offset %d: value size %d too large", off, vsize)
		}
		if x.Inum == 0 && vsize > 0 {
			vs := valueBase + voff
			if vs < 0 || int64(vs)+vsize > int64(len(area)) {
				return nil, abi.Errorf(abi.EUCLEAN, "entry at offset %d: value (offset %d, size %d) overruns the area", off, voff, vsize)
			}
			x.Value = area[vs : vs+int(vsize)]
		} else if x.Inum == 0 {
			x.Value = []byte{}
		}
		off += elen
	}
	return ents, nil
}

// XattrValueMax is EXT4_XATTR_SIZE_MAX, the largest value check_xattrs
// lets an entry claim (16 MiB; getxattr(2) returns at most 64 KiB).
const XattrValueMax = 1 << 24

// CheckXattrs makes the checks of check_xattrs (fs/ext4/xattr.c) on an
// attribute area, entries from area[start:], values at valueBase +
// e_value_offs: every entry inside the area before its end, no name
// holding a NUL; then each value: an ea_inode only with the feature, a
// valid inode number other than the root's (ext4_valid_inum: from
// firstIno to inodesCount) and a nonzero size; a size at most
// XattrValueMax; a value stored in the area after the names' end marker
// and inside the area with its padding. The error is EUCLEAN with
// check_xattrs' reason.
func CheckXattrs(area []byte, start, valueBase int, eaInode bool, firstIno, inodesCount uint32) error {
	le := binary.LittleEndian
	bad := func(why string) error { return abi.Errorf(abi.EUCLEAN, "%s", why) }
	next := func(off int) int { return off + (XattrEntryHdrSize+int(area[off])+3)&^3 }
	off := start
	for {
		if off+4 > len(area) {
			return bad("e_name out of bounds")
		}
		if le.Uint32(area[off:]) == 0 {
			break
		}
		n := next(off)
		if n >= len(area) {
			return bad("e_name out of bounds")
		}
		if bytes.IndexByte(area[off+XattrEntryHdrSize:off+XattrEntryHdrSize+int(area[off])], 0) >= 0 {
			return bad("bad e_name length")
		}
		off = n
	}
	end := off // the names' end marker
	for e := start; e < end; e = next(e) {
		size := uint64(le.Uint32(area[e+8:]))
		inum := le.Uint32(area[e+4:])
		switch {
		case inum != 0 && !eaInode:
			return bad("ea_inode specified without ea_inode feature enabled")
		case inum != 0 && (inum == RootIno || inum < firstIno || inum > inodesCount):
			return bad("invalid ea_ino")
		case inum != 0 && size == 0:
			return bad("invalid size in ea xattr")
		case size > XattrValueMax:
			return bad("e_value size too large")
		}
		if size != 0 && inum == 0 {
			offs := int(le.Uint16(area[e+2:]))
			if offs > len(area)-valueBase {
				return bad("e_value out of bounds")
			}
			v := valueBase + offs
			if v < end+4 || (size+3)&^3 > uint64(len(area)-v) {
				return bad("overlapping e_value")
			}
		}
	}
	return nil
}

// IsSystemData reports whether e is system.data, the rest of an inline
// inode's data.
func IsSystemData(e XattrEntry) bool { return e.Index == XattrIndexSystem && e.Name == "data" }
