package ext4

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/lklimg/lklimg/kernel/abi"
)

// randGroupDesc returns a descriptor with random values in the widths a
// descriptor of descSize bytes holds.
func randGroupDesc(r *rand.Rand, descSize uint32) GroupDesc {
	blk, cnt, csum := uint64(1)<<32-1, uint32(1)<<16-1, uint32(1)<<16-1
	if descSize >= MinDescSize64 {
		blk, cnt, csum = 1<<64-1, 1<<32-1, 1<<32-1
	}
	return GroupDesc{
		BgBlockBitmap: r.Uint64() & blk, BgInodeBitmap: r.Uint64() & blk, BgInodeTable: r.Uint64() & blk,
		BgFreeBlocksCount: r.Uint32() & cnt, BgFreeInodesCount: r.Uint32() & cnt, BgUsedDirsCount: r.Uint32() & cnt,
		BgItableUnused: r.Uint32() & cnt, BgFlags: uint16(r.Uint32()), BgChecksum: uint16(r.Uint32()),
		BgBlockBitmapCsum: r.Uint32() & csum, BgInodeBitmapCsum: r.Uint32() & csum,
	}
}

// TestGroupDescRoundTrip encodes random descriptors of 32, 64 and 128
// bytes over random bytes and decodes them: the fields come back, and the
// bytes the struct does not hold (bg_exclude_bitmap, bg_reserved) stay.
func TestGroupDescRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, size := range []uint32{MinDescSize, MinDescSize64, 128} {
		for i := 0; i < 1000; i++ {
			d := randGroupDesc(r, size)
			b := make([]byte, size)
			for j := range b {
				b[j] = byte(r.Uint32())
			}
			orig := bytes.Clone(b)
			EncodeGroupDesc(b, &d, size)
			got, err := DecodeGroupDesc(b, size)
			if err != nil || got != d {
				t.Fatalf("size %d: %+v, %v; want %+v", size, got, err, d)
			}
			// bg_exclude_bitmap_lo, and in 64-byte descriptors its high
			// half and bg_reserved.
			kept := [][2]int{{0x14, 0x18}}
			if size >= MinDescSize64 {
				kept = append(kept, [2]int{0x34, 0x38}, [2]int{0x3C, int(size)})
			}
			for _, k := range kept {
				if !bytes.Equal(b[k[0]:k[1]], orig[k[0]:k[1]]) {
					t.Fatalf("size %d: bytes %#x-%#x changed", size, k[0], k[1])
				}
			}
		}
	}
	for _, c := range []struct {
		n    int
		size uint32
	}{{31, 32}, {63, 64}, {16, 16}, {0, 0}} {
		if _, err := DecodeGroupDesc(make([]byte, c.n), c.size); !errors.Is(err, abi.EUCLEAN) {
			t.Errorf("DecodeGroupDesc(%d bytes, size %d): %v, want EUCLEAN", c.n, c.size, err)
		}
	}
}

// TestExtentNodeRoundTrip builds roots and tree blocks with ExtNode and
// reads them back with the decoders.
func TestExtentNodeRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, size := range []int{IBlockLen, 1024, 4096, 65536} {
		max := (size - ExtentHeaderSize) / ExtentEntrySize
		b := make([]byte, size)
		n := ExtNode{B: b}
		InitExtentNode(b, max, 0)
		var want []Extent
		for i := 0; i < max; i++ {
			x := Extent{EeBlock: r.Uint32(), EeStart: r.Uint64() & (1<<48 - 1), Unwritten: r.IntN(2) == 0}
			x.EeLen = 1 + r.Uint32N(ExtentInitMaxLen)
			if x.Unwritten && x.EeLen == ExtentInitMaxLen {
				x.EeLen-- // an unwritten extent holds at most 32767 blocks
			}
			// Insert at a random place, as the driver's splits do.
			at := r.IntN(len(want) + 1)
			n.InsertAt(at)
			n.PutExtent(at, x)
			want = append(want[:at], append([]Extent{x}, want[at:]...)...)
		}
		h, err := DecodeExtentNode(b)
		if err != nil || int(h.EhEntries) != max || int(h.EhMax) != max || h.EhDepth != 0 || n.Entries() != max || n.Max() != max {
			t.Fatalf("size %d: header %+v, %v", size, h, err)
		}
		for i, x := range want {
			if got := ExtentAt(b, i); got != x || n.Key(i) != x.EeBlock {
				t.Fatalf("size %d: extent %d: %+v, want %+v", size, i, got, x)
			}
		}
		for len(want) > 0 {
			at := r.IntN(len(want))
			n.DeleteAt(at)
			want = append(want[:at], want[at+1:]...)
			if n.Entries() != len(want) || !AllZero(n.Entry(len(want))) {
				t.Fatalf("size %d: DeleteAt left %d entries, last slot %x", size, n.Entries(), n.Entry(len(want)))
			}
			for i, x := range want {
				if ExtentAt(b, i) != x {
					t.Fatalf("size %d: after DeleteAt(%d), extent %d wrong", size, at, i)
				}
			}
		}
		// An index node.
		InitExtentNode(b, max, 2)
		keys := make([]uint32, max)
		leaves := make([]uint64, max)
		for i := range keys {
			keys[i], leaves[i] = r.Uint32(), r.Uint64()&(1<<48-1)
			n.SetEntries(i + 1)
			n.PutIdx(i, keys[i], leaves[i])
		}
		if h, err := DecodeExtentNode(b); err != nil || h.EhDepth != 2 || n.Depth() != 2 {
			t.Fatalf("size %d: index header %+v, %v", size, h, err)
		}
		for i := range keys {
			if x := ExtentIdxAt(b, i); x.EiBlock != keys[i] || x.EiLeaf != leaves[i] || le.Uint16(n.Entry(i)[10:]) != 0 {
				t.Fatalf("size %d: index %d: %+v, want %d %d", size, i, x, keys[i], leaves[i])
			}
			n.SetKey(i, 7)
			if ExtentIdxAt(b, i).EiBlock != 7 {
				t.Fatal("SetKey")
			}
		}
	}
	if ExtentRootMax != 4 {
		t.Errorf("ExtentRootMax %d", ExtentRootMax)
	}
}

// TestDecodeExtentNodeRefuses checks the header checks of ext4_ext_check.
func TestDecodeExtentNodeRefuses(t *testing.T) {
	good := func() []byte {
		b := make([]byte, IBlockLen)
		InitExtentNode(b, 4, 1)
		ExtNode{B: b}.SetEntries(2)
		return b
	}
	if _, err := DecodeExtentNode(good()); err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(b []byte) []byte{
		"short":           func(b []byte) []byte { return b[:ExtentHeaderSize-1] },
		"magic":           func(b []byte) []byte { b[0] ^= 1; return b },
		"depth":           func(b []byte) []byte { le.PutUint16(b[6:], ExtentMaxDepth+1); return b },
		"max 0":           func(b []byte) []byte { le.PutUint16(b[4:], 0); le.PutUint16(b[2:], 0); return b },
		"max beyond room": func(b []byte) []byte { le.PutUint16(b[4:], 5); return b },
		"room of 3":       func(b []byte) []byte { return b[:IBlockLen-1] },
		"entries > max":   func(b []byte) []byte { le.PutUint16(b[2:], 5); return b },
	} {
		if _, err := DecodeExtentNode(mutate(good())); !errors.Is(err, abi.EUCLEAN) {
			t.Errorf("%s: %v, want EUCLEAN", name, err)
		}
	}
}

// putDirent encodes an entry at off (ext4_dir_entry_2).
func putDirent(b []byte, off int, ino uint32, recLen uint32, name string, ftype uint8) {
	le.PutUint32(b[off:], ino)
	le.PutUint16(b[off+4:], RecLenToDisk(recLen))
	b[off+6] = byte(len(name))
	b[off+7] = ftype
	copy(b[off+DirentHeaderSize:], name)
}

// TestDirBlockRoundTrip writes directory blocks of every size, the last
// entry spanning the rest (a whole 64 KiB block's rec_len is 65535 on
// disk), and parses them back.
func TestDirBlockRoundTrip(t *testing.T) {
	names := []string{".", "..", "a", "four", "fiver", string(bytes.Repeat([]byte{0xe9}, 255))}
	for _, bs := range []uint32{1024, 2048, 4096, 65536} {
		for _, tail := range []bool{false, true} {
			b := make([]byte, bs)
			end := int(bs)
			if tail {
				end -= DirTailSize
				putDirent(b, end, 0, DirTailSize, "", DirTailFt)
			}
			off := 0
			for i, n := range names {
				rl := DirRecLen(len(n))
				if i == len(names)-1 {
					rl = uint32(end - off)
				}
				putDirent(b, off, uint32(i+2), rl, n, uint8(i%8))
				off += int(rl)
			}
			var got []string
			err := ParseDirBlock(b, bs, true, func(off int, d Dirent) bool {
				if d.Inode != 0 && (d.Inode != uint32(len(got)+2) || d.Ftype != uint8(len(got)%8)) {
					t.Errorf("bs %d: entry %q at %d: inode %d ftype %d", bs, d.Name, off, d.Inode, d.Ftype)
				}
				if d.Inode != 0 {
					got = append(got, string(d.Name))
				}
				return true
			})
			if err != nil || len(got) != len(names) || got[5] != names[5] {
				t.Errorf("bs %d tail %v: %q, %v", bs, tail, got, err)
			}
			if IsDirTail(b) != tail {
				t.Errorf("bs %d: IsDirTail %v, want %v", bs, !tail, tail)
			}
			// The walk stops when asked.
			calls := 0
			ParseDirBlock(b, bs, false, func(int, Dirent) bool { calls++; return false })
			if calls != 1 {
				t.Errorf("ParseDirBlock went on after false: %d calls", calls)
			}
		}
	}
}

// TestRecLen checks rec_len's encoding: identity below 64 KiB blocks,
// and in a 64 KiB block every length a multiple of 4 round-trips, the
// whole block as 65535 (or 0, as older kernels wrote).
func TestRecLen(t *testing.T) {
	for n := uint32(4); n <= 65536; n += 4 {
		if got := RecLenFromDisk(RecLenToDisk(n), 65536); got != n {
			t.Fatalf("rec_len %d in a 64 KiB block reads back as %d", n, got)
		}
		if n < 65536 && RecLenFromDisk(uint16(n), 4096) != n {
			t.Fatalf("rec_len %d in a 4 KiB block", n)
		}
	}
	if RecLenToDisk(65536) != MaxRecLen || RecLenFromDisk(0, 65536) != 65536 || RecLenFromDisk(0, 4096) != 0 {
		t.Error("the whole 64 KiB block")
	}
	for n, want := range map[int]uint32{0: 8, 1: 12, 4: 12, 5: 16, 255: 264} {
		if DirRecLen(n) != want {
			t.Errorf("DirRecLen(%d) = %d, want %d", n, DirRecLen(n), want)
		}
	}
}

// TestDecodeDirentRefuses checks the checks of ext4_check_dir_entry.
func TestDecodeDirentRefuses(t *testing.T) {
	for name, c := range map[string]struct {
		recLen  uint32
		nameLen int
		blk     int
	}{
		"truncated":     {12, 1, 7},
		"rec_len 8":     {8, 0, 64},
		"rec_len % 4":   {14, 1, 64},
		"name too long": {12, 5, 64},
		"overrun":       {68, 1, 64},
	} {
		b := make([]byte, c.blk)
		if c.blk >= DirentHeaderSize {
			putDirent(b, 0, 5, c.recLen, "", 1)
			b[6] = byte(c.nameLen)
		}
		if _, err := DecodeDirent(b, 0, 1024, true); !errors.Is(err, abi.EUCLEAN) {
			t.Errorf("%s: %v, want EUCLEAN", name, err)
		}
	}
	if !IsDot([]byte(".")) || !IsDot([]byte("..")) || IsDot([]byte("...")) || IsDot(nil) {
		t.Error("IsDot")
	}
}

// TestDqblkRoundTrip encodes random quota entries and decodes them, and
// checks v2r1_mem2diskdqb's mark of an entry that would read as free.
func TestDqblkRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 1000; i++ {
		d := Dqblk{DqbID: r.Uint32(), DqbIhardlimit: r.Uint64(), DqbIsoftlimit: r.Uint64(), DqbCurinodes: r.Uint64(),
			DqbBhardlimit: r.Uint64(), DqbBsoftlimit: r.Uint64(), DqbCurspace: r.Uint64(), DqbBtime: r.Uint64(), DqbItime: r.Uint64()}
		e := bytes.Repeat([]byte{0xAA}, QuotaEntrySize)
		d.Encode(e)
		var got Dqblk
		got.Decode(e)
		if got != d || le.Uint32(e[4:]) != 0 {
			t.Fatalf("%+v -> %x -> %+v", d, e, got)
		}
	}
	e := make([]byte, QuotaEntrySize)
	(&Dqblk{}).Encode(e)
	var got Dqblk
	got.Decode(e)
	if got != (Dqblk{DqbItime: 1}) {
		t.Errorf("the empty entry for id 0 reads %+v, want dqb_itime 1", got)
	}
	if TreeIndex(0x01020304, 0) != 1 || TreeIndex(0x01020304, 3) != 4 || QuotaEntriesPerBk != 14 {
		t.Error("TreeIndex or entries per block")
	}
	h := make([]byte, QuotaDataHdrSize)
	SetDqdhLinks(h, 7, 9)
	SetDqdhEntries(h, 13)
	if DqdhNext(h) != 7 || DqdhPrev(h) != 9 || DqdhEntries(h) != 13 {
		t.Error("data block header")
	}
}

// decodeTime is the driver's reading of a time and its extra field
// (inodes.rst, "Inode Timestamps").
func decodeTime(lo, extra uint32) abi.Timespec {
	return abi.Timespec{Sec: int64(int32(lo)) + int64(extra&3)<<32, Nsec: int64(extra >> 2)}
}

// TestEncodeTime checks the encoding against the table of inodes.rst
// (the epoch bits extend the signed 32-bit seconds), the clamping at
// both ends of the range, and round trips inside it.
func TestEncodeTime(t *testing.T) {
	const lo, hi = -1 << 31, 1<<31 - 1 + 3<<32
	for _, c := range []struct {
		sec, nsec   int64
		extra       bool
		field, xtra uint32
	}{
		{0, 0, true, 0, 0},
		{-1, 5, true, 0xffffffff, 5 << 2},
		{lo, 0, true, 0x80000000, 0},
		{1<<31 - 1, 999999999, true, 0x7fffffff, 999999999 << 2},
		{1 << 31, 1, true, 0x80000000, 1 | 1<<2},      // 2038: epoch 1
		{1<<32 - 1, 0, true, 0xffffffff, 1},           // 2106
		{1 << 32, 0, true, 0, 1},                      // 2106
		{3<<32 - 1<<31, 0, true, 0x80000000, 3},       // 2310
		{hi, 0, true, 0x7fffffff, 3},                  // 2446
		{hi, 123, true, 0x7fffffff, 3},                // the end keeps no nanoseconds
		{hi + 1, 123, true, 0x7fffffff, 3},            // clamped
		{1 << 40, 5, true, 0x7fffffff, 3},             // clamped
		{lo, 123, true, 0x80000000, 0},                // the start keeps no nanoseconds
		{lo - 1, 5, true, 0x80000000, 0},              // clamped
		{-1 << 40, 5, true, 0x80000000, 0},            // clamped
		{5, 1e9, true, 5, 0},                          // invalid nanoseconds
		{5, -1, true, 5, 0},                           // invalid nanoseconds
		{1 << 31, 0, false, 0x7fffffff, 0},            // 128-byte inodes: 2038
		{-1 << 31, 0, false, 0x80000000, 0},           // and 1901
		{1234567890, 5, false, 1234567890, 5 << 2},    // the extra half is the caller's to drop
		{-1234567890, 7, true, 0xb669fd2e, 7 << 2},    // 1930-11-18
		{-(1 << 31) + 1, 1, true, 0x80000001, 1 << 2}, // just after 1901
	} {
		f, x := EncodeTime(abi.Timespec{Sec: c.sec, Nsec: c.nsec}, c.extra)
		if f != c.field || x != c.xtra {
			t.Errorf("EncodeTime(%d.%09d, %v) = %#x %#x, want %#x %#x", c.sec, c.nsec, c.extra, f, x, c.field, c.xtra)
		}
	}
	r := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < 100000; i++ {
		ts := abi.Timespec{Sec: lo + 1 + r.Int64N(hi-lo-1), Nsec: r.Int64N(1e9)}
		if got := decodeTime(EncodeTime(ts, true)); got != ts {
			t.Fatalf("%+v reads back as %+v", ts, got)
		}
	}
}

// TestOrphanBlock checks an empty orphan file block: zeros, the magic,
// and with metadata_csum a checksum over the entries and the block
// number.
func TestOrphanBlock(t *testing.T) {
	sb := &Superblock{SLogBlockSize: 2, SDescSize: 64, SUUID: [16]byte{1, 2, 3}}
	g := NewGeometry(sb)
	b := bytes.Repeat([]byte{0xff}, 4096)
	g.PutEmptyOrphanBlock(b, 9, 1)
	if !AllZero(b[:4096-OrphanTailSize]) || le.Uint32(b[4096-8:]) != OrphanBlockMagic || le.Uint32(b[4096-4:]) != 0 {
		t.Errorf("without metadata_csum: tail %x", b[4096-8:])
	}
	sb.SFeatureRoCompat |= RoCompatMetadataCsum
	g = NewGeometry(sb)
	g.PutEmptyOrphanBlock(b, 9, 1)
	c := le.Uint32(b[4096-4:])
	if c == 0 || c != g.OrphanBlockCsum(b, 9, 1) || c == g.OrphanBlockCsum(b, 10, 1) || c == g.OrphanBlockCsum(b, 9, 2) {
		t.Errorf("with metadata_csum: checksum %#x", c)
	}
	b[0] = 1
	if g.OrphanBlockCsum(b, 9, 1) == c {
		t.Error("an entry does not change the checksum")
	}
}

// TestBitmap checks the bit helpers at byte boundaries.
func TestBitmap(t *testing.T) {
	b := make([]byte, 4)
	SetBits(b, 3, 21)
	if b[0] != 0xf8 || b[1] != 0xff || b[2] != 0x1f || b[3] != 0 {
		t.Fatalf("SetBits(3, 21): %x", b)
	}
	if FindZero(b, 3, 32) != 21 || FindZero(b, 0, 32) != 0 || FindZero(b, 5, 20) != 20 {
		t.Error("FindZero")
	}
	ClearBit(b, 9)
	if TestBit(b, 9) || !TestBit(b, 10) || FindZero(b, 3, 32) != 9 {
		t.Error("ClearBit")
	}
	if AllZero(b) || !AllZero(nil) || !AllZero(make([]byte, 100)) || AllZero(append(make([]byte, 99), 1)) {
		t.Error("AllZero")
	}
}

// TestGeometryHelpers checks the small derived values: a tree block's
// room, what a cluster counts in i_blocks, the extra inode size of new
// inodes and the check of an inode's i_extra_isize.
func TestGeometryHelpers(t *testing.T) {
	for _, c := range []struct {
		logBlock, logCluster uint32
		bigalloc             bool
		isize, want, min     uint16
		room                 int
		sectors              int64
		newExtra             uint16
	}{
		{0, 0, false, 128, 0, 0, 84, 2, 0},
		{2, 2, false, 256, 32, 32, 340, 8, 32},
		{2, 6, true, 256, 64, 0, 340, 128, 64},
		{6, 6, false, 1024, 0, 0, 5460, 128, 32},
		{2, 2, false, 160, 64, 0, 340, 8, 32}, // capped by the room: 32
		{2, 2, false, 140, 0, 0, 340, 8, 12},  // a 12-byte room
	} {
		sb := &Superblock{SLogBlockSize: c.logBlock, SLogClusterSize: c.logCluster, SInodeSize: c.isize,
			SWantExtraIsize: c.want, SMinExtraIsize: c.min}
		if c.bigalloc {
			sb.SFeatureRoCompat = RoCompatBigalloc
		}
		g := NewGeometry(sb)
		if g.ExtentBlockMax() != c.room || g.ClusterSectors() != c.sectors || g.NewExtraIsize() != c.newExtra {
			t.Errorf("%+v: ExtentBlockMax %d ClusterSectors %d NewExtraIsize %d", c, g.ExtentBlockMax(), g.ClusterSectors(), g.NewExtraIsize())
		}
		raw := make([]byte, c.isize)
		if c.isize > GoodOldInodeSize {
			for x, want := range map[uint16]uint32{0: 0, 4: 4, 6: 0, c.isize - GoodOldInodeSize: uint32(c.isize - GoodOldInodeSize), c.isize - GoodOldInodeSize + 4: 0} {
				le.PutUint16(raw[OffIExtraIsize:], x)
				if want&3 != 0 {
					want = 0
				}
				if got := g.ExtraIsize(raw); got != want {
					t.Errorf("inode size %d, i_extra_isize %d: ExtraIsize %d, want %d", c.isize, x, got, want)
				}
			}
		} else if g.ExtraIsize(raw) != 0 {
			t.Error("ExtraIsize of a 128-byte inode")
		}
	}
}

// TestFindZeroWords: FindZero agrees with a bit-by-bit search for every
// start and end over a bitmap of random words with runs of set bits.
func TestFindZeroWords(t *testing.T) {
	b := make([]byte, 64)
	for i := range b {
		b[i] = 0xFF
	}
	b[13] = 0xEF // bit 108
	b[40] = 0x7F // bit 327
	b[63] = 0xFE // bit 504
	slow := func(from, to uint64) uint64 {
		for i := from; i < to; i++ {
			if !TestBit(b, i) {
				return i
			}
		}
		return to
	}
	for from := uint64(0); from <= 512; from++ {
		for to := from; to <= 512; to++ {
			if got, want := FindZero(b, from, to), slow(from, to); got != want {
				t.Fatalf("FindZero(%d, %d) = %d, want %d", from, to, got, want)
			}
		}
	}
}
