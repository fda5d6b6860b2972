package btrfs

import (
	"github.com/lklimg/lklimg/kernel/abi"
)

// A file extent item (struct btrfs_file_extent_item, key (ino,
// EXTENT_DATA, file offset)):
//
//	 0 generation u64  8 ram_bytes u64  16 compression u8
//	17 encryption u8  18 other_encoding u16  20 type u8
//
// then, for an inline extent, the data itself (compressed to the item's
// end when compression is set, ram_bytes once decoded); for a regular or
// prealloc one:
//
//	21 disk_bytenr u64  29 disk_num_bytes u64  37 offset u64
//	45 num_bytes u64
//
// disk_bytenr 0 is a hole (explicit hole extents, without NO_HOLES).
const (
	FileExtentInlineDataStart = 21
	FileExtentItemSize        = 53
)

// File extent types (BTRFS_FILE_EXTENT_*).
const (
	FileExtentInline   = 0
	FileExtentReg      = 1
	FileExtentPrealloc = 2
)

// Compression types (BTRFS_COMPRESS_*).
const (
	CompressNone = 0
	CompressZlib = 1
	CompressLZO  = 2
	CompressZstd = 3
)

// MaxUncompressed bounds a compressed extent's decoded size
// (BTRFS_MAX_UNCOMPRESSED, 128 KiB); MaxInlineDataSize an inline one's
// (a sector less the item headers: at most a 64 KiB node's room).
const (
	MaxUncompressed = 128 << 10
	maxInline       = MaxNodeSize
)

// FileExtent is a decoded file extent item.
type FileExtent struct {
	Generation  uint64
	RAMBytes    uint64
	Compression uint8
	Encryption  uint8
	Type        uint8
	// Inline is an inline extent's data, as stored (compressed when
	// Compression is set).
	Inline []byte
	// The regular and prealloc extents' fields.
	DiskBytenr   uint64
	DiskNumBytes uint64
	Offset       uint64
	NumBytes     uint64
}

// DecodeFileExtent decodes an EXTENT_DATA item's data and checks it as
// check_extent_data_item does: a known type and compression, no
// encryption, an inline extent's size, a regular extent's ranges.
func DecodeFileExtent(b []byte, sectorSize uint32) (FileExtent, error) {
	bad := func(format string, args ...any) (FileExtent, error) {
		return FileExtent{}, abi.Errorf(abi.EUCLEAN, "btrfs: file extent: "+format, args...)
	}
	if len(b) < FileExtentInlineDataStart {
		return bad("item of %d bytes", len(b))
	}
	e := FileExtent{
		Generation:  le.Uint64(b),
		RAMBytes:    le.Uint64(b[8:]),
		Compression: b[16],
		Encryption:  b[17],
		Type:        b[20],
	}
	if e.Compression > CompressZstd {
		return bad("invalid compression type %d", e.Compression)
	}
	if e.Encryption != 0 || le.Uint16(b[18:]) != 0 {
		return bad("encryption %d / other_encoding %d", e.Encryption, le.Uint16(b[18:]))
	}
	switch e.Type {
	case FileExtentInline:
		e.Inline = b[FileExtentInlineDataStart:]
		if e.Compression == CompressNone && uint64(len(e.Inline)) != e.RAMBytes {
			return bad("inline extent of %d bytes, ram_bytes %d", len(e.Inline), e.RAMBytes)
		}
		if e.RAMBytes > maxInline {
			return bad("inline extent of %d bytes", e.RAMBytes)
		}
		return e, nil
	case FileExtentReg, FileExtentPrealloc:
	default:
		return bad("invalid type %d", e.Type)
	}
	if len(b) != FileExtentItemSize {
		return bad("item of %d bytes, want %d", len(b), FileExtentItemSize)
	}
	e.DiskBytenr = le.Uint64(b[21:])
	e.DiskNumBytes = le.Uint64(b[29:])
	e.Offset = le.Uint64(b[37:])
	e.NumBytes = le.Uint64(b[45:])
	s := uint64(sectorSize)
	if e.DiskBytenr%s != 0 || e.DiskNumBytes%s != 0 || e.NumBytes%s != 0 {
		return bad("unaligned disk_bytenr %d, disk_num_bytes %d or num_bytes %d", e.DiskBytenr, e.DiskNumBytes, e.NumBytes)
	}
	if e.NumBytes == 0 || e.NumBytes > 1<<62 || e.Offset > 1<<62 || e.DiskBytenr+e.DiskNumBytes < e.DiskBytenr {
		return bad("num_bytes %d, offset %d", e.NumBytes, e.Offset)
	}
	if e.DiskBytenr == 0 {
		return e, nil // a hole
	}
	if e.Compression != CompressNone {
		if e.Type == FileExtentPrealloc {
			return bad("compressed prealloc extent")
		}
		if e.RAMBytes > MaxUncompressed || e.DiskNumBytes > MaxUncompressed || e.Offset+e.NumBytes > e.RAMBytes+s {
			return bad("compressed extent of %d bytes (%d on disk), offset %d+%d", e.RAMBytes, e.DiskNumBytes, e.Offset, e.NumBytes)
		}
	}
	return e, nil
}
