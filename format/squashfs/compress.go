package squashfs

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
	"github.com/lklimg/lklimg/internal/lzo"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"
)

// The compressors: the encoders of the blocks the decompressors
// (compressor.go) read, for a writer, and the compressor options
// mksquashfs writes after the superblock (the structs of squashfs-tools'
// *_wrapper.h, which Linux's wrappers read).

// CompressorOptions are what mksquashfs's -X options set. The zero value
// is each compressor's default, for which mksquashfs writes no options
// (except lz4's, always written: Linux's lz4_wrapper.c wants its
// version).
type CompressorOptions struct {
	// Level is -Xcompression-level: gzip 1-9 (default 9), zstd 1-22
	// (default 15), lzo 1-9 (default 8, for lzo1x_999); 0 the default.
	Level int
	// WindowSize is gzip's -Xwindow-size, 8 to 15 (default 15).
	WindowSize int
	// HC is lz4's -Xhc, the high-compression mode (LZ4_HC in the
	// options' flags).
	HC bool
	// DictSize is xz's -Xdict-size in bytes (default: the block size).
	DictSize uint32
}

// Defaults of the compressors' options (squashfs-tools' wrappers).
const (
	GzipDefaultLevel  = 9
	GzipDefaultWindow = 15
	ZstdDefaultLevel  = 15
	LzoDefaultLevel   = 8
	lzoAlgorithm999   = 4 // LZO1X_999 in lzo_wrapper.h's list
	lz4FlagHC         = 1 // LZ4_HC
)

// CompressorID returns the compressor id of a -comp name ("gzip", "xz",
// ...), false for a name mksquashfs does not know.
func CompressorID(name string) (uint16, bool) {
	for id := uint16(CompZlib); id <= CompZstd; id++ {
		if CompressorName(id) == name {
			return id, true
		}
	}
	return 0, false
}

// Check refuses options out of the compressor's range, in mksquashfs's
// terms, and options the compressor does not have.
func (o CompressorOptions) Check(id uint16, blockSize uint32) error {
	name := CompressorName(id)
	if o.Level != 0 {
		lo, hi := 1, 9
		switch id {
		case CompZstd:
			hi = 22
		case CompZlib, CompLzo:
		default:
			return fmt.Errorf("%s: -Xcompression-level is not an option of this compressor", name)
		}
		if o.Level < lo || o.Level > hi {
			return fmt.Errorf("%s: -Xcompression-level %d: should be %d to %d", name, o.Level, lo, hi)
		}
	}
	if o.WindowSize != 0 && (id != CompZlib || o.WindowSize < 8 || o.WindowSize > 15) {
		return fmt.Errorf("%s: -Xwindow-size %d: gzip's, 8 to 15", name, o.WindowSize)
	}
	if o.HC && id != CompLz4 {
		return fmt.Errorf("%s: -Xhc is lz4's option", name)
	}
	if o.DictSize != 0 {
		d := o.DictSize
		n := uint32(0)
		for n < 31 && d>>n&1 == 0 {
			n++
		}
		if id != CompXz || d < MetadataSize || d > blockSize || d != 1<<n && d != 1<<n+1<<(n+1) {
			return fmt.Errorf("%s: -Xdict-size %d: xz's, 2^n or 2^n+2^(n+1), 8192 to the block size", name, d)
		}
		if d < blockSize {
			// ulikunitz/xz's encoder loses data when the dictionary
			// is smaller than what it compresses (a block of 128 KiB
			// with a dictionary of 32 KiB decodes to 36 KiB): refused
			// rather than written wrong.
			return fmt.Errorf("%s: -Xdict-size %d smaller than the block size is not supported", name, d)
		}
	}
	return nil
}

// Encode returns the compressor options' metadata block contents as
// mksquashfs writes them for id (nil when it writes none: all defaults):
// gzip's compression_level, window_size and strategy (struct
// gzip_comp_opts), xz's dictionary_size and flags, lz4's version and
// flags, zstd's compression_level, lzo's algorithm and level.
func (o CompressorOptions) Encode(id uint16, blockSize uint32) []byte {
	var b []byte
	switch id {
	case CompZlib:
		level, window := cmp(o.Level, GzipDefaultLevel), cmp(o.WindowSize, GzipDefaultWindow)
		if level == GzipDefaultLevel && window == GzipDefaultWindow {
			return nil
		}
		b = put32(b, uint32(level))
		b = put16(b, uint16(window))
		b = put16(b, 0)
	case CompXz:
		if o.DictSize == 0 || o.DictSize == blockSize {
			return nil
		}
		b = put32(b, o.DictSize)
		b = put32(b, 0)
	case CompLz4:
		b = put32(b, lz4Legacy)
		var flags uint32
		if o.HC {
			flags = lz4FlagHC
		}
		b = put32(b, flags)
	case CompZstd:
		if o.Level == 0 || o.Level == ZstdDefaultLevel {
			return nil
		}
		b = put32(b, uint32(o.Level))
	case CompLzo:
		if o.Level == 0 || o.Level == LzoDefaultLevel {
			return nil
		}
		b = put32(b, lzoAlgorithm999)
		b = put32(b, uint32(o.Level))
	}
	return b
}

// cmp returns v, or def when v is 0.
func cmp(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// A Compressor compresses one block at a time. One value serves one
// goroutine; it keeps its state between blocks.
type Compressor interface {
	// Compress compresses src, a whole block, appending to dst[:0]
	// and returning the result; a result no shorter than src means the
	// block is to be stored as it is.
	Compress(dst, src []byte) ([]byte, error)
}

// NewCompressor returns a compressor of id with options o for blocks of
// at most blockSize bytes, whose output the matching Decompressor reads.
func NewCompressor(id uint16, o CompressorOptions, blockSize uint32) (Compressor, error) {
	if err := o.Check(id, blockSize); err != nil {
		return nil, err
	}
	switch id {
	case CompZlib:
		return &zlibCompressor{level: cmp(o.Level, GzipDefaultLevel)}, nil
	case CompXz:
		dict := o.DictSize
		if dict == 0 {
			dict = max(blockSize, MetadataSize)
		}
		return &xzCompressor{cfg: xz.WriterConfig{DictCap: int(dict), CheckSum: xz.CRC32}}, nil
	case CompLzma:
		return &lzmaCompressor{dict: int(max(blockSize, MetadataSize))}, nil
	case CompLz4:
		if o.HC {
			return &lz4Compressor{c: &lz4.CompressorHC{}}, nil
		}
		return &lz4Compressor{c: &lz4.Compressor{}}, nil
	case CompZstd:
		window := 1 << 10
		for window < int(blockSize) {
			window <<= 1
		}
		e, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(cmp(o.Level, ZstdDefaultLevel))),
			zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(window), zstd.WithEncoderCRC(false))
		if err != nil {
			return nil, err
		}
		return &zstdCompressor{e: e}, nil
	case CompLzo:
		return lzoCompressor{}, nil
	}
	return nil, fmt.Errorf("squashfs: no compressor %s", CompressorName(id))
}

// zlibCompressor is gzip: a zlib stream (zlib_wrapper.c's compress2).
type zlibCompressor struct {
	level int
	buf   bytes.Buffer
	w     *zlib.Writer
}

func (z *zlibCompressor) Compress(dst, src []byte) ([]byte, error) {
	z.buf = *bytes.NewBuffer(dst[:0])
	if z.w == nil {
		w, err := zlib.NewWriterLevel(&z.buf, z.level)
		if err != nil {
			return nil, err
		}
		z.w = w
	} else {
		z.w.Reset(&z.buf)
	}
	if _, err := z.w.Write(src); err != nil {
		return nil, err
	}
	if err := z.w.Close(); err != nil {
		return nil, err
	}
	return z.buf.Bytes(), nil
}

// xzCompressor is xz: one .xz stream, LZMA2 with a CRC32 check
// (xz_wrapper.c's lzma_stream_buffer_encode with LZMA_CHECK_CRC32).
type xzCompressor struct {
	cfg xz.WriterConfig
	buf bytes.Buffer
}

func (x *xzCompressor) Compress(dst, src []byte) ([]byte, error) {
	x.buf = *bytes.NewBuffer(dst[:0])
	w, err := x.cfg.NewWriter(&x.buf)
	if err != nil {
		return nil, err
	}
	_, err = w.Write(src)
	if err == nil {
		err = w.Close()
	}
	if errors.Is(err, lzma.ErrNoSpace) {
		// ulikunitz/xz fails so on data it cannot shrink with a
		// dictionary smaller than the block: the block is stored as it
		// is, as it would be anyway.
		return append(dst[:0], src...), nil
	}
	if err != nil {
		return nil, err
	}
	return x.buf.Bytes(), nil
}

// lzmaCompressor is lzma: the legacy .lzma header (properties lc=3 lp=0
// pb=2, the dictionary size, the uncompressed size) and LZMA data, as
// lzma_wrapper.c writes it (unsquashfs reads the size from the header).
type lzmaCompressor struct {
	dict int
	buf  bytes.Buffer
}

func (l *lzmaCompressor) Compress(dst, src []byte) ([]byte, error) {
	l.buf = *bytes.NewBuffer(dst[:0])
	w, err := lzma.WriterConfig{DictCap: l.dict, Size: int64(len(src)), SizeInHeader: true}.NewWriter(&l.buf)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(src); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return l.buf.Bytes(), nil
}

// lz4Compressor is lz4: a raw LZ4 block (lz4_wrapper.c's
// LZ4_compress_default, or LZ4_compressHC2 with -Xhc), by either of
// pierrec/lz4's block compressors.
type lz4Compressor struct {
	c interface {
		CompressBlock(src, dst []byte) (int, error)
	}
}

func (l *lz4Compressor) Compress(dst, src []byte) ([]byte, error) {
	dst = grow(dst, lz4.CompressBlockBound(len(src)))
	n, err := l.c.CompressBlock(src, dst)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		// Incompressible: lz4 says so with 0.
		return append(dst[:0], src...), nil
	}
	return dst[:n], nil
}

// zstdCompressor is zstd: one frame per block, no checksum
// (zstd_wrapper.c's ZSTD_compressCCtx).
type zstdCompressor struct{ e *zstd.Encoder }

func (z *zstdCompressor) Compress(dst, src []byte) ([]byte, error) {
	return z.e.EncodeAll(src, dst[:0]), nil
}

// lzoCompressor is lzo: LZO1X data (internal/lzo's compressor; Linux
// reads any LZO1X stream, whatever the options say made it).
type lzoCompressor struct{}

func (lzoCompressor) Compress(dst, src []byte) ([]byte, error) {
	return lzo.Compress(dst[:0], src), nil
}

// grow returns dst with a length of n, reallocated if it has not the
// room.
func grow(dst []byte, n int) []byte {
	if cap(dst) < n {
		return make([]byte, n)
	}
	return dst[:n]
}
