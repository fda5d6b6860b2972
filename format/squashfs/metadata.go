package squashfs

import "github.com/lklimg/lklimg/kernel/abi"

// Ref is a reference to metadata (squashfs_fs.h's SQUASHFS_INODE_BLK
// and SQUASHFS_INODE_OFFSET): the position of a metadata block's header
// from its table's start in bits 16-63, the offset in the decompressed
// block in bits 0-15. The root inode, directory entries and xattr ids
// point at their structures with one.
type Ref uint64

// MakeRef returns the reference to offset in the block at block.
func MakeRef(block uint64, offset uint16) Ref { return Ref(block<<16 | uint64(offset)) }

// Block is the position of the metadata block from its table's start.
func (r Ref) Block() uint64 { return uint64(r) >> 16 }

// Offset is the offset in the decompressed block.
func (r Ref) Offset() int { return int(r & 0xffff) }

// metadataUncompressed is SQUASHFS_COMPRESSED_BIT: a metadata block
// stored as it is.
const metadataUncompressed = 1 << 15

// MetadataHeaderSize is the size of a metadata block's header.
const MetadataHeaderSize = 2

// DecodeMetadataHeader decodes a metadata block's header: the length of
// its data on disk (1 to MetadataSize) and whether that is compressed
// (SQUASHFS_COMPRESSED, SQUASHFS_COMPRESSED_SIZE).
func DecodeMetadataHeader(p []byte) (size int, compressed bool, err error) {
	if len(p) < MetadataHeaderSize {
		return 0, false, abi.Errorf(abi.EIO, "squashfs: metadata block header truncated")
	}
	h := le.Uint16(p)
	size = int(h &^ metadataUncompressed)
	if size == 0 || size > MetadataSize {
		return 0, false, abi.Errorf(abi.EIO, "squashfs: metadata block of %d bytes", size)
	}
	return size, h&metadataUncompressed == 0, nil
}

// dataUncompressed is SQUASHFS_COMPRESSED_BIT_BLOCK: a data block or
// fragment block stored as it is.
const dataUncompressed = 1 << 24

// DataBlockSize decodes a data block's or fragment block's size word
// (SQUASHFS_COMPRESSED_SIZE_BLOCK): its length on disk, 0 for a sparse
// block, and whether it is compressed.
func DataBlockSize(w uint32) (size uint32, compressed bool) {
	return w & (dataUncompressed - 1), w&dataUncompressed == 0
}
