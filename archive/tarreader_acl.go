package archive

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// POSIX ACLs given as text (SCHILY.acl.access, SCHILY.acl.default), as
// star, bsdtar and GNU tar --acls write them, turned into the value of the
// system.posix_acl_* xattr the kernel stores (include/uapi/linux/
// posix_acl_xattr.h: a header {a_version u32 = 2}, then entries {e_tag
// u16, e_perm u16, e_id u32}, sorted by tag, then id, as the kernel's
// posix_acl_valid requires).
//
// The text is acl_to_text's (acl(5), "LONG TEXT FORM"), entries separated
// by newlines (GNU tar) or commas (star, bsdtar): "tag:qualifier:perms",
// with star's extension of the numeric id as a fourth field
// ("user:joe:rwx:1000"); comments ("#effective:r--") are dropped. A
// qualifier is used as the id when it is a number; a name without a
// number cannot be resolved here (the names of the image are not the
// host's), and is an error.
const (
	aclXattrVersion = 2
	aclTagUserObj   = 0x01
	aclTagUser      = 0x02
	aclTagGroupObj  = 0x04
	aclTagGroup     = 0x08
	aclTagMask      = 0x10
	aclTagOther     = 0x20
	aclUndefinedID  = math.MaxUint32
)

type aclEntry struct {
	tag, perm uint16
	id        uint32
}

// aclXattr converts an ACL's text to its xattr value. For an access ACL
// (access) holding only the owner, group and other entries, which the
// mode bits say already, it returns nil: Linux stores no xattr for it.
func aclXattr(text string, access bool) ([]byte, error) {
	var entries []aclEntry
	for _, f := range strings.FieldsFunc(text, func(r rune) bool { return r == ',' || r == '\n' }) {
		if i := strings.IndexByte(f, '#'); i >= 0 {
			f = f[:i]
		}
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		e, err := parseACLEntry(f)
		if err != nil {
			return nil, err
		}
		if len(entries) >= 1024 {
			return nil, errors.New("too many ACL entries")
		}
		entries = append(entries, e)
	}
	if len(entries) == 0 {
		return nil, nil
	}
	slices.SortFunc(entries, func(a, b aclEntry) int {
		if a.tag != b.tag {
			return int(a.tag) - int(b.tag)
		}
		switch {
		case a.id < b.id:
			return -1
		case a.id > b.id:
			return 1
		}
		return 0
	})
	if access && len(entries) == 3 && entries[0].tag == aclTagUserObj &&
		entries[1].tag == aclTagGroupObj && entries[2].tag == aclTagOther {
		return nil, nil
	}
	out := make([]byte, 4, 4+8*len(entries))
	binary.LittleEndian.PutUint32(out, aclXattrVersion)
	for _, e := range entries {
		out = binary.LittleEndian.AppendUint16(out, e.tag)
		out = binary.LittleEndian.AppendUint16(out, e.perm)
		out = binary.LittleEndian.AppendUint32(out, e.id)
	}
	return out, nil
}

// parseACLEntry parses one "tag:qualifier:perms[:id]".
func parseACLEntry(s string) (aclEntry, error) {
	f := strings.Split(s, ":")
	if len(f) < 2 || len(f) > 4 {
		return aclEntry{}, fmt.Errorf("ACL entry %q", s)
	}
	// "mask:rwx" and "other:r-x" may leave out the empty qualifier.
	if len(f) == 2 {
		f = []string{f[0], "", f[1]}
	}
	e := aclEntry{id: aclUndefinedID}
	named := f[1] != ""
	switch f[0] {
	case "user", "u":
		e.tag = aclTagUserObj
		if named {
			e.tag = aclTagUser
		}
	case "group", "g":
		e.tag = aclTagGroupObj
		if named {
			e.tag = aclTagGroup
		}
	case "mask", "m":
		e.tag = aclTagMask
	case "other", "o":
		e.tag = aclTagOther
	default:
		return aclEntry{}, fmt.Errorf("ACL entry %q: unknown tag", s)
	}
	for _, c := range f[2] {
		switch c {
		case 'r':
			e.perm |= 4
		case 'w':
			e.perm |= 2
		case 'x':
			e.perm |= 1
		case '-':
		default:
			return aclEntry{}, fmt.Errorf("ACL entry %q: bad permissions", s)
		}
	}
	if e.tag == aclTagUser || e.tag == aclTagGroup {
		idText := f[1]
		if len(f) == 4 {
			idText = f[3]
		}
		id, err := strconv.ParseUint(idText, 10, 32)
		if err != nil || id == aclUndefinedID {
			return aclEntry{}, fmt.Errorf("ACL entry %q names %q without its number "+
				"(GNU tar --acls writes names; with --xattrs --xattrs-include='*' it also keeps the ACL's numbers)", s, f[1])
		}
		e.id = uint32(id)
	}
	return e, nil
}
