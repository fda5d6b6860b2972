package erofsutils

import (
	"bytes"
	"testing"

	"github.com/klauspost/compress/zstd"

	disk "github.com/lklimg/lklimg/format/erofs"
)

// FuzzFit: every encoder's pcluster decodes (with the decoders our
// driver uses) to exactly the prefix of the input it says it holds,
// within the limit, and holds more than a block of anything that LZ4
// compresses at all well.
func FuzzFit(f *testing.F) {
	f.Add([]byte("abc"), uint16(1000), uint8(0))
	f.Add(bytes.Repeat([]byte("line of a compressible file, 0123\n"), 3000), uint16(0), uint8(1))
	f.Add(make([]byte, 100000), uint16(3000), uint8(3))
	f.Add([]byte("some text, some more text"), uint16(40), uint8(4))
	f.Fuzz(func(t *testing.T, seed []byte, stretch uint16, which uint8) {
		// Stretch the input: repeat it, with a counter, so that short
		// inputs still make extents of several blocks.
		var src []byte
		for i := 0; len(src) < len(seed)*int(stretch%64+1) && len(src) < 64<<10; i++ {
			src = append(append(src, seed...), byte(i))
		}
		names := []string{"lz4", "lz4hc", "deflate", "zstd", "lzma"}
		c, err := newCompressor(names[int(which)%len(names)], -1, blockSize)
		if err != nil {
			t.Fatal(err)
		}
		enc := c.newEncoder()
		for off := 0; off < len(src); {
			n, out := enc.fit(src[off:], blockSize)
			if n == 0 {
				break
			}
			if len(out) > blockSize {
				t.Fatalf("%s: %d bytes for a pcluster of %d", c.name, len(out), blockSize)
			}
			dst := make([]byte, n)
			switch c.alg {
			case disk.CompressionLZ4:
				if k, err := disk.DecompressLZ4(out, dst, true); err != nil || k != n {
					t.Fatalf("lz4: %d of %d bytes: %v", k, n, err)
				}
			case disk.CompressionDeflate:
				err = disk.DecompressDeflate(out, dst)
			case disk.CompressionLZMA:
				err = disk.DecompressMicroLZMA(out, dst)
			case disk.CompressionZstd:
				err = disk.DecompressZstd(zstdDec, out, dst)
			}
			if err != nil || !bytes.Equal(dst, src[off:off+n]) {
				t.Fatalf("%s: extent at %d of %d bytes does not decode to the input: %v", c.name, off, n, err)
			}
			off += n
		}
	})
}

var zstdDec, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
