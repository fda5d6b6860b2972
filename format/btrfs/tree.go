package btrfs

import (
	"fmt"
	"slices"

	"github.com/lklimg/lklimg/kernel/abi"
)

// Item types (BTRFS_*_KEY, btrfs_tree.h): the type byte of a key.
const (
	InodeItemKey   = 1
	InodeRefKey    = 12
	InodeExtrefKey = 13
	XattrItemKey   = 24
	DirItemKey     = 84
	DirIndexKey    = 96
	ExtentDataKey  = 108
	RootItemKey    = 132
	RootBackrefKey = 144
	RootRefKey     = 156
	ExtentCsumKey  = 128
	ChunkItemKey   = 228
)

// Well-known object ids (BTRFS_*_OBJECTID).
const (
	RootTreeObjectid    = 1
	ChunkTreeObjectid   = 3
	CsumTreeObjectid    = 7
	FsTreeObjectid      = 5
	RootTreeDirObjectid = 6
	// FirstFreeObjectid is the first inode of a tree: a subvolume's
	// root directory (BTRFS_FIRST_FREE_OBJECTID).
	FirstFreeObjectid = 256
	// LastFreeObjectid is the last id of a subvolume (-256).
	LastFreeObjectid = ^uint64(0) - 255
	// FirstChunkTreeObjectid is the objectid of every CHUNK_ITEM key.
	FirstChunkTreeObjectid = 256
	// ExtentCsumObjectid is the objectid of every EXTENT_CSUM key in
	// the checksum tree (-10): its offset is the logical address of the
	// first sector the item's checksums cover, one per sector.
	ExtentCsumObjectid = ^uint64(9)
	// EmptySubvolDirObjectid is the inode Linux shows for a subvolume
	// whose ROOT_REF a snapshot does not have (BTRFS_EMPTY_SUBVOL_DIR_OBJECTID).
	EmptySubvolDirObjectid = 2
)

// Key is struct btrfs_disk_key / btrfs_key: 17 bytes, ordered by
// objectid, then type, then offset.
type Key struct {
	Objectid uint64
	Type     uint8
	Offset   uint64
}

// KeySize is sizeof(struct btrfs_disk_key).
const KeySize = 17

// DecodeKey decodes the 17 bytes of a key.
func DecodeKey(b []byte) Key {
	return Key{Objectid: le.Uint64(b), Type: b[8], Offset: le.Uint64(b[9:])}
}

// Compare orders keys as btrfs_comp_cpu_keys: -1, 0 or 1.
func (k Key) Compare(o Key) int {
	switch {
	case k.Objectid != o.Objectid:
		return cmp3(k.Objectid < o.Objectid)
	case k.Type != o.Type:
		return cmp3(k.Type < o.Type)
	case k.Offset != o.Offset:
		return cmp3(k.Offset < o.Offset)
	}
	return 0
}

func cmp3(less bool) int {
	if less {
		return -1
	}
	return 1
}

func (k Key) String() string { return fmt.Sprintf("(%d %d %d)", k.Objectid, k.Type, k.Offset) }

// The tree block header (struct btrfs_header), 101 bytes:
//
//	 0 csum[32]   32 fsid[16]   48 bytenr u64   56 flags u64
//	64 chunk_tree_uuid[16]      80 generation u64
//	88 owner u64  96 nritems u32  100 level u8
//
// A leaf's header is followed by nritems struct btrfs_item (key, offset
// u32, size u32: 25 bytes), whose data lies at offset bytes after the
// header, packed from the block's end down; a node's by nritems struct
// btrfs_key_ptr (key, blockptr u64, generation u64: 33 bytes).
const (
	HeaderSize = 101
	ItemSize   = 25
	KeyPtrSize = 33
)

// Header is the decoded struct btrfs_header.
type Header struct {
	Fsid       [FsidSize]byte
	Bytenr     uint64
	Flags      uint64
	Generation uint64
	Owner      uint64
	Nritems    uint32
	Level      uint8
}

// Item is one leaf item: its key and its data (a slice of the block).
type Item struct {
	Key  Key
	Data []byte
}

// KeyPtr is one node entry (struct btrfs_key_ptr).
type KeyPtr struct {
	Key        Key
	Blockptr   uint64
	Generation uint64
}

// Node is a checked tree block: a leaf (Level 0) or a node.
type Node struct {
	Header
	b []byte
}

// DecodeNode checks the tree block b read from logical address at
// (btrfs_validate_extent_buffer, btrfs_check_leaf, btrfs_check_node):
// its checksum with csumType, bytenr, fsid, level, and that every item
// or key pointer lies inside the block with keys in ascending order. It
// keeps b, which the caller must not change. The block's fsid is fsid or
// one of seeds, those of the seed filesystems a sprouted one's blocks
// may lie in (check_tree_block_fsid).
func DecodeNode(b []byte, at uint64, csumType uint16, fsid [FsidSize]byte, seeds ...[FsidSize]byte) (*Node, error) {
	if len(b) < HeaderSize {
		return nil, abi.Errorf(abi.EUCLEAN, "btrfs: tree block at %d: %d bytes", at, len(b))
	}
	if err := verify(csumType, b, "tree block", at); err != nil {
		return nil, err
	}
	return DecodeNodeUnchecked(b, at, fsid, seeds...)
}

// DecodeNodeUnchecked is DecodeNode without the checksum: for a reader
// that has verified it (or a fuzzer that wants the rest exercised).
func DecodeNodeUnchecked(b []byte, at uint64, fsid [FsidSize]byte, seeds ...[FsidSize]byte) (*Node, error) {
	if len(b) < HeaderSize {
		return nil, abi.Errorf(abi.EUCLEAN, "btrfs: tree block at %d: %d bytes", at, len(b))
	}
	n := &Node{b: b}
	h := &n.Header
	copy(h.Fsid[:], b[32:48])
	h.Bytenr = le.Uint64(b[48:])
	h.Flags = le.Uint64(b[56:])
	h.Generation = le.Uint64(b[80:])
	h.Owner = le.Uint64(b[88:])
	h.Nritems = le.Uint32(b[96:])
	h.Level = b[100]
	bad := func(format string, args ...any) (*Node, error) {
		return nil, abi.Errorf(abi.EUCLEAN, "btrfs: tree block at %d: "+format, append([]any{at}, args...)...)
	}
	if h.Bytenr != at {
		return bad("bad tree block start, mirror want %d have %d", at, h.Bytenr)
	}
	if h.Fsid != fsid && !slices.Contains(seeds, h.Fsid) {
		return bad("bad fsid %x", h.Fsid)
	}
	if h.Level >= MaxLevel {
		return bad("level %d too high", h.Level)
	}
	room := len(b) - HeaderSize
	each := ItemSize
	if h.Level > 0 {
		each = KeyPtrSize
		if h.Nritems == 0 {
			return bad("node with no key pointers")
		}
	}
	if int64(h.Nritems)*int64(each) > int64(room) {
		return bad("%d items do not fit", h.Nritems)
	}
	var prev Key
	dataEnd := room // items' data are packed from the end down
	for i := 0; i < int(h.Nritems); i++ {
		k := n.Key(i)
		if i > 0 && prev.Compare(k) >= 0 {
			return bad("bad key order, slot %d %v after %v", i, k, prev)
		}
		prev = k
		if h.Level > 0 {
			continue
		}
		p := HeaderSize + i*ItemSize
		off, size := int(le.Uint32(b[p+17:])), int(le.Uint32(b[p+21:]))
		// Items' data lie in order from the end: item i ends where
		// item i-1 starts (check_leaf's "unexpected item end").
		if off+size != dataEnd || off < int(h.Nritems)*ItemSize || off > room {
			return bad("slot %d: item data [%d, +%d) out of place", i, off, size)
		}
		dataEnd = off
	}
	return n, nil
}

// Key returns the key of item or pointer i (< Nritems).
func (n *Node) Key(i int) Key {
	each := ItemSize
	if n.Level > 0 {
		each = KeyPtrSize
	}
	return DecodeKey(n.b[HeaderSize+i*each:])
}

// Item returns leaf item i (< Nritems); DecodeNode checked its place.
func (n *Node) Item(i int) Item {
	p := HeaderSize + i*ItemSize
	off, size := int(le.Uint32(n.b[p+17:])), int(le.Uint32(n.b[p+21:]))
	return Item{Key: DecodeKey(n.b[p:]), Data: n.b[HeaderSize+off : HeaderSize+off+size]}
}

// DataOffset returns where leaf item i's data starts in the block.
func (n *Node) DataOffset(i int) int {
	return HeaderSize + int(le.Uint32(n.b[HeaderSize+i*ItemSize+17:]))
}

// Ptr returns key pointer i (< Nritems) of a node.
func (n *Node) Ptr(i int) KeyPtr {
	p := HeaderSize + i*KeyPtrSize
	return KeyPtr{Key: DecodeKey(n.b[p:]), Blockptr: le.Uint64(n.b[p+17:]), Generation: le.Uint64(n.b[p+25:])}
}

// Search returns the index of the last entry whose key is <= k, or -1
// when every key is above it (btrfs_bin_search's slot, less one when
// not found).
func (n *Node) Search(k Key) int {
	lo, hi := 0, int(n.Nritems) // invariant: keys[<lo] <= k, keys[>=hi] > k
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if n.Key(mid).Compare(k) <= 0 {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo - 1
}
