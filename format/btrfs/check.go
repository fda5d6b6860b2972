package btrfs

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/bits"

	"github.com/lklimg/lklimg/kernel/abi"
)

// The read-time tree-checker (fs/btrfs/tree-checker.c, check_leaf_item
// and the checkers it calls): Linux checks every item of a leaf when it
// reads the leaf from disk, and refuses the whole leaf (the read fails,
// EIO to the caller) when one item is bad, whatever item the reader
// wanted. A reader that showed the leaf's other items would show what
// Linux cannot, so CheckItems runs the same checks on each leaf read.
// Only what an item holds is checked (and its neighbour in the leaf),
// never another block, as Linux's checker.

// More item types (btrfs_tree.h) the checker knows.
const (
	ExtentItemKey      = 168
	MetadataItemKey    = 169
	ExtentOwnerRefKey  = 172
	TreeBlockRefKey    = 176
	ExtentDataRefKey   = 178
	SharedBlockRefKey  = 182
	SharedDataRefKey   = 184
	BlockGroupItemKey  = 192
	DevExtentKey       = 204
	DevItemKey         = 216
	DevItemsObjectid   = 1          // the objectid of every DEV_ITEM key
	TreeRelocObjectid  = ^uint64(7) // BTRFS_TREE_RELOC_OBJECTID, -8
	DataRelocObjectid  = ^uint64(8) // BTRFS_DATA_RELOC_TREE_OBJECTID, -9
	FreeInoObjectid    = ^uint64(11)
	DevTreeObjectid    = 4
	ExtentTreeObjectid = 2
)

// Extent item flags (BTRFS_EXTENT_FLAG_*) and block group types.
const (
	ExtentFlagData        = 1 << 0
	ExtentFlagTreeBlock   = 1 << 1
	ExtentFlagFullBackref = 1 << 8

	blockGroupTypeMask    = BlockGroupData | BlockGroupSystem | BlockGroupMetadata
	blockGroupProfileMask = BlockGroupRAID0 | BlockGroupRAID1 | BlockGroupDUP | BlockGroupRAID10 |
		BlockGroupRAID5 | BlockGroupRAID6 | BlockGroupRAID1C3 | BlockGroupRAID1C4
)

// inodeFlagMask is BTRFS_INODE_FLAG_MASK: the inode flags Linux knows
// (the low 32 bits; the high ones are read-only-compatible flags, which
// a read-only mount accepts unknown), with BTRFS_INODE_ROOT_ITEM_INIT.
const inodeFlagMask = 1<<12 - 1 | 1<<31

// rootFlagMask is the root item flags check_root_item accepts:
// BTRFS_ROOT_SUBVOL_RDONLY and BTRFS_ROOT_SUBVOL_DEAD.
const rootFlagMask = RootSubvolRdonly | 1<<48

// Sizes the checker needs: struct btrfs_extent_item (refs, generation,
// flags), btrfs_tree_block_info (key, level), btrfs_extent_inline_ref's
// header (type, offset), btrfs_extent_data_ref (root, objectid, offset,
// count), btrfs_block_group_item, btrfs_inode_ref's header.
const (
	extentItemSize    = 24
	treeBlockInfoSize = KeySize + 1
	inlineRefSize     = 9
	extentDataRefSize = 28
	blockGroupSize    = 24
	inodeRefSize      = 10
	inodeExtrefSize   = 18
)

// CheckContext is what the checker needs of the superblock.
type CheckContext struct {
	SectorSize uint32
	NodeSize   uint32
	CsumSize   int
	// Generation is the superblock's: items may be one ahead (the log).
	Generation uint64
	// SkinnyMetadata: METADATA_ITEMs are allowed.
	SkinnyMetadata bool
}

// NewCheckContext returns the checker's context for sb.
func NewCheckContext(sb *SuperBlock) CheckContext {
	var sum [CsumSize]byte
	return CheckContext{
		SectorSize:     sb.SectorSize,
		NodeSize:       sb.NodeSize,
		CsumSize:       Checksum(sb.CsumType, nil, &sum),
		Generation:     sb.Generation,
		SkinnyMetadata: sb.IncompatFlags&IncompatSkinnyMetadata != 0,
	}
}

// IsFsTree is is_fstree: the top-level subvolume or a subvolume id (not
// a qgroup level, not one of the negative special trees).
func IsFsTree(id uint64) bool {
	return id == FsTreeObjectid || id >= FirstFreeObjectid && id>>48 == 0
}

// CheckItems checks every item of leaf n as Linux's tree-checker does
// on read (check_leaf with its item checkers): EUCLEAN naming the slot
// and what is wrong. A node (level > 0) has no items to check.
func (n *Node) CheckItems(c CheckContext) error {
	if n.Level > 0 {
		return nil
	}
	if n.Nritems == 0 {
		// These trees are never empty (check_leaf).
		switch n.Owner {
		case RootTreeObjectid, ChunkTreeObjectid, DevTreeObjectid, FsTreeObjectid, DataRelocObjectid:
			return abi.Errorf(abi.EUCLEAN, "btrfs: corrupt leaf: root=%d block=%d, invalid root, root %d must never be empty", n.Owner, n.Bytenr, n.Owner)
		}
		return nil
	}
	var prev Key
	for i := 0; i < int(n.Nritems); i++ {
		it := n.Item(i)
		if err := c.checkItem(n, i, it, prev); err != nil {
			return abi.Errorf(abi.EUCLEAN, "btrfs: corrupt leaf: root=%d block=%d slot=%d key %v, %v", n.Owner, n.Bytenr, i, it.Key, err)
		}
		prev = it.Key
	}
	return nil
}

// checkErr is an item's fault, the leaf's message around it.
type checkErr string

func (e checkErr) Error() string { return string(e) }

func bad(format string, args ...any) error { return checkErr(fmt.Sprintf(format, args...)) }

// checkItem is check_leaf_item: the checker of item it's type (slot i,
// after the item of key prev).
func (c CheckContext) checkItem(n *Node, i int, it Item, prev Key) error {
	k := it.Key
	switch k.Type {
	case ExtentDataKey, DirItemKey, DirIndexKey, XattrItemKey, InodeRefKey:
		// check_prev_ino: in a subvolume's tree an inode's items follow
		// its INODE_ITEM, so the previous key has the same objectid.
		if i > 0 && IsFsTree(n.Owner) && prev.Objectid != k.Objectid {
			return bad("invalid previous key objectid, have %d expect %d", prev.Objectid, k.Objectid)
		}
	}
	switch k.Type {
	case ExtentDataKey:
		return c.checkExtentData(it, prev, n, i)
	case ExtentCsumKey:
		return c.checkCsum(it, prev, n, i)
	case DirItemKey, DirIndexKey, XattrItemKey:
		return c.checkDirItem(it)
	case InodeRefKey:
		return checkRefs(it.Data, inodeRefSize, 8)
	case InodeExtrefKey:
		return checkRefs(it.Data, inodeExtrefSize, 16)
	case InodeItemKey:
		return c.checkInodeItem(it)
	case RootItemKey:
		return c.checkRootItem(it)
	case BlockGroupItemKey:
		return checkBlockGroup(it)
	case ExtentItemKey, MetadataItemKey:
		return c.checkExtentItem(it, prev, n, i)
	case TreeBlockRefKey, SharedBlockRefKey, SharedDataRefKey:
		return c.checkKeyedRef(it)
	case ExtentDataRefKey:
		return c.checkExtentDataRef(it)
	}
	return nil
}

// checkExtentData is check_extent_data_item.
func (c CheckContext) checkExtentData(it Item, prev Key, n *Node, i int) error {
	k, b, s := it.Key, it.Data, uint64(c.SectorSize)
	if k.Offset%s != 0 {
		return bad("unaligned file_offset for file extent, have %d should be aligned to %d", k.Offset, s)
	}
	if len(b) < FileExtentInlineDataStart {
		return bad("invalid item size for file extent, have %d expect >= %d", len(b), FileExtentInlineDataStart)
	}
	typ, compression := b[20], b[16]
	if typ > FileExtentPrealloc {
		return bad("invalid type for file extent, have %d expect range [0, %d]", typ, FileExtentPrealloc)
	}
	if compression > CompressZstd {
		return bad("invalid compression for file extent, have %d expect range [0, %d]", compression, CompressZstd)
	}
	if b[17] != 0 {
		return bad("invalid encryption for file extent, have %d expect 0", b[17])
	}
	if typ == FileExtentInline {
		if k.Offset != 0 {
			return bad("invalid file_offset for inline file extent, have %d expect 0", k.Offset)
		}
		// A compressed inline extent's size on disk is not recorded.
		if ram := le.Uint64(b[8:]); compression == CompressNone && uint64(len(b)) != FileExtentInlineDataStart+ram {
			return bad("invalid ram_bytes for uncompressed inline extent, have %d expect %d", len(b), FileExtentInlineDataStart+ram)
		}
		return nil
	}
	if len(b) != FileExtentItemSize {
		return bad("invalid item size for reg/prealloc file extent, have %d expect %d", len(b), FileExtentItemSize)
	}
	for _, f := range []struct {
		name string
		off  int
	}{{"ram_bytes", 8}, {"disk_bytenr", 21}, {"disk_num_bytes", 29}, {"offset", 37}, {"num_bytes", 45}} {
		if v := le.Uint64(b[f.off:]); v%s != 0 {
			return bad("invalid %s for file extent, have %d, should be aligned to %d", f.name, v, s)
		}
	}
	end := k.Offset + le.Uint64(b[45:])
	if end < k.Offset {
		return bad("extent end overflow, have file offset %d extent num bytes %d", k.Offset, le.Uint64(b[45:]))
	}
	// Two file extents of one inode in a leaf must not overlap.
	if i > 0 && prev.Objectid == k.Objectid && prev.Type == ExtentDataKey {
		p := n.Item(i - 1).Data
		var pend uint64
		if len(p) >= FileExtentInlineDataStart && p[20] == FileExtentInline {
			pend = prev.Offset + (le.Uint64(p[8:])+s-1)/s*s
		} else if len(p) == FileExtentItemSize {
			pend = prev.Offset + le.Uint64(p[45:])
		}
		if pend > k.Offset {
			return bad("file extent end range (%d) goes beyond start offset (%d) of the next file extent", pend, k.Offset)
		}
	}
	return nil
}

// checkCsum is check_csum_item: the key, whole checksums, and no
// overlap with the checksums of the item before.
func (c CheckContext) checkCsum(it Item, prev Key, n *Node, i int) error {
	k, s := it.Key, uint64(c.SectorSize)
	if k.Objectid != ExtentCsumObjectid {
		return bad("invalid key objectid for csum item, have %d expect %d", k.Objectid, uint64(ExtentCsumObjectid))
	}
	if k.Offset%s != 0 {
		return bad("unaligned key offset for csum item, have %d should be aligned to %d", k.Offset, s)
	}
	if c.CsumSize == 0 || len(it.Data)%c.CsumSize != 0 {
		return bad("unaligned item size for csum item, have %d should be aligned to %d", len(it.Data), c.CsumSize)
	}
	if i > 0 && prev.Type == ExtentCsumKey {
		end := prev.Offset + uint64(len(n.Item(i-1).Data)/c.CsumSize)*s
		if end > k.Offset {
			return bad("csum end range (%d) goes beyond the start range (%d) of the next csum item", end, k.Offset)
		}
	}
	return nil
}

// checkDirItem is check_dir_item: each entry's type, lengths, location
// key, and for DIR_ITEM and XATTR_ITEM the name's hash in the key.
func (c CheckContext) checkDirItem(it Item) error {
	k, b := it.Key, it.Data
	maxXattr := int(c.NodeSize) - HeaderSize - ItemSize - DirItemSize // BTRFS_MAX_XATTR_SIZE
	for len(b) > 0 {
		if len(b) < DirItemSize {
			return bad("dir item header crosses item boundary")
		}
		typ := b[29] & FtMask
		if typ >= FtMax {
			return bad("invalid dir item type, have %d expect [0, %d)", typ, FtMax)
		}
		if k.Type == XattrItemKey && typ != FtXattr {
			return bad("invalid dir item type for XATTR key, have %d expect %d", typ, FtXattr)
		}
		if typ == FtXattr && k.Type != XattrItemKey {
			return bad("xattr dir type found for non-XATTR key")
		}
		if err := checkLocation(k, DecodeKey(b)); err != nil {
			return err
		}
		maxName := NameLen
		if typ == FtXattr {
			maxName = 255 // XATTR_NAME_MAX
		}
		dataLen, nameLen := int(le.Uint16(b[25:])), int(le.Uint16(b[27:]))
		if nameLen > maxName {
			return bad("dir item name len too long, have %d max %d", nameLen, maxName)
		}
		if nameLen+dataLen > maxXattr {
			return bad("dir item name and data len too long, have %d max %d", nameLen+dataLen, maxXattr)
		}
		if dataLen != 0 && typ != FtXattr {
			return bad("dir item with invalid data len, have %d expect 0", dataLen)
		}
		total := DirItemSize + nameLen + dataLen
		if total > len(b) {
			return bad("dir item data crosses item boundary")
		}
		if k.Type == DirItemKey || k.Type == XattrItemKey {
			if h := NameHash(b[DirItemSize : DirItemSize+nameLen]); uint64(h) != k.Offset {
				return bad("name hash mismatch with key, have %#016x expect %#016x", h, k.Offset)
			}
		}
		b = b[total:]
	}
	return nil
}

// checkLocation checks a dir item's location key, as check_dir_item
// does through check_root_key and check_inode_key: an xattr's is zero,
// a subvolume's names a subvolume tree, an inode's a valid inode number.
func checkLocation(item, loc Key) error {
	switch {
	case item.Type == XattrItemKey:
		if loc != (Key{}) {
			return bad("invalid location key for xattr item %v", loc)
		}
	case loc.Type == RootItemKey:
		if loc.Objectid == 0 || !IsFsTree(loc.Objectid) {
			return bad("invalid location key objectid, have %d expect [%d, %d]", loc.Objectid, FirstFreeObjectid, uint64(LastFreeObjectid))
		}
	case loc.Type == InodeItemKey || loc.Type == 0:
		if !validIno(loc.Objectid) {
			return bad("invalid location key objectid: has %d", loc.Objectid)
		}
		if loc.Offset != 0 {
			return bad("invalid location key offset: has %d expect 0", loc.Offset)
		}
	default:
		return bad("invalid location key type, have %d", loc.Type)
	}
	return nil
}

// validIno is check_inode_key's range: a subvolume's inodes, the root
// tree's directory, the old inode cache's.
func validIno(ino uint64) bool {
	return ino >= FirstFreeObjectid && ino <= LastFreeObjectid || ino == RootTreeDirObjectid || ino == FreeInoObjectid
}

// checkRefs is check_inode_ref / check_inode_extref: every ref (a
// header of head bytes whose name length is at nameAt) and its name
// inside the item.
func checkRefs(b []byte, head, nameAt int) error {
	for len(b) > 0 {
		if len(b) < head {
			return bad("inode ref overflow, ptr %d end %d", head, len(b))
		}
		n := head + int(le.Uint16(b[nameAt:]))
		if n > len(b) {
			return bad("inode ref overflow, ptr %d end %d namelen %d", head, len(b), n-head)
		}
		b = b[n:]
	}
	return nil
}

// checkInodeItem is check_inode_item.
func (c CheckContext) checkInodeItem(it Item) error {
	k, b := it.Key, it.Data
	if !validIno(k.Objectid) {
		return bad("invalid key objectid: has %d", k.Objectid)
	}
	if k.Offset != 0 {
		return bad("invalid key offset: has %d expect 0", k.Offset)
	}
	if len(b) < InodeItemSize {
		return bad("invalid item size, have %d expect %d", len(b), InodeItemSize)
	}
	// One ahead of the superblock for the log tree's.
	if g := le.Uint64(b[0:]); g > c.Generation+1 {
		return bad("invalid inode generation: has %d expect (0, %d]", g, c.Generation+1)
	}
	if g := le.Uint64(b[8:]); g > c.Generation+1 {
		return bad("invalid inode transid: has %d expect [0, %d]", g, c.Generation+1)
	}
	mode := le.Uint32(b[52:])
	if m := mode &^ (abi.S_IFMT | 0o7777); m != 0 {
		return bad("unknown mode bit detected: %#x", m)
	}
	// S_IFMT is one bit for FIFO, CHR, DIR, REG; two for BLK, LNK, SOCK.
	if f := mode & abi.S_IFMT; bits.OnesCount32(f) != 1 && f != abi.S_IFLNK && f != abi.S_IFBLK && f != abi.S_IFSOCK {
		return bad("invalid mode: has 0%o expect valid S_IF* bit(s)", f)
	}
	if mode&abi.S_IFMT == abi.S_IFDIR && le.Uint32(b[40:]) > 1 {
		return bad("invalid nlink: has %d expect no more than 1 for dir", le.Uint32(b[40:]))
	}
	if f := uint32(le.Uint64(b[64:])) &^ inodeFlagMask; f != 0 {
		return bad("unknown incompat flags detected: %#x", f)
	}
	return nil
}

// checkRootItem is check_root_item with check_root_key.
func (c CheckContext) checkRootItem(it Item) error {
	k, b := it.Key, it.Data
	if k.Objectid == TreeRelocObjectid && !IsFsTree(k.Offset) {
		return bad("invalid reloc tree for root %d, root id is not a subvolume tree", int64(k.Offset))
	}
	if k.Objectid == 0 {
		return bad("invalid root id 0")
	}
	if k.Objectid == TreeRelocObjectid && k.Offset == 0 {
		return bad("invalid root id 0 for reloc tree")
	}
	// The full item, or the one before generation_v2 (239 bytes).
	if len(b) != RootItemSize && len(b) != RootItemMinSize {
		return bad("invalid root item size, have %d expect %d or %d", len(b), RootItemSize, RootItemMinSize)
	}
	limit := c.Generation + 1
	if g := le.Uint64(b[160:]); g > limit {
		return bad("invalid root generation, have %d expect (0, %d]", g, limit)
	}
	if len(b) == RootItemSize {
		if g := le.Uint64(b[239:]); g > limit {
			return bad("invalid root v2 generation, have %d expect (0, %d]", g, limit)
		}
	}
	if g := le.Uint64(b[200:]); g > limit {
		return bad("invalid root last_snapshot, have %d expect (0, %d]", g, limit)
	}
	if at := le.Uint64(b[176:]); at%uint64(c.SectorSize) != 0 {
		return bad("invalid root bytenr, have %d expect to be aligned to %d", at, c.SectorSize)
	}
	if b[238] >= MaxLevel {
		return bad("invalid root level, have %d expect [0, %d]", b[238], MaxLevel-1)
	}
	if b[237] >= MaxLevel {
		return bad("invalid root drop_level, have %d expect [0, %d]", b[237], MaxLevel-1)
	}
	if f := le.Uint64(b[208:]); f&^rootFlagMask != 0 {
		return bad("invalid root flags, have %#x expect mask %#x", f, uint64(rootFlagMask))
	}
	return nil
}

// checkBlockGroup is check_block_group_item.
func checkBlockGroup(it Item) error {
	k, b := it.Key, it.Data
	if k.Offset == 0 {
		return bad("invalid block group size 0")
	}
	if len(b) != blockGroupSize {
		return bad("invalid item size, have %d expect %d", len(b), blockGroupSize)
	}
	if o := le.Uint64(b[8:]); o != FirstChunkTreeObjectid {
		return bad("invalid block group chunk objectid, have %d expect %d", o, FirstChunkTreeObjectid)
	}
	if used := le.Uint64(b[0:]); used > k.Offset {
		return bad("invalid block group used, have %d expect [0, %d)", used, k.Offset)
	}
	flags := le.Uint64(b[16:])
	if bits.OnesCount64(flags&blockGroupProfileMask) > 1 {
		return bad("invalid profile flags, have %#x", flags&blockGroupProfileMask)
	}
	switch flags & blockGroupTypeMask {
	case BlockGroupData, BlockGroupMetadata, BlockGroupSystem, BlockGroupMetadata | BlockGroupData:
	default:
		return bad("invalid type, have %#x", flags&blockGroupTypeMask)
	}
	return nil
}

// checkExtentItem is check_extent_item: the key, the flags, the tree
// block's level, and the inline back references, each known, whole and
// in order.
func (c CheckContext) checkExtentItem(it Item, prev Key, n *Node, i int) error {
	k, b, s := it.Key, it.Data, uint64(c.SectorSize)
	if k.Type == MetadataItemKey && !c.SkinnyMetadata {
		return bad("invalid key type, METADATA_ITEM type invalid when SKINNY_METADATA feature disabled")
	}
	if k.Objectid%s != 0 {
		return bad("invalid key objectid, have %d expect to be aligned to %d", k.Objectid, s)
	}
	if k.Type == ExtentItemKey && k.Offset%s != 0 {
		return bad("invalid extent length, have %d expect aligned to %d", k.Offset, s)
	}
	if k.Type == MetadataItemKey && k.Offset >= MaxLevel {
		return bad("invalid tree level, have %d expect [0, %d]", k.Offset, MaxLevel-1)
	}
	if len(b) < extentItemSize {
		return bad("invalid item size, have %d expect >= %d", len(b), extentItemSize)
	}
	refs, gen, flags := le.Uint64(b[0:]), le.Uint64(b[8:]), le.Uint64(b[16:])
	if gen > c.Generation+1 {
		return bad("invalid generation, have %d expect (0, %d]", gen, c.Generation+1)
	}
	if bits.OnesCount64(flags&(ExtentFlagData|ExtentFlagTreeBlock)) != 1 {
		return bad("invalid extent flag, have %#x expect 1 bit set in %#x", flags, ExtentFlagData|ExtentFlagTreeBlock)
	}
	tree := flags&ExtentFlagTreeBlock != 0
	p := extentItemSize
	if tree {
		if k.Type == ExtentItemKey && k.Offset != uint64(c.NodeSize) {
			return bad("invalid extent length, have %d expect %d", k.Offset, c.NodeSize)
		}
		if k.Type == ExtentItemKey {
			if len(b) < p+treeBlockInfoSize {
				return bad("invalid item size, have %d expect > %d", len(b), p+treeBlockInfoSize)
			}
			if lvl := b[p+KeySize]; lvl >= MaxLevel {
				return bad("invalid tree level, have %d expect [0, %d]", lvl, MaxLevel-1)
			}
			p += treeBlockInfoSize
		}
	} else {
		if k.Type == MetadataItemKey {
			return bad("invalid key type, have %d expect %d for data backref", k.Type, ExtentItemKey)
		}
		if flags&ExtentFlagFullBackref != 0 {
			return bad("invalid extent flag, data has full backref set")
		}
	}
	var inline uint64
	lastType, lastSeq := uint8(0), ^uint64(0)
	for p < len(b) {
		if p+inlineRefSize > len(b) {
			return bad("inline ref item overflow, ptr %d end %d", p+inlineRefSize, len(b))
		}
		typ, off := b[p], le.Uint64(b[p+1:])
		seq := off
		size := inlineRefSize
		switch typ {
		case ExtentOwnerRefKey:
			// The subvolume that made the extent (squota): not a
			// reference, none counted.
		case TreeBlockRefKey:
			inline++
		case SharedBlockRefKey:
			if off%s != 0 {
				return bad("invalid tree parent bytenr, have %d expect aligned to %d", off, s)
			}
			inline++
		case ExtentDataRefKey:
			// The ref is the data ref itself, from the offset field on.
			size = 1 + extentDataRefSize
			if p+size > len(b) {
				return bad("inline ref item overflow, ptr %d end %d", p+size, len(b))
			}
			d := b[p+1:]
			root, obj, doff := le.Uint64(d), le.Uint64(d[8:]), le.Uint64(d[16:])
			if err := checkDataRef(root, obj, doff, s); err != nil {
				return err
			}
			seq = DataRefHash(root, obj, doff)
			inline += uint64(le.Uint32(d[24:]))
		case SharedDataRefKey:
			size = inlineRefSize + 4
			if p+size > len(b) {
				return bad("inline ref item overflow, ptr %d end %d", p+size, len(b))
			}
			if off%s != 0 {
				return bad("invalid shared data parent bytenr, have %d expect aligned to %d", off, s)
			}
			inline += uint64(le.Uint32(b[p+inlineRefSize:]))
		default:
			return bad("unknown inline ref type: %d", typ)
		}
		// Inline refs go by type, ascending, and within a type by
		// offset (a data ref's hash) descending.
		if typ < lastType {
			return bad("inline ref out-of-order: has type %d, prev type %d", typ, lastType)
		}
		if typ > lastType {
			lastSeq = ^uint64(0)
		}
		if seq > lastSeq {
			return bad("inline ref out-of-order: has type %d offset %d seq %#x, prev type %d seq %#x", typ, off, seq, lastType, lastSeq)
		}
		lastType, lastSeq = typ, seq
		p += size
	}
	if inline > refs {
		return bad("invalid extent refs, have %d expect >= inline %d", refs, inline)
	}
	// An extent must not overlap the one before it.
	if i > 0 && (prev.Type == ExtentItemKey || prev.Type == MetadataItemKey) {
		end := prev.Objectid + prev.Offset
		if prev.Type == MetadataItemKey {
			end = prev.Objectid + uint64(c.NodeSize)
		}
		if end > k.Objectid {
			return bad("previous extent %v overlaps current extent %v", prev, k)
		}
	}
	return nil
}

// checkDataRef checks a data back reference's fields: a tree that may
// own data (is_valid_dref_root: a subvolume, the data relocation tree,
// the root tree for the v1 free space cache's files), a file's inode
// number, an aligned file offset.
func checkDataRef(root, obj, off, s uint64) error {
	if !IsFsTree(root) && root != DataRelocObjectid && root != RootTreeObjectid {
		return bad("invalid data ref root value %d", root)
	}
	if obj < FirstFreeObjectid || obj > LastFreeObjectid {
		return bad("invalid data ref objectid value %d", obj)
	}
	if off%s != 0 {
		return bad("invalid data ref offset, have %d expect aligned to %d", off, s)
	}
	return nil
}

// DataRefHash is hash_extent_data_ref: the key offset of a keyed
// EXTENT_DATA_REF and the order of inline ones, from Linux's raw
// crc32c (no inversions) of the root, then of the inode and offset.
func DataRefHash(root, obj, off uint64) uint64 {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:], root)
	high := ^crc32.Update(0, castagnoli, b[:8])
	binary.LittleEndian.PutUint64(b[:], obj)
	binary.LittleEndian.PutUint64(b[8:], off)
	low := ^crc32.Update(0, castagnoli, b[:])
	return uint64(high)<<31 ^ uint64(low)
}

// checkKeyedRef is check_simple_keyed_refs: TREE_BLOCK_REF and
// SHARED_BLOCK_REF hold nothing, SHARED_DATA_REF a count.
func (c CheckContext) checkKeyedRef(it Item) error {
	k, s := it.Key, uint64(c.SectorSize)
	want := 0
	if k.Type == SharedDataRefKey {
		want = 4
	}
	if len(it.Data) != want {
		return bad("invalid item size, have %d expect %d for key type %d", len(it.Data), want, k.Type)
	}
	if k.Objectid%s != 0 {
		return bad("invalid key objectid for shared block ref, have %d expect aligned to %d", k.Objectid, s)
	}
	if k.Type != TreeBlockRefKey && k.Offset%s != 0 {
		return bad("invalid tree parent bytenr, have %d expect aligned to %d", k.Offset, s)
	}
	return nil
}

// checkExtentDataRef is check_extent_data_ref: whole refs, each valid
// and hashing to the key's offset.
func (c CheckContext) checkExtentDataRef(it Item) error {
	k, b, s := it.Key, it.Data, uint64(c.SectorSize)
	if len(b)%extentDataRefSize != 0 {
		return bad("invalid item size, have %d expect aligned to %d for key type %d", len(b), extentDataRefSize, k.Type)
	}
	if k.Objectid%s != 0 {
		return bad("invalid key objectid for shared block ref, have %d expect aligned to %d", k.Objectid, s)
	}
	for ; len(b) > 0; b = b[extentDataRefSize:] {
		root, obj, off := le.Uint64(b), le.Uint64(b[8:]), le.Uint64(b[16:])
		if err := checkDataRef(root, obj, off, s); err != nil {
			return err
		}
		if h := DataRefHash(root, obj, off); h != k.Offset {
			return bad("invalid extent data backref hash item, have %#x key offset %#x", h, k.Offset)
		}
	}
	return nil
}
