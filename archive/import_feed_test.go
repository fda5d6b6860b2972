package archive

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
)

// TestFeed: the feed gives every header and every entry's data, in
// order, across its batch boundaries (entries of 0, 1, the buffer's size
// and more, more entries than a batch holds, data larger than all its
// buffers), whether the importer reads an entry's data or skips it; a
// cut archive's error comes after the data read before it; stop ends it.
func TestFeed(t *testing.T) {
	const bufSize = 4096
	sizes := []int{0, 1, bufSize - 1, bufSize, bufSize + 1, 3*bufSize + 5, 9 * bufSize, 17}
	for i := 0; i < feedBatchItems+40; i++ {
		sizes = append(sizes, i%7)
	}
	var archive bytes.Buffer
	tw := NewWriter(&archive)
	content := func(i, n int) []byte {
		b := make([]byte, n)
		for j := range b {
			b[j] = byte(i*31 + j)
		}
		return b
	}
	for i, n := range sizes {
		if err := tw.WriteHeader(&Header{Name: fmt.Sprintf("f%03d", i), Typeflag: TypeReg, Mode: 0o644, Size: int64(n)}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(content(i, n)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}

	for _, skip := range []bool{false, true} {
		f := newFeed(NewReader(bytes.NewReader(archive.Bytes())), bufSize)
		for i, n := range sizes {
			h, _, err := f.next()
			if err != nil || h.Name != fmt.Sprintf("f%03d", i) {
				t.Fatalf("skip %t: entry %d: %v, %v", skip, i, h, err)
			}
			if skip && i%2 == 1 {
				continue // the next call to next skips the data
			}
			var got []byte
			for len(got) < n {
				b, err := f.chunk(1000)
				if err != nil {
					t.Fatalf("skip %t: %s: after %d of %d bytes: %v", skip, h.Name, len(got), n, err)
				}
				got = append(got, b...)
			}
			if !bytes.Equal(got, content(i, n)) {
				t.Fatalf("skip %t: %s: wrong data", skip, h.Name)
			}
			if _, err := f.chunk(1); !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("skip %t: %s: data past its end: %v", skip, h.Name, err)
			}
		}
		for range 2 {
			if _, _, err := f.next(); err != io.EOF {
				t.Fatalf("skip %t: after the last entry: %v, want EOF (twice)", skip, err)
			}
		}
		f.stop()
	}

	// Cut inside the large entry: its data before the cut, then the
	// reader's error.
	cut := archive.Bytes()[:16384+5000] // inside f005's data, which starts at 16384
	f := newFeed(NewReader(bytes.NewReader(cut)), bufSize)
	var err error
	for err == nil {
		var h *Header
		h, _, err = f.next()
		for err == nil {
			_, err = f.chunk(bufSize)
			if errors.Is(err, io.ErrUnexpectedEOF) {
				err = nil
				break
			}
		}
		_ = h
	}
	var fe *FormatError
	if !errors.As(err, &fe) {
		t.Errorf("a cut archive: %v, want the reader's FormatError", err)
	}
	f.stop()

	// Stopped early: the reading goroutine, blocked on a full pool,
	// returns (the race detector and the goroutine count would see a
	// leak only indirectly; stop must not block).
	f = newFeed(NewReader(bytes.NewReader(archive.Bytes())), bufSize)
	if _, _, err := f.next(); err != nil {
		t.Fatal(err)
	}
	f.stop()
	f.stop()
}
