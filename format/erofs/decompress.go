package erofs

import (
	"bytes"
	"encoding/binary"
	"io"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz/lzma"

	"github.com/lklimg/lklimg/kernel/abi"
)

// The other compressors of a pcluster (fs/erofs/decompressor_*.c). As
// for LZ4 with 0padding, the compressed stream ends the pcluster, after
// zeros (z_erofs_fixup_insize); the caller skips them.
//
//   - DEFLATE: a raw deflate stream (no zlib header), as zlib's
//     inflate with -MAX_WBITS;
//   - Zstandard: one zstd frame;
//   - MicroLZMA (xz-embedded's xz_dec_microlzma): a raw LZMA stream
//     whose first byte, the range coder's always-zero one, is replaced by
//     the bitwise NOT of the properties byte (lc, lp, pb); the sizes and
//     the dictionary come from elsewhere (the extent, the image's LZMA
//     configuration). It is decoded here as a classic .lzma stream with
//     a header made of those.
//
// Each decodes into dst until dst is full (the extent may be a prefix of
// the pcluster's data); a stream that ends before is EUCLEAN.

// DecompressDeflate decodes the raw deflate stream src into dst.
func DecompressDeflate(src, dst []byte) error {
	r := flate.NewReader(bytes.NewReader(src))
	defer r.Close()
	if _, err := io.ReadFull(r, dst); err != nil {
		return abi.Errorf(abi.EUCLEAN, "erofs: deflate: %v", err)
	}
	return nil
}

// DecompressZstd decodes the zstd frame src into dst with dec, a decoder
// whose memory its options bound (DecodeAll is safe for concurrent use).
func DecompressZstd(dec *zstd.Decoder, src, dst []byte) error {
	out, err := dec.DecodeAll(src, dst[:0])
	if err != nil {
		return abi.Errorf(abi.EUCLEAN, "erofs: zstd: %v", err)
	}
	if len(out) < len(dst) {
		return abi.Errorf(abi.EUCLEAN, "erofs: zstd: %d bytes decoded, %d wanted", len(out), len(dst))
	}
	if len(dst) > 0 && &out[0] != &dst[0] {
		copy(dst, out) // the frame held more than dst had room for
	}
	return nil
}

// maxLZMADict bounds the dictionary a MicroLZMA stream may ask
// (Z_EROFS_LZMA_MAX_DICT_SIZE).
const maxLZMADict = 8 << 20

// DecompressMicroLZMA decodes the MicroLZMA stream src into dst.
func DecompressMicroLZMA(src, dst []byte) error {
	if len(src) < 1 {
		return abi.Errorf(abi.EUCLEAN, "erofs: lzma: empty stream")
	}
	props := ^src[0]
	if props >= 9*5*5 {
		return abi.Errorf(abi.EUCLEAN, "erofs: lzma: properties byte %#x", props)
	}
	// Every match lies in the extent, and no farther back than the
	// image's dictionary (at most 8 MiB): a dictionary of the extent's
	// size, or of that, will do.
	dict := min(max(len(dst), 4096), maxLZMADict)
	var h [lzma.HeaderLen + 1]byte
	h[0] = props
	binary.LittleEndian.PutUint32(h[1:], uint32(dict))
	binary.LittleEndian.PutUint64(h[5:], uint64(len(dst)))
	// h[13] is the range coder's first byte, zero.
	r, err := lzma.ReaderConfig{DictCap: dict}.NewReader(io.MultiReader(bytes.NewReader(h[:]), bytes.NewReader(src[1:])))
	if err != nil {
		return abi.Errorf(abi.EUCLEAN, "erofs: lzma: %v", err)
	}
	// A stream that holds more than the extent (a shared pcluster's
	// prefix) fails the reader's size check once dst is decoded: the
	// bytes decoded before the failure are still there to read, so the
	// reads go on until two in a row bring nothing.
	n, empty := 0, 0
	var first error
	for n < len(dst) {
		k, err := r.Read(dst[n:])
		n += k
		if first == nil && err != nil && err != io.EOF {
			first = err
		}
		if k > 0 {
			empty = 0
			continue
		}
		if empty++; empty == 2 {
			if first == nil {
				first = io.ErrUnexpectedEOF
			}
			return abi.Errorf(abi.EUCLEAN, "erofs: lzma: %v after %d bytes of %d", first, n, len(dst))
		}
	}
	return nil
}
