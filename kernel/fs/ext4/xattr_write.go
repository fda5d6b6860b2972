package ext4

import (
	"bytes"
	"errors"
	"slices"
	"strings"

	disk "github.com/lklimg/lklimg/format/ext4"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// Writing extended attributes (fs/ext4/xattr.c ext4_xattr_set_handle,
// ext4_xattr_ibody_set, ext4_xattr_block_set, ext4_xattr_hash_entry,
// ext4_xattr_rehash; layouts in xattr.go).
//
// As Linux does, a value goes into the inode's own area when it fits there
// (and leaves the block if it was there), else into the block (and leaves
// the inode). Each area is rewritten whole from its list of entries:
// entries from the start, in the order they were made in the inode and
// sorted by (index, name length, name) in the block, as ext4 keeps them;
// then the four zero bytes ending the list; the values, each padded to four
// bytes, packed at the end. Every entry gets its e_hash, the block its
// h_hash and checksum.
//
// An xattr block with h_refcount above 1 is shared by several inodes
// (xattr_cache.go, as Linux's mbcache shares them; mkfs.ext4 -d does
// not): it is never changed in place; the inode gets another block, and
// the old one loses a reference (ext4_xattr_release_block). A block
// whose last entry goes is freed.
//
// Values too large for the block go to ea_inodes (xattr_eainode.go).
//
// POSIX ACLs arrive in the generic xattr form and are stored in ext4's
// (acl.go's reverse); an access ACL also sets the mode, as ext4_set_acl
// does. New inodes inherit their directory's default ACL (acl.go
// aclCreate, ext4_init_acl).

// xattrItem is an attribute to write, its value in the on-disk form.
type xattrItem struct {
	index uint8
	name  string
	value []byte
	// A value in an ea_inode: e_value_inum, e_value_size and e_hash
	// (value is nil).
	inum, size, ehash uint32
}

// xattrEntryLen is EXT4_XATTR_LEN: the room an entry with a name of n
// bytes takes.
func xattrEntryLen(n int) int { return (n + disk.XattrEntryHdrSize + 3) &^ 3 }

// xattrValueLen is EXT4_XATTR_SIZE: a value's room, padded.
func xattrValueLen(n int) int { return (n + 3) &^ 3 }

// splitXattrName maps a full name to its e_name_index and the rest, as the
// handlers of ext4_xattr_handlers do; false for a namespace ext4 does not
// store.
func splitXattrName(name string) (uint8, string, bool) {
	switch name {
	case "system.posix_acl_access":
		return disk.XattrIndexACLAcc, "", true
	case "system.posix_acl_default":
		return disk.XattrIndexACLDef, "", true
	}
	for _, p := range []struct {
		prefix string
		index  uint8
	}{{"user.", disk.XattrIndexUser}, {"trusted.", disk.XattrIndexTrusted}, {"security.", disk.XattrIndexSecurity}} {
		if rest, ok := strings.CutPrefix(name, p.prefix); ok && rest != "" {
			return p.index, rest, true
		}
	}
	return 0, "", false
}

// xattrHashEntry is ext4_xattr_hash_entry: the name's bytes (unsigned),
// then the value's 32-bit little-endian words, zero padded.
// entryHash is the item's e_hash: its name's and value's, or for a value
// in an ea_inode the hash the entry names it by (ext4_xattr_hash_entry
// with the ea_inode's value hash).
func (it *xattrItem) entryHash() uint32 {
	if it.inum != 0 {
		return it.ehash
	}
	return xattrHashEntry(it.name, it.value)
}

func xattrHashEntry(name string, value []byte) uint32 { return xattrHash(name, value, false) }

// xattrHashEntrySigned is ext4_xattr_hash_entry_signed: the name's bytes
// taken as signed chars, as kernels before 6.2 hashed them on x86.
func xattrHashEntrySigned(name string, value []byte) uint32 { return xattrHash(name, value, true) }

func xattrHash(name string, value []byte, signed bool) uint32 {
	const nameShift, valueShift = 5, 16
	var hash uint32
	for i := 0; i < len(name); i++ {
		c := uint32(name[i])
		if signed {
			c = uint32(int32(int8(name[i])))
		}
		hash = hash<<nameShift ^ hash>>(32-nameShift) ^ c
	}
	for i := 0; i < len(value); i += 4 {
		var w [4]byte
		copy(w[:], value[i:])
		hash = hash<<valueShift ^ hash>>(32-valueShift) ^ le.Uint32(w[:])
	}
	return hash
}

// xattrAreaFits reports whether items fit in an area of n bytes for
// entries, end marker and values.
func xattrAreaFits(items []xattrItem, n int) bool {
	used := 4 // the end marker
	for _, it := range items {
		used += xattrEntryLen(len(it.name)) + xattrValueLen(len(it.value))
	}
	return used <= n
}

// encodeXattrArea writes items into area: entries from start, values
// packed at the end, their offsets counted from valueBase. It returns the
// entries' hashes in order. The caller checked the fit.
func encodeXattrArea(area []byte, start, valueBase int, items []xattrItem) []uint32 {
	clear(area[start:])
	hashes := make([]uint32, len(items))
	off, vend := start, len(area)
	for i, it := range items {
		e := area[off:]
		e[0] = uint8(len(it.name))
		e[1] = it.index
		voff := 0
		if len(it.value) > 0 {
			vend -= xattrValueLen(len(it.value))
			copy(area[vend:], it.value)
			voff = vend - valueBase
		}
		le.PutUint16(e[2:], uint16(voff))
		le.PutUint32(e[4:], it.inum)
		if it.inum != 0 {
			le.PutUint32(e[8:], it.size)
		} else {
			le.PutUint32(e[8:], uint32(len(it.value)))
		}
		hashes[i] = it.entryHash()
		le.PutUint32(e[12:], hashes[i])
		copy(e[disk.XattrEntryHdrSize:], it.name)
		off += xattrEntryLen(len(it.name))
	}
	return hashes
}

// xattrItems copies decoded entries into items; one in an ea_inode keeps
// naming it, and needs the ea_inode feature.
func (ip *inode) xattrItems(ents []disk.XattrEntry) ([]xattrItem, error) {
	items := make([]xattrItem, 0, len(ents)+1)
	for _, e := range ents {
		if e.Inum != 0 {
			if !ip.f.Super.HasIncompat(disk.IncompatEAInode) {
				return nil, abi.Errorf(abi.EUCLEAN, "ext4: inode %d: xattr %s in ea_inode %d without the ea_inode feature", ip.ino, e.FullName(), e.Inum)
			}
			items = append(items, xattrItem{index: e.Index, name: e.Name, inum: e.Inum, size: e.Size, ehash: e.Hash})
			continue
		}
		items = append(items, xattrItem{index: e.Index, name: e.Name, value: bytes.Clone(e.Value)})
	}
	return items, nil
}

// findItem returns the index of (index, name) in items, or -1.
func findItem(items []xattrItem, index uint8, name string) int {
	return slices.IndexFunc(items, func(it xattrItem) bool { return it.index == index && it.name == name })
}

// xattrCmp orders block entries as ext4_xattr_find_entry expects them.
func xattrCmp(a, b xattrItem) int {
	if a.index != b.index {
		return int(a.index) - int(b.index)
	}
	if len(a.name) != len(b.name) {
		return len(a.name) - len(b.name)
	}
	return strings.Compare(a.name, b.name)
}

// ibodyLayout returns the inode's slot in the table (in the handle) and
// where its in-inode xattr area starts, or a nil slot when the inode has
// no such area (128-byte inodes, or i_extra_isize 0: ext4_xattr_ibody_set's
// ENOSPC).
func (h *handle) ibodyLayout(ip *inode) (slot []byte, start int, err error) {
	f := h.f
	if f.InodeSize <= disk.GoodOldInodeSize {
		return nil, 0, nil
	}
	slot, err = h.inodeSlot(ip.ino)
	if err != nil {
		return nil, 0, err
	}
	extra := int(f.ExtraIsize(slot))
	start = disk.GoodOldInodeSize + extra
	if extra == 0 || start+4+4 > len(slot) {
		return nil, 0, nil
	}
	return slot, start, nil
}

// writeIbody rewrites the in-inode area with items (which fit).
func (h *handle) writeIbody(ip *inode, slot []byte, start int, items []xattrItem) {
	area := slot[start:]
	if len(items) == 0 {
		clear(area)
		ip.ibody = nil
		return
	}
	le.PutUint32(area, disk.XattrMagic)
	encodeXattrArea(area, 4, 4, items)
	ip.ibody = bytes.Clone(area)
}

// xattrBlockGoal is where ext4_xattr_block_set looks for a block: the
// first block of the inode's group.
func (f *fsys) xattrBlockGoal(ip *inode) uint64 {
	g := uint64((ip.ino - 1) / f.Super.SInodesPerGroup)
	return g*uint64(f.Super.SBlocksPerGroup) + uint64(f.Super.SFirstDataBlock)
}

// setXattrBlockCsum sets h_hash (ext4_xattr_rehash) and h_checksum
// (ext4_xattr_block_csum) of block blk.
func (f *fsys) setXattrBlockCsum(b []byte, blk uint64, hashes []uint32) {
	le.PutUint32(b[12:], xattrBlockHash(hashes))
	f.setXattrCsumOnly(b, blk)
}

// setXattrCsumOnly sets h_checksum of block blk alone, after a change that
// leaves the hashes as they are (h_refcount).
func (f *fsys) setXattrCsumOnly(b []byte, blk uint64) {
	if f.Super.MetadataCsum() {
		le.PutUint32(b[disk.OffXattrHChecksum:], f.XattrBlockCsum(b, blk))
	}
}

// writeXattrBlock makes the inode's block hold items (sorted, fitting):
// a block of the cache that holds the same is shared (xattr_cache.go);
// else the inode's own block is rewritten in place when the inode is its
// only user, or a new block is written; with no items the inode's
// reference goes (releaseXattrBlock).
func (h *handle) writeXattrBlock(ip *inode, items []xattrItem) error {
	f := h.f
	if len(items) == 0 {
		return h.releaseXattrBlock(ip)
	}
	old := ip.fileACL
	blk := old
	if old != 0 {
		b, err := h.metaBlock(old)
		if err != nil {
			return err
		}
		if le.Uint32(b[4:]) > 1 {
			blk = 0 // shared: copy on write
		} else {
			// Changed in place: no longer what the cache says.
			f.xcache.remove(le.Uint32(b[12:]), old)
		}
	}
	hashes := make([]uint32, len(items))
	for i, it := range items {
		hashes[i] = it.entryHash()
	}
	hash := xattrBlockHash(hashes)
	shared, err := h.findSharedXattrBlock(hash, items)
	if err != nil || shared == old && old != 0 {
		return err
	}
	if shared != 0 {
		return h.shareXattrBlock(ip, shared)
	}
	var b []byte
	var was []xattrItem // the ea_inodes the block named before
	if blk == 0 {
		if blk, err = h.allocBlock(ip, f.xattrBlockGoal(ip)); err != nil {
			return err
		}
		b, err = h.newMetaBlock(blk)
	} else if b, err = h.metaBlock(blk); err == nil {
		was, err = h.blockEAItems(ip, b, blk)
	}
	if err != nil {
		return err
	}
	if err := h.eaRefDelta(ip, was, items, ip.ctime); err != nil {
		return err
	}
	clear(b)
	le.PutUint32(b[0:], disk.XattrMagic)
	le.PutUint32(b[4:], 1) // h_refcount
	le.PutUint32(b[8:], 1) // h_blocks
	encodeXattrArea(b, disk.XattrBlockHdrSize, 0, items)
	f.setXattrBlockCsum(b, blk, hashes)
	f.xcache.insert(hash, blk)
	if blk != old {
		if err := h.releaseXattrBlock(ip); err != nil {
			return err
		}
		ip.fileACL = blk
	}
	return nil
}

// shareXattrBlock makes ip use block blk, which holds what ip's block
// must: one more reference in its h_refcount, a block more in ip's
// i_blocks, and ip's old block released (the "reusing" case of
// ext4_xattr_block_set).
func (h *handle) shareXattrBlock(ip *inode, blk uint64) error {
	f := h.f
	b, err := h.metaBlock(blk)
	if err != nil {
		return err
	}
	ea, err := h.blockEAItems(ip, b, blk)
	if err != nil {
		return err
	}
	le.PutUint32(b[4:], le.Uint32(b[4:])+1)
	f.setXattrCsumOnly(b, blk)
	// A whole cluster under bigalloc, and the values of the block's
	// ea_inodes, which every inode sharing it is charged (e2fsck's
	// check_ext_attr on a block seen before).
	ip.blocks += f.ClusterSectors() + f.eaCharge(ea)
	if err := h.chargeEARefs(ip, len(ea)); err != nil {
		return err
	}
	if err := h.releaseXattrBlock(ip); err != nil {
		return err
	}
	ip.fileACL = blk
	return nil
}

// setXattr sets (value != nil) or removes (value == nil) one attribute,
// with the flags of setxattr(2) (ext4_xattr_set_handle).
func (h *handle) setXattr(ip *inode, index uint8, name string, value []byte, flags int, now abi.Timespec) (err error) {
	f := h.f
	inEnts, err := ip.ibodyXattrs()
	if err != nil {
		return err
	}
	blkEnts, err := ip.blockXattrs()
	if err != nil {
		return err
	}
	in, err := ip.xattrItems(inEnts)
	if err != nil {
		return err
	}
	blk, err := ip.xattrItems(blkEnts)
	if err != nil {
		return err
	}
	ii, bi := findItem(in, index, name), findItem(blk, index, name)
	exists := ii >= 0 || bi >= 0
	switch {
	case flags&abi.XATTR_CREATE != 0 && exists:
		return abi.EEXIST
	case flags&abi.XATTR_REPLACE != 0 && !exists:
		return abi.ENODATA
	case value == nil && !exists:
		return abi.ENODATA
	}
	if value != nil && (ii >= 0 && in[ii].inum == 0 && bytes.Equal(in[ii].value, value) ||
		bi >= 0 && blk[bi].inum == 0 && bytes.Equal(blk[bi].value, value)) {
		return nil // the value did not change: nothing to write
	}
	slot, start, err := h.ibodyLayout(ip)
	if err != nil {
		return err
	}
	item := xattrItem{index: index, name: name, value: value}
	without := func(items []xattrItem, i int) []xattrItem {
		if i < 0 {
			return items
		}
		return slices.Delete(slices.Clone(items), i, i+1)
	}
	// place puts item in the inode if it fits there, else in the block,
	// leaving the inode.
	place := func(item xattrItem) (newIn, newBlk []xattrItem, err error) {
		newIn = slices.Clone(in)
		if ii >= 0 {
			newIn[ii] = item
		} else {
			newIn = append(newIn, item)
		}
		newBlk = without(blk, bi)
		if slot == nil || !xattrAreaFits(newIn, len(slot)-start-4) {
			// Then in the block, leaving the inode; the other in-inode
			// attributes stay, system.data of inline data above all
			// (inline_write.go).
			newIn = without(in, ii)
			newBlk = slices.Clone(blk)
			if bi >= 0 {
				newBlk[bi] = item
			} else {
				newBlk = append(newBlk, item)
			}
			slices.SortStableFunc(newBlk, xattrCmp)
			if !xattrAreaFits(newBlk, int(f.BlockSize)-disk.XattrBlockHdrSize) || f.eaBlockReserved(newBlk, item) {
				return nil, nil, abi.Errorf(abi.ENOSPC, "ext4: inode %d: no room for xattr %q (%d bytes)", ip.ino, name, len(value))
			}
		}
		return newIn, newBlk, nil
	}
	var newIn, newBlk []xattrItem
	// The ea_inode the value goes to, new or found holding the value,
	// is held by a reference of its own until both areas are written:
	// the entry moving from the block to the inode with the same
	// ea_inode drops the block's reference before the inode's is taken,
	// which must not free it. Dropped at the end, it frees an ea_inode
	// that nothing names.
	var fresh *xattrItem
	defer func() {
		if fresh != nil {
			if e := h.eaAddRef(fresh.inum, -1, now); err == nil {
				err = e
			}
		}
	}()
	toEAInode := func() error {
		it, err := h.newEAInode(ip, item, now)
		if err != nil {
			return err
		}
		if err := h.eaAddRef(it.inum, 1, now); err != nil {
			return err
		}
		item, fresh = it, &it
		return nil
	}
	switch {
	case value == nil:
		newIn, newBlk = without(in, ii), without(blk, bi)
	default:
		if f.eaLargeValue(len(value)) {
			if err := toEAInode(); err != nil {
				return err
			}
		}
		newIn, newBlk, err = place(item)
		if errors.Is(err, abi.ENOSPC) && fresh == nil && len(value) > 0 && f.Super.HasIncompat(disk.IncompatEAInode) {
			// ext4_xattr_set_handle: in neither, the value goes to
			// an ea_inode and the entry is placed again.
			if err := toEAInode(); err != nil {
				return err
			}
			newIn, newBlk, err = place(item)
		}
		if err != nil {
			return err
		}
	}
	if !slices.EqualFunc(newBlk, blk, xattrItemEqual) {
		if err := h.writeXattrBlock(ip, newBlk); err != nil {
			return err
		}
	}
	if slot != nil && !slices.EqualFunc(newIn, in, xattrItemEqual) {
		if err := h.eaRefDelta(ip, in, newIn, now); err != nil {
			return err
		}
		h.writeIbody(ip, slot, start, newIn)
	}
	ip.ctime = now
	return h.writeInode(ip)
}

func xattrItemEqual(a, b xattrItem) bool {
	return a.index == b.index && a.name == b.name && bytes.Equal(a.value, b.value) && a.inum == b.inum
}

// Setxattr sets an attribute (vfs.XattrWriter; ext4_xattr_set). Errors:
// EOPNOTSUPP for a namespace ext4 does not store, ERANGE for a name longer
// than 255 bytes, E2BIG for a value over XATTR_SIZE_MAX, EEXIST and
// ENODATA for XATTR_CREATE and XATTR_REPLACE, ENOSPC when it fits neither
// in the inode nor in the block, EINVAL for a malformed ACL, EACCES for a
// default ACL on a file that is not a directory, EOPNOTSUPP for an ACL on
// a symlink or on a mount without ACLs (hasACLs).
func (ip *inode) Setxattr(ctx vfs.Ctx, name string, value []byte, flags int) error {
	index, suffix, ok := splitXattrName(name)
	if !ok || isACLName(name) && !ip.hasACLs() {
		return abi.EOPNOTSUPP
	}
	if len(suffix) > abi.XATTR_NAME_MAX {
		return abi.ERANGE
	}
	if len(value) > abi.XATTR_SIZE_MAX {
		return abi.E2BIG
	}
	if value == nil {
		value = []byte{}
	}
	h, err := ip.f.begin()
	if err != nil {
		return err
	}
	if index == disk.XattrIndexACLAcc || index == disk.XattrIndexACLDef {
		return finish(h, h.setACL(ip, index, value, flags, ctx.Now))
	}
	return finish(h, h.setXattr(ip, index, suffix, value, flags, ctx.Now))
}

// Removexattr removes an attribute (ext4_xattr_set with no value), or
// returns ENODATA.
func (ip *inode) Removexattr(ctx vfs.Ctx, name string) error {
	index, suffix, ok := splitXattrName(name)
	if !ok || isACLName(name) && !ip.hasACLs() {
		return abi.EOPNOTSUPP
	}
	h, err := ip.f.begin()
	if err != nil {
		return err
	}
	return finish(h, h.setXattr(ip, index, suffix, nil, 0, ctx.Now))
}

// setACL sets a POSIX ACL from its xattr form (ext4_set_acl): an access
// ACL sets the mode's permission bits, and is not stored when the mode
// says all it says (posix_acl_update_mode); an empty one removes the ACL.
func (h *handle) setACL(ip *inode, index uint8, value []byte, flags int, now abi.Timespec) error {
	ents, err := parseACLXattr(value)
	if err != nil {
		return err
	}
	if index == disk.XattrIndexACLDef && !ip.isDir() {
		if ents == nil {
			return nil
		}
		return abi.EACCES
	}
	mode, equiv := uint32(ip.mode), false
	if index == disk.XattrIndexACLAcc && ents != nil {
		mode, equiv = aclEquivMode(ents, mode)
		if equiv {
			ents = nil
		}
	}
	if ents == nil {
		err = h.setXattr(ip, index, "", nil, 0, now)
		if errors.Is(err, abi.ENODATA) && flags&abi.XATTR_REPLACE == 0 {
			err = nil
		}
	} else {
		err = h.setXattr(ip, index, "", aclToDisk(ents), flags, now)
	}
	if err != nil || mode == uint32(ip.mode) {
		return err
	}
	ip.mode = uint16(mode)
	ip.ctime = now
	return h.writeInode(ip)
}

// aclEntry is one entry of a POSIX ACL.
type aclEntry struct {
	tag, perm uint16
	id        uint32
}

// parseACLXattr decodes and checks the xattr form of an ACL
// (posix_acl_from_xattr, posix_acl_valid); nil for an empty ACL.
// EOPNOTSUPP for another version, EINVAL for a malformed ACL.
func parseACLXattr(v []byte) ([]aclEntry, error) {
	if len(v) < posixACLHeaderSize || (len(v)-posixACLHeaderSize)%posixACLEntrySize != 0 {
		return nil, abi.Errorf(abi.EINVAL, "ext4: ACL of %d bytes", len(v))
	}
	if ver := le.Uint32(v); ver != posixACLXattrVer {
		return nil, abi.Errorf(abi.EOPNOTSUPP, "ext4: ACL version %d", ver)
	}
	v = v[posixACLHeaderSize:]
	if len(v) == 0 {
		return nil, nil
	}
	ents := make([]aclEntry, 0, len(v)/posixACLEntrySize)
	// The entries must come in the order USER_OBJ, USER..., GROUP_OBJ,
	// GROUP..., MASK, OTHER, with MASK present when USER or GROUP is.
	const (
		sUserObj = iota
		sUser
		sGroup
		sOther
		sDone
	)
	state, needsMask := sUserObj, false
	for ; len(v) > 0; v = v[posixACLEntrySize:] {
		e := aclEntry{tag: le.Uint16(v[0:]), perm: le.Uint16(v[2:]), id: le.Uint32(v[4:])}
		if e.perm&^7 != 0 {
			return nil, abi.Errorf(abi.EINVAL, "ext4: ACL entry with permissions %#o", e.perm)
		}
		ok := false
		switch e.tag {
		case aclUserObj:
			ok, state = state == sUserObj, sUser
		case aclUser:
			ok, needsMask = state == sUser, true
		case aclGroupObj:
			ok, state = state == sUser, sGroup
		case aclGroup:
			ok, needsMask = state == sGroup, true
		case aclMask:
			ok, state = state == sGroup, sOther
		case aclOther:
			ok = state == sOther || state == sGroup && !needsMask
			state = sDone
		}
		if !ok {
			return nil, abi.Errorf(abi.EINVAL, "ext4: ACL entry with tag %#x out of place", e.tag)
		}
		ents = append(ents, e)
	}
	if state != sDone {
		return nil, abi.Errorf(abi.EINVAL, "ext4: ACL without an OTHER entry")
	}
	return ents, nil
}

// aclEquivMode is posix_acl_equiv_mode: the mode with its permission bits
// from the ACL, and whether the ACL says no more than they do.
func aclEquivMode(ents []aclEntry, mode uint32) (uint32, bool) {
	var perm uint32
	equiv := true
	for _, e := range ents {
		p := uint32(e.perm)
		switch e.tag {
		case aclUserObj:
			perm |= p << 6
		case aclGroupObj:
			perm |= p << 3
		case aclOther:
			perm |= p
		case aclMask:
			perm = perm&^0o070 | p<<3
			equiv = false
		default:
			equiv = false
		}
	}
	return mode&^0o777 | perm, equiv
}

// aclToDisk encodes an ACL in ext4's on-disk form (ext4_acl_to_disk), the
// reverse of aclToXattr: short entries for the tags without an id.
func aclToDisk(ents []aclEntry) []byte {
	out := make([]byte, 4, 4+len(ents)*ext4ACLFullSize)
	le.PutUint32(out, ext4ACLVersion)
	for _, e := range ents {
		out = le.AppendUint16(out, e.tag)
		out = le.AppendUint16(out, e.perm)
		if e.tag == aclUser || e.tag == aclGroup {
			out = le.AppendUint32(out, e.id)
		}
	}
	return out
}
