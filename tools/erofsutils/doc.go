// Package erofsutils is mkfs.erofs: an EROFS image written from an
// archive.Source (a tar, a host directory) onto a block device, as
// erofs-utils 1.5 to 1.7 write one, in one pass over the input.
//
// What it writes (format/erofs has the structures):
//   - 4 KiB blocks; the superblock with its checksum (COMPAT_SB_CHKSUM);
//   - compact inodes where the entry fits one (owners and links in 16
//     bits, a size in 32, its time the build time), extended ones else
//     (erofs_should_use_inode_extended);
//   - file data flat, its last partial block packed after the inode
//     (FLAT_INLINE) when inode, xattrs and tail fit one block, as
//     mkfs.erofs does by default; symlinks and directories the same way;
//   - directories sorted by name ("." and ".." among them), each block
//     filled in order, as the lookup's binary search needs;
//   - xattrs inline, or in the shared area when more inodes than the
//     tolerance (-x) carry the same name and value;
//   - hard links as one inode, devices, FIFOs, sockets;
//   - identical files' data once (full-file dedupe);
//   - with -z, compressed files (compress.go): LZ4, LZ4HC, DEFLATE,
//     Zstandard, MicroLZMA (ulikunitz/xz: correct, but slow, as each
//     extent is found by compressing several prefixes), 0padding, compact or full indexes, big pclusters (-C),
//     the last pcluster inline (-E ztailpacking).
//
// Not written: fragments, block-level dedupe,
// chunk-based files, other block sizes.
//
// Layout, in the order it is written: block 0 (the superblock at 1024),
// the files' data as it streams in, then what is known only at the end
// (directories' and symlinks' blocks that are not inline, the shared
// xattrs), then the metadata area (meta_blkaddr): the root's inode first
// (root_nid is 16 bits), then the others, breadth first. Every inode
// with inline data lies in one block with its data (Linux refuses inline
// data that crosses a block, erofs_fill_inode).
//
// What the input leaves to the writer, done as mkfs.erofs --tar and tar
// -x do: an entry named twice replaces the earlier (a directory over a
// directory only takes its attributes); directories implied by a path
// are made 0755 root:root at the build time; names are cleaned, and one
// escaping the root is refused (reported, the rest goes on).
//
// Memory: per entry its metadata (tens of bytes, its name, its xattrs)
// and the tail of its data (under a block) while the input streams; the
// tails kept are bounded (Params.TailMemory), past which tails are
// written in a block of their own (FLAT_PLAIN), which is still an image
// mkfs.erofs -Enoinline_data would make. With -z, workers+2 segments of
// 1 MiB (a segment's pclusters replace its input in its own buffer) and
// a hash table a worker.
package erofsutils
