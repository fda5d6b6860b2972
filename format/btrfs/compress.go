package btrfs

import (
	"bytes"
	"compress/zlib"
	"io"

	"github.com/klauspost/compress/zstd"

	"github.com/lklimg/lklimg/internal/lzo"
	"github.com/lklimg/lklimg/kernel/abi"
)

// Compressed extents (fs/btrfs/compression.c, zlib.c, lzo.c, zstd.c).
// Each algorithm's data decodes to the extent's ram_bytes; a stream that
// ends early leaves the rest zero, as Linux zeroes the folio's tail.
//
//   - zlib: one zlib stream (RFC 1950, with its header);
//   - zstd: one zstd frame;
//   - lzo (btrfs's framing over LZO1X): a 4-byte total length (this
//     header included), then segments of a 4-byte length and LZO1X data
//     decoding to one sector each (the last maybe shorter); a segment
//     header never crosses a sector: when fewer than 4 bytes are left
//     in the sector, the next header starts the next sector.

// lzoLen is the size of the LZO framing's length fields (LZO_LEN).
const lzoLen = 4

// Decompress decodes src, compressed with method (CompressZlib,
// CompressLZO, CompressZstd), into dst (the extent's ram_bytes).
// sectorSize is the filesystem's (the LZO segment size); zdec a zstd
// decoder whose memory its options bound, used for CompressZstd.
func Decompress(method uint8, dst, src []byte, sectorSize uint32, zdec *zstd.Decoder) error {
	var err error
	switch method {
	case CompressZlib:
		err = decompressZlib(dst, src)
	case CompressLZO:
		err = DecompressLZO(dst, src, sectorSize)
	case CompressZstd:
		if zdec == nil {
			return abi.Errorf(abi.EIO, "btrfs: zstd: no decoder")
		}
		err = decompressZstd(zdec, dst, src)
	default:
		return abi.Errorf(abi.EUCLEAN, "btrfs: unknown compression type %d", method)
	}
	return err
}

func decompressZlib(dst, src []byte) error {
	r, err := zlib.NewReader(bytes.NewReader(src))
	if err != nil {
		return abi.Errorf(abi.EUCLEAN, "btrfs: zlib: %v", err)
	}
	defer r.Close()
	n, err := io.ReadFull(r, dst)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return abi.Errorf(abi.EUCLEAN, "btrfs: zlib: %v after %d bytes", err, n)
	}
	clear(dst[n:])
	return nil
}

func decompressZstd(dec *zstd.Decoder, dst, src []byte) error {
	// The frame is followed by zeros to the sector's end, which
	// DecodeAll would take for a second frame: it is cut at its end.
	end, err := zstdFrameEnd(src)
	if err != nil {
		return err
	}
	// DecodeAll appends: with dst's room as the capacity, a frame that
	// holds no more than the extent decodes in place.
	out, err := dec.DecodeAll(src[:end], dst[:0])
	if err != nil {
		return abi.Errorf(abi.EUCLEAN, "btrfs: zstd: %v", err)
	}
	n := copy(dst, out) // a no-op in place; a frame longer than dst is cut
	clear(dst[n:])
	return nil
}

// zstdFrameEnd returns the length of the zstd frame src starts with
// (RFC 8878 section 3.1.1): the header, the blocks to the last, the
// checksum.
func zstdFrameEnd(src []byte) (int, error) {
	bad := func(what string) (int, error) {
		return 0, abi.Errorf(abi.EUCLEAN, "btrfs: zstd: %s", what)
	}
	if len(src) < 5 || le.Uint32(src) != 0xFD2FB528 {
		return bad("no frame magic")
	}
	fhd := src[4]
	p := 5
	single := fhd&0x20 != 0
	if !single {
		p++ // Window_Descriptor
	}
	p += [4]int{0, 1, 2, 4}[fhd&3] // Dictionary_ID
	fcs := [4]int{0, 2, 4, 8}[fhd>>6]
	if fcs == 0 && single {
		fcs = 1
	}
	p += fcs
	for {
		if p+3 > len(src) {
			return bad("frame cut in a block header")
		}
		h := int(src[p]) | int(src[p+1])<<8 | int(src[p+2])<<16
		p += 3
		size := h >> 3
		switch (h >> 1) & 3 {
		case 1: // RLE_Block: one byte, repeated
			size = 1
		case 3:
			return bad("reserved block type")
		}
		if size > len(src)-p {
			return bad("frame cut in a block")
		}
		p += size
		if h&1 != 0 {
			break
		}
	}
	if fhd&4 != 0 {
		p += 4 // Content_Checksum
	}
	if p > len(src) {
		return bad("frame cut in its checksum")
	}
	return p, nil
}

// DecompressLZO decodes btrfs's LZO framing (lzo_decompress_bio) of src
// into dst.
func DecompressLZO(dst, src []byte, sectorSize uint32) error {
	bad := func(format string, args ...any) error {
		return abi.Errorf(abi.EUCLEAN, "btrfs: lzo: "+format, args...)
	}
	if len(src) < lzoLen {
		return bad("%d bytes", len(src))
	}
	total := int(le.Uint32(src))
	if total < lzoLen || total > len(src) {
		return bad("total length %d in %d bytes", total, len(src))
	}
	sector := int(sectorSize)
	// lzo1x_worst_compress: the most a sector can grow to.
	worst := sector + sector/16 + 64 + 3
	in, out := lzoLen, 0
	for out < len(dst) && in < total {
		if left := sector - in%sector; left < lzoLen {
			in += left // the padding before a header that would cross
			if in >= total {
				break
			}
		}
		if total-in < lzoLen {
			return bad("segment header cut at %d", in)
		}
		seg := int(le.Uint32(src[in:]))
		in += lzoLen
		if seg == 0 || seg > worst || seg > total-in {
			return bad("segment of %d bytes at %d (total %d)", seg, in, total)
		}
		want := min(sector, len(dst)-out)
		n, err := lzo.Decompress(dst[out:out+want], src[in:in+seg])
		if err != nil {
			// A segment decodes to a whole sector but the last:
			// decode into a sector's room when dst has less.
			if want < sector {
				var buf [MaxNodeSize]byte
				n2, err2 := lzo.Decompress(buf[:sector], src[in:in+seg])
				if err2 == nil {
					n = copy(dst[out:out+want], buf[:n2])
					err = nil
				}
			}
			if err != nil {
				return bad("segment at %d: %v", in, err)
			}
		}
		out += n
		in += seg
		if n < want {
			break // a short segment is the last
		}
	}
	clear(dst[out:])
	return nil
}
