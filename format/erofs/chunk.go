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

// Extra devices (struct erofs_deviceslot, 128 bytes each from byte
// devt_slotoff * 128 of the device):
//
//	 0 tag[64]      64 blocks_lo u32   68 uniaddr_lo u32
//	72 blocks_hi u16   74 uniaddr_hi u16 (48BIT)   76 reserved[52]
//
// A chunk index's device_id (masked by DeviceIDMask) names slot id-1.
// Mounted without the devices, Linux reads them all from the primary
// device, each from its unified address (uniaddr): a "flat" image.
const DeviceSlotSize = 128

// DeviceSlot is the part of a device slot a reader uses.
type DeviceSlot struct {
	Blocks  uint64
	UniAddr uint64
}

// DecodeDeviceSlot decodes the slot at the start of p; the high halves
// count only with the 48-bit layout.
func DecodeDeviceSlot(p []byte, bit48 bool) (DeviceSlot, error) {
	if len(p) < DeviceSlotSize {
		return DeviceSlot{}, abi.Errorf(abi.EUCLEAN, "erofs: device slot cut at %d bytes", len(p))
	}
	d := DeviceSlot{Blocks: uint64(le.Uint32(p[64:])), UniAddr: uint64(le.Uint32(p[68:]))}
	if bit48 {
		d.Blocks |= uint64(le.Uint16(p[72:])) << 32
		d.UniAddr |= uint64(le.Uint16(p[74:])) << 32
	}
	return d, nil
}

// DeviceIDMask is the mask of a chunk index's device_id for n extra
// devices (roundup_pow_of_two(n + 1) - 1).
func DeviceIDMask(n uint16) uint16 {
	m := uint16(1)
	for m < n+1 {
		m <<= 1
	}
	return m - 1
}
