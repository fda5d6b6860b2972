// Package ext4 is the on-disk format of ext2, ext3 and ext4: the
// structures (superblock, group descriptors, inodes, extent trees,
// directory entries and their hash index, extended attributes, the orphan
// file, quota files), their encoding and decoding, the feature bits, the
// checksums and the directory hashes. It is what Linux's fs/ext4 headers
// and e2fsprogs' lib/ext2fs/ext2_fs.h share, and what both the driver
// (kernel/fs/ext4) and the userspace tools import; it holds no state and
// does no I/O.
//
// Names follow the format: a field of struct ext4_super_block s_inodes_count
// is Superblock.SInodesCount, a bit EXT4_FEATURE_INCOMPAT_EXTENTS is
// IncompatExtents, an inode field's offset i_mode is OffIMode. Each
// structure's comment names the section of the kernel's
// Documentation/filesystems/ext4 it follows. Decoders check every length
// and offset before use and return EUCLEAN errors that name the structure.
package ext4

import "encoding/binary"

// le is the byte order of every ext4 structure.
var le = binary.LittleEndian
