package compress

import (
	"bytes"
	"io"
	"math/rand/v2"
	"os/exec"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

// testInput is size bytes that compress somewhat.
func testInput(size int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	words := []string{"etc", "usr", "lib", "passwd", "\x00\x00\x00\x00", "ustar", "0000644"}
	var b bytes.Buffer
	for b.Len() < size {
		if r.IntN(10) == 0 {
			var raw [64]byte
			for i := range raw {
				raw[i] = byte(r.Uint32())
			}
			b.Write(raw[:])
		}
		b.WriteString(words[r.IntN(len(words))])
	}
	return b.Bytes()
}

func compress(t *testing.T, m Method, workers int, in []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := NewWriter(&out, m, Options{Workers: workers})
	if err != nil {
		t.Fatal(err)
	}
	// Writes of odd sizes: block boundaries must not follow them.
	for p := in; len(p) > 0; {
		n := min(len(p), 100_003)
		if _, err := w.Write(p[:n]); err != nil {
			t.Fatal(err)
		}
		p = p[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestRoundTripDeterministic: each method gives the same bytes with 1, 2
// and 8 workers, and they decompress to the input.
func TestRoundTripDeterministic(t *testing.T) {
	for _, m := range []Method{Gzip, Zstd, Xz, None} {
		t.Run(string(m)+"-", func(t *testing.T) {
			// Enough for several gzip blocks and zstd jobs; xz is
			// slow and single-threaded.
			in := testInput(12 << 20) // two zstd jobs of 4 windows
			if m == Xz {
				in = in[:1<<20]
			}
			first := compress(t, m, 1, in)
			if m != None && len(first) >= len(in) {
				t.Errorf("%d bytes compressed to %d", len(in), len(first))
			}
			if m != Xz { // single-threaded anyway, and slow
				for _, workers := range []int{2, 8} {
					if again := compress(t, m, workers, in); !bytes.Equal(again, first) {
						t.Errorf("%d workers: output differs from 1 worker's", workers)
					}
				}
			}
			if got := Detect(first); got != m {
				t.Errorf("Detect = %q", got)
			}
			r, got, err := NewReader(bytes.NewReader(first))
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if got != m {
				t.Errorf("NewReader method %q", got)
			}
			back, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(back, in) {
				t.Errorf("round trip: %d bytes back of %d", len(back), len(in))
			}
		})
	}
}

// TestGzipHeader: no name, MTIME 0, as `gzip -n` writes.
func TestGzipHeader(t *testing.T) {
	out := compress(t, Gzip, 2, []byte("hello"))
	if flags := out[3]; flags != 0 {
		t.Errorf("FLG %#x, want 0 (no name, no comment)", flags)
	}
	if !bytes.Equal(out[4:8], []byte{0, 0, 0, 0}) {
		t.Errorf("MTIME % x, want 0", out[4:8])
	}
}

func TestFromSuffix(t *testing.T) {
	for name, want := range map[string]Method{
		"a.tar.gz": Gzip, "A.TGZ": Gzip, "x/y.tar.zst": Zstd, "y.tzst": Zstd,
		"y.tar.xz": Xz, "y.txz": Xz, "y.tar": None, "-": None, "gz": None, "y.gz.tar": None,
	} {
		if got := FromSuffix(name); got != want {
			t.Errorf("FromSuffix(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestUnknown(t *testing.T) {
	if _, err := NewWriter(io.Discard, "lz4", Options{}); err == nil {
		t.Error("lz4: no error")
	}
}

// TestBzip2 reads what the bzip2 tool writes (several streams, as pbzip2
// and `cat a.bz2 b.bz2` make), found by its magic; writing it is refused.
func TestBzip2(t *testing.T) {
	bzip2 := testutil.Need(t, "bzip2")[0]
	in := testInput(300 << 10)
	var streams []byte
	for _, part := range [][]byte{in[:100<<10], in[100<<10:]} {
		cmd := exec.Command(bzip2, "-c", "-1")
		cmd.Stdin = bytes.NewReader(part)
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		streams = append(streams, out...)
	}
	if got := Detect(streams); got != Bzip2 {
		t.Fatalf("Detect = %q", got)
	}
	if got := Detect([]byte("BZh0")); got != None {
		t.Errorf("Detect(BZh0) = %q", got)
	}
	r, m, err := NewReader(bytes.NewReader(streams))
	if err != nil || m != Bzip2 {
		t.Fatalf("NewReader: %q %v", m, err)
	}
	out, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(out, in) {
		t.Errorf("read %d bytes (%v), want %d", len(out), err, len(in))
	}
	if _, err := NewWriter(io.Discard, Bzip2, Options{}); err == nil {
		t.Error("NewWriter(bzip2) did not refuse")
	}
}
