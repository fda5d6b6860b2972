// Package erofs is the on-disk format of EROFS, the Enhanced Read-Only
// File System: the superblock and its checksum, compact (32-byte) and
// extended (64-byte) inodes, chunk indexes and block maps, directory
// blocks, extended attributes (inline bodies, the shared xattr area, name
// prefixes), the map header and logical cluster indexes of compressed
// files (full and compact), and the decompressors of a physical cluster.
// It is what Linux's fs/erofs/erofs_fs.h describes, and what the driver
// (kernel/fs/erofs) imports; it holds no state and does no I/O.
//
// References: the kernel's Documentation/filesystems/erofs.rst and
// fs/erofs/erofs_fs.h for the layouts, fs/erofs/zmap.c for how the
// lcluster indexes are read (the compact form is documented nowhere
// else). Names follow erofs_fs.h: erofs_inode_extended's i_xattr_icount
// is Inode.XattrICount, z_erofs_map_header's h_advise is
// MapHeader.Advise.
//
// What the specification leaves out, written down here:
//   - a compact inode has no time of its own: it shows the superblock's
//     build_time (erofs_read_inode);
//   - inode numbers are the nid itself on 64-bit Linux (erofs_squash_ino);
//   - the superblock checksum is crc32c seeded with ~0 and not inverted
//     at the end (Linux's crc32c()), over the rest of the first block
//     from offset 1024 with the checksum field zeroed;
//   - directory entries are sorted by name (strcmp order) within the
//     whole directory, "." and ".." included, which lookup relies on;
//   - in a compressed file, each lcluster index tells whether a new
//     extent starts in that logical cluster (HEAD or PLAIN) and where,
//     or how far back its extent's head is (NONHEAD); a pcluster holds
//     one extent, its size in blocks given by the first NONHEAD index
//     after the head when big pclusters are on (D0_CBLKCNT).
//
// Decoders check every length and offset before use and return EUCLEAN
// errors naming the structure; they never allocate by an unchecked count.
package erofs

import (
	"encoding/binary"
	"hash/crc32"
)

// le is the byte order of every EROFS structure.
var le = binary.LittleEndian

// castagnoli is crc32c's table (the superblock checksum).
var castagnoli = crc32.MakeTable(crc32.Castagnoli)
