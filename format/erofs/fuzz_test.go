package erofs

import (
	"testing"

	"github.com/klauspost/compress/zstd"
)

// The fuzz targets run every decoder of the package on any bytes: none
// may panic, loop or read outside what it was given, and what they
// accept must be consistent. Their seeds (testdata/fuzz) are cut from
// mkfs.erofs images by TestWriteFuzzSeeds (seeds_test.go).

func FuzzSuperBlock(f *testing.F) {
	f.Add(make([]byte, 3072))
	f.Fuzz(func(t *testing.T, p []byte) {
		s, err := DecodeSuperBlock(p)
		if err != nil {
			return
		}
		if s.Check() != nil {
			return
		}
		if n := s.ChecksumLen(); n <= len(p) {
			SuperChecksum(p[:n])
		}
		if s.BlockSize() < 512 || s.BlockSize() > 4096 || s.Size() > 4096-SuperOffset {
			t.Fatalf("checked superblock with block size %d, size %d", s.BlockSize(), s.Size())
		}
	})
}

func FuzzInode(f *testing.F) {
	f.Add(make([]byte, 64))
	f.Fuzz(func(t *testing.T, p []byte) {
		in, err := DecodeInode(p)
		if err != nil {
			return
		}
		if in.ISize() > len(p) || in.DataLayout() >= InodeDataLayoutMax {
			t.Fatalf("inode of %d bytes, layout %d accepted from %d bytes", in.ISize(), in.DataLayout(), len(p))
		}
		in.Rdev()
		in.XattrISize()
		in.Compressed()
	})
}

func FuzzDirBlock(f *testing.F) {
	f.Add([]byte("\x01\x00\x00\x00\x00\x00\x00\x00\x18\x00\x02\x00\x01\x00\x00\x00\x00\x00\x00\x00\x19\x00\x02\x00...."))
	f.Fuzz(func(t *testing.T, p []byte) {
		d, err := DecodeDirBlock(p)
		if err != nil {
			return
		}
		if d.Len()*DirentSize >= len(p) {
			t.Fatalf("%d entries in %d bytes", d.Len(), len(p))
		}
		for i := 0; i < d.Len(); i++ {
			e := d.Entry(i)
			if len(e.Name) == 0 || len(e.Name) > NameLen {
				t.Fatalf("entry %d: name of %d bytes", i, len(e.Name))
			}
			DType(e.FileType)
		}
	})
}

func FuzzXattrBody(f *testing.F) {
	f.Add([]byte("\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x07\x00\x00\x00\x01\x01\x01\x00ab\x00\x00"))
	f.Fuzz(func(t *testing.T, body []byte) {
		h, err := DecodeXattrIbodyHeader(body)
		if err != nil {
			return
		}
		for i := 0; i < int(h.SharedCount); i++ {
			SharedXattr(body, i)
		}
		rest := body[XattrIbodyHeaderSize+4*int(h.SharedCount):]
		for len(rest) > 0 {
			e, n, err := DecodeXattrEntry(rest)
			if err != nil {
				return
			}
			if n < XattrEntrySize || len(e.Name)+len(e.Value)+XattrEntrySize > n {
				t.Fatalf("entry of %d bytes holds %d+%d", n, len(e.Name), len(e.Value))
			}
			XattrPrefix(e.NameIndex)
			rest = rest[min(n, len(rest)):]
		}
		_, _, _ = DecodeLongPrefix(body)
	})
}

func FuzzFullIndex(f *testing.F) {
	f.Add([]byte("\x01\x00\x10\x00\x20\x00\x00\x00"), uint8(12), false)
	f.Fuzz(func(t *testing.T, p []byte, bits uint8, big bool) {
		lb := 12 + uint(bits%3)
		m, err := DecodeFullIndex(p, lb, big)
		if err != nil {
			return
		}
		if m.Type != LclusterTypeNonhead && m.ClusterOfs >= 1<<lb {
			t.Fatalf("clusterofs %d accepted", m.ClusterOfs)
		}
	})
}

func FuzzCompactIndex(f *testing.F) {
	f.Add(make([]byte, 32), uint8(3), uint8(12), false, true)
	f.Add(make([]byte, 8), uint8(1), uint8(12), true, false)
	f.Fuzz(func(t *testing.T, pack []byte, i, bits uint8, big, lookahead bool) {
		lb := 12 + uint(bits%3)
		shift := uint(2)
		if len(pack) >= 32 {
			shift, pack = 1, pack[:32]
		} else if len(pack) >= 8 {
			pack = pack[:8]
		} else {
			return
		}
		vcnt, size, err := CompactPack(shift, lb)
		if err != nil {
			return
		}
		if size != len(pack) {
			t.Fatalf("pack of %d bytes for %d", size, len(pack))
		}
		DecodeCompactIndex(pack, vcnt, int(i)%vcnt, lb, big, lookahead)
		l := NewCompactLayout(int64(i)*8, uint64(bits)*3, uint16(bits))
		for lcn := uint64(0); lcn <= l.TotalIdx; lcn++ {
			if pos, sh, err := l.Pos(lcn); err == nil && (pos < l.Ebase || sh < 1 || sh > 2) {
				t.Fatalf("lcn %d at %d (shift %d), indexes from %d", lcn, pos, sh, l.Ebase)
			}
		}
	})
}

func FuzzLZ4(f *testing.F) {
	f.Add([]byte("\x00\x00\x00\x8fhello world\x05\x00\x20"), uint16(64))
	f.Fuzz(func(t *testing.T, src []byte, n uint16) {
		dst := make([]byte, n)
		if s, err := SkipZeroPadding(src); err == nil {
			src = s
		}
		got, err := DecompressLZ4(src, dst, false)
		if got < 0 || got > len(dst) {
			t.Fatalf("%d bytes written in %d", got, len(dst))
		}
		if err == nil {
			// A block that decoded decodes the same when asked for
			// exactly what it gave.
			again := make([]byte, got)
			if m, err := DecompressLZ4(src, again, true); err != nil || m != got || string(again) != string(dst[:got]) {
				t.Fatalf("decoded %d bytes, then %d (%v)", got, m, err)
			}
		}
	})
}

func FuzzDecompress(f *testing.F) {
	f.Add([]byte("\x00\x00\xf3\x48\xcd\xc9\xc9\x57\x00\x00"), uint16(5), uint8(CompressionDeflate))
	f.Add([]byte("\x28\xb5\x2f\xfd\x20\x05\x29\x00\x00hello"), uint16(5), uint8(CompressionZstd))
	f.Add([]byte("\xa2\x00\x34\x19\x49\xee\x8d\xe9\x17\x89\x3a\x33\x5f\xff\xff"), uint16(5), uint8(CompressionLZMA))
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(1<<24))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, src []byte, n uint16, alg uint8) {
		dst := make([]byte, n)
		if s, err := SkipZeroPadding(src); err == nil {
			src = s
		}
		switch alg % 3 {
		case 0:
			DecompressDeflate(src, dst)
		case 1:
			DecompressZstd(dec, src, dst)
		case 2:
			DecompressMicroLZMA(src, dst)
		}
	})
}
