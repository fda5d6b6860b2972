package vmdk

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Magic is a sparse extent header's first four bytes, "KDMV"
// (SPARSE_MAGICNUMBER 0x564d444b, little-endian).
const Magic = 0x564d444b

// SectorSize is the unit of every offset and size.
const SectorSize = 512

var (
	// ErrCorrupt is wrapped by the errors of a damaged image.
	ErrCorrupt = errors.New("vmdk: corrupt image")
	// ErrUnsupported is wrapped by the errors of what is not read.
	ErrUnsupported = errors.New("vmdk: unsupported")
)

// Header flags.
const (
	FlagValidNewlineTest = 1 << 0
	FlagRedundantGT      = 1 << 1
	FlagZeroedGrainGTE   = 1 << 2 // a grain table entry of 1 is a zeroed grain
	FlagCompressed       = 1 << 16
	FlagMarkers          = 1 << 17
)

// GDAtEnd is a stream-optimized header's gdOffset: the grain directory's
// place is in the footer, a copy of the header near the file's end.
const GDAtEnd = 0xffffffffffffffff

// CompressDeflate is compressAlgorithm 1: grains are zlib streams (RFC
// 1950) behind a grain marker.
const CompressDeflate = 1

// Limits: a grain of 4 KiB to 128 MiB (a power of two), at most 4096
// grain table entries, a disk of at most 2^50 sectors.
const (
	maxGrainSectors = 1 << 18
	maxGTEs         = 4096
	maxCapacity     = 1 << 50
)

// Header is a SparseExtentHeader (512 bytes).
type Header struct {
	Version           uint32
	Flags             uint32
	Capacity          uint64 // sectors
	GrainSize         uint64 // sectors
	DescriptorOffset  uint64
	DescriptorSize    uint64
	NumGTEsPerGT      uint32
	RGDOffset         uint64
	GDOffset          uint64
	OverHead          uint64
	UncleanShutdown   uint8
	CompressAlgorithm uint16
}

// DecodeHeader decodes a sparse extent header from the first 512 bytes
// of b.
func DecodeHeader(b []byte) (*Header, error) {
	le := binary.LittleEndian
	if len(b) < SectorSize || le.Uint32(b) != Magic {
		return nil, fmt.Errorf("%w: no sparse extent magic", ErrCorrupt)
	}
	h := &Header{
		Version:           le.Uint32(b[4:]),
		Flags:             le.Uint32(b[8:]),
		Capacity:          le.Uint64(b[12:]),
		GrainSize:         le.Uint64(b[20:]),
		DescriptorOffset:  le.Uint64(b[28:]),
		DescriptorSize:    le.Uint64(b[36:]),
		NumGTEsPerGT:      le.Uint32(b[44:]),
		RGDOffset:         le.Uint64(b[48:]),
		GDOffset:          le.Uint64(b[56:]),
		OverHead:          le.Uint64(b[64:]),
		UncleanShutdown:   b[72],
		CompressAlgorithm: le.Uint16(b[77:]),
	}
	switch {
	case h.Version < 1 || h.Version > 3:
		return nil, fmt.Errorf("%w: sparse extent version %d", ErrUnsupported, h.Version)
	case h.GrainSize < 8 || h.GrainSize > maxGrainSectors || h.GrainSize&(h.GrainSize-1) != 0:
		return nil, fmt.Errorf("%w: grain of %d sectors", ErrCorrupt, h.GrainSize)
	case h.NumGTEsPerGT == 0 || h.NumGTEsPerGT > maxGTEs:
		return nil, fmt.Errorf("%w: %d grain table entries per table", ErrCorrupt, h.NumGTEsPerGT)
	case h.Capacity > maxCapacity:
		return nil, fmt.Errorf("%w: capacity of %d sectors", ErrCorrupt, h.Capacity)
	case h.Flags&FlagCompressed != 0 && h.CompressAlgorithm != CompressDeflate:
		return nil, fmt.Errorf("%w: compression algorithm %d", ErrUnsupported, h.CompressAlgorithm)
	}
	return h, nil
}

// GDEntries is how many grain directory entries the extent has.
func (h *Header) GDEntries() uint64 {
	perGD := h.GrainSize * uint64(h.NumGTEsPerGT)
	return (h.Capacity + perGD - 1) / perGD
}

// Grain table entries of note.
const (
	GTEUnallocated = 0 // reads as zeros (or the parent's, which is not read)
	GTEZeroed      = 1 // with FlagZeroedGrainGTE: a grain of zeros
)

// MarkerSize is the size of a grain marker's head: the grain's first
// sector (lba, 8 bytes) and the compressed size (4 bytes); the data
// follows it.
const MarkerSize = 12

// DecodeGrainMarker returns a compressed grain's size from its marker at
// the start of b.
func DecodeGrainMarker(b []byte) (lba uint64, size uint32, err error) {
	if len(b) < MarkerSize {
		return 0, 0, fmt.Errorf("%w: a grain marker of %d bytes", ErrCorrupt, len(b))
	}
	le := binary.LittleEndian
	return le.Uint64(b), le.Uint32(b[8:]), nil
}
