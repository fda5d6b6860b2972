package ext4

import (
	"encoding/binary"
	"strings"

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
	xattrMagic         = 0xEA020000
	xattrBlockHdrSize  = 32
	offXattrHChecksum  = 16
	xattrEntryHdrSize  = 16
	xattrIndexUser     = 1
	xattrIndexACLAcc   = 2
	xattrIndexACLDef   = 3
	xattrIndexTrusted  = 4
	xattrIndexLustre   = 5
	xattrIndexSecurity = 6
	xattrIndexSystem   = 7
	xattrIndexRichACL  = 8
)

// xattrPrefixes maps e_name_index to the name prefix (ext4_xattr_handler_map
// and the on-disk index list).
var xattrPrefixes = [...]string{
	xattrIndexUser:     "user.",
	xattrIndexACLAcc:   "system.posix_acl_access",
	xattrIndexACLDef:   "system.posix_acl_default",
	xattrIndexTrusted:  "trusted.",
	xattrIndexSecurity: "security.",
	xattrIndexSystem:   "system.",
	xattrIndexRichACL:  "system.richacl",
}

// xattrEntry is a decoded struct ext4_xattr_entry; value aliases the area.
type xattrEntry struct {
	index uint8
	name  string
	value []byte
	inum  uint32 // e_value_inum: the value is in an ea_inode
	size  uint32 // e_value_size
	hash  uint32 // e_hash
}

// fullName is the entry's name as getxattr(2) takes it, or "" for an index
// without a prefix.
func (e *xattrEntry) fullName() string {
	if int(e.index) >= len(xattrPrefixes) || xattrPrefixes[e.index] == "" {
		return ""
	}
	return xattrPrefixes[e.index] + e.name
}

// listed reports whether listxattr(2) shows the entry: Linux's ext4 has no
// handler for the "system." index (system.data of inline data) nor richacl.
func (e *xattrEntry) listed() bool {
	switch e.index {
	case xattrIndexUser, xattrIndexACLAcc, xattrIndexACLDef, xattrIndexTrusted, xattrIndexSecurity:
		return true
	}
	return false
}

// decodeXattrEntries decodes the entries of an area: entries start at
// area[start:], values are at valueBase+e_value_offs and must lie inside
// area[valueMin:] (after the entries). It checks every offset and size
// (ext4_xattr_check_entries).
func decodeXattrEntries(area []byte, start, valueBase int) ([]xattrEntry, error) {
	le := binary.LittleEndian
	var ents []xattrEntry
	off := start
	for {
		if off+4 > len(area) {
			return nil, abi.Errorf(abi.EUCLEAN, "entry at offset %d: no end marker", off)
		}
		if le.Uint32(area[off:]) == 0 {
			break
		}
		if off+xattrEntryHdrSize > len(area) {
			return nil, abi.Errorf(abi.EUCLEAN, "entry at offset %d: truncated", off)
		}
		e := area[off:]
		nameLen := int(e[0])
		elen := (nameLen + xattrEntryHdrSize + 3) &^ 3
		if off+elen > len(area) || off+xattrEntryHdrSize+nameLen > len(area) {
			return nil, abi.Errorf(abi.EUCLEAN, "entry at offset %d: name overruns the area", off)
		}
		ents = append(ents, xattrEntry{
			index: e[1],
			name:  string(e[xattrEntryHdrSize : xattrEntryHdrSize+nameLen]),
			inum:  le.Uint32(e[4:]),
			hash:  le.Uint32(e[12:]),
		})
		x := &ents[len(ents)-1]
		voff := int(le.Uint16(e[2:]))
		vsize := int64(le.Uint32(e[8:]))
		x.size = uint32(vsize)
		if vsize > abi.XATTR_SIZE_MAX {
			return nil, abi.Errorf(abi.EUCLEAN, "entry at offset %d: value size %d too large", off, vsize)
		}
		if x.inum == 0 && vsize > 0 {
			vs := valueBase + voff
			if vs < 0 || int64(vs)+vsize > int64(len(area)) {
				return nil, abi.Errorf(abi.EUCLEAN, "entry at offset %d: value (offset %d, size %d) overruns the area", off, voff, vsize)
			}
			x.value = area[vs : vs+int(vsize)]
		} else if x.inum == 0 {
			x.value = []byte{}
		}
		off += elen
	}
	return ents, nil
}

// ibodyXattrs decodes the in-inode attributes (ext4_xattr_ibody_get).
func (ip *inode) ibodyXattrs() ([]xattrEntry, error) {
	if ip.ibody == nil {
		return nil, nil
	}
	ents, err := decodeXattrEntries(ip.ibody, 4, 4)
	if err != nil {
		return nil, abi.Errorf(abi.EUCLEAN, "ext4: inode %d: in-inode xattrs: %v", ip.ino, err)
	}
	return ents, nil
}

// blockXattrs reads and decodes the attribute block (ext4_xattr_block_get):
// magic, h_blocks == 1, the checksum with metadata_csum.
func (ip *inode) blockXattrs() ([]xattrEntry, error) { return ip.readXattrBlock(false) }

// readXattrBlock is blockXattrs; cache offers the block for sharing
// (xattr_cache.go).
func (ip *inode) readXattrBlock(cache bool) ([]xattrEntry, error) {
	if ip.fileACL == 0 {
		return nil, nil
	}
	f := ip.f
	blk := ip.fileACL
	if blk < uint64(f.sb.sFirstDataBlock) || blk >= f.sb.sBlocksCount {
		return nil, abi.Errorf(abi.EUCLEAN, "ext4: inode %d: xattr block %d: outside the filesystem", ip.ino, blk)
	}
	b := make([]byte, f.blockSize)
	if err := f.readBlock(b, blk); err != nil {
		return nil, abi.Errorf(abi.EIO, "ext4: inode %d: xattr block %d: %v", ip.ino, blk, err)
	}
	ents, err := f.decodeXattrBlock(b, blk)
	if err != nil {
		return nil, abi.Errorf(abi.EUCLEAN, "ext4: inode %d: xattr block %d: %v", ip.ino, blk, err)
	}
	if cache && f.rw {
		// A block getxattr or listxattr read may be shared by the next
		// inode with the same attributes (ext4_xattr_block_get's and
		// ext4_xattr_block_list's cache insert; a write's own read,
		// ext4_xattr_block_find, does not insert).
		f.xcache.insert(le.Uint32(b[12:]), blk)
	}
	return ents, nil
}

// decodeXattrBlock checks the header and checksum of an attribute block
// and decodes its entries.
func (f *fsys) decodeXattrBlock(b []byte, blk uint64) ([]xattrEntry, error) {
	le := binary.LittleEndian
	if len(b) < xattrBlockHdrSize+4 {
		return nil, abi.Errorf(abi.EUCLEAN, "short block")
	}
	if m := le.Uint32(b[0:]); m != xattrMagic {
		return nil, abi.Errorf(abi.EUCLEAN, "bad magic %#x", m)
	}
	if n := le.Uint32(b[8:]); n != 1 {
		return nil, abi.Errorf(abi.EUCLEAN, "bad h_blocks %d", n)
	}
	if f.sb.metadataCsum() {
		if got, c := le.Uint32(b[offXattrHChecksum:]), f.xattrBlockCsum(b, blk); got != c {
			return nil, abi.Errorf(abi.EUCLEAN, "bad checksum %#08x, want %#08x", got, c)
		}
	}
	return decodeXattrEntries(b, xattrBlockHdrSize, 0)
}

// xattrBlockCsum is ext4_xattr_block_csum: crc32c of the block number
// and the block with h_checksum taken as zero.
func (f *fsys) xattrBlockCsum(b []byte, blk uint64) uint32 {
	var le64 [8]byte
	binary.LittleEndian.PutUint64(le64[:], blk)
	var zero [4]byte
	c := csum32(f.crcTab, f.csumSeed, le64[:])
	c = csum32(f.crcTab, c, b[:offXattrHChecksum])
	c = csum32(f.crcTab, c, zero[:])
	return csum32(f.crcTab, c, b[offXattrHChecksum+4:])
}

// xattrs returns the in-inode entries, then the block's.
func (ip *inode) xattrs() ([]xattrEntry, error) { return ip.readXattrs(false) }

// readXattrs is xattrs; cache is readXattrBlock's, true for getxattr and
// listxattr.
func (ip *inode) readXattrs(cache bool) ([]xattrEntry, error) {
	in, err := ip.ibodyXattrs()
	if err != nil {
		return nil, err
	}
	blk, err := ip.readXattrBlock(cache)
	if err != nil {
		return nil, err
	}
	return append(in, blk...), nil
}

// Getxattr returns the value of the named attribute (ext4_xattr_get).
// POSIX ACLs are converted to the generic format getxattr(2) returns.
// Errors: ENODATA if absent, EOPNOTSUPP for a name without a handler or a
// value in an ea_inode, EUCLEAN for a damaged attribute area.
func (ip *inode) Getxattr(name string) ([]byte, error) {
	defer ip.f.rlock()()
	if !xattrNameSupported(name) || isACLName(name) && !ip.hasACLs() {
		return nil, abi.EOPNOTSUPP
	}
	ents, err := ip.readXattrs(true)
	if err != nil {
		return nil, err
	}
	for i := range ents {
		e := &ents[i]
		if !e.listed() || e.fullName() != name {
			continue
		}
		if e.inum != 0 {
			v, err := ip.eaInodeValue(e)
			if err != nil {
				return nil, err
			}
			e.value = v
		}
		if e.index == xattrIndexACLAcc || e.index == xattrIndexACLDef {
			v, err := aclToXattr(e.value)
			if err != nil {
				return nil, abi.Errorf(abi.ErrnoOf(err), "ext4: inode %d: %s: %v", ip.ino, name, err)
			}
			return v, nil
		}
		return append([]byte(nil), e.value...), nil
	}
	return nil, abi.ENODATA
}

// eaInodeValue reads a value stored in an ea_inode (ext4_xattr_inode_get):
// an inode with EXT4_EA_INODE_FL whose data is the value and whose i_size
// is e_value_size.
func (ip *inode) eaInodeValue(e *xattrEntry) ([]byte, error) {
	if !ip.f.sb.hasIncompat(incompatEAInode) {
		return nil, abi.Errorf(abi.EUCLEAN, "ext4: inode %d: xattr %s in ea_inode %d without the ea_inode feature", ip.ino, e.fullName(), e.inum)
	}
	ea, err := ip.f.iget(e.inum)
	if err != nil {
		return nil, err
	}
	if ea.flags&inodeEAInodeFl == 0 || !ea.isReg() || ea.size != int64(e.size) {
		return nil, abi.Errorf(abi.EUCLEAN, "ext4: inode %d: xattr %s: inode %d is not its ea_inode (size %d, want %d)",
			ip.ino, e.fullName(), e.inum, ea.size, e.size)
	}
	v := make([]byte, e.size) // e_value_size is bounded by XATTR_SIZE_MAX
	if _, err := ea.readData(v, 0); err != nil && e.size > 0 {
		return nil, err
	}
	return v, nil
}

// xattrNameSupported reports whether a handler takes the name, as the
// VFS's xattr_resolve_name does for ext4's handlers.
func xattrNameSupported(name string) bool {
	switch name {
	case "system.posix_acl_access", "system.posix_acl_default":
		return true
	}
	for _, p := range []string{"user.", "trusted.", "security."} {
		if strings.HasPrefix(name, p) && len(name) > len(p) {
			return true
		}
	}
	return false
}

// Listxattr returns the full names of the attributes, in-inode ones first
// (ext4_listxattr).
func (ip *inode) Listxattr() ([]string, error) {
	defer ip.f.rlock()()
	ents, err := ip.readXattrs(true)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(ents))
	for i := range ents {
		// ACLs are listed only where they are kept (posix_acl_xattr_list).
		acl := ents[i].index == xattrIndexACLAcc || ents[i].index == xattrIndexACLDef
		if ents[i].listed() && (!acl || ip.f.posixACL) {
			names = append(names, ents[i].fullName())
		}
	}
	return names, nil
}

// inlineData returns the data of an inline_data inode: i_block, then the
// system.data attribute (Documentation/filesystems/ext4/inlinedata.rst).
func (ip *inode) inlineData() ([]byte, error) {
	ents, err := ip.ibodyXattrs()
	if err != nil {
		return nil, err
	}
	data := append([]byte(nil), ip.iBlock[:]...)
	for i := range ents {
		if isSystemData(ents[i]) {
			data = append(data, ents[i].value...)
			break
		}
	}
	if int64(len(data)) > ip.size && !ip.isDir() {
		data = data[:ip.size]
	}
	return data, nil
}

// isSystemData reports whether e is system.data, the rest of an inline
// inode's data.
func isSystemData(e xattrEntry) bool { return e.index == xattrIndexSystem && e.name == "data" }
