package erofsutils

import (
	"bytes"
	"fmt"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/zstd"

	"github.com/ulikunitz/xz/lzma"

	disk "github.com/lklimg/lklimg/format/erofs"
	"github.com/lklimg/lklimg/internal/lz4dst"
)

// encoder compresses a pcluster's worth: fit returns how many bytes of
// the start of src compress into at most limit bytes, and those
// compressed bytes (valid until the next call). Each worker has its own.
type encoder interface {
	fit(src []byte, limit int) (int, []byte)
	// reset forgets what earlier extents taught (the window or length
	// first tried): each segment starts afresh, so that its extents do
	// not depend on which worker had which segment before.
	reset()
}

// compressor is one -z algorithm at one level.
type compressor struct {
	name       string
	alg        uint8 // Z_EROFS_COMPRESSION_*
	level      int
	pcluster   int
	maxExtent  int // an extent's most bytes
	newEncoder func() encoder
}

// newCompressor returns the compressor -z names, at level (-1: the
// algorithm's default), for pclusters of pcluster bytes.
func newCompressor(name string, level, pcluster int) (*compressor, error) {
	c := &compressor{name: name, level: level, pcluster: pcluster, maxExtent: maxExtent}
	switch name {
	case "lz4":
		c.alg, c.maxExtent = disk.CompressionLZ4, segmentSize
		c.newEncoder = func() encoder { return &lz4Encoder{c: &lz4dst.Compressor{}} }
	case "lz4hc":
		// mkfs.erofs's levels are lz4hc's, 1 to 12 (9 by default):
		// hash chains searched 2^(level-1) deep, as LZ4HC's up to 9.
		if level < 0 {
			level = 9
		}
		if level < 1 || level > 12 {
			return nil, fmt.Errorf("erofs: lz4hc level %d: 1 to 12", level)
		}
		c.alg, c.maxExtent = disk.CompressionLZ4, segmentSize
		c.newEncoder = func() encoder { return &lz4Encoder{c: &lz4dst.CompressorHC{Depth: 1 << (level - 1)}} }
	case "deflate":
		// mkfs.erofs's levels are zlib's, 0 to 9 (1 by default).
		if level < 0 {
			level = 1
		}
		if level > 9 {
			return nil, fmt.Errorf("erofs: deflate level %d: 0 to 9", level)
		}
		c.alg = disk.CompressionDeflate
		c.newEncoder = func() encoder { return newSearchEncoder(newDeflate(level)) }
	case "zstd":
		// zstd's levels, 1 to 22 (3 by default), in klauspost/compress's
		// four speeds.
		if level < 0 {
			level = 3
		}
		if level < 1 || level > 22 {
			return nil, fmt.Errorf("erofs: zstd level %d: 1 to 22", level)
		}
		c.alg = disk.CompressionZstd
		c.newEncoder = func() encoder { return newSearchEncoder(newZstd(level)) }
	case "lzma":
		// MicroLZMA; ulikunitz/xz has one matcher, whatever the level
		// (0 to 9, 6 by default, checked for mkfs.erofs's sake).
		if level < 0 {
			level = 6
		}
		if level > 9 {
			return nil, fmt.Errorf("erofs: lzma level %d: 0 to 9", level)
		}
		c.alg = disk.CompressionLZMA
		c.newEncoder = func() encoder { return newSearchEncoder(&microLZMA{}) }
	default:
		return nil, fmt.Errorf("erofs: unknown compressor %q (lz4, lz4hc, deflate, zstd, lzma)", name)
	}
	return c, nil
}

// super sets what the superblock says of the algorithm: LZ4 alone needs
// no configuration (lz4_max_distance 0 is LZ4's 64 KiB window); the
// others are declared in available_compr_algs with COMPR_CFGS and
// configured by a record after the superblock (cfgs).
func (c *compressor) super(sb *disk.SuperBlock) {
	if c.alg == disk.CompressionLZ4 && c.pcluster == blockSize {
		return
	}
	// BIG_PCLUSTER is COMPR_CFGS's bit: big pclusters of LZ4 say
	// their largest in LZ4's record.
	sb.FeatureIncompat |= disk.FeatureIncompatComprCfgs
	sb.AvailableComprAlgs = 1 << c.alg
}

// cfgs returns the algorithm's configuration records, which follow the
// superblock (z_erofs_parse_cfgs): a u16 size then the structure, for
// each algorithm of available_compr_algs; nil for LZ4 alone.
func (c *compressor) cfgs() []byte {
	switch c.alg {
	case disk.CompressionLZ4:
		if c.pcluster == blockSize {
			return nil
		}
		// struct z_erofs_lz4_cfgs: max_distance u16 (0: LZ4's 64 KiB),
		// max_pclusterblks u16, reserved[10].
		r := make([]byte, 2+14)
		r[0] = 14
		le16(r[4:], uint16(c.pcluster/blockSize))
		return r
	case disk.CompressionDeflate:
		// struct z_erofs_deflate_cfgs: windowbits u8, reserved[5].
		return []byte{6, 0, 15, 0, 0, 0, 0, 0}
	case disk.CompressionLZMA:
		// struct z_erofs_lzma_cfgs: dict_size u32, format u16 (0:
		// MicroLZMA), reserved[8]: a dictionary of maxExtent, the
		// most a stream spans.
		r := make([]byte, 2+14)
		r[0] = 14
		d := uint32(lzmaDictCap)
		le16(r[2:], uint16(d))
		le16(r[4:], uint16(d>>16))
		return r
	case disk.CompressionZstd:
		// struct z_erofs_zstd_cfgs: format u8 (0: zstd), windowlog u8
		// (the window's log2 less ZSTD_WINDOWLOG_ABSOLUTEMIN, 10),
		// reserved[4]: a window of maxExtent, the most a frame spans.
		return []byte{6, 0, 0, zstdWindowLog - 10, 0, 0, 0, 0}
	}
	return nil
}

// lz4Encoder fills a pcluster with LZ4 in one pass, as mkfs.erofs does
// with LZ4_compress_destSize (LZ4_compress_HC_destSize for LZ4HC):
// internal/lz4dst compresses as much of the input as fits in the limit.
// Its tables are kept from extent to extent (no allocation a pcluster);
// each block depends on its input alone, so reset has nothing to forget.
type lz4Encoder struct {
	c interface {
		CompressDestSize(dst, src []byte) (int, int)
	}
	out []byte
}

func (e *lz4Encoder) reset() {}

func (e *lz4Encoder) fit(src []byte, limit int) (int, []byte) {
	if len(e.out) < limit {
		e.out = make([]byte, limit)
	}
	n, k := e.c.CompressDestSize(e.out[:limit], src)
	return n, e.out[:k]
}

// searchEncoder fits a compressor without a "destSize" mode (DEFLATE,
// Zstandard) by searching the input length: each try compresses a
// prefix; the next length is the last that fitted scaled by how far
// below the limit it came, or the middle of what is known when that
// overshoots; it stops within 1/64 of the longest (or at the whole
// input). The first length tried is the last extent's, so that a file of
// even compressibility needs two or three tries an extent (from the
// same start in each segment: reset).
type searchEncoder struct {
	c     prefixCompressor
	best  []byte
	guess int
}

// prefixCompressor compresses src whole, appending to dst.
type prefixCompressor interface {
	compress(dst, src []byte) []byte
}

func newSearchEncoder(c prefixCompressor) *searchEncoder { return &searchEncoder{c: c} }

func (e *searchEncoder) reset() { e.guess = 0 }

func (e *searchEncoder) fit(src []byte, limit int) (int, []byte) {
	lo, hi := 0, len(src)+1 // lo fits (or is nothing), hi does not
	e.best = e.best[:0]
	var try []byte
	n := min(len(src), max(e.guess, 2*limit))
	for tries := 0; tries < 16 && hi-lo > max(64, lo/64); tries++ {
		try = e.c.compress(try[:0], src[:n])
		if len(try) <= limit {
			lo = n
			e.best = append(e.best[:0], try...)
			if n == len(src) {
				break
			}
		} else {
			hi = n
		}
		// Scale by the room left, a little short of it; past what is
		// known not to fit, the longest not known; else halve.
		next := int(int64(n) * int64(limit) / int64(max(len(try), 1)) * 63 / 64)
		if next >= hi {
			next = hi - 1
		}
		if next <= lo {
			next = lo + (hi-lo)/2
		}
		n = min(next, len(src))
	}
	e.guess = lo
	return lo, e.best
}

// deflateCompressor is a raw DEFLATE stream (no zlib header), as Linux's
// z_erofs_deflate_decompress inflates it (-MAX_WBITS).
type deflateCompressor struct {
	w   *flate.Writer
	buf bytes.Buffer
}

func newDeflate(level int) *deflateCompressor {
	w, _ := flate.NewWriter(nil, level) // the level is checked
	return &deflateCompressor{w: w}
}

func (d *deflateCompressor) compress(dst, src []byte) []byte {
	d.buf.Reset()
	d.w.Reset(&d.buf)
	d.w.Write(src)
	d.w.Close()
	return append(dst, d.buf.Bytes()...)
}

// zstdWindowLog is the window the frames are made with: an extent's
// most, which the image's configuration declares.
const zstdWindowLog = 18

// zstdCompressor makes one Zstandard frame of each prefix, without its
// checksum (the image has none of its own either).
type zstdCompressor struct{ e *zstd.Encoder }

func newZstd(level int) *zstdCompressor {
	e, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)), zstd.WithEncoderCRC(false),
		zstd.WithWindowSize(1<<zstdWindowLog), zstd.WithEncoderConcurrency(1), zstd.WithSingleSegment(true))
	return &zstdCompressor{e: e}
}

func (z *zstdCompressor) compress(dst, src []byte) []byte { return z.e.EncodeAll(src, dst) }

// le16 puts a little-endian u16.
func le16(p []byte, v uint16) { p[0], p[1] = byte(v), byte(v>>8) }

// lzmaDictCap is the LZMA dictionary: an extent's most.
const lzmaDictCap = maxExtent

// microLZMA makes a MicroLZMA stream (xz-embedded's xz_dec_microlzma):
// an LZMA1 stream of known size, without its end marker or .lzma
// header, whose first byte (the range coder's, always zero) is the
// bitwise NOT of the properties byte instead.
type microLZMA struct{ buf bytes.Buffer }

func (m *microLZMA) compress(dst, src []byte) []byte {
	m.buf.Reset()
	w, err := lzma.WriterConfig{DictCap: lzmaDictCap, Size: int64(len(src))}.NewWriter(&m.buf)
	if err == nil {
		_, err = w.Write(src)
	}
	if err == nil {
		err = w.Close()
	}
	b := m.buf.Bytes()
	if err != nil || len(b) <= lzma.HeaderLen {
		// Not compressed: longer than any pcluster, the search shrinks.
		return append(dst, make([]byte, len(src)+blockSize)...)
	}
	props := b[0]
	start := len(dst)
	dst = append(dst, b[lzma.HeaderLen:]...)
	dst[start] = ^props
	return dst
}
