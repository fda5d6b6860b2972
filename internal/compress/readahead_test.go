package compress

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"
)

// TestReadAhead: the bytes come out as they went in whatever the sizes of
// the reads on either side, and the source's error comes after its last
// bytes.
func TestReadAhead(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{0, 1, ReadAheadSize - 1, ReadAheadSize, 3*ReadAheadSize + 12345, 11 * ReadAheadSize} {
		want := make([]byte, size)
		for i := range want {
			want[i] = byte(rnd.Uint32())
		}
		// The source gives odd sizes (OneByteReader for the small ones,
		// HalfReader for the rest); the consumer reads odd sizes too.
		var src io.Reader = iotest.HalfReader(bytes.NewReader(want))
		if size < 10 {
			src = iotest.OneByteReader(bytes.NewReader(want))
		}
		r := ReadAhead(src)
		var got []byte
		buf := make([]byte, 70001)
		for {
			n, err := r.Read(buf[:1+rnd.IntN(len(buf)-1)])
			got = append(got, buf[:n]...)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("size %d: %v", size, err)
			}
		}
		r.Close()
		if !bytes.Equal(got, want) {
			t.Fatalf("size %d: %d bytes out, not the ones in", size, len(got))
		}
	}

	// An error after some bytes: the bytes, then the error, again on the
	// next read.
	boom := errors.New("boom")
	r := ReadAhead(io.MultiReader(bytes.NewReader([]byte("abc")), iotest.ErrReader(boom)))
	got, err := io.ReadAll(r)
	if string(got) != "abc" || !errors.Is(err, boom) {
		t.Errorf("ReadAll: %q, %v; want \"abc\", boom", got, err)
	}
	if _, err := r.Read(make([]byte, 1)); !errors.Is(err, boom) {
		t.Errorf("read after the error: %v", err)
	}
	r.Close()

	// Close before the end stops the goroutine, which would otherwise
	// wait for a free buffer forever.
	r = ReadAhead(bytes.NewReader(make([]byte, 10*ReadAheadSize)))
	if _, err := r.Read(make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
}
