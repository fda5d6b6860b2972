// Package sparse is the on-disk format of Android sparse images (AOSP's
// system/core/libsparse/sparse_format.h, major version 1): the file
// header and the chunks that follow it, each raw data, a fill of a 32-bit
// value, a run of blocks the image does not care about (zeros), or a
// CRC32 of the blocks before it. It holds no state and does no I/O; the
// virtio backend (virtio/backend_sparse.go) serves a disk with it.
//
// Numbers are little-endian; sizes of chunks count blocks of the
// header's block size.
package sparse

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Magic is SPARSE_HEADER_MAGIC.
const Magic = 0xed26ff3a

// Chunk types.
const (
	ChunkRaw      = 0xCAC1
	ChunkFill     = 0xCAC2
	ChunkDontCare = 0xCAC3
	ChunkCRC32    = 0xCAC4
)

// Sizes of the headers this package reads (what a header may declare
// larger, with bytes this reader skips, up to MaxHeaderSize).
const (
	FileHeaderSize  = 28
	ChunkHeaderSize = 12
	MaxHeaderSize   = 512
)

var (
	// ErrCorrupt is wrapped by the errors of a damaged image.
	ErrCorrupt = errors.New("android sparse: corrupt image")
	// ErrUnsupported is wrapped by the errors of what is not read.
	ErrUnsupported = errors.New("android sparse: unsupported")
)

// Header is sparse_header_t.
type Header struct {
	MajorVersion, MinorVersion uint16
	FileHdrSz, ChunkHdrSz      uint16
	BlkSz                      uint32
	TotalBlks, TotalChunks     uint32
	ImageChecksum              uint32
}

// DecodeHeader decodes the file header at the start of b.
func DecodeHeader(b []byte) (*Header, error) {
	le := binary.LittleEndian
	if len(b) < FileHeaderSize || le.Uint32(b) != Magic {
		return nil, fmt.Errorf("%w: no sparse magic", ErrCorrupt)
	}
	h := &Header{
		MajorVersion: le.Uint16(b[4:]), MinorVersion: le.Uint16(b[6:]),
		FileHdrSz: le.Uint16(b[8:]), ChunkHdrSz: le.Uint16(b[10:]),
		BlkSz: le.Uint32(b[12:]), TotalBlks: le.Uint32(b[16:]), TotalChunks: le.Uint32(b[20:]),
		ImageChecksum: le.Uint32(b[24:]),
	}
	switch {
	case h.MajorVersion != 1:
		return nil, fmt.Errorf("%w: major version %d", ErrUnsupported, h.MajorVersion)
	case h.FileHdrSz < FileHeaderSize || h.ChunkHdrSz < ChunkHeaderSize || h.FileHdrSz > MaxHeaderSize || h.ChunkHdrSz > MaxHeaderSize:
		return nil, fmt.Errorf("%w: header sizes %d and %d", ErrCorrupt, h.FileHdrSz, h.ChunkHdrSz)
	case h.BlkSz == 0 || h.BlkSz%4 != 0 || h.BlkSz > 1<<28:
		return nil, fmt.Errorf("%w: block size %d", ErrCorrupt, h.BlkSz)
	}
	return h, nil
}

// Chunk is a chunk header (chunk_header_t).
type Chunk struct {
	Type    uint16
	Blocks  uint32 // chunk_sz: the output blocks it stands for
	TotalSz uint32 // the chunk's bytes in the file, its header included
}

// DecodeChunk decodes a chunk header at the start of b and checks its
// sizes against the header's (a raw chunk holds its blocks, a fill chunk
// its 4-byte value, a CRC32 chunk its 4-byte sum, a don't-care chunk
// nothing).
func DecodeChunk(b []byte, h *Header) (Chunk, error) {
	le := binary.LittleEndian
	if len(b) < ChunkHeaderSize {
		return Chunk{}, fmt.Errorf("%w: a chunk header of %d bytes", ErrCorrupt, len(b))
	}
	c := Chunk{Type: le.Uint16(b), Blocks: le.Uint32(b[4:]), TotalSz: le.Uint32(b[8:])}
	data := uint64(c.TotalSz) - uint64(h.ChunkHdrSz)
	if c.TotalSz < uint32(h.ChunkHdrSz) {
		return Chunk{}, fmt.Errorf("%w: a chunk of %d bytes", ErrCorrupt, c.TotalSz)
	}
	var want uint64
	switch c.Type {
	case ChunkRaw:
		want = uint64(c.Blocks) * uint64(h.BlkSz)
	case ChunkFill, ChunkCRC32:
		want = 4
	case ChunkDontCare:
	default:
		return Chunk{}, fmt.Errorf("%w: chunk type %#x", ErrCorrupt, c.Type)
	}
	if data != want {
		return Chunk{}, fmt.Errorf("%w: a chunk of type %#x with %d bytes of data, not %d", ErrCorrupt, c.Type, data, want)
	}
	return c, nil
}
