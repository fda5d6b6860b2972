package squashfs

import (
	"bytes"
	"fmt"
	"hash/crc32"
	"hash/crc64"
	"io"

	"github.com/lklimg/lklimg/internal/lzo"

	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz/lzma"
)

// Compressor ids (s_compression, squashfs_fs.h's ZLIB_COMPRESSION ...).
const (
	CompZlib = 1
	CompLzma = 2
	CompLzo  = 3
	CompXz   = 4
	CompLz4  = 5
	CompZstd = 6
)

// CompressorName returns the name mksquashfs's -comp takes for id.
func CompressorName(id uint16) string {
	switch id {
	case CompZlib:
		return "gzip"
	case CompLzma:
		return "lzma"
	case CompLzo:
		return "lzo"
	case CompXz:
		return "xz"
	case CompLz4:
		return "lz4"
	case CompZstd:
		return "zstd"
	}
	return fmt.Sprintf("unknown compressor %d", id)
}

// lz4Legacy is the only version of squashfs's LZ4 options
// (LZ4_LEGACY): raw LZ4 blocks, no frame.
const lz4Legacy = 1

// A Decompressor decompresses one block (a metadata block, a data block or
// a fragment block) of a compressor. One value serves one caller at a
// time; it keeps its state between blocks so that a block costs no new
// decoder.
type Decompressor interface {
	// Decompress decompresses src, one whole compressed block, into
	// dst, whose length is the most the block may hold (block_size,
	// or MetadataSize), and returns the bytes written. A block that
	// does not decode, or holds more than len(dst), is EIO. dst's
	// capacity past its length (DecompressSlack) may be written.
	Decompress(dst, src []byte) (int, error)
}

// DecompressSlack is the capacity a buffer given to Decompress should
// have past its length: with it, zstd's decoder copies literals and
// matches 16 or 32 bytes at a time, overrunning their ends into the
// slack, rather than byte-exact (klauspost/compress's "safe" sequence
// copies, about a third slower); the block must still fit the length.
const DecompressSlack = 64

// NewBlockBuffer returns a buffer of n bytes for Decompress, with
// DecompressSlack bytes of capacity after them.
func NewBlockBuffer(n int) []byte { return make([]byte, n, n+DecompressSlack) }

// NewDecompressor returns the decompressor of id for an image of
// blockSize, checking the compressor options (opts, the decompressed
// metadata block after the superblock; nil when the COMPRESSOR_OPTIONS
// flag is clear) as Linux's wrappers do: xz's dictionary size must be
// 2^n or 2^n+2^(n+1) (xz_wrapper.c), lz4's version LZ4_LEGACY
// (lz4_wrapper.c); gzip's, zstd's and lzo's options are about
// compression and are not needed to decompress. Errors: EINVAL for a
// compressor this package does not know (Linux: "Filesystem uses
// unknown compression"), EIO for options that do not decode.
func NewDecompressor(id uint16, opts []byte, blockSize uint32) (Decompressor, error) {
	switch id {
	case CompZlib:
		return &zlibDecompressor{}, nil
	case CompLzma:
		if opts != nil {
			return nil, abi.Errorf(abi.EIO, "squashfs: lzma: compressor options are not expected")
		}
		return &lzmaDecompressor{}, nil
	case CompLzo:
		return lzoDecompressor{}, nil
	case CompXz:
		dict := max(blockSize, MetadataSize)
		if opts != nil {
			if len(opts) < 8 {
				return nil, abi.Errorf(abi.EIO, "squashfs: xz: compressor options of %d bytes", len(opts))
			}
			dict = le.Uint32(opts)
			n := uint32(0)
			for n < 31 && dict>>n&1 == 0 {
				n++
			}
			if dict != 1<<n && dict != 1<<n+1<<(n+1) {
				return nil, abi.Errorf(abi.EIO, "squashfs: xz: bad dictionary size %d in compressor options", dict)
			}
		}
		return &xzDecompressor{dict: max(dict, blockSize)}, nil
	case CompLz4:
		if opts != nil {
			if len(opts) < 8 {
				return nil, abi.Errorf(abi.EIO, "squashfs: lz4: compressor options of %d bytes", len(opts))
			}
			if v := le.Uint32(opts); v != lz4Legacy {
				return nil, abi.Errorf(abi.EIO, "squashfs: lz4: unknown version %d in compressor options", v)
			}
		}
		return lz4Decompressor{}, nil
	case CompZstd:
		d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderMaxMemory(MaxBlockSize), zstd.WithDecoderMaxWindow(8<<20))
		if err != nil {
			return nil, abi.Errorf(abi.EIO, "squashfs: zstd: %v", err)
		}
		return &zstdDecompressor{d: d}, nil
	}
	return nil, abi.Errorf(abi.EINVAL, "squashfs: filesystem uses %s, not supported", CompressorName(id))
}

// corrupt is the error of a block that does not decompress.
func corrupt(comp string, err error) error {
	return abi.Errorf(abi.EIO, "squashfs: %s decompression failed, data probably corrupt: %v", comp, err)
}

// readAll reads r into dst and fails if r holds more than len(dst).
func readAll(comp string, r io.Reader, dst []byte) (int, error) {
	n, err := io.ReadFull(r, dst)
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		return n, nil
	}
	if err != nil {
		return n, corrupt(comp, err)
	}
	var one [1]byte
	if m, err := r.Read(one[:]); m > 0 || err != nil && err != io.EOF {
		if err == nil {
			err = fmt.Errorf("more than %d bytes", len(dst))
		}
		return n, corrupt(comp, err)
	}
	return n, nil
}

// zlibDecompressor is gzip: zlib streams (RFC 1950), as zlib_wrapper.c.
type zlibDecompressor struct {
	src bytes.Reader
	r   io.ReadCloser
}

func (z *zlibDecompressor) Decompress(dst, src []byte) (int, error) {
	z.src.Reset(src)
	var err error
	if z.r == nil {
		z.r, err = zlib.NewReader(&z.src)
	} else {
		err = z.r.(zlib.Resetter).Reset(&z.src, nil)
	}
	if err != nil {
		z.r = nil
		return 0, corrupt("zlib", err)
	}
	return readAll("zlib", z.r, dst)
}

// xzDecompressor is xz: one .xz stream of LZMA2, maybe after a
// BCJ filter (xz_wrapper.c; IA-64's BCJ filter is refused). Its
// dictionary is at most dict bytes (the options' dictionary size, or
// the block size), as Linux's xz_dec_init with that size refuses a
// stream that wants more. The LZMA2 data is decoded by lzma2.go's
// decoder, its state kept from block to block, straight into dst; then
// the block's padding and check (CRC32 or CRC64, as Linux checks them),
// the index and the stream footer are checked.
type xzDecompressor struct {
	dict uint32
	lz   *lzma2Decoder
}

func (x *xzDecompressor) Decompress(dst, src []byte) (int, error) {
	check, err := xzStreamHeader(src)
	if err != nil {
		return 0, corrupt("xz", err)
	}
	bcj, data, err := xzBlockHeader(src, x.dict)
	if err != nil {
		return 0, corrupt("xz", err)
	}
	if x.lz == nil {
		x.lz = new(lzma2Decoder)
	}
	n, used, err := x.lz.decode(dst, src[data:], x.dict)
	if err != nil {
		return 0, corrupt("xz", err)
	}
	if bcj != nil {
		bcj(dst[:n])
	}
	end, err := xzBlockEnd(src[data+used:], used, check, dst[:n])
	if err == nil {
		unpadded := uint64(data - xzStreamHeaderSize + used + end - (4-used%4)%4)
		err = xzStreamEnd(src[data+used+end:], unpadded, uint64(n), src[6:8])
	}
	if err != nil {
		return 0, corrupt("xz", err)
	}
	return n, nil
}

// The xz stream header (the xz file format, 2.1.1): the magic bytes,
// the stream flags (a zero byte, then the check type) and their CRC32.
var xzMagic = [6]byte{0xfd, '7', 'z', 'X', 'Z', 0}

const (
	xzStreamHeaderSize = 12
	xzCheckNone        = 0
	xzCheckCRC32       = 1
	xzCheckCRC64       = 4
)

// xzStreamHeader checks the stream header and returns the check type.
func xzStreamHeader(src []byte) (byte, error) {
	if len(src) < xzStreamHeaderSize || [6]byte(src[:6]) != xzMagic {
		return 0, fmt.Errorf("not an xz stream")
	}
	if crc32.ChecksumIEEE(src[6:8]) != le.Uint32(src[8:]) {
		return 0, fmt.Errorf("stream header: bad CRC32")
	}
	if src[6] != 0 || src[7] > 0x0f {
		return 0, fmt.Errorf("stream flags %#x %#x", src[6], src[7])
	}
	return src[7], nil
}

// xzBlockEnd checks what follows a block's data (used bytes of it, the
// header's length being a multiple of 4): zero bytes up to a multiple of
// 4, the check of out (the uncompressed data), then the stream's index
// and footer (xzStreamEnd). It returns the bytes it read.
func xzBlockEnd(p []byte, used int, check byte, out []byte) (int, error) {
	pad := (4 - used%4) % 4
	if len(p) < pad {
		return 0, fmt.Errorf("block padding truncated")
	}
	for _, b := range p[:pad] {
		if b != 0 {
			return 0, fmt.Errorf("block padding not zero")
		}
	}
	p = p[pad:]
	switch check {
	case xzCheckNone:
		return pad, nil
	case xzCheckCRC32:
		if len(p) < 4 || crc32.ChecksumIEEE(out) != le.Uint32(p) {
			return 0, fmt.Errorf("CRC32 of the data does not match")
		}
		return pad + 4, nil
	case xzCheckCRC64:
		if len(p) < 8 || crc64.Checksum(out, crc64ECMA) != le.Uint64(p) {
			return 0, fmt.Errorf("CRC64 of the data does not match")
		}
		return pad + 8, nil
	}
	return 0, fmt.Errorf("check type %d not supported", check)
}

// xzStreamEnd checks the index and the stream footer after the one block
// (the xz file format, 4 and 2.1.2), as xz_dec.c does: one record
// giving the block's unpadded size (its header, data and check) and
// uncompressed size, zero padding, the index's CRC32; then the footer's
// CRC32, backward size (the index's, its CRC32 included), the same
// stream flags as the header's, and the magic "YZ".
func xzStreamEnd(p []byte, unpadded, uncompressed uint64, flags []byte) error {
	pos := 0
	varint := func() (uint64, bool) {
		var v uint64
		for i := 0; i < 9 && pos < len(p); i++ {
			b := p[pos]
			pos++
			v |= uint64(b&0x7f) << (7 * i)
			if b&0x80 == 0 {
				return v, true
			}
		}
		return 0, false
	}
	if len(p) < 1 || p[0] != 0 {
		return fmt.Errorf("no index after the block")
	}
	pos = 1
	n, ok1 := varint()
	u, ok2 := varint()
	c, ok3 := varint()
	if !ok1 || !ok2 || !ok3 || n != 1 || u != unpadded || c != uncompressed {
		return fmt.Errorf("index does not match the block")
	}
	for pos%4 != 0 {
		if pos >= len(p) || p[pos] != 0 {
			return fmt.Errorf("index padding not zero")
		}
		pos++
	}
	if len(p)-pos < 4+xzStreamHeaderSize || crc32.ChecksumIEEE(p[:pos]) != le.Uint32(p[pos:]) {
		return fmt.Errorf("index: bad CRC32")
	}
	f := p[pos+4 : pos+4+xzStreamHeaderSize]
	if crc32.ChecksumIEEE(f[4:10]) != le.Uint32(f) || (uint64(le.Uint32(f[4:]))+1)*4 != uint64(pos+4) ||
		f[8] != flags[0] || f[9] != flags[1] || f[10] != 'Y' || f[11] != 'Z' {
		return fmt.Errorf("bad stream footer")
	}
	return nil
}

// crc64ECMA is xz's CRC64 (ECMA-182, reflected).
var crc64ECMA = crc64.MakeTable(crc64.ECMA)

// xzFilterLZMA2 is LZMA2's filter id in the xz format (5.3.1).
const xzFilterLZMA2 = 0x21

// xzBCJ returns the decoder of the BCJ filter of an xz filter id
// (5.3.3), nil for another filter.
func xzBCJ(id uint64) func([]byte) {
	switch id {
	case 0x04:
		return BCJX86Decode
	case 0x05:
		return BCJPowerPCDecode
	case 0x07:
		return BCJARMDecode
	case 0x08:
		return BCJARMThumbDecode
	case 0x09:
		return BCJSPARCDecode
	}
	return nil
}

// xzBlockHeader reads the first block header of an .xz stream (the xz
// file format, 3.1.x) and checks its filters: LZMA2 last, with a
// dictionary of at most dict bytes, alone or after a BCJ filter (bcj: its
// decoder) with no start offset. data is where the block's data starts.
func xzBlockHeader(src []byte, dict uint32) (bcj func([]byte), data int, err error) {
	const streamHeader = 12
	if len(src) < streamHeader+2 {
		return nil, 0, fmt.Errorf("stream of %d bytes", len(src))
	}
	h := src[streamHeader:]
	size := (int(h[0]) + 1) * 4
	if h[0] == 0 || size > len(h) {
		return nil, 0, fmt.Errorf("block header of %d bytes", size)
	}
	data = streamHeader + size
	if crc32.ChecksumIEEE(h[:size-4]) != le.Uint32(h[size-4:]) {
		return nil, 0, fmt.Errorf("block header: bad CRC32")
	}
	h = h[:size-4] // less the CRC32
	flags := h[1]
	pos := 2
	varint := func() (uint64, error) {
		var v uint64
		for i := 0; i < 9; i++ {
			if pos >= len(h) {
				return 0, fmt.Errorf("block header truncated")
			}
			b := h[pos]
			pos++
			v |= uint64(b&0x7f) << (7 * i)
			if b&0x80 == 0 {
				return v, nil
			}
		}
		return 0, fmt.Errorf("bad number in the block header")
	}
	if flags&0x40 != 0 {
		if _, err := varint(); err != nil {
			return nil, 0, err
		}
	}
	if flags&0x80 != 0 {
		if _, err := varint(); err != nil {
			return nil, 0, err
		}
	}
	filters := int(flags&3) + 1
	if filters > 2 {
		return nil, 0, fmt.Errorf("%d filters", filters)
	}
	for i := range filters {
		id, err := varint()
		if err != nil {
			return nil, 0, err
		}
		n, err := varint()
		if err != nil {
			return nil, 0, err
		}
		if n > uint64(len(h)-pos) {
			return nil, 0, fmt.Errorf("filter properties truncated")
		}
		props := h[pos : pos+int(n)]
		pos += int(n)
		if i < filters-1 {
			bcj = xzBCJ(id)
			if bcj == nil || n != 0 && (n != 4 || le.Uint32(props) != 0) {
				return nil, 0, fmt.Errorf("filter %#x before LZMA2 not supported", id)
			}
			continue
		}
		if id != xzFilterLZMA2 || n != 1 || props[0] > 40 {
			return nil, 0, fmt.Errorf("last filter %#x is not LZMA2", id)
		}
		if props[0] == 40 {
			return nil, 0, fmt.Errorf("dictionary of 4 GiB")
		}
		if d := uint64(2|props[0]&1) << (props[0]/2 + 11); d > uint64(dict) {
			return nil, 0, fmt.Errorf("dictionary of %d bytes, more than %d", d, dict)
		}
	}
	return bcj, data, nil
}

// lzmaDecompressor is lzma: the legacy .lzma format (a 13-byte header of
// properties, dictionary size and uncompressed size, then LZMA data) that
// squashfs-tools' lzma_wrapper.c writes. Linux does not read it; it is
// here for unsquashfs's sake.
type lzmaDecompressor struct{ src bytes.Reader }

func (l *lzmaDecompressor) Decompress(dst, src []byte) (int, error) {
	l.src.Reset(src)
	r, err := lzma.ReaderConfig{DictCap: MaxBlockSize}.NewReader(&l.src)
	if err != nil {
		return 0, corrupt("lzma", err)
	}
	return readAll("lzma", r, dst)
}

// lz4Decompressor is lz4: raw LZ4 blocks (lz4_wrapper.c's
// LZ4_decompress_safe).
type lz4Decompressor struct{}

func (lz4Decompressor) Decompress(dst, src []byte) (int, error) {
	n, err := lz4.UncompressBlock(src, dst)
	if err != nil {
		return 0, corrupt("lz4", err)
	}
	return n, nil
}

// zstdDecompressor is zstd: one zstd frame per block (zstd_wrapper.c),
// decoded by one decoder without goroutines, its output bounded. The
// decoder writes into dst's capacity; a block longer than len(dst) is
// refused after it.
type zstdDecompressor struct{ d *zstd.Decoder }

func (z *zstdDecompressor) Decompress(dst, src []byte) (int, error) {
	out, err := z.d.DecodeAll(src, dst[:0])
	if err != nil {
		return 0, corrupt("zstd", err)
	}
	if len(out) > len(dst) {
		return 0, corrupt("zstd", fmt.Errorf("more than %d bytes", len(dst)))
	}
	if len(out) > 0 && &out[0] != &dst[0] {
		copy(dst, out)
	}
	return len(out), nil
}

// lzoDecompressor is lzo: LZO1X data (lzo_wrapper.c's
// lzo1x_decompress_safe), decoded by lzo.go.
type lzoDecompressor struct{}

func (lzoDecompressor) Decompress(dst, src []byte) (int, error) {
	n, err := lzo.Decompress(dst, src)
	if err != nil {
		return 0, corrupt("lzo", err)
	}
	return n, nil
}
