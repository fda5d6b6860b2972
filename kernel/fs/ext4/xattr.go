package ext4

import (
	"encoding/binary"
	"slices"
	"strings"

	disk "github.com/lklimg/lklimg/format/ext4"
	"github.com/lklimg/lklimg/kernel/abi"
)

// ibodyXattrs decodes the in-inode attributes (ext4_xattr_ibody_get).
func (ip *inode) ibodyXattrs() ([]disk.XattrEntry, error) {
	if ip.ibody == nil {
		return nil, nil
	}
	ents, err := disk.DecodeXattrEntries(ip.ibody, 4, 4)
	if err != nil {
		return nil, abi.Errorf(abi.EUCLEAN, "ext4: inode %d: in-inode xattrs: %v", ip.ino, err)
	}
	return ents, nil
}

// blockXattrs reads and decodes the attribute block (ext4_xattr_block_get):
// magic, h_blocks == 1, the checksum with metadata_csum.
func (ip *inode) blockXattrs() ([]disk.XattrEntry, error) { return ip.readXattrBlock(false) }

// readXattrBlock is blockXattrs; cache offers the block for sharing
// (xattr_cache.go).
func (ip *inode) readXattrBlock(cache bool) ([]disk.XattrEntry, error) {
	if ip.fileACL == 0 {
		return nil, nil
	}
	f := ip.f
	blk := ip.fileACL
	if blk < uint64(f.Super.SFirstDataBlock) || blk >= f.Super.SBlocksCount {
		return nil, abi.Errorf(abi.EUCLEAN, "ext4: inode %d: xattr block %d: outside the filesystem", ip.ino, blk)
	}
	b := make([]byte, f.BlockSize)
	if err := f.readBlock(b, blk); err != nil {
		return nil, abi.Errorf(abi.EIO, "ext4: inode %d: xattr block %d: %v", ip.ino, blk, err)
	}
	ents, err := f.decodeXattrBlock(b, blk)
	if err != nil {
		return nil, abi.Errorf(abi.ErrnoOf(err), "ext4: inode %d: xattr block %d: %v", ip.ino, blk, err)
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
func (f *fsys) decodeXattrBlock(b []byte, blk uint64) ([]disk.XattrEntry, error) {
	le := binary.LittleEndian
	if len(b) < disk.XattrBlockHdrSize+4 {
		return nil, abi.Errorf(abi.EUCLEAN, "short block")
	}
	if m := le.Uint32(b[0:]); m != disk.XattrMagic {
		return nil, abi.Errorf(abi.EUCLEAN, "bad magic %#x", m)
	}
	if n := le.Uint32(b[8:]); n != 1 {
		return nil, abi.Errorf(abi.EUCLEAN, "bad h_blocks %d", n)
	}
	if f.Super.MetadataCsum() {
		if got, c := le.Uint32(b[disk.OffXattrHChecksum:]), f.XattrBlockCsum(b, blk); got != c {
			// ext4_xattr_block_csum_verify fails with EFSBADCRC.
			return nil, abi.Errorf(abi.EFSBADCRC, "bad checksum %#08x, want %#08x", got, c)
		}
	}
	// ext4_xattr_block_get and _list check the block (check_xattrs).
	if err := f.checkXattrs(b, disk.XattrBlockHdrSize, 0); err != nil {
		return nil, err
	}
	return disk.DecodeXattrEntries(b, disk.XattrBlockHdrSize, 0)
}

// xattrs returns the in-inode entries, then the block's.
func (ip *inode) xattrs() ([]disk.XattrEntry, error) { return ip.readXattrs(false) }

// readXattrs is xattrs; cache is readXattrBlock's, true for getxattr and
// listxattr.
func (ip *inode) readXattrs(cache bool) ([]disk.XattrEntry, error) {
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
		if !e.Listed() || e.FullName() != name {
			continue
		}
		if e.Inum != 0 {
			v, err := ip.eaInodeValue(e)
			if err != nil {
				return nil, err
			}
			e.Value = v
		}
		if e.Index == disk.XattrIndexACLAcc || e.Index == disk.XattrIndexACLDef {
			v, err := aclToXattr(e.Value)
			if err != nil {
				return nil, abi.Errorf(abi.ErrnoOf(err), "ext4: inode %d: %s: %v", ip.ino, name, err)
			}
			return v, nil
		}
		return append([]byte(nil), e.Value...), nil
	}
	return nil, abi.ENODATA
}

// eaInodeValue reads a value stored in an ea_inode (ext4_xattr_inode_get):
// an inode with EXT4_EA_INODE_FL whose data is the value and whose i_size
// is e_value_size.
func (ip *inode) eaInodeValue(e *disk.XattrEntry) ([]byte, error) {
	if !ip.f.Super.HasIncompat(disk.IncompatEAInode) {
		return nil, abi.Errorf(abi.EUCLEAN, "ext4: inode %d: xattr %s in ea_inode %d without the ea_inode feature", ip.ino, e.FullName(), e.Inum)
	}
	ea, err := ip.f.igetFlags(e.Inum, igetEAInode)
	if err != nil {
		return nil, err
	}
	if ea.flags&disk.InodeEAInodeFl == 0 || !ea.isReg() || ea.size != int64(e.Size) {
		return nil, abi.Errorf(abi.EUCLEAN, "ext4: inode %d: xattr %s: inode %d is not its ea_inode (size %d, want %d)",
			ip.ino, e.FullName(), e.Inum, ea.size, e.Size)
	}
	v := make([]byte, e.Size) // e_value_size is bounded by XATTR_SIZE_MAX
	if _, err := ea.readData(v, 0); err != nil && e.Size > 0 {
		return nil, err
	}
	// ext4_xattr_inode_get: the value's hash must be the one the
	// ea_inode keeps in i_atime (ext4_xattr_inode_verify_hashes), but
	// for a Lustre ea_inode, which has none: its i_atime is not the
	// entry's hash and its i_mtime and generation name the owner
	// (ext4_xattr_inode_iget).
	stored := uint32(ea.atime.Sec)
	lustre := stored != e.Hash && uint32(ea.mtime.Sec) == ip.ino && ea.generation == ip.generation
	if lustre {
		return v, nil
	}
	h := ip.f.eaValueHash(v)
	ok := h == stored
	// An in-inode entry's e_hash must be its name's with the value's
	// hash, or the hash of the signed-char variant old kernels made.
	if in, err := ip.ibodyXattrs(); ok && err == nil && slices.ContainsFunc(in, func(x disk.XattrEntry) bool {
		return x.Index == e.Index && x.Name == e.Name && x.Inum == e.Inum
	}) {
		var w [4]byte
		le.PutUint32(w[:], h)
		ok = e.Hash == eaEntryHash(e.Name, h) || e.Hash == xattrHashEntrySigned(e.Name, w[:])
	}
	if !ok {
		return nil, abi.Errorf(abi.EUCLEAN, "ext4: inode %d: xattr %s: ea_inode %d: EA inode hash validation failed", ip.ino, e.FullName(), e.Inum)
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
		acl := ents[i].Index == disk.XattrIndexACLAcc || ents[i].Index == disk.XattrIndexACLDef
		if ents[i].Listed() && (!acl || ip.f.posixACL) {
			names = append(names, ents[i].FullName())
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
		if disk.IsSystemData(ents[i]) {
			data = append(data, ents[i].Value...)
			break
		}
	}
	if int64(len(data)) > ip.size && !ip.isDir() {
		data = data[:ip.size]
	}
	return data, nil
}
