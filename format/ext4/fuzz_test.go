package ext4

import (
	"bytes"
	"testing"

	"github.com/lklimg/lklimg/kernel/abi"
)

// Fuzz targets for every decoder that takes bytes: none may panic, read
// outside its input, or allocate by a field it has not checked; what they
// accept must encode back to the same bytes where an encoder exists. The
// seeds in testdata/fuzz come from mke2fs images (TestWriteFuzzSeeds
// writes them); the f.Add seeds need no tool.

// fuzzGeometry is a geometry with metadata_csum and 64-byte descriptors,
// for the checksum helpers the targets call.
func fuzzGeometry() Geometry {
	return NewGeometry(&Superblock{
		SLogBlockSize: 2, SLogClusterSize: 2, SBlocksPerGroup: 32768, SClustersPerGroup: 32768,
		SInodesPerGroup: 8192, SInodesCount: 8192, SBlocksCount: 32768, SInodeSize: 256,
		SFeatureIncompat: Incompat64bit, SFeatureRoCompat: RoCompatMetadataCsum | RoCompatGdtCsum,
		SDescSize: 64, SUUID: [16]byte{1, 2, 3, 4}, SChecksumType: ChecksumTypeCrc32c,
	})
}

func FuzzSuperblock(f *testing.F) {
	f.Add(make([]byte, SuperblockSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		sb, err := DecodeSuperblock(b)
		if err != nil {
			return
		}
		if sb.BlockSize() < 1024 || sb.BlockSize() > 65536 || sb.DescSize() < MinDescSize || sb.DescSize() > sb.BlockSize() {
			t.Fatalf("block size %d, descriptor size %d", sb.BlockSize(), sb.DescSize())
		}
		if sb.GroupCount() == 0 || sb.GroupCount() > 1<<32 {
			t.Fatalf("%d groups", sb.GroupCount())
		}
		_, _, _ = sb.FeatureString(), sb.UuidString(), IncompatString(sb.SFeatureIncompat)
		sb.CheckEncoding()
		g := NewGeometry(sb)
		if g.DescPerBlock == 0 || g.InodeTableBlocks == 0 || g.FlexSize() == 0 {
			t.Fatalf("geometry %+v", g)
		}
		for gr := uint32(0); gr < 64 && uint64(gr) < sb.GroupCount(); gr++ {
			sb.HasSuper(uint64(gr))
			g.GroupFirst(gr)
			g.GroupClusters(gr)
			g.BaseMetaClusters(gr)
			g.DescBlock(uint64(gr))
		}
		g.GroupOfBlock(sb.SBlocksCount - 1)
		s := bytes.Clone(b[:SuperblockSize])
		g.SetSuperCsum(s)
	})
}

func FuzzGroupDesc(f *testing.F) {
	f.Add(make([]byte, 64), uint16(64))
	f.Add(make([]byte, 32), uint16(32))
	f.Fuzz(func(t *testing.T, b []byte, size uint16) {
		d, err := DecodeGroupDesc(b, uint32(size))
		if err != nil {
			return
		}
		// Encoding what was decoded gives the same bytes.
		out := bytes.Clone(b)
		EncodeGroupDesc(out, &d, uint32(size))
		if !bytes.Equal(out, b) {
			t.Fatalf("descriptor %x encodes back as %x", b, out)
		}
		g := fuzzGeometry()
		g.GroupDescCsum(3, b[:size])
		g.Super.SFeatureRoCompat &^= RoCompatMetadataCsum
		g.GroupDescCsum(3, b[:size])
		g.CheckGroupDesc(0, &d)
	})
}

func FuzzExtentNode(f *testing.F) {
	root := make([]byte, IBlockLen)
	InitExtentNode(root, ExtentRootMax, 0)
	f.Add(root)
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := DecodeExtentNode(b)
		if err != nil {
			return
		}
		n := ExtNode{B: bytes.Clone(b)}
		if n.Entries() != int(h.EhEntries) || n.Max() != int(h.EhMax) || n.Depth() != int(h.EhDepth) {
			t.Fatalf("ExtNode reads %d %d %d, header %+v", n.Entries(), n.Max(), n.Depth(), h)
		}
		for i := 0; i < int(h.EhEntries); i++ {
			x, ix := ExtentAt(b, i), ExtentIdxAt(b, i)
			if x.EeLen > ExtentInitMaxLen || x.EeStart >= 1<<48 || ix.EiLeaf >= 1<<48 {
				t.Fatalf("entry %d: %+v %+v", i, x, ix)
			}
			// Both encoders give back the entry's bytes (an index's
			// ei_unused excepted).
			n.PutExtent(i, x)
			if !bytes.Equal(n.Entry(i), b[ExtentHeaderSize+i*ExtentEntrySize:][:ExtentEntrySize]) {
				t.Fatalf("extent %d: %+v encodes as %x", i, x, n.Entry(i))
			}
			n.PutIdx(i, ix.EiBlock, ix.EiLeaf)
			if !bytes.Equal(n.Entry(i)[:10], b[ExtentHeaderSize+i*ExtentEntrySize:][:10]) {
				t.Fatalf("index %d: %+v encodes as %x", i, ix, n.Entry(i))
			}
		}
		if h.EhEntries < h.EhMax {
			n.InsertAt(0)
		}
		if n.Entries() > 0 {
			n.DeleteAt(n.Entries() - 1)
		}
	})
}

func FuzzDirBlock(f *testing.F) {
	b := make([]byte, 1024)
	putDirent(b, 0, 2, 12, ".", 2)
	putDirent(b, 12, 2, 1024-12-DirTailSize, "..", 2)
	putDirent(b, 1024-DirTailSize, 0, DirTailSize, "", DirTailFt)
	f.Add(b, true, false)
	f.Fuzz(func(t *testing.T, b []byte, filetype, big bool) {
		bs := uint32(len(b))
		if big {
			bs = 65536 // rec_len's 64 KiB encoding, whatever the length
		}
		n := 0
		err := ParseDirBlock(b, bs, filetype, func(off int, d Dirent) bool {
			if off < 0 || uint64(off)+uint64(d.RecLen) > uint64(len(b)) || len(d.Name) > 255 ||
				d.RecLen < DirRecLen(len(d.Name)) || d.RecLen%4 != 0 || !filetype && d.Ftype != 0 {
				t.Fatalf("entry at %d: %+v in %d bytes", off, d, len(b))
			}
			n++
			return true
		})
		if n > len(b)/12+1 {
			t.Fatalf("%d entries in %d bytes", n, len(b))
		}
		if err == nil && len(b) > 0 && n == 0 {
			t.Fatal("a non-empty block without entries")
		}
		IsDirTail(b)
		if len(b) >= 2 {
			RecLenFromDisk(le.Uint16(b), bs)
		}
	})
}

func FuzzDxNode(f *testing.F) {
	b := make([]byte, 1024)
	putDirent(b, 0, 2, 12, ".", 2)
	putDirent(b, 12, 2, 1024-12, "..", 2)
	b[DxRootInfoOffset+4] = HashHalfMD4
	b[DxRootInfoOffset+5] = DxRootInfoLen
	le.PutUint16(b[DxRootCountOffset:], (1024-DxRootCountOffset-DxTailSize)/DxEntrySize)
	le.PutUint16(b[DxRootCountOffset+2:], 1)
	le.PutUint32(b[DxRootCountOffset+4:], 1)
	f.Add(b, "name", false)
	f.Fuzz(func(t *testing.T, b []byte, name string, big bool) {
		bs := uint32(len(b))
		if big {
			bs = 65536
		}
		for v := uint8(0); v <= HashSiphash+1; v++ {
			h, m, ok := DirHash(v, []byte(name), [4]uint32{1, 2, 3, 4})
			if ok != (v < HashSiphash) || h&1 != 0 || h == 0x7fffffff<<1 || (v == HashLegacy || v == HashLegacyUnsigned) && m != 0 {
				t.Fatalf("DirHash(%d, %q) = %#x %#x %v", v, name, h, m, ok)
			}
		}
		co, ok := DxCountOffset(b, bs)
		if !ok {
			return
		}
		ents, count, err := DxEntries(b, co)
		if err != nil {
			return
		}
		if count < 1 || len(ents) != count*DxEntrySize || co+len(ents) > len(b) {
			t.Fatalf("%d entries at %d, %d bytes, in %d", count, co, len(ents), len(b))
		}
		h, _, _ := DirHash(HashTea, []byte(name), [4]uint32{})
		if i := DxFind(ents, count, h); i < 0 || i >= count {
			t.Fatalf("DxFind: %d of %d", i, count)
		}
	})
}

func FuzzXattrEntries(f *testing.F) {
	area := make([]byte, 96)
	le.PutUint32(area, XattrMagic)
	area[4], area[5] = 3, XattrIndexUser
	le.PutUint16(area[6:], 40)
	le.PutUint32(area[12:], 3)
	copy(area[20:], "foo")
	copy(area[44:], "bar")
	f.Add(area, uint16(4), int16(4))
	f.Fuzz(func(t *testing.T, area []byte, start uint16, base int16) {
		ents, err := DecodeXattrEntries(area, int(start), int(base))
		if err != nil {
			return
		}
		if len(ents) > len(area)/XattrEntryHdrSize {
			t.Fatalf("%d entries in %d bytes", len(ents), len(area))
		}
		for i := range ents {
			e := &ents[i]
			if len(e.Value) > len(area) || e.Inum == 0 && uint32(len(e.Value)) != e.Size || len(e.Name) > 255 {
				t.Fatalf("entry %d: %+v", i, e)
			}
			if e.Size > abi.XATTR_SIZE_MAX {
				t.Fatalf("entry %d: value size %d", i, e.Size)
			}
			_, _, _ = e.FullName(), e.Listed(), IsSystemData(*e)
		}
	})
}

func FuzzDqblk(f *testing.F) {
	e := make([]byte, QuotaEntrySize)
	(&Dqblk{DqbID: 1000, DqbCurspace: 4096, DqbCurinodes: 1}).Encode(e)
	f.Add(e)
	f.Fuzz(func(t *testing.T, e []byte) {
		if len(e) < QuotaEntrySize {
			return
		}
		var d, back Dqblk
		d.Decode(e)
		out := make([]byte, QuotaEntrySize)
		d.Encode(out)
		back.Decode(out)
		if d == (Dqblk{}) {
			d.DqbItime = 1 // an entry that would read as free is marked used
		}
		if back != d || !bytes.Equal(out[8:], e[8:QuotaEntrySize]) && d.DqbItime != 1 {
			t.Fatalf("%x decodes as %+v, encodes as %x", e[:QuotaEntrySize], d, out)
		}
	})
}

// FuzzLoadGroupDescs decodes the superblock of a fuzzed device and loads
// its descriptor table from it: the table's size is bounded by the
// device's, and every descriptor it keeps points inside the filesystem.
func FuzzLoadGroupDescs(f *testing.F) {
	f.Add(make([]byte, 4096))
	f.Fuzz(func(t *testing.T, dev []byte) {
		if len(dev) < SuperblockOffset+SuperblockSize {
			return
		}
		sb, err := DecodeSuperblock(dev[SuperblockOffset:])
		if err != nil {
			return
		}
		g := NewGeometry(sb)
		read := func(b []byte, blk uint64) error {
			off := blk << g.BlockBits
			if blk >= uint64(len(dev))>>g.BlockBits || off+uint64(len(b)) > uint64(len(dev)) {
				return abi.EIO
			}
			copy(b, dev[off:])
			return nil
		}
		bad := 0
		if err := g.LoadGroupDescs(int64(len(dev)), read, func(uint64, uint16, uint16) { bad++ }); err != nil {
			return
		}
		if uint64(len(g.Groups)) != sb.GroupCount() || uint64(len(g.Groups))*uint64(sb.DescSize()) > uint64(len(dev))+uint64(g.BlockSize) {
			t.Fatalf("%d groups from %d bytes", len(g.Groups), len(dev))
		}
		marked := 0
		for i := range g.Groups {
			if g.CheckGroupDesc(uint64(i), &g.Groups[i]) != nil {
				t.Fatalf("group %d kept: %+v", i, g.Groups[i])
			}
			if g.Groups[i].BadCsum {
				marked++
			}
		}
		if marked != bad {
			t.Fatalf("%d bad checksums reported, %d marked", bad, marked)
		}
		for gr := uint32(0); gr < 16 && int(gr) < len(g.Groups); gr++ {
			g.BaseMetaBlocks(gr)
			bm := make([]byte, g.BlockSize)
			g.InitBlockBitmap(gr, bm)
			g.CountFree(gr, bm)
		}
	})
}
