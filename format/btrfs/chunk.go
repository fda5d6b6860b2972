package btrfs

import (
	"github.com/lklimg/lklimg/kernel/abi"
)

// A chunk item (struct btrfs_chunk, key (256, CHUNK_ITEM, logical)):
//
//	 0 length u64      8 owner u64     16 stripe_len u64
//	24 type u64       32 io_align u32  36 io_width u32
//	40 sector_size u32 44 num_stripes u16 46 sub_stripes u16
//	48 stripes: num_stripes struct btrfs_stripe (devid u64, offset u64,
//	   dev_uuid[16]: 32 bytes each)
const (
	ChunkSize  = 48
	StripeSize = 32
)

// Block group types and profiles (BTRFS_BLOCK_GROUP_*): a chunk's type.
const (
	BlockGroupData     = 1 << 0
	BlockGroupSystem   = 1 << 1
	BlockGroupMetadata = 1 << 2
	BlockGroupRAID0    = 1 << 3
	BlockGroupRAID1    = 1 << 4
	BlockGroupDUP      = 1 << 5
	BlockGroupRAID10   = 1 << 6
	BlockGroupRAID5    = 1 << 7
	BlockGroupRAID6    = 1 << 8
	BlockGroupRAID1C3  = 1 << 9
	BlockGroupRAID1C4  = 1 << 10
	// BlockGroupStriped are the profiles that spread a chunk over
	// several devices (or stripes of one), which this reader refuses.
	BlockGroupStriped = BlockGroupRAID0 | BlockGroupRAID1 | BlockGroupRAID10 |
		BlockGroupRAID5 | BlockGroupRAID6 | BlockGroupRAID1C3 | BlockGroupRAID1C4
)

// Stripe is struct btrfs_stripe: where a copy of the chunk lies.
type Stripe struct {
	Devid  uint64
	Offset uint64
}

// Chunk is a decoded chunk item with its logical start (the key's offset).
type Chunk struct {
	Logical    uint64
	Length     uint64
	StripeLen  uint64
	Type       uint64
	NumStripes uint16
	SubStripes uint16
	Stripes    []Stripe
}

// DecodeChunk decodes a chunk item's data for logical address logical,
// checking it as btrfs_check_chunk_valid does: a length, at least one
// stripe, each stripe inside b, and the sizes sane.
func DecodeChunk(logical uint64, b []byte, sectorSize uint32) (Chunk, int, error) {
	bad := func(format string, args ...any) (Chunk, int, error) {
		return Chunk{}, 0, abi.Errorf(abi.EUCLEAN, "btrfs: chunk at logical %d: "+format, append([]any{logical}, args...)...)
	}
	if len(b) < ChunkSize {
		return bad("item of %d bytes", len(b))
	}
	c := Chunk{
		Logical:    logical,
		Length:     le.Uint64(b[0:]),
		StripeLen:  le.Uint64(b[16:]),
		Type:       le.Uint64(b[24:]),
		NumStripes: le.Uint16(b[44:]),
		SubStripes: le.Uint16(b[46:]),
	}
	if c.NumStripes == 0 {
		return bad("no stripes")
	}
	n := ChunkSize + int(c.NumStripes)*StripeSize
	if n > len(b) {
		return bad("%d stripes in %d bytes", c.NumStripes, len(b))
	}
	if c.Length == 0 || c.Length%uint64(sectorSize) != 0 || logical%uint64(sectorSize) != 0 {
		return bad("length %d unaligned or zero", c.Length)
	}
	if logical+c.Length < logical {
		return bad("length %d overflows", c.Length)
	}
	if c.Type&(BlockGroupData|BlockGroupSystem|BlockGroupMetadata) == 0 {
		return bad("type %#x has no block group type", c.Type)
	}
	c.Stripes = make([]Stripe, c.NumStripes)
	for i := range c.Stripes {
		p := ChunkSize + i*StripeSize
		c.Stripes[i] = Stripe{Devid: le.Uint64(b[p:]), Offset: le.Uint64(b[p+8:])}
	}
	return c, n, nil
}

// DecodeSysChunkArray decodes the superblock's sys_chunk_array: pairs of
// a disk key (256, CHUNK_ITEM, logical) and a chunk item with its
// stripes (btrfs_read_sys_array).
func DecodeSysChunkArray(b []byte, sectorSize uint32) ([]Chunk, error) {
	var chunks []Chunk
	for len(b) > 0 {
		if len(b) < KeySize {
			return nil, abi.Errorf(abi.EUCLEAN, "btrfs: sys_array too short to read %d bytes", KeySize)
		}
		k := DecodeKey(b)
		if k.Type != ChunkItemKey {
			return nil, abi.Errorf(abi.EUCLEAN, "btrfs: sys_array: unexpected item type %d at key %v", k.Type, k)
		}
		c, n, err := DecodeChunk(k.Offset, b[KeySize:], sectorSize)
		if err != nil {
			return nil, err
		}
		chunks = append(chunks, c)
		b = b[KeySize+n:]
	}
	return chunks, nil
}
