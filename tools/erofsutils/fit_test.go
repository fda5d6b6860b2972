package erofsutils

import (
	"bytes"
	"fmt"
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
			if err := decode(c.alg, out, dst); err != nil || !bytes.Equal(dst, src[off:off+n]) {
				t.Fatalf("%s: extent at %d of %d bytes does not decode to the input: %v", c.name, off, n, err)
			}
			off += n
		}
	})
}

var zstdDec, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))

// decode decompresses the pcluster src of algorithm alg into dst, whole,
// with the decoders our driver uses.
func decode(alg uint8, src, dst []byte) error {
	switch alg {
	case disk.CompressionLZ4:
		if k, err := disk.DecompressLZ4(src, dst, true); err != nil || k != len(dst) {
			return fmt.Errorf("lz4: %d of %d bytes: %v", k, len(dst), err)
		}
		return nil
	case disk.CompressionDeflate:
		return disk.DecompressDeflate(src, dst)
	case disk.CompressionLZMA:
		return disk.DecompressMicroLZMA(src, dst)
	case disk.CompressionZstd:
		return disk.DecompressZstd(zstdDec, src, dst)
	}
	return fmt.Errorf("algorithm %d", alg)
}

// FuzzCompressSegment: a segment's pclusters, moved to the front of its
// own buffer, cover it in order: each PLAIN one is its input, each
// compressed one is shorter than its input and decodes to it, none
// reaches past the segment; the seeds are text, random bytes and zeros
// in turn, so that extents end anywhere and tails cross lcluster
// boundaries.
func FuzzCompressSegment(f *testing.F) {
	f.Add([]byte("line of a compressible file, 0123\n"), uint16(300), uint16(4000), uint8(0))
	f.Add([]byte("some text"), uint16(5000), uint16(6000), uint8(1))
	f.Add([]byte{1, 2, 3}, uint16(100), uint16(8191), uint8(2))
	f.Add([]byte("abc"), uint16(4097), uint16(4000), uint8(3))
	f.Add([]byte("x"), uint16(12000), uint16(300), uint8(4))
	f.Fuzz(func(t *testing.T, text []byte, textLen, randLen uint16, which uint8) {
		if len(text) == 0 {
			return
		}
		// The text, then LCG bytes (incompressible), then the text
		// again, then zeros.
		data := bytes.Repeat(text, int(textLen)/len(text)+1)[:textLen]
		seed := uint32(which)
		for range int(randLen) {
			seed = seed*1664525 + 1013904223
			data = append(data, byte(seed>>24))
		}
		data = append(data, data[:min(len(data), int(textLen))]...)
		data = append(data, make([]byte, int(which)*37)...)
		names := []string{"lz4", "lz4hc", "deflate", "zstd", "lzma"}
		c, err := newCompressor(names[int(which)%len(names)], -1, blockSize)
		if err != nil {
			t.Fatal(err)
		}
		want := bytes.Clone(data)
		buf := make([]byte, len(data), len(data)+blockSize) // room past it, to be caught
		copy(buf, data)
		res := compressSegment(c.newEncoder(), buf, c, which&8 != 0, nil)
		la := 0
		for i, pc := range res {
			end := la + pc.llen
			if end > len(want) || pc.llen <= 0 {
				t.Fatalf("%s: pcluster %d: %d bytes at %d of %d", c.name, i, pc.llen, la, len(want))
			}
			if at := cap(buf) - cap(pc.data) + len(pc.data); at > len(buf) {
				t.Fatalf("%s: pcluster %d's bytes end at %d, past the segment's %d", c.name, i, at, len(buf))
			}
			if pc.plain {
				if !bytes.Equal(pc.data, want[la:end]) {
					t.Fatalf("%s: PLAIN pcluster %d at %d is not its input", c.name, i, la)
				}
			} else {
				dst := make([]byte, pc.llen)
				if len(pc.data) >= pc.llen {
					t.Fatalf("%s: pcluster %d: %d compressed bytes for %d", c.name, i, len(pc.data), pc.llen)
				}
				if err := decode(c.alg, pc.data, dst); err != nil || !bytes.Equal(dst, want[la:end]) {
					t.Fatalf("%s: pcluster %d at %d does not decode to its input: %v", c.name, i, la, err)
				}
			}
			la = end
		}
		if la != len(want) {
			t.Fatalf("%s: the pclusters hold %d bytes of %d", c.name, la, len(want))
		}
	})
}
