package testutil

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// MkfsErofs makes an EROFS image of src with mkfs.erofs ARGS and returns
// its path (in the test's temporary directory).
func MkfsErofs(t testing.TB, src string, args ...string) string {
	t.Helper()
	Need(t, "mkfs.erofs")
	img := filepath.Join(t.TempDir(), "erofs.img")
	Run(t, "mkfs.erofs", append(args, img, src)...)
	return img
}

// ErofsTree returns a copy of the tree src (cp -a) that mkfs.erofs 1.5
// can take: it fails ("Could not format the device") on a name of 255
// bytes, so those are cut to 254.
func ErofsTree(t testing.TB, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "tree")
	Run(t, "cp", "-a", src, dst)
	var long []string
	err := filepath.WalkDir(dst, func(p string, d fs.DirEntry, err error) error {
		if err == nil && len(d.Name()) >= 255 {
			long = append(long, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// Deepest first, so that the paths found stay valid.
	for i := len(long) - 1; i >= 0; i-- {
		if err := os.Rename(long[i], long[i][:len(long[i])-1]); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// MakeErofsBigTree writes a tree of what MakeTree has little of, which EROFS's readers and writers are tested on: directories
// of thousands of names (many directory blocks), names of every length,
// deep nesting, files of many sizes across lcluster and pcluster
// boundaries, compressible and not, runs of zeros.
func MakeErofsBigTree(t testing.TB, dir string) {
	t.Helper()
	write := func(p string, b []byte) {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	seed := uint32(1)
	rnd := func(n int) []byte {
		// An LCG: the same bytes on every run.
		b := make([]byte, n)
		for i := range b {
			seed = seed*1664525 + 1013904223
			b[i] = byte(seed >> 24)
		}
		return b
	}
	text := func(n int) []byte {
		var sb strings.Builder
		for i := 0; sb.Len() < n; i++ {
			fmt.Fprintf(&sb, "line %d of a compressible file, %x\n", i, i*i)
		}
		return []byte(sb.String()[:n])
	}
	for i := range 3000 {
		write(filepath.Join(dir, "many", fmt.Sprintf("%0*d-%s", 1+i%40, i, strings.Repeat("n", i%200))), nil)
	}
	deep := dir
	for i := range 40 {
		deep = filepath.Join(deep, fmt.Sprintf("d%d", i))
	}
	write(filepath.Join(deep, "leaf"), []byte("deep\n"))
	for _, n := range []int{1, 100, 4095, 4096, 4097, 8191, 12288, 65535, 65536, 65537, 200000, 1 << 20, 3<<20 + 17} {
		write(filepath.Join(dir, "sizes", fmt.Sprintf("text-%d", n)), text(n))
		if n <= 1<<20 {
			// (Larger ones only slow lz4hc down: mixed files have
			// incompressible megabytes.)
			write(filepath.Join(dir, "sizes", fmt.Sprintf("random-%d", n)), rnd(n))
		}
		mixed := append(text(n/2), rnd(n-n/2)...)
		write(filepath.Join(dir, "sizes", fmt.Sprintf("mixed-%d", n)), mixed)
		write(filepath.Join(dir, "sizes", fmt.Sprintf("zeros-%d", n)), make([]byte, n))
	}
}
