// Package squashfs is the on-disk format of SquashFS 4.0, the compressed
// read-only filesystem of Linux: the superblock, compressor options and
// the decompressors, metadata blocks and the references into them,
// inodes (basic and extended, of every type), directory headers, entries
// and indexes, the fragment, id, export and xattr id tables, and xattr
// key and value records. It is what both the driver (kernel/fs/squashfs)
// and any writer would import; it holds no state between calls and does
// no I/O of its own (decoders read from the io.Reader they are handed).
//
// The references are Linux's fs/squashfs/squashfs_fs.h (the structures,
// whose names the types and fields here keep: squashfs_super_block is
// Superblock, its s_major is Major) and
// Documentation/filesystems/squashfs.rst, with the facts the source
// adds (how many blocks a file has, what an empty directory's size is).
//
// What the specification leaves to the code, written down here:
//
//   - Metadata blocks hold at most 8192 bytes once decompressed; each is
//     a 2-byte header (bit 15: stored uncompressed; the rest: the length
//     on disk) and its data. A reference to metadata is the block's
//     position from its table's start in the high 48 bits and the offset
//     in the decompressed block in the low 16; inodes and directory
//     entries may cross from one block into the next.
//   - A data block's size word holds the length on disk in bits 0-23,
//     bit 24 set when it is stored uncompressed; a size of 0 is a sparse
//     block, block_size zeros.
//   - A regular file without a fragment has ceil(size/block_size) blocks;
//     with one, floor(size/block_size) blocks and the rest in the fragment
//     (Linux's squashfs_read_inode).
//   - A directory's file_size counts 3 bytes more than its listing (an
//     empty directory's is 3), as Linux's squashfs_readdir assumes.
//   - Device numbers are Linux's new_encode_dev form.
//
// Decoders check every count and offset before use and return EIO
// errors naming the structure, as Linux's squashfs reports damage.
package squashfs

import "encoding/binary"

// le is the byte order of every SquashFS structure.
var le = binary.LittleEndian
