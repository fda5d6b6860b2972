package sparse

import (
	"encoding/binary"
	"errors"
	"testing"
)

func header() []byte {
	b := make([]byte, FileHeaderSize)
	le := binary.LittleEndian
	le.PutUint32(b, Magic)
	le.PutUint16(b[4:], 1)
	le.PutUint16(b[8:], FileHeaderSize)
	le.PutUint16(b[10:], ChunkHeaderSize)
	le.PutUint32(b[12:], 4096)
	le.PutUint32(b[16:], 100)
	le.PutUint32(b[20:], 3)
	return b
}

// TestDecode: a header and chunks of each type decode; sizes that do not
// add up are ErrCorrupt.
func TestDecode(t *testing.T) {
	h, err := DecodeHeader(header())
	if err != nil || h.BlkSz != 4096 || h.TotalChunks != 3 {
		t.Fatalf("%+v %v", h, err)
	}
	chunk := func(typ uint16, blocks, total uint32) []byte {
		b := make([]byte, ChunkHeaderSize)
		binary.LittleEndian.PutUint16(b, typ)
		binary.LittleEndian.PutUint32(b[4:], blocks)
		binary.LittleEndian.PutUint32(b[8:], total)
		return b
	}
	for _, c := range []struct {
		b  []byte
		ok bool
	}{
		{chunk(ChunkRaw, 2, 12+8192), true},
		{chunk(ChunkFill, 7, 16), true},
		{chunk(ChunkDontCare, 9, 12), true},
		{chunk(ChunkCRC32, 0, 16), true},
		{chunk(ChunkRaw, 2, 12+4096), false},
		{chunk(ChunkFill, 1, 12), false},
		{chunk(0xCAC9, 1, 12), false},
		{chunk(ChunkDontCare, 1, 4), false},
	} {
		if _, err := DecodeChunk(c.b, h); (err == nil) != c.ok || err != nil && !errors.Is(err, ErrCorrupt) {
			t.Errorf("chunk %x: %v", c.b, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(header(), []byte{0xc1, 0xca, 0, 0, 1, 0, 0, 0, 12, 16, 0, 0})
	f.Fuzz(func(t *testing.T, hb, cb []byte) {
		h, err := DecodeHeader(hb)
		if err != nil {
			return
		}
		if h.FileHdrSz > MaxHeaderSize || h.ChunkHdrSz > MaxHeaderSize {
			t.Fatalf("header sizes %d %d", h.FileHdrSz, h.ChunkHdrSz)
		}
		DecodeChunk(cb, h)
	})
}
