package testutil

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// SquashfsImage makes an image of src with mksquashfs ARGS (quiet, no
// append) and returns its path. It skips (fails under CI) without
// mksquashfs.
func SquashfsImage(t testing.TB, src string, args ...string) string {
	t.Helper()
	Need(t, "mksquashfs")
	img := filepath.Join(t.TempDir(), "sq.img")
	Run(t, "mksquashfs", append([]string{src, img, "-noappend", "-quiet", "-no-progress"}, args...)...)
	return img
}

// SmallSquashfs returns the bytes of a small SquashFS image made by
// mksquashfs ARGS, for damage tests and fuzz seeds: a few files (one
// over a block of 4 KiB, one in a fragment, one of zeros), a symlink, a
// FIFO, a directory of 40 entries, and user xattrs, one value shared
// (stored out of line).
func SmallSquashfs(t testing.TB, args ...string) []byte {
	t.Helper()
	src := filepath.Join(t.TempDir(), "src")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(src, "dir/sub"), 0o755))
	big := make([]byte, 9000)
	for i := range big {
		big[i] = byte(i * 13 / 7)
	}
	must(os.WriteFile(filepath.Join(src, "big"), big, 0o644))
	must(os.WriteFile(filepath.Join(src, "small"), []byte("small file\n"), 0o600))
	must(os.WriteFile(filepath.Join(src, "zeros"), make([]byte, 12288), 0o644))
	must(os.Symlink("dir/sub/../../small", filepath.Join(src, "link")))
	must(unix.Mkfifo(filepath.Join(src, "fifo"), 0o640))
	for i := range 40 {
		must(os.WriteFile(filepath.Join(src, "dir", fmt.Sprintf("entry-%02d", i)), []byte{byte(i)}, 0o644))
	}
	for _, p := range []string{"big", "small", "dir"} {
		if err := unix.Lsetxattr(filepath.Join(src, p), "user.shared", []byte("a value kept once for three inodes"), 0); err != nil {
			t.Logf("no xattrs: %v", err)
			break
		}
	}
	img := SquashfsImage(t, src, append([]string{"-b", "4K"}, args...)...)
	b, err := os.ReadFile(img)
	must(err)
	return b
}
