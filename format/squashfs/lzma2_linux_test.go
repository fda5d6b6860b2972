package squashfs

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

// xzInputs are blocks of several kinds: text, random bytes (stored as
// uncompressed LZMA2 chunks, the chunk after them resetting the state),
// zeros, their mixtures, up to 1 MiB.
func xzInputs() map[string][]byte {
	r := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 1<<20)
	for i := range random {
		random[i] = byte(r.Uint32())
	}
	var text []byte
	for i := 0; len(text) < 1<<20; i++ {
		text = append(text, []byte("line "+string(rune('a'+i%26))+" of a text, with words that repeat "+string(rune('0'+i%10))+"\n")...)
	}
	text = text[:1<<20]
	mixed := append(append(append([]byte{}, text[:100000]...), random[:200000]...), text[300000:600000]...)
	return map[string][]byte{
		"one": {7}, "text-8k": text[:8192], "text": text[:128<<10], "random": random[:128<<10],
		"zeros": make([]byte, 128<<10), "mixed": mixed, "text-1m": text, "random-1m": random,
	}
}

// xzTool compresses in with the xz command's args (liblzma, as
// mksquashfs's xz_wrapper).
func xzTool(t *testing.T, in []byte, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("xz", append([]string{"-c", "--format=xz"}, args...)...)
	cmd.Stdin = bytes.NewReader(in)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("xz %v: %v", args, err)
	}
	return out
}

// TestXzDecoder decodes the streams liblzma (the xz command) makes with
// many LZMA2 settings (lc, lp and pb, presets, the check types, a BCJ
// filter), blocks of each kind: every one decodes to its input; a
// stream cut short or with a byte of its data, index or footer changed
// fails.
func TestXzDecoder(t *testing.T) {
	testutil.Need(t, "xz")
	inputs := xzInputs()
	settings := [][]string{
		{"--check=crc32", "--lzma2=preset=6,dict=1MiB"},
		{"--check=crc64", "--lzma2=preset=0,dict=256KiB"},
		{"--check=none", "--lzma2=preset=9e,dict=1MiB"},
		{"--check=crc32", "--lzma2=preset=6,dict=1MiB,lc=0,lp=4,pb=0"},
		{"--check=crc32", "--lzma2=preset=6,dict=1MiB,lc=4,lp=0,pb=4"},
		{"--check=crc32", "--lzma2=preset=6,dict=1MiB,lc=1,lp=3,pb=2,mf=hc4,mode=fast"},
		{"--check=crc32", "--x86", "--lzma2=preset=6,dict=1MiB"},
		{"--check=crc32", "--arm", "--lzma2=preset=1,dict=1MiB"},
	}
	d, err := NewDecompressor(CompXz, nil, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	dst := NewBlockBuffer(1 << 20)
	for _, args := range settings {
		for name, in := range inputs {
			z := xzTool(t, in, args...)
			n, err := d.Decompress(dst, z)
			if err != nil || !bytes.Equal(dst[:n], in) {
				t.Errorf("xz %v: %s: %v (%d bytes of %d)", args, name, err, n, len(in))
				continue
			}
			if name != "text" {
				continue
			}
			// Cut short anywhere in the block: an error.
			for _, cut := range []int{1, 12, 20, len(z) / 2, len(z) - 70} {
				if _, err := d.Decompress(dst, z[:cut]); err == nil {
					t.Errorf("xz %v: %s cut to %d bytes: no error", args, name, cut)
				}
			}
			// A byte of the data changed: an error, from the decoder
			// or from the check; of the index or the footer: an error.
			for _, at := range []int{len(z) - 20, len(z) - 14, len(z) - 8, len(z) - 2} {
				bad := append([]byte(nil), z...)
				bad[at] ^= 0x01
				if _, err := d.Decompress(dst, bad); err == nil {
					t.Errorf("xz %v: %s with byte %d of %d changed: no error", args, name, at, len(z))
				}
			}
			if args[0] != "--check=none" {
				for _, at := range []int{40, len(z) / 3, len(z) / 2} {
					bad := append([]byte(nil), z...)
					bad[at] ^= 0x10
					if _, err := d.Decompress(dst, bad); err == nil {
						t.Errorf("xz %v: %s with byte %d changed: no error", args, name, at)
					}
				}
			}
			// The decoder's state does not leak into the next block.
			if n, err := d.Decompress(dst, z); err != nil || !bytes.Equal(dst[:n], in) {
				t.Errorf("xz %v: %s again after damaged blocks: %v", args, name, err)
			}
		}
	}
	// A block larger than the buffer: an error.
	if _, err := d.Decompress(make([]byte, 1000), xzTool(t, inputs["text"], settings[0]...)); err == nil {
		t.Error("128 KiB into 1000 bytes: no error")
	}
}

// FuzzXz decodes any bytes as an xz block, seeded with liblzma's
// streams: never a panic, an errno on failure, nothing past the buffer.
func FuzzXz(f *testing.F) {
	if _, err := exec.LookPath("xz"); err == nil {
		// Blocks that fit the fuzz buffer (8 KiB), with the smallest
		// dictionary: a text, a random then text block, one byte.
		ins := xzInputs()
		dir := f.TempDir()
		for i, in := range [][]byte{ins["text-8k"], append(append([]byte{}, ins["random"][:3000]...), ins["text"][:5000]...), ins["one"]} {
			p := filepath.Join(dir, string(rune('a'+i)))
			if err := os.WriteFile(p, in, 0o644); err != nil {
				f.Fatal(err)
			}
			out, err := exec.Command("xz", "-c", "--check=crc32", "--lzma2=preset=6,dict=8KiB,lc=1,lp=1", p).Output()
			if err != nil {
				f.Fatal(err)
			}
			f.Add(out)
		}
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		d, err := NewDecompressor(CompXz, nil, MinBlockSize)
		if err != nil {
			t.Fatal(err)
		}
		dst := make([]byte, MetadataSize)
		n, err := d.Decompress(dst, p)
		mustErrno(t, err)
		if n > len(dst) {
			t.Fatalf("%d bytes", n)
		}
	})
}
