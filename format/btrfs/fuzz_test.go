package btrfs

import (
	"testing"

	"github.com/klauspost/compress/zstd"
)

// The fuzz targets run every decoder of the package on any bytes: none
// may panic, loop or read outside what it was given, and what they
// accept must hold what their checks promise. Their seeds
// (testdata/fuzz) are cut from mkfs.btrfs images by TestWriteFuzzSeeds
// (seeds_test.go).

func FuzzSuperBlock(f *testing.F) {
	f.Add(make([]byte, SuperInfoSize))
	f.Fuzz(func(t *testing.T, p []byte) {
		s, err := DecodeSuperBlock(p)
		if err != nil {
			return
		}
		VerifySuper(s.CsumType, p)
		if s.NodeSize < s.SectorSize || s.NodeSize > MaxNodeSize || len(s.SysChunkArray) > SystemChunkArraySize {
			t.Fatalf("accepted nodesize %d, sectorsize %d, sys array %d", s.NodeSize, s.SectorSize, len(s.SysChunkArray))
		}
		chunks, err := DecodeSysChunkArray(s.SysChunkArray, s.SectorSize)
		for _, c := range chunks {
			if err == nil && (len(c.Stripes) == 0 || c.Length == 0) {
				t.Fatalf("chunk %+v accepted", c)
			}
		}
	})
}

func FuzzNode(f *testing.F) {
	f.Add(make([]byte, 4096))
	f.Fuzz(func(t *testing.T, p []byte) {
		if len(p) < HeaderSize {
			DecodeNodeUnchecked(p, 0, [FsidSize]byte{})
			return
		}
		var fsid [FsidSize]byte
		copy(fsid[:], p[32:48])
		DecodeNode(p, le.Uint64(p[48:]), CsumCRC32C, fsid)
		n, err := DecodeNodeUnchecked(p, le.Uint64(p[48:]), fsid)
		if err != nil {
			return
		}
		// The tree-checker reads any leaf DecodeNode lets through.
		n.CheckItems(CheckContext{SectorSize: 4096, NodeSize: uint32(len(p)), CsumSize: 4, Generation: 10, SkinnyMetadata: true})
		for i := 0; i < int(n.Nritems); i++ {
			k := n.Key(i)
			if n.Level == 0 {
				it := n.Item(i)
				if it.Key != k {
					t.Fatalf("item %d: key %v, %v", i, it.Key, k)
				}
			} else {
				n.Ptr(i)
			}
			if j := n.Search(k); j != i {
				t.Fatalf("search for key %d found %d", i, j)
			}
		}
	})
}

func FuzzInodeItem(f *testing.F) {
	f.Add(make([]byte, InodeItemSize))
	f.Fuzz(func(t *testing.T, p []byte) {
		in, err := DecodeInodeItem(p)
		if err != nil {
			return
		}
		if len(p) < InodeItemSize || in.Size > 1<<63-1 {
			t.Fatalf("inode item of %d bytes, size %d accepted", len(p), in.Size)
		}
		in.RdevMajorMinor()
	})
}

func FuzzInodeRefs(f *testing.F) {
	f.Add([]byte("\x02\x00\x00\x00\x00\x00\x00\x00\x01\x00a"), uint64(256), false)
	f.Fuzz(func(t *testing.T, p []byte, off uint64, extended bool) {
		refs, err := DecodeInodeRefs(p, off, extended)
		if err != nil {
			return
		}
		total := 0
		for _, r := range refs {
			if len(r.Name) == 0 || len(r.Name) > NameLen {
				t.Fatalf("name of %d bytes accepted", len(r.Name))
			}
			total += len(r.Name) + InodeRefSize
		}
		if total > len(p) {
			t.Fatalf("refs of %d bytes from %d", total, len(p))
		}
	})
}

func FuzzDirItems(f *testing.F) {
	f.Add([]byte("\x01\x01\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x05\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x01a"))
	f.Fuzz(func(t *testing.T, p []byte) {
		items, err := DecodeDirItems(p)
		if err != nil {
			return
		}
		total := 0
		for _, d := range items {
			if len(d.Name) == 0 || len(d.Name) > NameLen || d.Type&FtMask >= FtMax {
				t.Fatalf("dir item %+v accepted", d)
			}
			total += DirItemSize + len(d.Name) + len(d.Data)
			DType(d.Type)
		}
		if total != len(p) {
			t.Fatalf("items of %d bytes from %d", total, len(p))
		}
	})
}

func FuzzRootItem(f *testing.F) {
	f.Add(make([]byte, 439))
	f.Fuzz(func(t *testing.T, p []byte) {
		if r, err := DecodeRootItem(p); err == nil && r.Level >= MaxLevel {
			t.Fatalf("root item of level %d accepted", r.Level)
		}
		if r, err := DecodeRootRef(p); err == nil && len(r.Name) > len(p)-RootRefSize {
			t.Fatalf("root ref name of %d bytes from %d", len(r.Name), len(p))
		}
	})
}

func FuzzFileExtent(f *testing.F) {
	f.Add(make([]byte, FileExtentItemSize), uint32(4096))
	f.Fuzz(func(t *testing.T, p []byte, sector uint32) {
		if sector != 4096 && sector != 65536 {
			sector = 4096
		}
		e, err := DecodeFileExtent(p, sector)
		if err != nil {
			return
		}
		switch e.Type {
		case FileExtentInline:
			if e.RAMBytes > maxInline {
				t.Fatalf("inline extent of %d bytes accepted", e.RAMBytes)
			}
		case FileExtentReg, FileExtentPrealloc:
			if e.NumBytes == 0 || e.DiskBytenr != 0 && e.Compression != 0 && e.RAMBytes > MaxUncompressed {
				t.Fatalf("extent %+v accepted", e)
			}
		default:
			t.Fatalf("type %d accepted", e.Type)
		}
	})
}

func FuzzChunk(f *testing.F) {
	f.Add(uint64(1<<20), make([]byte, ChunkSize+StripeSize))
	f.Fuzz(func(t *testing.T, logical uint64, p []byte) {
		c, n, err := DecodeChunk(logical, p, 4096)
		if err == nil && (n > len(p) || len(c.Stripes) != int(c.NumStripes) || c.Length == 0) {
			t.Fatalf("chunk %+v of %d bytes from %d", c, n, len(p))
		}
		DecodeSysChunkArray(p, 4096)
	})
}

func FuzzLZO(f *testing.F) {
	f.Add([]byte("\x0a\x00\x00\x00\x02\x00\x00\x00\x11\x00"), uint32(4096), uint16(100))
	f.Fuzz(func(t *testing.T, src []byte, sector uint32, n uint16) {
		if sector != 4096 && sector != 65536 {
			sector = 4096
		}
		dst := make([]byte, n)
		DecompressLZO(dst, src, sector)
	})
}

func FuzzDecompress(f *testing.F) {
	f.Add(uint8(CompressZlib), []byte("x\x9c\x03\x00\x00\x00\x00\x01"), uint32(10))
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(4<<20), zstd.WithDecoderMaxWindow(1<<20))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, method uint8, src []byte, ram uint32) {
		dst := make([]byte, ram%(MaxUncompressed+1))
		Decompress(method, dst, src, 4096, dec)
	})
}

func FuzzDirLogItem(f *testing.F) {
	// A DIR_LOG_INDEX item of a log made by Linux 6.18 (fsync of a
	// directory): the range [5, 5], and [10, the last index].
	f.Add([]byte{5, 0, 0, 0, 0, 0, 0, 0}, uint64(5))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, uint64(10))
	f.Fuzz(func(t *testing.T, p []byte, start uint64) {
		end, err := DecodeDirLogItem(p, start)
		if err == nil && (end < start || len(p) < DirLogItemSize) {
			t.Fatalf("range %d to %d accepted from %d bytes", start, end, len(p))
		}
	})
}

// FuzzEncodeDirItem checks the encoder against the decoder: what it
// writes decodes to what it was given.
func FuzzEncodeDirItem(f *testing.F) {
	f.Add([]byte("new"), uint64(265), uint8(FtRegFile), uint64(9))
	f.Fuzz(func(t *testing.T, name []byte, ino uint64, typ uint8, transid uint64) {
		if len(name) == 0 || len(name) > NameLen || typ&FtMask >= FtXattr {
			return
		}
		loc := Key{Objectid: ino, Type: InodeItemKey}
		items, err := DecodeDirItems(EncodeDirItem(loc, transid, typ, name))
		if err != nil || len(items) != 1 || items[0].Location != loc || items[0].Transid != transid ||
			items[0].Type != typ || string(items[0].Name) != string(name) || len(items[0].Data) != 0 {
			t.Fatalf("%q: %+v, %v", name, items, err)
		}
	})
}
