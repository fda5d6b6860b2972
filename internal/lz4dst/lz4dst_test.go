package lz4dst

import (
	"bytes"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/pierrec/lz4/v4"

	"github.com/lklimg/lklimg/format/erofs"
)

// check compresses src into dst bytes and checks the block: within dst,
// decoded by pierrec/lz4 and by the EROFS reader's decoder to exactly
// the input it says it holds. It returns the bytes held and the block's.
func check(t testing.TB, c destSizer, src []byte, dstSize int) (int, int) {
	t.Helper()
	dst := make([]byte, dstSize)
	consumed, n := c.CompressDestSize(dst, src)
	if n > dstSize || consumed > len(src) || consumed < 0 {
		t.Fatalf("%d bytes into %d: consumed %d, wrote %d", len(src), dstSize, consumed, n)
	}
	if dstSize < 1 {
		if n != 0 || consumed != 0 {
			t.Fatalf("no room: consumed %d, wrote %d", consumed, n)
		}
		return 0, 0
	}
	block := dst[:n]
	// pierrec/lz4 wants room for the whole output; one byte more shows a
	// block that decodes to more than it should.
	out := make([]byte, consumed+1)
	k, err := lz4.UncompressBlock(block, out)
	if err != nil || k != consumed || !bytes.Equal(out[:k], src[:consumed]) {
		t.Fatalf("%d bytes into %d: pierrec/lz4 decodes %d of %d bytes: %v", len(src), dstSize, k, consumed, err)
	}
	out = out[:consumed]
	clear(out)
	if k, err := erofs.DecompressLZ4(block, out, true); err != nil || k != consumed || !bytes.Equal(out, src[:consumed]) {
		t.Fatalf("%d bytes into %d: erofs.DecompressLZ4 decodes %d of %d bytes: %v", len(src), dstSize, k, consumed, err)
	}
	checkEndRules(t, block, consumed)
	return consumed, n
}

// destSizer is Compressor or CompressorHC.
type destSizer interface {
	CompressDestSize(dst, src []byte) (int, int)
}

// checkEndRules walks the block's sequences: the last match starts 12
// bytes before the output's end at least and ends 5 before it at least,
// the rules strict decoders (Linux's) hold blocks to.
func checkEndRules(t testing.TB, block []byte, size int) {
	t.Helper()
	s, d := 0, 0
	length := func(n int) int {
		for {
			b := int(block[s])
			s++
			n += b
			if b != 255 {
				return n
			}
		}
	}
	for {
		tok := block[s]
		s++
		lit := int(tok >> 4)
		if lit == runMask {
			lit = length(lit)
		}
		s += lit
		d += lit
		if s == len(block) {
			break
		}
		s += 2
		ml := int(tok & 15)
		if ml == runMask {
			ml = length(ml)
		}
		ml += minMatch
		if d > size-mfLimit || d+ml > size-lastLiterals {
			t.Fatalf("a match at %d of %d bytes (to %d) breaks the end rules", d, ml, size)
		}
		d += ml
	}
	if d != size {
		t.Fatalf("the block holds %d bytes, not %d", d, size)
	}
}

// inputs returns inputs of several kinds: random, text, zeros, a mix of
// repeats at all distances, the package's own sources.
func inputs(t testing.TB) map[string][]byte {
	r := rand.New(rand.NewSource(1))
	random := make([]byte, 300000)
	r.Read(random)
	var text []byte
	for i := 0; len(text) < 300000; i++ {
		text = append(text, []byte("a line of text, number ")...)
		text = append(text, byte('0'+i%10), byte('0'+i/10%10), '\n')
	}
	mix := make([]byte, 0, 300000)
	for len(mix) < 300000 {
		if len(mix) > 100 && r.Intn(3) > 0 {
			back := 1 + r.Intn(min(len(mix), 70000))
			n := 4 + r.Intn(300)
			for j := 0; j < n; j++ {
				mix = append(mix, mix[len(mix)-back])
			}
		} else {
			mix = append(mix, byte(r.Intn(256)))
		}
	}
	in := map[string][]byte{"random": random, "text": text, "zeros": make([]byte, 300000), "mix": mix}
	_, file, _, _ := runtime.Caller(0)
	if src, err := os.ReadFile(filepath.Join(filepath.Dir(file), "lz4dst.go")); err == nil {
		in["source"] = src
	}
	return in
}

// TestCompressDestSize: every kind of input into destinations from none
// to more than it needs, and the whole input cut into pclusters of 4 KiB
// as the EROFS writer does; the ratio is LZ4's (near pierrec/lz4's fast
// compressor's on the whole input).
func TestCompressDestSize(t *testing.T) {
	var fast Compressor
	t.Run("fast", func(t *testing.T) { testCompressDestSize(t, &fast) })
	t.Run("hc", func(t *testing.T) { testCompressDestSize(t, &CompressorHC{}) })
}

func testCompressDestSize(t *testing.T, c destSizer) {
	for name, src := range inputs(t) {
		for _, size := range []int{0, 1, 2, 5, 6, 7, 13, 16, 17, 18, 40, 100, 271, 1000, 4096, 8192, 65536, 1 << 20} {
			for _, l := range []int{0, 1, 12, 13, 14, 20, 100, 5000, len(src)} {
				check(t, c, src[:min(l, len(src))], size)
			}
		}
		// Pclusters of 4 KiB from windows of 256 KiB.
		total, blocks := 0, 0
		for off := 0; off < len(src); {
			k, _ := check(t, c, src[off:min(len(src), off+256<<10)], 4096)
			if k == 0 {
				t.Fatalf("%s: nothing at %d", name, off)
			}
			off += k
			total += k
			blocks++
		}
		whole := make([]byte, lz4.CompressBlockBound(len(src)))
		var pc lz4.Compressor
		wn, _ := pc.CompressBlock(src, whole)
		t.Logf("%s: %d bytes in %d pclusters of 4 KiB (%.2f:1); pierrec/lz4 whole: %d bytes (%.2f:1)",
			name, len(src), blocks, float64(len(src))/float64(blocks*4096), wn, float64(len(src))/float64(max(wn, 1)))
		switch name {
		case "random":
			// Incompressible: a pcluster holds a little less than it.
			if total/blocks < 4000 {
				t.Errorf("%s: %d bytes a pcluster", name, total/blocks)
			}
		case "zeros", "text":
			if total/blocks < 40000 {
				t.Errorf("%s: %d bytes a pcluster", name, total/blocks)
			}
		}
	}
}

// TestStaleTable: a call's output does not depend on the calls before
// it (the table's earlier entries are ignored), and the numbering wraps
// cleanly.
func TestStaleTable(t *testing.T) {
	in := inputs(t)
	src := in["mix"][:100000]
	dst1, dst2 := make([]byte, 4096), make([]byte, 4096)
	var fresh, used Compressor
	k1, n1 := fresh.CompressDestSize(dst1, src)
	used.CompressDestSize(dst2, in["text"])
	used.CompressDestSize(dst2, src[50:])
	k2, n2 := used.CompressDestSize(dst2, src)
	if k1 != k2 || !bytes.Equal(dst1[:n1], dst2[:n2]) {
		t.Fatalf("the same input after others: %d bytes into %d, then %d into %d", k1, n1, k2, n2)
	}
	used.base = 1<<32 - 70000
	k2, n2 = used.CompressDestSize(dst2, src)
	if k1 != k2 || !bytes.Equal(dst1[:n1], dst2[:n2]) {
		t.Fatalf("across the numbering's wrap: %d bytes into %d, then %d into %d", k1, n1, k2, n2)
	}
	check(t, &used, src, 4096)
}

// TestMaxLit: the longest literal run of each budget, against a count
// from below.
func TestMaxLit(t *testing.T) {
	for b := -1; b < 3*4096; b++ {
		want := -1
		for r := 0; litCost(r) <= b; r++ {
			want = r
		}
		if got := maxLit(b); got != want {
			t.Fatalf("maxLit(%d) = %d, want %d", b, got, want)
		}
	}
}

// TestNoAlloc: a call allocates nothing.
func TestNoAlloc(t *testing.T) {
	var c Compressor
	src := inputs(t)["mix"]
	dst := make([]byte, 4096)
	if a := testing.AllocsPerRun(20, func() { c.CompressDestSize(dst, src) }); a != 0 {
		t.Fatalf("%v allocations a call", a)
	}
}

// FuzzCompressDestSize: any input into any destination size decodes
// (pierrec/lz4, the EROFS reader) to exactly what it says it holds,
// within the size; the input is stretched (repeated with a counter) so
// that short seeds make long matches too.
func FuzzCompressDestSize(f *testing.F) {
	f.Add([]byte("abc"), uint16(1000), uint8(0))
	f.Add([]byte("line of a compressible file, 0123\n"), uint16(4096), uint8(60))
	f.Add(make([]byte, 1000), uint16(300), uint8(63))
	f.Add([]byte("some text, some more text"), uint16(40), uint8(4))
	for _, src := range inputs(f) {
		f.Add(src[:min(len(src), 20000)], uint16(4096), uint8(0))
	}
	var c Compressor
	hc := CompressorHC{Depth: 16}
	f.Fuzz(func(t *testing.T, seed []byte, size uint16, stretch uint8) {
		var src []byte
		for i := 0; len(src) < len(seed)*(int(stretch%64)+1) && len(src) < 256<<10; i++ {
			src = append(append(src, seed...), byte(i))
		}
		if len(src) == 0 {
			src = seed
		}
		check(t, &c, src, int(size))
		check(t, &hc, src, int(size))
	})
}

// BenchmarkCompressDestSize: 4 KiB pclusters of the package's sources
// repeated (text) and of the mixed input.
func BenchmarkCompressDestSize(b *testing.B) {
	for name, src := range inputs(b) {
		if name == "source" {
			src = bytes.Repeat(src, 300000/len(src)+1)[:300000]
		}
		b.Run(name, func(b *testing.B) {
			var c Compressor
			dst := make([]byte, 4096)
			b.SetBytes(int64(len(src)))
			for b.Loop() {
				for off := 0; off < len(src); {
					k, _ := c.CompressDestSize(dst, src[off:min(len(src), off+256<<10)])
					off += k
				}
			}
		})
	}
}
