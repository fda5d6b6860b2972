package vhd

import (
	"encoding/binary"
	"errors"
	"testing"
)

// footer is a valid dynamic disk footer (as qemu-img writes one), for
// seeds.
func footer() []byte {
	b := make([]byte, SectorSize)
	be := binary.BigEndian
	copy(b, "conectix")
	be.PutUint32(b[8:], 2)
	be.PutUint32(b[12:], 0x10000)
	be.PutUint64(b[16:], 512)
	copy(b[28:], "qemu")
	be.PutUint64(b[40:], 10<<20)
	be.PutUint64(b[48:], 10<<20)
	be.PutUint16(b[56:], 304)
	b[58], b[59] = 4, 17
	be.PutUint32(b[60:], DiskDynamic)
	be.PutUint32(b[64:], checksum(b, 64))
	return b
}

// TestFooter: a footer decodes and takes its size from its geometry as
// QEMU does for qemu-img's own images; a wrong checksum or a
// differencing disk is refused.
func TestFooter(t *testing.T) {
	f, err := DecodeFooter(footer())
	if err != nil || f.Size() != 304*4*17*SectorSize || f.DataOffset != 512 {
		t.Fatalf("%+v %v", f, err)
	}
	b := footer()
	b[100] ^= 1
	if _, err := DecodeFooter(b); !errors.Is(err, ErrCorrupt) {
		t.Errorf("a wrong checksum: %v", err)
	}
	b = footer()
	binary.BigEndian.PutUint32(b[60:], DiskDifferencing)
	binary.BigEndian.PutUint32(b[64:], checksum(b, 64))
	if _, err := DecodeFooter(b); !errors.Is(err, ErrUnsupported) {
		t.Errorf("a differencing disk: %v", err)
	}
}

func FuzzDecodeFooter(f *testing.F) {
	f.Add(footer())
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) >= 68 {
			binary.BigEndian.PutUint32(b[64:], checksum(b[:min(len(b), SectorSize)], 64))
		}
		if ft, err := DecodeFooter(b); err == nil && ft.Size() > 1<<44 {
			t.Fatalf("size %d", ft.Size())
		}
	})
}

func FuzzDecodeDynamicHeader(f *testing.F) {
	b := make([]byte, 1024)
	copy(b, "cxsparse")
	binary.BigEndian.PutUint64(b[16:], 1536)
	binary.BigEndian.PutUint32(b[28:], 5)
	binary.BigEndian.PutUint32(b[32:], 2<<20)
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) >= 40 {
			binary.BigEndian.PutUint32(b[36:], checksum(b[:min(len(b), 1024)], 36))
		}
		if h, err := DecodeDynamicHeader(b); err == nil && (h.BitmapSize() <= 0 || h.BlockSize == 0) {
			t.Fatalf("%+v", h)
		}
	})
}
