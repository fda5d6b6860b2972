package xfs

import (
	"strings"

	"github.com/lklimg/lklimg/format/xfs"
	"github.com/lklimg/lklimg/kernel/abi"
)

// Extended attributes (xfs_attr.c, xfs_attr_list.c, xfs_xattr.c): the
// attribute fork in the inode (shortform) or its blocks (a leaf at fork
// block 0, or a da btree whose leaves are listed left to right), remote
// values read from their blocks. Names are shown as Linux's
// xfs_xattr_put_listent shows them: user., trusted. (XFS_ATTR_ROOT) and
// security. (XFS_ATTR_SECURE); the ACLs, trusted SGI_ACL_FILE and
// SGI_ACL_DEFAULT, both as themselves and as system.posix_acl_access and
// system.posix_acl_default in Linux's xattr form; parent pointers never.

const nsMask = xfs.AttrRoot | xfs.AttrSecure | xfs.AttrParent

// attrs calls each for every attribute of the inode in the fork's order
// until it returns false.
func (ip *inode) attrs(each func(xfs.Attr) bool) error {
	di := ip.di
	if di.Forkoff == 0 {
		return nil
	}
	switch di.AFormat {
	case xfs.FmtLocal:
		as, err := xfs.DecodeAttrShortform(di.AttrFork(ip.raw))
		if err != nil {
			return ip.errf("%v", err)
		}
		for _, a := range as {
			if !each(a) {
				return nil
			}
		}
		return nil
	case xfs.FmtExtents, xfs.FmtBtree:
	default:
		return nil
	}
	exts, err := ip.extents(attrFork)
	if err != nil {
		return err
	}
	if len(exts) == 0 {
		return nil
	}
	// Descend the leftmost path from the root at fork block 0 to the
	// first leaf, then follow the leaves' forward links.
	blk := uint32(0)
	leaves := int64(0)
	for _, e := range exts {
		leaves += int64(e.BlockCount)
	}
	for depth := 0; ; depth++ {
		if depth > xfs.MaxDaLevels {
			return ip.errf("attribute da btree deeper than %d", xfs.MaxDaLevels)
		}
		b, h, err := ip.attrBlock(exts, blk, xfs.AttrLeafMagic, xfs.Attr3LeafMagic, xfs.DaNodeMagic, xfs.Da3NodeMagic)
		if err != nil {
			return err
		}
		if h.Magic == xfs.AttrLeafMagic || h.Magic == xfs.Attr3LeafMagic {
			break
		}
		if h.Count == 0 {
			return ip.errf("attribute da btree node without entries")
		}
		blk = xfs.NodeEntryAt(b[h.HdrSize:], 0).Before
	}
	var as []xfs.Attr
	for n := int64(0); ; n++ {
		if n > leaves {
			return ip.errf("attribute leaf siblings loop")
		}
		b, h, err := ip.attrBlock(exts, blk, xfs.AttrLeafMagic, xfs.Attr3LeafMagic)
		if err != nil {
			return err
		}
		if as, err = xfs.DecodeAttrLeaf(b, h, as[:0]); err != nil {
			return ip.errf("attribute block %d: %v", blk, err)
		}
		for _, a := range as {
			if !each(a) {
				return nil
			}
		}
		if h.Forw == 0 {
			return nil
		}
		blk = h.Forw
	}
}

// attrBlock reads and checks attribute fork block blk, a leaf or node.
func (ip *inode) attrBlock(exts []xfs.Bmbt, blk uint32, magics ...uint16) ([]byte, xfs.DaBlkinfo, error) {
	f := ip.f
	m := bmapi(exts, uint64(blk))
	if m.hole || m.unwritten {
		return nil, xfs.DaBlkinfo{}, ip.errf("attribute block %d not mapped", blk)
	}
	off, err := f.fsbToByte(m.fsb)
	if err != nil {
		return nil, xfs.DaBlkinfo{}, ip.errf("attribute block %d: %v", blk, err)
	}
	b := make([]byte, f.bsize)
	if err := f.readMeta(b, off, "attribute block"); err != nil {
		return nil, xfs.DaBlkinfo{}, ip.errf("%v", err)
	}
	entsize := xfs.AttrLeafEntrySize // the same 8 bytes as a node entry
	h, err := xfs.DecodeDaBlock(b, f.crc, ip.ino, uint64(off>>9), entsize, "attribute", magics...)
	if err != nil {
		return nil, h, ip.errf("attribute block %d: %v", blk, err)
	}
	if h.Magic == xfs.AttrLeafMagic || h.Magic == xfs.Attr3LeafMagic {
		h.HdrSize = xfs.AttrLeafHdrSize
		if f.crc {
			h.HdrSize = xfs.Attr3LeafHdrSize
		}
		if h.Count > (len(b)-h.HdrSize)/xfs.AttrLeafEntrySize {
			return nil, h, ip.errf("attribute block %d: %d entries", blk, h.Count)
		}
	}
	return b, h, nil
}

// value returns an attribute's value, reading a remote one from its
// blocks (xfs_attr_rmtval_get): on v5 each block holds a header (its
// offset and length in the value) and then its piece.
func (ip *inode) value(a xfs.Attr) ([]byte, error) {
	if !a.Remote {
		return a.Value, nil
	}
	f := ip.f
	exts, err := ip.extents(attrFork)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, a.ValueLen)
	buf := make([]byte, f.bsize)
	for blk := uint64(a.ValueBlk); len(out) < a.ValueLen; blk++ {
		m := bmapi(exts, blk)
		if m.hole || m.unwritten {
			return nil, ip.errf("remote attribute block %d not mapped", blk)
		}
		off, err := f.fsbToByte(m.fsb)
		if err != nil {
			return nil, ip.errf("remote attribute: %v", err)
		}
		if err := f.readMeta(buf, off, "remote attribute block"); err != nil {
			return nil, ip.errf("%v", err)
		}
		piece := buf
		if f.crc {
			o, n, err := xfs.DecodeRemoteHdr(buf, xfs.AttrRmtMagic, ip.ino, uint64(off>>9), "remote attribute")
			if err != nil {
				return nil, ip.errf("%v", err)
			}
			if o != len(out) || n == 0 {
				return nil, ip.errf("remote attribute block %d holds %d bytes from %d, %d expected", blk, n, o, len(out))
			}
			piece = buf[xfs.RemoteHdrSize : xfs.RemoteHdrSize+n]
		}
		out = append(out, piece[:min(len(piece), a.ValueLen-len(out))]...)
	}
	return out, nil
}

// prefix is the namespace an attribute's flags give it, "" for parent
// pointers (not shown).
func prefix(flags uint8) string {
	switch {
	case flags&xfs.AttrParent != 0:
		return ""
	case flags&xfs.AttrRoot != 0:
		return "trusted."
	case flags&xfs.AttrSecure != 0:
		return "security."
	}
	return "user."
}

// aclName is the POSIX ACL xattr a trusted attribute also shows as.
func aclName(a xfs.Attr) string {
	if a.Flags&nsMask != xfs.AttrRoot {
		return ""
	}
	switch string(a.Name) {
	case xfs.SGIACLFile:
		return "system.posix_acl_access"
	case xfs.SGIACLDefault:
		return "system.posix_acl_default"
	}
	return ""
}

// Listxattr returns the names in the fork's order, each ACL's system
// name before its trusted one.
func (ip *inode) Listxattr() ([]string, error) {
	var names []string
	err := ip.attrs(func(a xfs.Attr) bool {
		if acl := aclName(a); acl != "" {
			names = append(names, acl)
		}
		if p := prefix(a.Flags); p != "" {
			names = append(names, p+string(a.Name))
		}
		return true
	})
	return names, err
}

// Getxattr returns the value of the attribute name, or ENODATA; an ACL
// in Linux's xattr form; EOPNOTSUPP for a namespace XFS does not keep.
func (ip *inode) Getxattr(name string) ([]byte, error) {
	var flags uint8
	var short string
	acl := false
	switch {
	case name == "system.posix_acl_access":
		flags, short, acl = xfs.AttrRoot, xfs.SGIACLFile, true
	case name == "system.posix_acl_default":
		flags, short, acl = xfs.AttrRoot, xfs.SGIACLDefault, true
	case strings.HasPrefix(name, "user."):
		short = name[len("user."):]
	case strings.HasPrefix(name, "trusted."):
		flags, short = xfs.AttrRoot, name[len("trusted."):]
	case strings.HasPrefix(name, "security."):
		flags, short = xfs.AttrSecure, name[len("security."):]
	default:
		return nil, abi.EOPNOTSUPP
	}
	var found *xfs.Attr
	err := ip.attrs(func(a xfs.Attr) bool {
		if a.Flags&nsMask == flags && string(a.Name) == short {
			found = &a
			return false
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	if found == nil {
		return nil, abi.ENODATA
	}
	v, err := ip.value(*found)
	if err != nil || !acl {
		return v, err
	}
	if v, err = xfs.ACLToXattr(v, ip.f.maxACL); err != nil {
		return nil, ip.errf("%v", err)
	}
	return v, nil
}
