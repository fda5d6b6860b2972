package qcow2

import (
	"encoding/binary"
	"errors"
	"testing"
)

// header3 is a valid version 3 header of a 1 GiB disk with 64 KiB
// clusters, L1 at 196608, for seeds.
func header3() []byte {
	b := make([]byte, 65536)
	be := binary.BigEndian
	be.PutUint32(b, Magic)
	be.PutUint32(b[4:], 3)
	be.PutUint32(b[20:], 16)
	be.PutUint64(b[24:], 1<<30)
	be.PutUint32(b[36:], 2)
	be.PutUint64(b[40:], 196608)
	be.PutUint64(b[48:], 65536)
	be.PutUint32(b[56:], 1)
	be.PutUint32(b[96:], 4)
	be.PutUint32(b[100:], 112)
	return b
}

// TestDecodeHeader: a valid header decodes; damage of each field the
// reader relies on is ErrCorrupt or ErrUnsupported.
func TestDecodeHeader(t *testing.T) {
	h, err := DecodeHeader(header3(), 1<<20)
	if err != nil || h.Size != 1<<30 || h.ClusterSize() != 65536 || h.L2Bits() != 13 {
		t.Fatalf("%+v, %v", h, err)
	}
	for _, c := range []struct {
		name string
		off  int
		put  func(b []byte)
		want error
	}{
		{"version 4", 4, func(b []byte) { b[7] = 4 }, ErrUnsupported},
		{"cluster_bits 30", 20, func(b []byte) { b[23] = 30 }, ErrCorrupt},
		{"encrypted", 32, func(b []byte) { b[35] = 1 }, ErrUnsupported},
		{"L1 too small", 36, func(b []byte) { b[39] = 1 }, ErrCorrupt},
		{"L1 past the file", 40, func(b []byte) { b[41] = 1 }, ErrCorrupt},
		{"unknown incompatible feature", 72, func(b []byte) { b[72] = 0x80 }, ErrUnsupported},
		{"header_length", 100, func(b []byte) { b[103] = 105 }, ErrCorrupt},
		{"zstd without its bit", 104, func(b []byte) { b[104] = 1 }, ErrCorrupt},
		{"extension past the cluster", 112, func(b []byte) { binary.BigEndian.PutUint32(b[112:], 1); binary.BigEndian.PutUint32(b[116:], 1<<20) }, ErrCorrupt},
	} {
		b := header3()
		c.put(b)
		if _, err := DecodeHeader(b, 1<<20); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

func FuzzDecodeHeader(f *testing.F) {
	f.Add(header3()[:512], int64(1<<20))
	f.Fuzz(func(t *testing.T, b []byte, size int64) {
		h, err := DecodeHeader(b, size)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("error without its kind: %v", err)
			}
			return
		}
		h.BackingFile(b)
		tbl := make([]byte, h.ClusterSize())
		DecodeL2(tbl, 0, h)
	})
}

func FuzzDecodeL2(f *testing.F) {
	f.Add(uint64(0x8000000000050000), uint64(0), false, uint8(16))
	f.Add(uint64(0x4000000000012345), uint64(0), false, uint8(16))
	f.Add(uint64(0x0000000000060000), uint64(0xffff0000ffff), true, uint8(17))
	f.Fuzz(func(t *testing.T, e, bitmap uint64, extended bool, bits uint8) {
		h := &Header{Version: 3, ClusterBits: uint32(bits)}
		if h.ClusterBits < MinClusterBits || h.ClusterBits > MaxClusterBits || extended && h.ClusterBits < 14 {
			return
		}
		if extended {
			h.IncompatibleFeatures = IncompatExtendedL2
		}
		b := make([]byte, 16)
		binary.BigEndian.PutUint64(b, e)
		binary.BigEndian.PutUint64(b[8:], bitmap)
		c, err := DecodeL2(b, 0, h)
		if err != nil {
			return
		}
		if c.Kind == Normal && !c.Extended && c.HostOffset%uint64(h.ClusterSize()) != 0 {
			t.Fatalf("unaligned cluster %#x", c.HostOffset)
		}
		if c.Kind == Compressed && (c.CompressedSize == 0 || c.CompressedSize > 1<<62) {
			t.Fatalf("compressed size %d", c.CompressedSize)
		}
	})
}
