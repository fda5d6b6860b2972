// Package btrfs is the on-disk format of btrfs, as Linux's
// include/uapi/linux/btrfs_tree.h and fs/btrfs/ describe it: the
// superblock and its checksums (crc32c, xxhash64, sha256, blake2b), the
// chunk items that map logical addresses to the device (the
// sys_chunk_array and the chunk tree), the tree block header with its
// leaf items and node key pointers, and the items a reader of files
// needs: ROOT_ITEM, ROOT_REF/ROOT_BACKREF, INODE_ITEM, INODE_REF,
// INODE_EXTREF, DIR_ITEM/DIR_INDEX, XATTR_ITEM and EXTENT_DATA, the log
// tree's DIR_LOG_INDEX (and the dir item encoder a log replay links names
// with), with the decoders of compressed extents (zlib, btrfs's LZO
// framing, zstd). The
// driver (kernel/fs/btrfs) imports it; it holds no state and does no I/O.
//
// Names follow btrfs_tree.h: struct btrfs_inode_item's nbytes is
// InodeItem.Nbytes, BTRFS_DIR_INDEX_KEY is DirIndexKey. Every decoder
// checks each length and offset against the bytes it was given and
// returns EUCLEAN with the structure named.
//
// What the headers leave out, written down here:
//   - all integers are little-endian; structures are packed;
//   - the superblock's checksum covers its 4096 bytes after the csum
//     field; a tree block's covers the node after it;
//   - crc32c and xxhash64 checksums are stored little-endian in the
//     first 4 or 8 bytes of the 32-byte field; crc32c is Linux's
//     crc32c(~0, ...) inverted at the end (the usual CRC-32C), xxhash64
//     has seed 0; blake2b is BLAKE2b-256;
//   - directory and xattr names are found by btrfs_name_hash: Linux's
//     crc32c(~1, name) without the final inversion;
//   - a file's compressed extent decompresses to ram_bytes, of which the
//     item's offset and num_bytes pick the file's part.
package btrfs
