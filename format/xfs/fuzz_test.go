package xfs

import (
	"encoding/binary"
	"testing"
)

// The fuzz targets run every decoder of the package on any bytes: none
// may panic, loop or read outside what it was given, and what they
// accept must hold together. A v5 structure's checksum, owner and
// address are set from the mutated bytes themselves first, so that the
// fuzzer reaches past them. Their seeds (testdata/fuzz) are cut from
// mkfs.xfs images by TestWriteFuzzSeeds (seeds_test.go).

// fixCRC stores p's checksum at off, when p holds it.
func fixCRC(p []byte, off int) {
	if off+4 <= len(p) {
		binary.LittleEndian.PutUint32(p[off:], Checksum(p, off))
	}
}

// u64At reads a big-endian u64 at off, 0 when p is shorter.
func u64At(p []byte, off int) uint64 {
	if off+8 > len(p) {
		return 0
	}
	return be.Uint64(p[off:])
}

func FuzzSuperblock(f *testing.F) {
	f.Add(make([]byte, 512))
	f.Fuzz(func(t *testing.T, p []byte) {
		s, err := DecodeSuperblock(p)
		if err != nil {
			return
		}
		VerifyChecksum(p, SuperCRCOff)
		if s.Check() != nil {
			return
		}
		if s.BlockSize < 512 || s.InopBlock == 0 || s.AgCount == 0 || s.DirBlkSize() > 65536 {
			t.Fatalf("checked superblock: block %d, %d inodes a block, %d groups", s.BlockSize, s.InopBlock, s.AgCount)
		}
		s.HasFtype()
		s.InoBits()
	})
}

func FuzzDinode(f *testing.F) {
	f.Add(make([]byte, 512), true)
	f.Fuzz(func(t *testing.T, p []byte, crc bool) {
		if crc {
			fixCRC(p, DinodeCRCOff)
		}
		d, err := DecodeDinode(p, crc, u64At(p, 152))
		if err != nil {
			return
		}
		df, af := d.DataFork(p), d.AttrFork(p)
		if len(df)+len(af)+d.CoreSize() > len(p) {
			t.Fatalf("forks of %d and %d bytes in an inode of %d", len(df), len(af), len(p))
		}
		Rdev(df)
		switch d.Format {
		case FmtExtents:
			if _, err := DecodeExtents(df, d.NExtents, "data"); err != nil {
				return
			}
		case FmtBtree:
			DecodeBmdr(df, "data")
		case FmtLocal:
			DecodeShortform(df, int(min(d.Size, 1<<20)), true)
			DecodeShortform(df, int(min(d.Size, 1<<20)), false)
		}
		switch d.AFormat {
		case FmtLocal:
			DecodeAttrShortform(af)
		case FmtExtents:
			DecodeExtents(af, uint64(d.ANExtents), "attr")
		case FmtBtree:
			DecodeBmdr(af, "attr")
		}
	})
}

func FuzzBmbtBlock(f *testing.F) {
	f.Add(make([]byte, 4096), true)
	f.Fuzz(func(t *testing.T, p []byte, crc bool) {
		if crc {
			fixCRC(p, LBlockCRCOff)
		}
		b, n, recs, err := DecodeBmbtBlock(p, crc, u64At(p, 56), u64At(p, 24), nil, "fuzz")
		if err != nil {
			return
		}
		if b.Level == 0 && len(recs) != int(b.NumRecs) || b.Level > 0 && len(n.Ptrs) != int(b.NumRecs) {
			t.Fatalf("level %d, %d records: %d extents, %d pointers", b.Level, b.NumRecs, len(recs), len(n.Ptrs))
		}
	})
}

func FuzzDataBlock(f *testing.F) {
	f.Add(make([]byte, 4096), true, true, true)
	f.Fuzz(func(t *testing.T, p []byte, crc, block, ftype bool) {
		if crc {
			fixCRC(p, Dir3BlkCRCOff)
		}
		d, err := DecodeDataBlock(p, crc, block, u64At(p, 40), u64At(p, 8))
		if err != nil {
			return
		}
		for i := range len(d.Leaf) / LeafEntrySize {
			LeafEntryAt(d.Leaf, i)
		}
		for off := d.HdrSize; off < d.End; {
			e, ok, next, err := d.Entry(off, ftype)
			if err != nil {
				return
			}
			if next <= off {
				t.Fatalf("entry at %d: next at %d", off, next)
			}
			if ok && (len(e.Name) == 0 || e.Offset != off) {
				t.Fatalf("entry at %d: %q at %d", off, e.Name, e.Offset)
			}
			off = next
		}
	})
}

func FuzzDaBlock(f *testing.F) {
	f.Add(make([]byte, 4096), true)
	f.Fuzz(func(t *testing.T, p []byte, crc bool) {
		if crc {
			fixCRC(p, Da3CRCOff)
		}
		h, err := DecodeDaBlock(p, crc, u64At(p, 48), u64At(p, 16), 8, "fuzz",
			Dir2Leaf1Magic, Dir3Leaf1Magic, Dir2LeafNMagic, Dir3LeafNMagic, DaNodeMagic, Da3NodeMagic, AttrLeafMagic, Attr3LeafMagic)
		if err != nil {
			return
		}
		if h.HdrSize+h.Count*8 > len(p) {
			t.Fatalf("%d entries after %d bytes in %d", h.Count, h.HdrSize, len(p))
		}
		for i := range h.Count {
			LeafEntryAt(p[h.HdrSize:], i)
			NodeEntryAt(p[h.HdrSize:], i)
		}
		if h.Magic == AttrLeafMagic || h.Magic == Attr3LeafMagic {
			h.HdrSize = AttrLeafHdrSize
			if crc {
				h.HdrSize = Attr3LeafHdrSize
			}
			if h.HdrSize+h.Count*AttrLeafEntrySize > len(p) {
				return
			}
			as, err := DecodeAttrLeaf(p, h, nil)
			if err != nil {
				return
			}
			for _, a := range as {
				if len(a.Name) == 0 || a.ValueLen > MaxAttrValue {
					t.Fatalf("attribute %q of %d bytes", a.Name, a.ValueLen)
				}
			}
		}
	})
}

func FuzzAttrShortform(f *testing.F) {
	f.Add([]byte("\x00\x0e\x01\x00\x03\x04\x00abcdefg"))
	f.Fuzz(func(t *testing.T, p []byte) {
		as, err := DecodeAttrShortform(p)
		if err != nil {
			return
		}
		for _, a := range as {
			if len(a.Name) == 0 {
				t.Fatal("empty name")
			}
		}
	})
}

func FuzzRemote(f *testing.F) {
	f.Add(make([]byte, 4096), true)
	f.Fuzz(func(t *testing.T, p []byte, symlink bool) {
		fixCRC(p, RemoteCRCOff)
		magic := uint32(AttrRmtMagic)
		if symlink {
			magic = SymlinkMagic
		}
		_, n, err := DecodeRemoteHdr(p, magic, u64At(p, 32), u64At(p, 40), "fuzz")
		if err == nil && RemoteHdrSize+n > len(p) {
			t.Fatalf("%d bytes in a block of %d", n, len(p))
		}
	})
}

func FuzzACL(f *testing.F) {
	f.Add([]byte("\x00\x00\x00\x01\x00\x00\x00\x01\xff\xff\xff\xff\x00\x07\x00\x00"))
	f.Fuzz(func(t *testing.T, v []byte) {
		x, err := ACLToXattr(v, 5461)
		if err == nil && (len(x)-4)%8 != 0 {
			t.Fatalf("ACL xattr of %d bytes", len(x))
		}
	})
}

func FuzzLogRecHeader(f *testing.F) {
	f.Add(make([]byte, 512))
	f.Fuzz(func(t *testing.T, bb []byte) {
		if len(bb) >= 8 {
			LogCycle(bb)
		}
		h, ok := DecodeLogRecHeader(bb)
		if ok && h.HeaderBBs() < 1 {
			t.Fatalf("%d header blocks", h.HeaderBBs())
		}
	})
}

func FuzzAgHeaders(f *testing.F) {
	f.Add(make([]byte, 512), true)
	f.Fuzz(func(t *testing.T, p []byte, crc bool) {
		if crc {
			fixCRC(p, AgfCRCOff)
		}
		if a, err := DecodeAgf(p, crc, u32At(p, 8), 1<<20); err == nil && (a.FreeBlks > a.Length || a.Length > 1<<20) {
			t.Fatalf("AGF of %d blocks, %d free", a.Length, a.FreeBlks)
		}
		if crc {
			fixCRC(p, AgiCRCOff)
		}
		if a, err := DecodeAgi(p, crc, u32At(p, 8), 1<<20); err == nil && a.FreeCount > a.Count {
			t.Fatalf("AGI of %d inodes, %d free", a.Count, a.FreeCount)
		}
	})
}

// u32At reads a big-endian u32 at off, 0 when p is shorter.
func u32At(p []byte, off int) uint32 {
	if off+4 > len(p) {
		return 0
	}
	return be.Uint32(p[off:])
}

func FuzzLogItems(f *testing.F) {
	f.Add([]byte("\x00\x00\x00\x01\x00\x00\x00\x10\x69\x00\x00\x00NART\x28\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00"), 1)
	f.Fuzz(func(t *testing.T, data []byte, n int) {
		ops, err := DecodeLogOps(data, n%1024)
		if err != nil {
			return
		}
		for _, op := range ops {
			r := op.Data
			switch ItemType(r) {
			case LiBuf:
				if b, err := DecodeBufLogFormat(r); err == nil {
					b.Runs(func(first, n int) {
						if n <= 0 || first < 0 || first+n > len(b.Map)*32 {
							t.Fatalf("run %d+%d of a %d-word map", first, n, len(b.Map))
						}
					})
				}
			case LiInode:
				DecodeInodeLogFormat(r)
			case LiIcreate:
				DecodeIcreate(r)
			case LiEFI:
				if e, err := DecodeEFI(r); err == nil && (len(e.Extents) == 0 || len(r) < 16+12*len(e.Extents)) {
					t.Fatalf("EFI of %d extents from %d bytes", len(e.Extents), len(r))
				}
			}
			dip := make([]byte, 512)
			LogDinodeToDisk(r, dip, 1)
			BrootToBmdr(r, LBlockCRCSize, dip[176:])
			ItemSize(r)
		}
	})
}
