package squashfs

import "github.com/lklimg/lklimg/kernel/abi"

// The lookup tables (fragment, id, export, xattr id): each is an array
// of fixed-size entries stored in metadata blocks, and an index of the
// blocks' positions (64-bit, on the device) at the table's start in the
// superblock (squashfs_fs.h's SQUASHFS_FRAGMENT_INDEXES and friends).

// Entry sizes of the tables.
const (
	FragmentEntrySize = 16 // struct squashfs_fragment_entry
	IDEntrySize       = 4
	LookupEntrySize   = 8  // an inode reference per inode number
	XattrIDEntrySize  = 16 // struct squashfs_xattr_id
	XattrIDTableSize  = 16 // struct squashfs_xattr_id_table
)

// TableBlocks returns how many metadata blocks hold count entries of
// size bytes: the length of the table's index.
func TableBlocks(count uint64, size int) uint64 {
	return (count*uint64(size) + MetadataSize - 1) / MetadataSize
}

// TableRef returns where entry n of a table of size-byte entries is: the
// index slot of its block and its offset there.
func TableRef(n uint64, size int) (slot uint64, offset int) {
	b := n * uint64(size)
	return b / MetadataSize, int(b % MetadataSize)
}

// DecodeTableIndex decodes a table's index (count 64-bit block
// positions) and checks each as Linux's squashfs_read_table users do:
// every block starts before the index (tableStart) and at or after
// floor, and in order, at most one block's length apart.
func DecodeTableIndex(p []byte, count uint64, floor, tableStart uint64, what string) ([]uint64, error) {
	if uint64(len(p)) < count*8 {
		return nil, abi.Errorf(abi.EIO, "squashfs: %s index truncated", what)
	}
	idx := make([]uint64, count)
	prev := floor
	for i := range idx {
		v := le.Uint64(p[8*i:])
		if v < prev || v >= tableStart || v-prev > MetadataHeaderSize+MetadataSize && i > 0 {
			return nil, abi.Errorf(abi.EIO, "squashfs: %s index: block %d at %d out of place", what, i, v)
		}
		idx[i], prev = v, v
	}
	if count > 0 && tableStart-prev > MetadataHeaderSize+MetadataSize {
		return nil, abi.Errorf(abi.EIO, "squashfs: %s index: last block at %d too far before %d", what, prev, tableStart)
	}
	return idx, nil
}

// FragmentEntry is struct squashfs_fragment_entry: a fragment block's
// place and size word (as a data block's, DataBlockSize).
type FragmentEntry struct {
	StartBlock uint64
	Size       uint32
}

// DecodeFragmentEntry decodes a fragment entry.
func DecodeFragmentEntry(p []byte) (FragmentEntry, error) {
	if len(p) < FragmentEntrySize {
		return FragmentEntry{}, abi.Errorf(abi.EIO, "squashfs: fragment entry truncated")
	}
	return FragmentEntry{StartBlock: le.Uint64(p), Size: le.Uint32(p[8:])}, nil
}

// XattrIDTable is struct squashfs_xattr_id_table, at the superblock's
// xattr_id_table_start: where the key/value records start, and how many
// xattr ids there are; the index of the id blocks follows it.
type XattrIDTable struct {
	XattrTableStart uint64
	XattrIDs        uint32
}

// DecodeXattrIDTable decodes the xattr id table's header.
func DecodeXattrIDTable(p []byte) (XattrIDTable, error) {
	if len(p) < XattrIDTableSize {
		return XattrIDTable{}, abi.Errorf(abi.EIO, "squashfs: xattr id table truncated")
	}
	return XattrIDTable{XattrTableStart: le.Uint64(p), XattrIDs: le.Uint32(p[8:])}, nil
}

// XattrID is struct squashfs_xattr_id: an inode's xattrs, Count
// key/value records from Xattr (a reference into the xattr table),
// Size bytes of names and values in all.
type XattrID struct {
	Xattr Ref
	Count uint32
	Size  uint32
}

// DecodeXattrID decodes an xattr id.
func DecodeXattrID(p []byte) (XattrID, error) {
	if len(p) < XattrIDEntrySize {
		return XattrID{}, abi.Errorf(abi.EIO, "squashfs: xattr id truncated")
	}
	return XattrID{Xattr: Ref(le.Uint64(p)), Count: le.Uint32(p[8:]), Size: le.Uint32(p[12:])}, nil
}
