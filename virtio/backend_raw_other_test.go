//go:build !linux

package virtio

import (
	"bytes"
	"errors"
	"math/rand"
	"os"
	"testing"
)

// TestAlignedIO: on a disk of 4 KiB sectors (set by hand on a file),
// reads and writes of virtio sectors that are not whole host sectors go
// through the sectors around them, and change only their own bytes.
// (Run on Windows and macOS builds; Linux's calls are its own.)
func TestAlignedIO(t *testing.T) {
	r, p, want := randomImage(t, 64<<10, 4)
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

// TestRawHoles: on the host's own calls (backend_raw_holes_*.go), a
// discard and a write of zeros read back as zeros, the rest unchanged,
// and SeekData/SeekHole never call a range of non-zero bytes a hole,
// whether the host punches holes (NTFS, APFS) or writes zeros (Wine 8,
// FAT).
func TestRawHoles(t *testing.T) {
	r, _, want := randomImage(t, 1<<20, 5)
	if err := r.Discard(256<<10, 256<<10); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		t.Fatal(err)
	} else if err != nil {
		// The device writes zeros where the host cannot discard.
		if err := r.WriteZeroes(256<<10, 256<<10); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.WriteZeroes(640<<10+512, 64<<10); err != nil {
		t.Fatal(err)
	}
	clear(want[256<<10 : 512<<10])
	clear(want[640<<10+512 : 704<<10+512])
	got := make([]byte, len(want))
	if err := r.ReadAt([][]byte{got}, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the image does not read back with the discarded and zeroed ranges as zeros")
	}
	for off := int64(0); off < r.Size(); {
		d, err := r.SeekData(off)
		if err != nil {
			t.Fatal(err)
		}
		if d < off || d > r.Size() {
			t.Fatalf("SeekData(%d) = %d", off, d)
		}
		if i := bytes.IndexFunc(want[off:d], func(c rune) bool { return c != 0 }); i >= 0 {
			t.Fatalf("SeekData(%d) = %d skips a non-zero byte at %d", off, d, off+int64(i))
		}
		if d == r.Size() {
			break
		}
		h, err := r.SeekHole(d)
		if err != nil || h <= d {
			t.Fatalf("SeekHole(%d) = %d, %v", d, h, err)
		}
		off = h
	}
}

// randomImage opens a raw image of size random bytes (from seed) for
// writing, removed and closed at the test's end: its path and contents.
func randomImage(t *testing.T, size int, seed int64) (*RawFile, string, []byte) {
	t.Helper()
	// Not t.TempDir: Wine 8 cannot remove a tree the way Go 1.26's
	// os.RemoveAll does.
	f, err := os.CreateTemp("", "disk")
	if err != nil {
		t.Fatal(err)
	}
	p := f.Name()
	f.Close()
	t.Cleanup(func() { os.Remove(p) })
	data := make([]byte, size)
	rand.New(rand.NewSource(seed)).Read(data)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := OpenRaw(p, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, p, data
}
