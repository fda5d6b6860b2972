package btrfs

import (
	"github.com/lklimg/lklimg/kernel/abi"
)

// The root item (struct btrfs_root_item, key (tree id, ROOT_ITEM, 0 or
// the snapshot's transid)) in the root tree:
//
//	  0 inode (struct btrfs_inode_item, 160 bytes)
//	160 generation u64  168 root_dirid u64  176 bytenr u64
//	184 byte_limit u64  192 bytes_used u64  200 last_snapshot u64
//	208 flags u64       216 refs u32        220 drop_progress key
//	237 drop_level u8   238 level u8
//
// then (239 on, in items from Linux 3.5) generation_v2, uuids, transids
// and times, which a reader does not need.
const RootItemMinSize = 239

// RootItemSize is sizeof(struct btrfs_root_item) as Linux writes it
// since generation_v2 (with the uuids and the times).
const RootItemSize = 439

// RootSubvolRdonly is the root item flag of a read-only subvolume
// (BTRFS_ROOT_SUBVOL_RDONLY).
const RootSubvolRdonly = 1 << 0

// RootItem is the decoded part of struct btrfs_root_item a reader uses.
type RootItem struct {
	Generation uint64
	RootDirid  uint64
	Bytenr     uint64
	BytesUsed  uint64
	Flags      uint64
	Refs       uint32
	Level      uint8
}

// DecodeRootItem decodes a root item's data.
func DecodeRootItem(b []byte) (RootItem, error) {
	if len(b) < RootItemMinSize {
		return RootItem{}, abi.Errorf(abi.EUCLEAN, "btrfs: root item of %d bytes", len(b))
	}
	r := RootItem{
		Generation: le.Uint64(b[160:]),
		RootDirid:  le.Uint64(b[168:]),
		Bytenr:     le.Uint64(b[176:]),
		BytesUsed:  le.Uint64(b[192:]),
		Flags:      le.Uint64(b[208:]),
		Refs:       le.Uint32(b[216:]),
		Level:      b[238],
	}
	if r.Level >= MaxLevel {
		return r, abi.Errorf(abi.EUCLEAN, "btrfs: root item: level %d too high", r.Level)
	}
	return r, nil
}

// A root ref (struct btrfs_root_ref), the data of both ROOT_REF (key
// (parent tree, ROOT_REF, child tree)) and ROOT_BACKREF (key (child,
// ROOT_BACKREF, parent)): dirid u64, sequence u64, name_len u16, name.
const RootRefSize = 18

// RootRef is where a subvolume is linked: in directory Dirid of the
// parent tree, under Name (whose DIR_INDEX is Sequence).
type RootRef struct {
	Dirid    uint64
	Sequence uint64
	Name     []byte
}

// DecodeRootRef decodes a ROOT_REF or ROOT_BACKREF item's data.
func DecodeRootRef(b []byte) (RootRef, error) {
	if len(b) < RootRefSize {
		return RootRef{}, abi.Errorf(abi.EUCLEAN, "btrfs: root ref of %d bytes", len(b))
	}
	n := int(le.Uint16(b[16:]))
	if n > len(b)-RootRefSize || n > NameLen {
		return RootRef{}, abi.Errorf(abi.EUCLEAN, "btrfs: root ref name of %d bytes in %d", n, len(b)-RootRefSize)
	}
	return RootRef{Dirid: le.Uint64(b), Sequence: le.Uint64(b[8:]), Name: b[RootRefSize : RootRefSize+n]}, nil
}
