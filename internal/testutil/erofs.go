package testutil

import (
	"io/fs"
	"os"
	"path/filepath"
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
