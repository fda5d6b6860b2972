package btrfs

import (
	"github.com/lklimg/lklimg/kernel/abi"
)

// The log tree (fs/btrfs/tree-log.c): what fsync wrote since the last
// commit. The superblock's log_root is the tree of log roots, whose
// ROOT_ITEMs (key (TREE_LOG, ROOT_ITEM, subvolume id)) root one log tree
// per subvolume. A log tree holds copies of the subvolume's items for
// the inodes fsynced (INODE_ITEM, INODE_REF, INODE_EXTREF, XATTR_ITEM,
// EXTENT_DATA, DIR_INDEX), the data checksums of their new extents
// (EXTENT_CSUM items as in the checksum tree), and, for a directory,
// DIR_LOG_INDEX items: the ranges of indexes for which the log is
// complete, so that an index of the range the log lacks was removed.

// Log tree object ids and key types (btrfs_tree.h).
const (
	// TreeLogObjectid is the log root tree's id and the objectid of
	// its ROOT_ITEMs (BTRFS_TREE_LOG_OBJECTID, -6).
	TreeLogObjectid = ^uint64(5)
	// DirLogIndexKey is the key type of a directory's logged range of
	// indexes (BTRFS_DIR_LOG_INDEX_KEY); DirLogItemKey the older one of
	// name hashes (BTRFS_DIR_LOG_ITEM_KEY).
	DirLogIndexKey = 72
	DirLogItemKey  = 60
)

// DirLogItemSize is sizeof(struct btrfs_dir_log_item): end u64, the
// last index of the range that starts at the key's offset.
const DirLogItemSize = 8

// DecodeDirLogItem decodes a DIR_LOG_INDEX item's data, the end of the
// range that starts at start (the key's offset): at least start.
func DecodeDirLogItem(b []byte, start uint64) (uint64, error) {
	if len(b) < DirLogItemSize {
		return 0, abi.Errorf(abi.EUCLEAN, "btrfs: dir log item of %d bytes", len(b))
	}
	end := le.Uint64(b)
	if end < start {
		return 0, abi.Errorf(abi.EUCLEAN, "btrfs: dir log item: range %d to %d", start, end)
	}
	return end, nil
}

// EncodeDirItem encodes a struct btrfs_dir_item for name (no data), as
// btrfs_insert_dir_item writes it into a DIR_ITEM or DIR_INDEX item.
func EncodeDirItem(location Key, transid uint64, typ uint8, name []byte) []byte {
	b := make([]byte, DirItemSize+len(name))
	le.PutUint64(b, location.Objectid)
	b[8] = location.Type
	le.PutUint64(b[9:], location.Offset)
	le.PutUint64(b[17:], transid)
	le.PutUint16(b[27:], uint16(len(name)))
	b[29] = typ
	copy(b[DirItemSize:], name)
	return b
}

// Offsets of the inode item fields a log replay rewrites, and of a file
// extent item's (see InodeItem and FileExtent).
const (
	InodeGenerationOffset = 0
	InodeSizeOffset       = 16
	InodeNbytesOffset     = 24
	InodeNlinkOffset      = 40
	FileExtentDiskBytenr  = 21
	FileExtentOffset      = 37
	FileExtentNumBytes    = 45
)
