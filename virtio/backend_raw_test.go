package virtio

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func tempImage(t *testing.T, size int64, fill byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(p, bytes.Repeat([]byte{fill}, int(size)), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRawFileVectored(t *testing.T) {
	p := tempImage(t, 64<<10, 0)
	r, err := OpenRaw(p, false)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	bufs := [][]byte{bytes.Repeat([]byte{1}, 512), {}, bytes.Repeat([]byte{2}, 1024), bytes.Repeat([]byte{3}, 512)}
	if err := r.WriteAt(bufs, 4096); err != nil {
		t.Fatal(err)
	}
	got := [][]byte{make([]byte, 1000), make([]byte, 1048)}
	if err := r.ReadAt(got, 4096); err != nil {
		t.Fatal(err)
	}
	want := append(append(bytes.Repeat([]byte{1}, 512), bytes.Repeat([]byte{2}, 1024)...), bytes.Repeat([]byte{3}, 512)...)
	if !bytes.Equal(append(got[0], got[1]...), want) {
		t.Fatal("vectored round trip")
	}
}

func TestRawFileShortFile(t *testing.T) {
	// Capacity is rounded down to sectors; bytes past the end of a file
	// that shrank read as zeros.
	p := tempImage(t, 8192+100, 0xaa)
	r, err := OpenRaw(p, false)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Size() != 8192 {
		t.Fatalf("size %d", r.Size())
	}
	if err := os.Truncate(p, 4096+10); err != nil {
		t.Fatal(err)
	}
	b := bytes.Repeat([]byte{0x55}, 4096)
	if err := r.ReadAt([][]byte{b[:5], b[5:]}, 4096); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b[:10], bytes.Repeat([]byte{0xaa}, 10)) || !bytes.Equal(b[10:], make([]byte, 4086)) {
		t.Fatalf("read past EOF: % x ...", b[:16])
	}
}

func TestRawFileReadOnly(t *testing.T) {
	p := tempImage(t, 4096, 0x11)
	r, err := OpenRaw(p, true)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if !r.ReadOnly() {
		t.Fatal("not read-only")
	}
	for _, err := range []error{r.WriteAt([][]byte{make([]byte, 512)}, 0), r.Discard(0, 512), r.WriteZeroes(0, 512)} {
		if !errors.Is(err, ErrReadOnly) {
			t.Fatalf("err %v", err)
		}
	}
	// Opened O_RDONLY: even a direct write through the descriptor fails.
	if _, err := r.f.WriteAt([]byte{0}, 0); err == nil {
		t.Fatal("file descriptor is writable")
	}
}
