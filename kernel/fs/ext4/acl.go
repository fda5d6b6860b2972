package ext4

import (
	"encoding/binary"
	"errors"
	"slices"

	disk "github.com/lklimg/lklimg/format/ext4"
	"github.com/lklimg/lklimg/kernel/abi"
)

// POSIX ACLs (fs/ext4/acl.h). ext4 stores them compactly: ext4_acl_header
// {a_version u32 = 1}, then entries {e_tag u16, e_perm u16} for the
// USER_OBJ, GROUP_OBJ, MASK and OTHER tags and {e_tag, e_perm, e_id u32}
// for USER and GROUP. getxattr(2) returns the generic format of
// include/uapi/linux/posix_acl_xattr.h: posix_acl_xattr_header {a_version
// u32 = 2}, then entries {e_tag u16, e_perm u16, e_id u32} with e_id
// ACL_UNDEFINED_ID for the tags without one.
const (
	ext4ACLVersion     = 1
	posixACLXattrVer   = 2
	aclUndefinedID     = 0xFFFFFFFF
	aclUserObj         = 0x01
	aclUser            = 0x02
	aclGroupObj        = 0x04
	aclGroup           = 0x08
	aclMask            = 0x10
	aclOther           = 0x20
	ext4ACLShortSize   = 4
	ext4ACLFullSize    = 8
	posixACLEntrySize  = 8
	posixACLHeaderSize = 4
)

// aclToXattr converts an on-disk ext4 ACL to the xattr format
// (ext4_acl_from_disk, then posix_acl_to_xattr). Errors: EINVAL for a
// malformed ACL, as the kernel returns; ENODATA for an empty one.
func aclToXattr(b []byte) ([]byte, error) {
	le := binary.LittleEndian
	if len(b) < 4 {
		return nil, abi.Errorf(abi.EINVAL, "ACL too short (%d bytes)", len(b))
	}
	if v := le.Uint32(b); v != ext4ACLVersion {
		return nil, abi.Errorf(abi.EINVAL, "ACL version %d", v)
	}
	b = b[4:]
	if len(b) == 0 {
		return nil, abi.ENODATA
	}
	// Each output entry is at most twice its input; the value is bounded
	// by XATTR_SIZE_MAX already.
	out := make([]byte, posixACLHeaderSize, posixACLHeaderSize+2*len(b))
	le.PutUint32(out, posixACLXattrVer)
	for len(b) > 0 {
		if len(b) < ext4ACLShortSize {
			return nil, abi.Errorf(abi.EINVAL, "ACL entry truncated")
		}
		tag, perm := le.Uint16(b[0:]), le.Uint16(b[2:])
		id := uint32(aclUndefinedID)
		switch tag {
		case aclUserObj, aclGroupObj, aclMask, aclOther:
			b = b[ext4ACLShortSize:]
		case aclUser, aclGroup:
			if len(b) < ext4ACLFullSize {
				return nil, abi.Errorf(abi.EINVAL, "ACL entry truncated")
			}
			id = le.Uint32(b[4:])
			b = b[ext4ACLFullSize:]
		default:
			return nil, abi.Errorf(abi.EINVAL, "ACL entry with tag %#x", tag)
		}
		out = le.AppendUint16(out, tag)
		out = le.AppendUint16(out, perm)
		out = le.AppendUint32(out, id)
	}
	return out, nil
}

// PosixACL reports whether the mount keeps POSIX ACLs (vfs.PosixACLer;
// SB_POSIXACL): always, as Linux 6.x's ext4 does whatever
// s_default_mount_opts says, but with noacl (which older kernels took,
// and 6.x refuses). The VFS then leaves the umask to aclCreate.
func (f *fsys) PosixACL() bool { return f.posixACL }

// hasACLs reports whether ip can have POSIX ACLs: on a mount that keeps
// them, and not a symlink, whose ACL names give EOPNOTSUPP
// (posix_acl_xattr_get, vfs_set_acl).
func (ip *inode) hasACLs() bool { return ip.f.posixACL && !ip.isLnk() }

// isACLName reports whether name is one of the POSIX ACL attributes.
func isACLName(name string) bool {
	return name == "system.posix_acl_access" || name == "system.posix_acl_default"
}

// newACLs is what a new inode inherits from its directory's default ACL
// (posix_acl_create): its access ACL and, for a directory, the default
// ACL itself; nil where there is none to store.
type newACLs struct {
	def, acc []aclEntry
}

// aclCreate is posix_acl_create for a new inode of mode (type and
// permissions, the umask not taken yet) in dir: without a default ACL in
// dir (or on a mount without POSIX ACLs, where the VFS took the umask
// already) the umask goes; with one, mode keeps only what the ACL grants
// and the new inode gets the ACL masked the same way as its access ACL
// (posix_acl_create_masq), unless the mode says all of it, and a
// directory also the default ACL. Symlinks take nothing.
func (dir *inode) aclCreate(mode, umask uint32) (uint32, newACLs, error) {
	if mode&abi.S_IFMT == abi.S_IFLNK || !dir.f.posixACL {
		return mode, newACLs{}, nil
	}
	def, err := dir.defaultACL()
	if err != nil || def == nil {
		return mode &^ umask, newACLs{}, err
	}
	acc := slices.Clone(def)
	mode, equiv := aclCreateMasq(acc, mode)
	acls := newACLs{acc: acc}
	if equiv {
		acls.acc = nil
	}
	if mode&abi.S_IFMT == abi.S_IFDIR {
		acls.def = def
	}
	return mode, acls, nil
}

// defaultACL returns dir's default ACL (ext4_get_acl of
// ACL_TYPE_DEFAULT), nil without one or for an empty one.
func (dir *inode) defaultACL() ([]aclEntry, error) { return dir.getACL(disk.XattrIndexACLDef) }

// getACL returns ip's ACL of index (xattrIndexACLAcc or
// xattrIndexACLDef), nil without one or for an empty one; a malformed one
// is EUCLEAN. It runs for every inode made and every chmod, so the
// attribute block is read into a pooled buffer.
func (ip *inode) getACL(index uint8) ([]aclEntry, error) {
	ents, err := ip.ibodyXattrs()
	if err != nil {
		return nil, err
	}
	acl, found, err := ip.findACL(ents, index)
	if found || err != nil || ip.fileACL == 0 {
		return acl, err
	}
	f := ip.f
	blk := ip.fileACL
	b := f.getBlock()
	defer f.putBlock(b)
	if err := f.readBlock(b, blk); err != nil {
		return nil, abi.Errorf(abi.EIO, "ext4: inode %d: xattr block %d: %v", ip.ino, blk, err)
	}
	if ents, err = f.decodeXattrBlock(b, blk); err != nil {
		return nil, abi.Errorf(abi.EUCLEAN, "ext4: inode %d: xattr block %d: %v", ip.ino, blk, err)
	}
	acl, _, err = ip.findACL(ents, index)
	return acl, err
}

// findACL decodes the ACL of index among ents, if it is there.
func (ip *inode) findACL(ents []disk.XattrEntry, index uint8) (acl []aclEntry, found bool, err error) {
	i := slices.IndexFunc(ents, func(e disk.XattrEntry) bool { return e.Index == index })
	if i < 0 {
		return nil, false, nil
	}
	v := ents[i].Value
	if ents[i].Inum != 0 {
		if v, err = ip.eaInodeValue(&ents[i]); err != nil {
			return nil, true, err
		}
	}
	x, err := aclToXattr(v)
	if errors.Is(err, abi.ENODATA) {
		return nil, true, nil
	}
	if err == nil {
		acl, err = parseACLXattr(x)
	}
	if err != nil {
		return nil, true, abi.Errorf(abi.EUCLEAN, "ext4: inode %d: ACL: %v", ip.ino, err)
	}
	return acl, true, nil
}

// aclCreateMasq is posix_acl_create_masq: it masks the entries of acl
// (changed in place) and the permission bits of mode by each other, the
// owner's with USER_OBJ, the group's with MASK (GROUP_OBJ without one),
// the others' with OTHER. It returns the new mode and whether the ACL
// says no more than it (no named entries, no MASK). The ACL was checked
// by parseACLXattr, so it has USER_OBJ, GROUP_OBJ and OTHER.
func aclCreateMasq(acl []aclEntry, mode uint32) (uint32, bool) {
	perm := mode & 0o777
	var groupObj, mask *aclEntry
	equiv := true
	for i := range acl {
		e := &acl[i]
		switch e.tag {
		case aclUserObj:
			e.perm &= uint16(perm >> 6 & 7)
			perm &= uint32(e.perm)<<6 | 0o077
		case aclUser, aclGroup:
			equiv = false
		case aclGroupObj:
			groupObj = e
		case aclOther:
			e.perm &= uint16(perm & 7)
			perm &= uint32(e.perm) | 0o770
		case aclMask:
			mask, equiv = e, false
		}
	}
	g := mask
	if g == nil {
		g = groupObj
	}
	if g != nil {
		g.perm &= uint16(perm >> 3 & 7)
		perm &= uint32(g.perm)<<3 | 0o707
	}
	return mode&^0o777 | perm, equiv
}

// setNewACLs stores the ACLs a new inode inherits (ext4_init_acl): the
// default ACL first, then the access ACL.
func (h *handle) setNewACLs(ip *inode, acls newACLs, now abi.Timespec) error {
	if acls.def != nil {
		if err := h.setXattr(ip, disk.XattrIndexACLDef, "", aclToDisk(acls.def), abi.XATTR_CREATE, now); err != nil {
			return err
		}
	}
	if acls.acc != nil {
		return h.setXattr(ip, disk.XattrIndexACLAcc, "", aclToDisk(acls.acc), abi.XATTR_CREATE, now)
	}
	return nil
}

// aclChmod is posix_acl_chmod, after a chmod of ip: its access ACL, if it
// has one, takes the new owner and other permissions, and the group ones
// in its MASK entry (GROUP_OBJ without one); named entries stay.
func (h *handle) aclChmod(ip *inode, now abi.Timespec) error {
	if !ip.hasACLs() {
		return nil
	}
	acl, err := ip.getACL(disk.XattrIndexACLAcc)
	if err != nil || acl == nil {
		return err
	}
	mode := uint16(ip.mode)
	var group *aclEntry
	for j := range acl {
		switch e := &acl[j]; e.tag {
		case aclUserObj:
			e.perm = mode >> 6 & 7
		case aclGroupObj:
			if group == nil {
				group = e
			}
		case aclMask:
			group = e
		case aclOther:
			e.perm = mode & 7
		}
	}
	group.perm = mode >> 3 & 7
	return h.setXattr(ip, disk.XattrIndexACLAcc, "", aclToDisk(acl), abi.XATTR_REPLACE, now)
}
