package vhdx

import (
	"encoding/binary"
	"testing"
)

// TestGUID: a GUID's text gives its mixed-endian bytes (the BAT region's,
// as qemu-img writes it).
func TestGUID(t *testing.T) {
	want := GUID{0x66, 0x77, 0xc2, 0x2d, 0x23, 0xf6, 0x00, 0x42, 0x9d, 0x64, 0x11, 0x5e, 0x9b, 0xfd, 0x4a, 0x08}
	if RegionBAT != want {
		t.Errorf("%x, want %x", RegionBAT, want)
	}
}

// TestChecksums: a header and a region table with right CRC-32Cs decode;
// a flipped byte is refused.
func TestChecksums(t *testing.T) {
	h := make([]byte, HeaderSize)
	copy(h, "head")
	binary.LittleEndian.PutUint16(h[66:], 1)
	binary.LittleEndian.PutUint32(h[4:], checksum(h, 4))
	if _, err := DecodeHeader(h); err != nil {
		t.Fatal(err)
	}
	h[1000] ^= 1
	if _, err := DecodeHeader(h); err == nil {
		t.Error("a damaged header decoded")
	}
	r := make([]byte, RegionTableSize)
	copy(r, "regi")
	binary.LittleEndian.PutUint32(r[8:], 1)
	copy(r[16:], RegionBAT[:])
	binary.LittleEndian.PutUint64(r[32:], 2*MB)
	binary.LittleEndian.PutUint32(r[40:], MB)
	binary.LittleEndian.PutUint32(r[4:], checksum(r, 4))
	if rs, err := DecodeRegionTable(r); err != nil || len(rs) != 1 || rs[0].GUID != RegionBAT || rs[0].FileOffset != 2*MB {
		t.Fatalf("%+v %v", rs, err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte("metadata"), uint8(0))
	f.Fuzz(func(t *testing.T, b []byte, which uint8) {
		buf := make([]byte, 64<<10)
		copy(buf, b)
		switch which % 3 {
		case 0:
			copy(buf, "head")
			binary.LittleEndian.PutUint32(buf[4:], checksum(buf[:HeaderSize], 4))
			DecodeHeader(buf)
		case 1:
			copy(buf, "regi")
			binary.LittleEndian.PutUint32(buf[4:], checksum(buf, 4))
			DecodeRegionTable(buf)
		case 2:
			copy(buf, "metadata")
			if m, err := DecodeMetadata(buf); err == nil && m.ChunkRatio() == 0 {
				t.Fatalf("%+v", m)
			}
		}
	})
}
