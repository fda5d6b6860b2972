package ext4

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"slices"

	disk "github.com/lklimg/lklimg/format/ext4"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// Values in ea_inodes (INCOMPAT_EA_INODE; fs/ext4/xattr.c
// ext4_xattr_inode_create, ext4_xattr_inode_update_ref,
// ext4_xattr_set_handle; Documentation/filesystems/ext4/attributes.rst).
//
// A value too large for the attribute block lives in an inode of its own,
// flagged EXT4_EA_INODE_FL: a regular file (mode 0600, owned as the inode
// whose value it is) whose data is the value and i_size its size. Its
// entry holds no value bytes: e_value_inum names the inode, e_value_size
// the size, and e_hash is the entry hash of the name and of the inode's
// hash of the value (crc32c from s_csum_seed) in place of the value. The
// ea_inode keeps that hash in i_atime, and how many entries name it in
// i_ctime (the high 32 bits) and i_version (the low 32, l_i_version),
// since Linux shares one ea_inode between equal values. When the count
// drops to zero the inode is freed.
//
// As in ext4_xattr_set_handle, a value whose padded size is above
// EXT4_XATTR_MIN_LARGE_EA_SIZE (a block less its header, one entry with
// a 3-byte name and the end marker) goes to an ea_inode at once; a
// smaller one goes there when it fits neither in the inode nor in the
// block, where values must leave EXT4_XATTR_BLOCK_RESERVE free
// (eaBlockReserved). Every area written counts the entries naming each
// ea_inode before and after (eaRefDelta); an attribute block dropped with
// its last user drops its entries' references too. As Linux finds an
// ea_inode with the value in its mbcache (ext4_xattr_inode_cache_find),
// a value equal to one an ea_inode made by this mount holds takes a
// reference to it instead of a new ea_inode (Linux's cache also holds
// the ea_inodes it read; this one does not).

// offIVersion is l_i_version, osd1 of struct ext4_inode for Linux.
const offIVersion = 0x24

// eaLargeValue reports whether a value of n bytes goes to an ea_inode
// straight away (EXT4_XATTR_MIN_LARGE_EA_SIZE).
func (f *fsys) eaLargeValue(n int) bool {
	return f.Super.HasIncompat(disk.IncompatEAInode) &&
		xattrValueLen(n) > int(f.BlockSize)-xattrEntryLen(3)-disk.XattrBlockHdrSize-4
}

// eaBlockReserved reports whether putting item's value in the attribute
// block, making it hold items, leaves less than EXT4_XATTR_BLOCK_RESERVE
// (an eighth of the block, at most 1 KiB) before the values: with
// ea_inode, ext4_xattr_set_entry then refuses (ENOSPC) so that the value
// goes to an ea_inode and the block keeps room for entries.
func (f *fsys) eaBlockReserved(items []xattrItem, item xattrItem) bool {
	if !f.Super.HasIncompat(disk.IncompatEAInode) || item.inum != 0 || len(item.value) == 0 {
		return false
	}
	free := int(f.BlockSize)
	for _, it := range items {
		free -= xattrValueLen(len(it.value))
	}
	return free < min(int(f.BlockSize)/8, 1024)
}

// eaValueHash is ext4_xattr_inode_hash: crc32c of the value from
// s_csum_seed, which ext4_fill_super computes for ea_inode as for
// metadata_csum.
func (f *fsys) eaValueHash(v []byte) uint32 {
	if f.Super.MetadataCsum() {
		return disk.Csum32(f.CrcTab, f.CsumSeed, v)
	}
	tab := crc32.MakeTable(crc32.Castagnoli) // Go keeps this table
	seed := f.Super.SChecksumSeed
	if !f.Super.HasIncompat(disk.IncompatCsumSeed) {
		seed = disk.Csum32(tab, ^uint32(0), f.Super.SUUID[:])
	}
	return disk.Csum32(tab, seed, v)
}

// eaEntryHash is e_hash of an entry whose value is in an ea_inode with
// value hash hash (ext4_xattr_set_entry feeds the hash as the value).
func eaEntryHash(name string, hash uint32) uint32 {
	var w [4]byte
	binary.LittleEndian.PutUint32(w[:], hash)
	return xattrHashEntry(name, w[:])
}

// newEAInode stores item's value in a new ea_inode, with no reference
// yet (the area that takes the entry adds it), and returns the item that
// names it.
func (h *handle) newEAInode(ip *inode, item xattrItem, now abi.Timespec) (xattrItem, error) {
	f := h.f
	hash := f.eaValueHash(item.value)
	named := func(ino uint32) xattrItem {
		return xattrItem{index: item.index, name: item.name, inum: ino, size: uint32(len(item.value)),
			ehash: eaEntryHash(item.name, hash)}
	}
	if ea := h.eaFind(item.value, hash); ea != nil {
		return named(ea.ino), nil
	}
	root, err := f.iget(disk.RootIno)
	if err != nil {
		return item, err
	}
	// ext4_xattr_inode_create: made as a file in the root directory,
	// owned as the inode.
	ctx := vfs.Ctx{Uid: ip.uid, Gid: ip.gid, Now: now}
	ea, err := h.newInodeFlags(root, ctx, abi.S_IFREG|0o600, disk.InodeEAInodeFl)
	if err != nil {
		return item, err
	}
	if _, err := h.writeFile(ea, ctx, item.value, 0); err != nil {
		ea.links = 0
		h.deleteInode(ea)
		return item, err
	}
	// ext4_xattr_inode_set_hash: i_atime holds the hash's 32 bits, as
	// they are, not clamped as a time. Without the extra time fields
	// (128-byte inodes) a hash from 2^31 on is thus a time before 1970.
	ea.atime = abi.Timespec{Sec: int64(hash)}
	if !ea.hasCrtime { // i_atime_extra lies before i_crtime
		ea.atime.Sec = int64(int32(hash))
	}
	if err := h.setEARef(ea, 0); err != nil {
		return item, err
	}
	if f.eaCache == nil {
		f.eaCache = make(map[uint32][]uint32)
	}
	f.eaCache[hash] = append(f.eaCache[hash], ea.ino)
	return named(ea.ino), nil
}

// eaFind returns an ea_inode of eaCache holding value, or nil.
func (h *handle) eaFind(value []byte, hash uint32) *inode {
	var buf []byte
	for _, ino := range h.f.eaCache[hash] {
		ea, err := h.f.eaInodeOf(ino)
		if err != nil || ea.links == 0 || ea.size != int64(len(value)) {
			continue
		}
		if buf == nil {
			buf = make([]byte, len(value)) // at most XATTR_SIZE_MAX
		}
		if _, err := ea.readData(buf, 0); (err == nil || len(value) == 0) && bytes.Equal(buf, value) {
			return ea
		}
	}
	return nil
}

// eaInodeOf returns the ea_inode ino, or EUCLEAN when it is none.
func (f *fsys) eaInodeOf(ino uint32) (*inode, error) {
	if ino < f.Super.SFirstIno || ino > f.Super.SInodesCount {
		return nil, abi.Errorf(abi.EUCLEAN, "ext4: ea_inode %d: bad inode number", ino)
	}
	ea, err := f.igetFlags(ino, igetEAInode)
	if err != nil {
		return nil, err
	}
	if !ea.isReg() {
		return nil, abi.Errorf(abi.EUCLEAN, "ext4: inode %d: not an ea_inode", ino)
	}
	return ea, nil
}

// setEARef writes ea with reference count ref (ext4_xattr_inode_set_ref):
// the high half in i_ctime's seconds, the low half in l_i_version.
func (h *handle) setEARef(ea *inode, ref uint64) error {
	slot, err := h.inodeSlot(ea.ino)
	if err != nil {
		return err
	}
	le.PutUint32(slot[offIVersion:], uint32(ref))
	ea.ctime = abi.Timespec{Sec: int64(ref >> 32)}
	return h.writeInode(ea)
}

// eaAddRef adds d to the reference count of ea_inode ino, freeing it at
// zero (ext4_xattr_inode_update_ref; the inode's i_dtime is now).
func (h *handle) eaAddRef(ino uint32, d int, now abi.Timespec) error {
	ea, err := h.f.eaInodeOf(ino)
	if err != nil {
		return h.fail(err)
	}
	slot, err := h.inodeSlot(ino)
	if err != nil {
		return err
	}
	ref := uint64(uint32(ea.ctime.Sec))<<32 | uint64(le.Uint32(slot[offIVersion:]))
	switch n := int64(ref) + int64(d); {
	case n < 0:
		return h.fail(abi.Errorf(abi.EUCLEAN, "ext4: ea_inode %d: reference count %d below zero", ino, n))
	case n == 0:
		if c := h.f.eaCache; c != nil {
			hash := uint32(ea.atime.Sec)
			c[hash] = slices.DeleteFunc(c[hash], func(i uint32) bool { return i == ino })
		}
		ea.links, ea.ctime = 0, now
		return h.deleteInode(ea)
	default:
		return h.setEARef(ea, uint64(n))
	}
}

// eaRefDelta changes the reference counts of the ea_inodes named by an
// area of ip that held old and now holds new, and ip's i_blocks: Linux
// charges each entry's value to the inode whose entry it is, rounded up
// to a cluster, and one inode to its owners' quotas
// (ext4_xattr_inode_alloc_quota; e2fsck's check_large_ea_inode and the
// ea_ibody_quota/ea_block_quota inodes of check_blocks), as if the inode
// held it.
func (h *handle) eaRefDelta(ip *inode, old, new []xattrItem, now abi.Timespec) error {
	var d map[uint32]int
	count := func(items []xattrItem, by int) {
		for _, it := range items {
			if it.inum != 0 {
				if d == nil {
					d = make(map[uint32]int)
				}
				d[it.inum] += by
			}
		}
	}
	count(new, 1)
	count(old, -1)
	// Increments first: an inode cannot reach zero on its way.
	for _, up := range []bool{true, false} {
		for ino, n := range d {
			if n != 0 && n > 0 == up {
				if err := h.eaAddRef(ino, n, now); err != nil {
					return err
				}
			}
		}
	}
	ip.blocks += h.f.eaCharge(new) - h.f.eaCharge(old)
	return h.chargeEARefs(ip, eaRefs(new)-eaRefs(old))
}

// eaRefs is the number of items naming ea_inodes.
func eaRefs(items []xattrItem) int {
	n := 0
	for _, it := range items {
		if it.inum != 0 {
			n++
		}
	}
	return n
}

// chargeEARefs counts n entries naming ea_inodes more (or less) for ip's
// owners: each is one inode to the quotas, as Linux charges it to the
// inode whose entry it is (ext4_xattr_inode_alloc_quota) and e2fsck
// counts it (check_ext_attr's quota_inodes).
func (h *handle) chargeEARefs(ip *inode, n int) error {
	if n == 0 || h.f.quota == nil {
		return nil
	}
	raw, err := h.inodeSlot(ip.ino)
	if err != nil {
		return err
	}
	return h.chargeInode(ip, raw, int64(n))
}

// eaCharge is what the ea_inode values of items add to their inode's
// i_blocks, in 512-byte units.
func (f *fsys) eaCharge(items []xattrItem) int64 {
	cluster := int64(f.BlockSize)
	if f.Super.HasRoCompat(disk.RoCompatBigalloc) {
		cluster <<= f.Super.SLogClusterSize - f.Super.SLogBlockSize // checked by decodeSuperblock
	}
	var n int64
	for _, it := range items {
		if it.inum != 0 {
			n += (int64(it.size) + cluster - 1) / cluster * cluster >> 9
		}
	}
	return n
}

// eaItems returns the items naming ea_inodes among decoded entries.
func eaItems(ents []disk.XattrEntry) []xattrItem {
	var items []xattrItem
	for _, e := range ents {
		if e.Inum != 0 {
			items = append(items, xattrItem{index: e.Index, name: e.Name, inum: e.Inum, size: e.Size})
		}
	}
	return items
}

// blockEAItems returns the items naming ea_inodes in ip's attribute
// block blk, b: none without the ea_inode feature.
func (h *handle) blockEAItems(ip *inode, b []byte, blk uint64) ([]xattrItem, error) {
	if !h.f.Super.HasIncompat(disk.IncompatEAInode) {
		return nil, nil
	}
	ents, err := h.f.decodeXattrBlock(b, blk)
	if err != nil {
		return nil, h.fail(abi.Errorf(abi.EUCLEAN, "ext4: inode %d: xattr block %d: %v", ip.ino, blk, err))
	}
	return eaItems(ents), nil
}

// dropIbodyEARefs drops the references of the inode's own entries, as
// ext4_xattr_delete_inode does for an inode being freed.
func (h *handle) dropIbodyEARefs(ip *inode) error {
	ents, err := ip.ibodyXattrs()
	if err != nil || len(ents) == 0 {
		return err
	}
	return h.eaRefDelta(ip, eaItems(ents), nil, ip.ctime)
}
