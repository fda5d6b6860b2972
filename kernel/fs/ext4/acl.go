package ext4

import (
	"encoding/binary"

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
