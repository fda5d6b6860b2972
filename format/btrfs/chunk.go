package btrfs

import (
	"math/bits"

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
	// several devices (or stripes of one).
	BlockGroupStriped = BlockGroupRAID0 | BlockGroupRAID1 | BlockGroupRAID10 |
		BlockGroupRAID5 | BlockGroupRAID6 | BlockGroupRAID1C3 | BlockGroupRAID1C4
	// BlockGroupMirrored are the profiles whose every stripe holds the
	// whole chunk (btrfs_raid_array's sub_stripes 1, ncopies the
	// stripes): copies to read from when one is bad.
	BlockGroupMirrored = BlockGroupDUP | BlockGroupRAID1 | BlockGroupRAID1C3 | BlockGroupRAID1C4
	// StripeLen is BTRFS_STRIPE_LEN, the length of a striped profile's
	// pieces: the only one Linux uses.
	StripeLen = 64 << 10
)

// Copies is how many copies of each byte the chunk holds
// (btrfs_chunk_max_errors + 1, btrfs_num_copies): every stripe of a
// mirrored profile, both of a RAID10 pair, one otherwise (RAID5/6's
// parity is not a copy).
func (c *Chunk) Copies() int {
	switch {
	case c.Type&BlockGroupMirrored != 0:
		return len(c.Stripes)
	case c.Type&BlockGroupRAID10 != 0:
		return int(c.SubStripes)
	}
	return 1
}

// DataStripes is how many stripes the chunk's bytes are spread over, one
// 64 KiB piece after another (calc_data_stripes): all of RAID0's, the
// pairs of RAID10, all but the parity of RAID5 (one) and RAID6 (two);
// one for the mirrored profiles and single.
func (c *Chunk) DataStripes() int {
	n := len(c.Stripes)
	switch {
	case c.Type&BlockGroupRAID0 != 0:
		return n
	case c.Type&BlockGroupRAID10 != 0:
		return n / int(c.SubStripes)
	case c.Type&BlockGroupRAID5 != 0:
		return n - 1
	case c.Type&BlockGroupRAID6 != 0:
		return n - 2
	}
	return 1
}

// DevLength is how many bytes of each device a stripe of the chunk
// covers, the length of its dev extents (btrfs_calc_stripe_length).
func (c *Chunk) DevLength() uint64 {
	return c.Length / uint64(c.DataStripes())
}

// IsRAID56 reports whether the chunk is RAID5 or RAID6: its data can be
// rebuilt from the other stripes of a row and the P parity.
func (c *Chunk) IsRAID56() bool { return c.Type&(BlockGroupRAID5|BlockGroupRAID6) != 0 }

// RowPeers returns, for the byte at logical at of a RAID5/6 chunk, the
// stripes whose pieces XOR to its piece (the row's other data pieces and
// its P parity, as raid56.c's recover_sectors with one stripe lost), the
// offset in each stripe's device extent where they lie (add the stripe's
// Offset) and how many bytes lie on in a row.
func (c *Chunk) RowPeers(at uint64) (peers []int, inStripe, run uint64) {
	off := at - c.Logical
	n := len(c.Stripes)
	data := c.DataStripes()
	nr, in := off/StripeLen, off%StripeLen
	row := nr / uint64(data)
	self := int(nr % uint64(data))
	for i := 0; i <= data; i++ { // the data pieces, then P
		if i != self {
			peers = append(peers, (i+int(row))%n)
		}
	}
	return peers, row*StripeLen + in, StripeLen - in
}

// Place returns which stripe holds copy mirror (0 to Copies()-1) of the
// byte at logical at of the chunk, its offset on that stripe's device,
// and how many bytes from it lie on in a row (btrfs_map_block). A
// striped chunk's 64 KiB pieces go round its data stripes; RAID10's
// round its pairs, mirror picking one of a pair; RAID5/6's parity
// pieces move one stripe on each row (map_blocks_raid56_read), so that
// the data piece nr of row r is on stripe (nr + r) mod num_stripes.
func (c *Chunk) Place(at uint64, mirror int) (stripe int, phys, run uint64) {
	off := at - c.Logical
	n := uint64(len(c.Stripes))
	nr, in := off/StripeLen, off%StripeLen
	switch {
	case c.Type&BlockGroupRAID0 != 0:
		stripe = int(nr % n)
		return stripe, c.Stripes[stripe].Offset + nr/n*StripeLen + in, StripeLen - in
	case c.Type&BlockGroupRAID10 != 0:
		sub := uint64(c.SubStripes)
		groups := n / sub
		stripe = int(nr%groups*sub) + mirror%int(sub)
		return stripe, c.Stripes[stripe].Offset + nr/groups*StripeLen + in, StripeLen - in
	case c.Type&(BlockGroupRAID5|BlockGroupRAID6) != 0:
		data := uint64(c.DataStripes())
		row := nr / data
		stripe = int((nr%data + row) % n)
		return stripe, c.Stripes[stripe].Offset + row*StripeLen + in, StripeLen - in
	}
	stripe = min(mirror, len(c.Stripes)-1)
	return stripe, c.Stripes[stripe].Offset + off, c.Length - off
}

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
	if bits.OnesCount64(c.Type&blockGroupProfileMask) > 1 {
		return bad("invalid chunk profile flag: %#x", c.Type&blockGroupProfileMask)
	}
	if c.StripeLen != StripeLen {
		return bad("invalid stripe length %d", c.StripeLen)
	}
	// The stripes each profile needs (btrfs_check_chunk_valid), so
	// that Place divides by none of zero.
	ns, t := c.NumStripes, c.Type
	if t&BlockGroupRAID10 != 0 && (c.SubStripes != 2 || ns%2 != 0) ||
		t&BlockGroupRAID1 != 0 && ns != 2 ||
		t&BlockGroupRAID1C3 != 0 && ns != 3 ||
		t&BlockGroupRAID1C4 != 0 && ns != 4 ||
		t&BlockGroupRAID5 != 0 && ns < 2 ||
		t&BlockGroupRAID6 != 0 && ns < 3 ||
		t&BlockGroupDUP != 0 && ns != 2 ||
		t&blockGroupProfileMask == 0 && ns != 1 {
		return bad("invalid num_stripes:sub_stripes %d:%d for profile %#x", ns, c.SubStripes, t&blockGroupProfileMask)
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
