package iso9660

import (
	"bytes"
	"compress/zlib"
	"io"
)

// zisofs (zisofs-tools' README; libisofs doc/zisofs_format.txt): a file
// whose record has a ZF entry holds, instead of its data,
//
//	 0 magic 37 E4 53 96 C9 DB D6 07
//	 8 uncompressed size (little-endian 32 bits)
//	12 header size in 4-byte units (4: 16 bytes)
//	13 log2 of the block size (15, 16 or 17)
//	14 reserved[2]
//
// then, at the header's end, nblocks+1 little-endian 32-bit pointers
// (nblocks = the size divided by the block size, rounded up): block i is
// the zlib stream (RFC 1950) between pointers i and i+1 from the file's
// start, and an empty one is a block of zeros. Linux reads the header
// size and the block size from the ZF entry, not from this header: the
// header is decoded for checks and tools.

// ZisofsMagic starts a zisofs file.
var ZisofsMagic = [8]byte{0x37, 0xE4, 0x53, 0x96, 0xC9, 0xDB, 0xD6, 0x07}

// ZisofsHeaderSize is the size of the file header mkzftree writes.
const ZisofsHeaderSize = 16

// Block shifts Linux takes: a page (2^12) to 2^17 (zisofs_fill_pages
// handles blocks of up to 128 KiB).
const (
	ZisofsMinShift = 12
	ZisofsMaxShift = 17
)

// ZisofsHeader is the file header.
type ZisofsHeader struct {
	Size       uint32
	HeaderSize uint8 // in 4-byte units
	BlockShift uint8
}

// DecodeZisofsHeader decodes a file header, checking the magic.
func DecodeZisofsHeader(p []byte) (ZisofsHeader, error) {
	if len(p) < ZisofsHeaderSize {
		return ZisofsHeader{}, corrupt("zisofs header: %d bytes, want %d", len(p), ZisofsHeaderSize)
	}
	if !bytes.Equal(p[:8], ZisofsMagic[:]) {
		return ZisofsHeader{}, corrupt("zisofs header: bad magic % x", p[:8])
	}
	return ZisofsHeader{Size: le.Uint32(p[8:]), HeaderSize: p[12], BlockShift: p[13]}, nil
}

// ZisofsBlocks returns how many blocks a file of size bytes has.
func ZisofsBlocks(size uint64, shift uint8) uint64 {
	return (size + 1<<shift - 1) >> shift
}

// ZisofsPointerOffset returns where block i's pointer is in the file,
// for a header of headerSize 4-byte units (Linux: (header_size + i) << 2).
func ZisofsPointerOffset(headerSize uint8, i uint64) int64 {
	return int64(uint64(headerSize)+i) << 2
}

// CheckZisofsBlock checks a block's pointers, start and end (byte offsets
// in the stored file of storedSize bytes): in order, within the file, and
// no longer than zlib can make a block of 1<<shift bytes (Linux refuses
// longer ones as it reads them).
func CheckZisofsBlock(start, end uint32, storedSize int64, shift uint8) error {
	if end < start {
		return corrupt("zisofs block pointers: %d after %d", start, end)
	}
	if int64(end) > storedSize {
		return corrupt("zisofs block pointers: block ends at %d, beyond the %d bytes stored", end, storedSize)
	}
	// deflateBound: the block plus 5 bytes a 16 KiB piece, plus the
	// stream's header and trailer; twice the block bounds it loosely.
	if uint64(end-start) > 2<<shift {
		return corrupt("zisofs block of %d bytes, too long for %d", end-start, 1<<shift)
	}
	return nil
}

// ZisofsInflater decompresses zisofs blocks, keeping its zlib state from
// one block to the next.
type ZisofsInflater struct {
	zr  io.ReadCloser
	src bytes.Reader
}

// Inflate decompresses the zlib stream src into dst, which is the block's
// length (the last block's may be short): it returns how many bytes the
// stream made (the rest of dst, if any, is zeroed, as Linux leaves pages
// it had no data for). A stream that is broken, or makes more than dst,
// is EUCLEAN.
func (z *ZisofsInflater) Inflate(dst, src []byte) (int, error) {
	z.src.Reset(src)
	var err error
	if z.zr == nil {
		z.zr, err = zlib.NewReader(&z.src)
	} else {
		err = z.zr.(zlib.Resetter).Reset(&z.src, nil)
	}
	if err != nil {
		z.zr = nil
		return 0, corrupt("zisofs block: %v", err)
	}
	n, err := io.ReadFull(z.zr, dst)
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		clear(dst[n:])
		return n, nil
	}
	if err != nil {
		return n, corrupt("zisofs block: %v", err)
	}
	// The stream must end here.
	var one [1]byte
	if m, err := z.zr.Read(one[:]); m > 0 {
		return n, corrupt("zisofs block: more than %d bytes", len(dst))
	} else if err != nil && err != io.EOF {
		return n, corrupt("zisofs block: %v", err)
	}
	return n, nil
}
