package testutil

import (
	"bytes"
	"crypto/sha256"
	"os"
	"slices"
	"testing"
)

// DataRanges lists the data extents of a sparse file, [start, end) each,
// as lseek's SEEK_DATA and SEEK_HOLE find them (their Linux values, which
// os does not name): what a comparison of two images needs to read.
func DataRanges(t testing.TB, f *os.File) [][2]int64 {
	t.Helper()
	const seekData, seekHole = 3, 4
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	var out [][2]int64
	for off := int64(0); off < st.Size(); {
		d, err := f.Seek(off, seekData)
		if err != nil {
			break // ENXIO: no data after off
		}
		h, err := f.Seek(d, seekHole)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, [2]int64{d, h})
		off = h
	}
	return out
}

// DiffBlocks lists, in order, the blocks of size bs that differ between
// two sparse files of the same size, reading only the data extents
// either has.
func DiffBlocks(t testing.TB, a, b string, bs int64) []int64 {
	t.Helper()
	fa, err := os.Open(a)
	if err != nil {
		t.Fatal(err)
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		t.Fatal(err)
	}
	defer fb.Close()
	blocks := map[int64]bool{}
	for _, f := range []*os.File{fa, fb} {
		for _, r := range DataRanges(t, f) {
			for blk := r[0] / bs; blk*bs < r[1]; blk++ {
				blocks[blk] = true
			}
		}
	}
	var diff []int64
	ba, bb := make([]byte, bs), make([]byte, bs)
	for blk := range blocks {
		na, _ := fa.ReadAt(ba, blk*bs)
		nb, _ := fb.ReadAt(bb, blk*bs)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			diff = append(diff, blk)
		}
	}
	slices.Sort(diff)
	return diff
}

// SameFiles says whether two sparse files (images) hold the same bytes:
// the same size, and DiffBlocks finds nothing.
func SameFiles(t testing.TB, a, b string) bool {
	t.Helper()
	sa, err := os.Stat(a)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := os.Stat(b)
	if err != nil {
		t.Fatal(err)
	}
	return sa.Size() == sb.Size() && len(DiffBlocks(t, a, b, 1<<20)) == 0
}

// ReadAt returns the n bytes of the file path at off, failing the test
// if they cannot all be read.
func ReadAt(t testing.TB, path string, off, n int64) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatalf("%s: read %d bytes at %d: %v", path, n, off, err)
	}
	return b
}

// FileSum returns the SHA-256 of the file at path: whether an image
// changed by a byte.
func FileSum(t testing.TB, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}
