package archive

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
)

// TestPipe: a tar stream written by a Writer into a Pipe reads back
// entry by entry, data intact, though the Writer's buffer is far smaller
// than the stream; Write (a plain io.Writer's use) goes through in order.
func TestPipe(t *testing.T) {
	pr, pw := Pipe(4 * blockSize)
	const files = 200
	go func() {
		tw := NewWriterSize(pw, 4*blockSize)
		for i := range files {
			data := bytes.Repeat([]byte{byte(i)}, i*97)
			if err := tw.WriteHeader(&Header{Name: fmt.Sprint("f", i), Mode: 0o644, Typeflag: TypeReg, Size: int64(len(data))}); err != nil {
				pw.CloseWithError(err)
				return
			}
			if _, err := tw.Write(data); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		pw.CloseWithError(tw.Close())
	}()
	tr := NewReader(pr)
	for i := range files {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		got, err := io.ReadAll(tr)
		if err != nil || h.Name != fmt.Sprint("f", i) || !bytes.Equal(got, bytes.Repeat([]byte{byte(i)}, i*97)) {
			t.Fatalf("entry %d: %q, %d bytes, %v", i, h.Name, len(got), err)
		}
	}
	if _, err := tr.Next(); err != io.EOF {
		t.Errorf("after the last entry: %v, want io.EOF", err)
	}

	pr2, pw2 := Pipe(16)
	want := []byte("a plain writer's bytes, more than one buffer of them")
	go func() {
		_, err := pw2.Write(want)
		pw2.CloseWithError(err)
	}()
	if got, err := io.ReadAll(pr2); err != nil || !bytes.Equal(got, want) {
		t.Errorf("Write: read %q, %v", got, err)
	}
}

// TestPipeClose: the reader closing unblocks the writer with its error;
// the writer closing with an error ends the reader's stream with it.
func TestPipeClose(t *testing.T) {
	pr, pw := Pipe(4 * blockSize)
	stop := errors.New("stopped")
	werr := make(chan error, 1)
	go func() {
		tw := NewWriterSize(pw, 4*blockSize)
		var err error
		for i := 0; err == nil; i++ {
			if err = tw.WriteHeader(&Header{Name: fmt.Sprint("f", i), Mode: 0o644, Typeflag: TypeReg, Size: 1000}); err == nil {
				_, err = tw.Write(make([]byte, 1000))
			}
		}
		werr <- err
	}()
	if _, err := io.ReadFull(pr, make([]byte, 10000)); err != nil {
		t.Fatal(err)
	}
	pr.CloseWithError(stop)
	if err := <-werr; !errors.Is(err, stop) {
		t.Errorf("the writer after the reader closed: %v, want %v", err, stop)
	}

	pr2, pw2 := Pipe(4 * blockSize)
	go func() {
		pw2.Write([]byte("partial"))
		pw2.CloseWithError(stop)
	}()
	if got, err := io.ReadAll(pr2); !errors.Is(err, stop) || string(got) != "partial" {
		t.Errorf("the reader after the writer failed: %q, %v", got, err)
	}
}
