//go:build !linux

package virtio

import (
	"bytes"
	"math/rand"
	"os"
	"testing"
)

// TestAlignedIO: on a disk of 4 KiB sectors (set by hand on a file),
// reads and writes of virtio sectors that are not whole host sectors go
// through the sectors around them, and change only their own bytes.
// (Run on Windows and macOS builds; Linux's calls are its own.)
func TestAlignedIO(t *testing.T) {
	// Not t.TempDir: Wine 8 cannot remove a tree the way Go 1.26's
	// os.RemoveAll does.
	f, err := os.CreateTemp("", "disk")
	if err != nil {
		t.Fatal(err)
	}
	p := f.Name()
	f.Close()
	defer os.Remove(p)
	want := make([]byte, 64<<10)
	rand.New(rand.NewSource(4)).Read(want)
	if err := os.WriteFile(p, want, 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := OpenRaw(p, false)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.sector = 4096
	for _, c := range []struct{ off, n int64 }{{512, 512}, {3584, 1024}, {4096, 4096}, {7680, 9216}, {0, 65536}} {
		a, b := make([]byte, c.n/2), make([]byte, c.n-c.n/2)
		if err := r.ReadAt([][]byte{a, b}, c.off); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(append(a, b...), want[c.off:c.off+c.n]) {
			t.Errorf("read of %d bytes at %d differs", c.n, c.off)
		}
		w := bytes.Repeat([]byte{byte(c.off)}, int(c.n))
		if err := r.WriteAt([][]byte{w[:c.n/2], w[c.n/2:]}, c.off); err != nil {
			t.Fatal(err)
		}
		copy(want[c.off:], w)
		got, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("after the write of %d bytes at %d, the file differs (%v)", c.n, c.off, err)
		}
	}
}
