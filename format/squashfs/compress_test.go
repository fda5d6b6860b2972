package squashfs

import (
	"bytes"
	"math/rand"
	"testing"
)

// TestCompressRoundTrip compresses blocks of several kinds with every
// compressor and option set and decompresses them with the decoders.
func TestCompressRoundTrip(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	random := make([]byte, 1<<20)
	r.Read(random)
	text := bytes.Repeat([]byte("a line of text that repeats, more or less; "), 30000)
	inputs := map[string][]byte{
		"one": {1}, "text-8k": text[:MetadataSize], "text": text[:128<<10], "random": random[:128<<10],
		"zeros": make([]byte, 128<<10), "mixed": append(append([]byte{}, random[:70000]...), text[:58000]...),
		"random-1m": random, "text-1m": text[:1<<20],
	}
	for _, c := range []struct {
		id   uint16
		o    CompressorOptions
		bs   uint32
		name string
	}{
		{CompZlib, CompressorOptions{}, 128 << 10, "gzip"},
		{CompZlib, CompressorOptions{Level: 1, WindowSize: 10}, 128 << 10, "gzip-1"},
		{CompXz, CompressorOptions{}, 128 << 10, "xz"},
		{CompXz, CompressorOptions{DictSize: 128 << 10}, 128 << 10, "xz-128k"},
		{CompXz, CompressorOptions{}, 1 << 20, "xz-1m"},
		{CompLzma, CompressorOptions{}, 128 << 10, "lzma"},
		{CompLz4, CompressorOptions{}, 128 << 10, "lz4"},
		{CompLz4, CompressorOptions{HC: true}, 128 << 10, "lz4hc"},
		{CompZstd, CompressorOptions{}, 128 << 10, "zstd"},
		{CompZstd, CompressorOptions{Level: 1}, 1 << 20, "zstd-1"},
		{CompLzo, CompressorOptions{}, 1 << 20, "lzo"},
	} {
		comp, err := NewCompressor(c.id, c.o, c.bs)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		d, err := NewDecompressor(c.id, c.o.Encode(c.id, c.bs), c.bs)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for name, in := range inputs {
			if len(in) > int(c.bs) {
				continue
			}
			out, err := comp.Compress(nil, in)
			if err != nil {
				t.Errorf("%s: %s: %v", c.name, name, err)
				continue
			}
			if len(out) >= len(in) {
				if name == "text" || name == "zeros" {
					t.Errorf("%s: %s: %d bytes compressed to %d", c.name, name, len(in), len(out))
				}
				continue
			}
			back := make([]byte, c.bs)
			n, err := d.Decompress(back, out)
			if err != nil || !bytes.Equal(back[:n], in) {
				t.Errorf("%s: %s: round trip: %v (%d bytes of %d)", c.name, name, err, n, len(in))
			}
		}
	}
}
