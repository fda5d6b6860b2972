// Package xfs is the on-disk format of XFS, as Linux's fs/xfs/libxfs
// headers describe it (xfs_format.h, xfs_da_format.h, xfs_log_format.h):
// the superblock (xfs_dsb, v4 and v5), the inode core (xfs_dinode, v2
// and v3, bigtime and nrext64 counts), the data and attribute forks
// (packed bmbt extent records, the bmap btree root in the inode and its
// blocks), directories (shortform, single-block, leaf and node forms,
// the data blocks with dir2 and dir3 headers and file types), attribute
// forks (shortform, leaf and node blocks, remote values), remote symlink
// blocks, and the CRC32c every v5 metadata block carries. It is what
// the driver (kernel/fs/xfs) imports; it holds no state and does no I/O.
//
// All XFS metadata is big-endian but the checksums, which are stored
// little-endian (__le32). Names follow the C structures: xfs_dsb's
// sb_agblklog is Superblock.AgBlkLog, xfs_dinode's di_forkoff is
// Dinode.Forkoff.
//
// What the headers leave out, written down here:
//   - a v5 checksum is crc32c (seed ~0, inverted at the end, as Go's
//     crc32.Checksum computes it) over the whole block with the
//     checksum field read as zeros (xfs_start_cksum_safe,
//     xfs_end_cksum);
//   - an inode number is agno << (agblklog + inopblog) | agbno <<
//     inopblog | the inode's index in its block; an extent's start block
//     is agno << agblklog | agbno, not a linear block number;
//   - directory addresses ("dataptrs", leaf entries' address, getdents's
//     positions) count 8-byte units of the directory's logical bytes:
//     data blocks below 32 GiB, the leaf (and da btree) at 32 GiB, free
//     index blocks at 64 GiB (XFS_DIR2_LEAF_OFFSET, XFS_DIR2_FREE_OFFSET);
//   - the da btree's block numbers are the fork's logical file system
//     blocks, not directory blocks.
//
// Decoders check every length and offset before use and return EUCLEAN
// errors naming the structure; they never allocate by an unchecked count.
package xfs

import (
	"encoding/binary"
	"hash/crc32"
)

// be is the byte order of every XFS structure but the checksums.
var be = binary.BigEndian

// castagnoli is crc32c's table.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)
