package erofs

import "github.com/lklimg/lklimg/kernel/abi"

// Chunk-based files (EROFS_INODE_CHUNK_BASED): the file is cut into
// chunks of blocksize << (format & ChunkFormatBlkBitsMask) bytes, each
// mapped by an entry after the inode and its xattrs: a 4-byte block
// address (EROFS_BLOCK_MAP_ENTRY_SIZE), or with ChunkFormatIndexes an
// 8-byte struct erofs_inode_chunk_index,
//
//	0 advise u16   2 device_id u16   4 blkaddr u32,
//
// the array aligned to its entry size. NullAddr marks a hole.

// ChunkEntrySize returns the size of one chunk entry of a chunk format.
func ChunkEntrySize(format uint16) int {
	if format&ChunkFormatIndexes != 0 {
		return 8
	}
	return 4
}

// ChunkEntry is a decoded chunk entry.
type ChunkEntry struct {
	DeviceID uint16
	BlkAddr  uint64
	Hole     bool
}

// DecodeChunkEntry decodes the chunk entry at the start of p.
func DecodeChunkEntry(p []byte, format uint16) (ChunkEntry, error) {
	n := ChunkEntrySize(format)
	if len(p) < n {
		return ChunkEntry{}, abi.Errorf(abi.EUCLEAN, "erofs: chunk entry cut at %d bytes", len(p))
	}
	if n == 4 {
		a := le.Uint32(p)
		return ChunkEntry{BlkAddr: uint64(a), Hole: a == NullAddr}, nil
	}
	// erofs_map_blocks: the high bits only with 48BIT, a hole when the
	// bits in use are all ones.
	e := ChunkEntry{DeviceID: le.Uint16(p[2:]), BlkAddr: uint64(le.Uint32(p[4:]))}
	mask := uint64(1)<<32 - 1
	if format&ChunkFormat48Bit != 0 {
		e.BlkAddr |= uint64(le.Uint16(p)) << 32
		mask = 1<<48 - 1
	}
	e.Hole = e.BlkAddr == mask
	return e, nil
}
