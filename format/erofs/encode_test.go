package erofs

import (
	"bytes"
	"slices"
	"testing"
)

// The encoders are the decoders' mirrors: what they write decodes to
// what they were given. The fuzz targets draw the values from their
// input; the seeds are the corners (empty, one, full).

// FuzzInodeRoundTrip: an inode encoded compact or extended decodes to
// its fields (those its form keeps).
func FuzzInodeRoundTrip(f *testing.F) {
	f.Add(uint16(0o100644), uint32(1), uint64(5), uint32(7), uint32(0), uint32(0), uint64(0), uint32(0), uint8(2), true)
	f.Add(uint16(0o40755), uint32(70000), uint64(1<<40), uint32(0), uint32(1<<20), uint32(1<<31), uint64(1700000000), uint32(999999999), uint8(0), false)
	f.Fuzz(func(t *testing.T, mode uint16, nlink uint32, size uint64, u, uid, gid uint32, mtime uint64, nsec uint32, layout uint8, compact bool) {
		in := Inode{Format: uint16(layout%InodeDataLayoutMax) << IDataLayoutBit, Mode: mode, Nlink: nlink, Size: size % (1 << 62),
			U: u, Uid: uid, Gid: gid, Mtime: mtime, MtimeNsec: nsec % 1e9, Ino: 3, XattrICount: 2}
		if in.DataLayout() == InodeChunkBased {
			in.U &= ChunkFormatAll
		}
		if compact && in.CompactFits() {
			in.Mtime, in.MtimeNsec = uint64(uint32(in.Mtime)), 0
		} else {
			in.Format |= 1
		}
		p := bytes.Repeat([]byte{0xa5}, InodeExtendedSize)
		in.Encode(p)
		got, err := DecodeInode(p)
		if err != nil {
			return // a mode of no type: refused, as Linux does
		}
		if *got != in && !(in.Format&(1<<INlink1Bit) != 0) {
			t.Fatalf("encoded %+v, decoded %+v", in, *got)
		}
	})
}

// FuzzDirBlocks: names cut into blocks and encoded decode to the same
// entries, in order, each block within its size.
func FuzzDirBlocks(f *testing.F) {
	f.Add([]byte("a\x00bb\x00"), uint16(4096))
	f.Add(bytes.Repeat([]byte("name-of-some-length\x00"), 500), uint16(512))
	f.Fuzz(func(t *testing.T, raw []byte, bs uint16) {
		blockSize := 512 << (bs % 4)
		var names [][]byte
		for _, n := range bytes.Split(raw, []byte{0}) {
			if len(n) > 0 && len(n) <= NameLen && bytes.IndexByte(n, 0) < 0 {
				names = append(names, n)
			}
		}
		slices.SortFunc(names, bytes.Compare)
		names = slices.CompactFunc(names, bytes.Equal)
		if len(names) == 0 {
			return
		}
		starts, last := SplitDirBlocks(names, blockSize)
		for i, s := range starts {
			end := len(names)
			if i+1 < len(starts) {
				end = starts[i+1]
			}
			ents := make([]Dirent, 0, end-s)
			for j, n := range names[s:end] {
				ents = append(ents, Dirent{Nid: uint64(s + j), Name: n, FileType: FTRegFile})
			}
			b := make([]byte, blockSize)
			used := EncodeDirBlock(b, ents)
			if used != DirBlockUsed(names[s:end]) || used > blockSize || i+1 == len(starts) && used != last {
				t.Fatalf("block %d: %d bytes used of %d (last %d)", i, used, blockSize, last)
			}
			d, err := DecodeDirBlock(b[:used])
			if err != nil {
				t.Fatalf("block %d: %v", i, err)
			}
			for j := range d.Len() {
				e := d.Entry(j)
				if e.Nid != uint64(s+j) || !bytes.Equal(e.Name, names[s+j]) {
					t.Fatalf("block %d entry %d: %d %q", i, j, e.Nid, e.Name)
				}
			}
		}
	})
}

// FuzzCompactIndexes: a compressed file's extents (starts a block apart
// at least, as the writer makes them) become lcluster indexes, which
// encode compact (4-byte and 2-byte packs) and decode to the same types,
// offsets, deltas and blocks.
func FuzzCompactIndexes(f *testing.F) {
	f.Add([]byte{1, 2, 3}, uint8(0), true)
	f.Add(bytes.Repeat([]byte{0, 1, 7, 200}, 50), uint8(3), false)
	f.Fuzz(func(t *testing.T, gaps []byte, align uint8, twoB bool) {
		const bits = 12
		// Extents: the first at 0, each next 4096 to 4096+4095*... bytes on.
		var idx []LclusterIndex
		head := map[int]LclusterIndex{}
		la, pblk := 0, uint32(1000)
		for k, g := range gaps {
			h := la >> bits
			head[h] = LclusterIndex{Type: uint8(LclusterTypeHead1 - k%2), ClusterOfs: uint32(la % 4096), Pblk: pblk}
			pblk++
			la += 4096 + int(g)*37
		}
		total := la>>bits + 1
		last := 0
		for j := range total {
			if m, ok := head[j]; ok {
				idx, last = append(idx, m), j
				continue
			}
			next := j + 1
			for next < total {
				if _, ok := head[next]; ok {
					break
				}
				next++
			}
			idx = append(idx, LclusterIndex{Type: LclusterTypeNonhead, ClusterOfs: 4096,
				Delta: [2]uint32{uint32(j - last), uint32(next - j)}})
		}
		var advise uint16
		if twoB {
			advise = AdviseCompacted2B
		}
		ebase := int64(align%4)*8 + MapHeaderSize + 64
		dst := bytes.Repeat([]byte{0xa5}, CompactIndexesSize(ebase, uint64(len(idx)), advise))
		if err := EncodeCompactIndexes(dst, ebase, idx, bits, advise); err != nil {
			t.Fatal(err)
		}
		c := NewCompactLayout(ebase, uint64(len(idx)), advise)
		for lcn, want := range idx {
			pos, shift, err := c.Pos(uint64(lcn))
			if err != nil {
				t.Fatal(err)
			}
			vcnt, size, err := CompactPack(shift, bits)
			if err != nil {
				t.Fatal(err)
			}
			base := pos &^ int64(size-1)
			got, err := DecodeCompactIndex(dst[base-ebase:base-ebase+int64(size)], vcnt, int(pos-base)>>shift, bits, false, true)
			if err != nil {
				t.Fatalf("lcluster %d: %v", lcn, err)
			}
			if got.Type != want.Type || got.ClusterOfs != want.ClusterOfs || got.Pblk != want.Pblk ||
				want.Type == LclusterTypeNonhead && got.Delta[0] != want.Delta[0] {
				t.Fatalf("lcluster %d: decoded %+v, encoded %+v", lcn, got, want)
			}
		}
	})
}

// TestXattrNames: the prefixes erofs has split off, the others refused.
func TestXattrNames(t *testing.T) {
	for _, c := range []struct {
		name   string
		index  uint8
		suffix string
		ok     bool
	}{
		{"user.x", XattrIndexUser, "x", true},
		{"trusted.overlay.opaque", XattrIndexTrusted, "overlay.opaque", true},
		{"security.selinux", XattrIndexSecurity, "selinux", true},
		{"system.posix_acl_access", XattrIndexPosixACLAccess, "", true},
		{"system.posix_acl_default", XattrIndexPosixACLDefault, "", true},
		{"system.posix_acl_accessx", 0, "", false},
		{"system.other", 0, "", false},
		{"os2.x", 0, "", false},
	} {
		i, s, ok := SplitXattrName(c.name)
		if i != c.index || s != c.suffix || ok != c.ok {
			t.Errorf("SplitXattrName(%q) = %d %q %t", c.name, i, s, ok)
		}
		if !ok {
			continue
		}
		p := make([]byte, XattrEntryLen(s, 3))
		n := EncodeXattrEntry(p, i, s, []byte("abc"))
		e, m, err := DecodeXattrEntry(p)
		if err != nil || m != n || e.NameIndex != i || string(e.Name) != s || string(e.Value) != "abc" {
			t.Errorf("%s: entry round trip: %+v %d %v", c.name, e, m, err)
		}
		if XattrPrefix(i)+s != c.name {
			t.Errorf("%s: prefix %q", c.name, XattrPrefix(i))
		}
	}
}

// TestSuperBlockRoundTrip: the superblock encodes to what decodes, and
// its checksum is the one the reader checks.
func TestSuperBlockRoundTrip(t *testing.T) {
	s := SuperBlock{Magic: SuperMagicV1, FeatureCompat: FeatureCompatSbChksum, BlkSzBits: 12, RootNid: 36, Inos: 9,
		BuildTime: 1700000000, BuildTimeNsec: 5, Blocks: 77, MetaBlkAddr: 70, XattrBlkAddr: 69,
		UUID: [16]byte{1, 2, 3}, VolumeName: [16]byte{'v'}, FeatureIncompat: FeatureIncompatZeroPadding | FeatureIncompatComprCfgs,
		AvailableComprAlgs: 1 << CompressionZstd}
	blk := bytes.Repeat([]byte{0xa5}, 4096)
	s.Encode(blk[SuperOffset:])
	PutSuperChecksum(blk[SuperOffset:])
	got, err := DecodeSuperBlock(blk[SuperOffset:])
	if err != nil || got.Check() != nil {
		t.Fatalf("%v %v", err, got.Check())
	}
	sum := got.Checksum
	got.Checksum = 0
	if *got != s {
		t.Errorf("encoded %+v, decoded %+v", s, *got)
	}
	if SuperChecksum(blk[SuperOffset:SuperOffset+got.ChecksumLen()]) != sum {
		t.Errorf("checksum %#x does not verify", sum)
	}
}
