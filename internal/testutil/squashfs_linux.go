package testutil

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// MakeSquashfsExtras adds to the tree at src what SquashFS stores in its own ways:
// files of exactly one, two and four blocks of each block size tested
// (no tail), a block plus one byte (a tail of one byte), files of zeros
// (sparse blocks), the same content twice (a duplicate shares blocks),
// and xattr values long and shared by several files (stored out of line
// once), a value of 12 bytes in two different sets (the second refers to
// the first), a directory of 600 entries with long names (several headers and
// metadata blocks, an index).
func MakeSquashfsExtras(src string) error {
	x := filepath.Join(src, "squashfs")
	if err := os.MkdirAll(filepath.Join(x, "many"), 0o755); err != nil {
		return err
	}
	pattern := func(n int, seed byte) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i*7+i/251) ^ seed
		}
		return b
	}
	files := map[string][]byte{}
	for _, bs := range []int{4096, 128 << 10, 1 << 20} {
		files[fmt.Sprintf("block-%d", bs)] = pattern(bs, 1)
		files[fmt.Sprintf("blocks2-%d", bs)] = pattern(2*bs, 2)
		files[fmt.Sprintf("block-plus-one-%d", bs)] = pattern(bs+1, 3)
	}
	files["zeros-3M"] = make([]byte, 3<<20)
	mixed := pattern(600<<10, 4)
	clear(mixed[128<<10 : 384<<10])
	files["zeros-inside"] = mixed
	files["dup-a"] = pattern(300000, 5)
	files["dup-b"] = pattern(300000, 5)
	files["small-dup-a"] = []byte("the same small content\n")
	files["small-dup-b"] = []byte("the same small content\n")
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(x, name), b, 0o644); err != nil {
			return err
		}
	}
	long := bytes.Repeat([]byte("a long xattr value that is shared "), 60)
	for _, name := range []string{"dup-a", "dup-b", "small-dup-a"} {
		if err := unix.Setxattr(filepath.Join(x, name), "user.long", long, 0); err != nil {
			return err
		}
		if err := unix.Setxattr(filepath.Join(x, name), "user.short", []byte("v"), 0); err != nil {
			return err
		}
	}
	for _, name := range []string{"dup-a", "block-plus-one-4096"} {
		if err := unix.Setxattr(filepath.Join(x, name), "user.mid", []byte("twelve bytes"), 0); err != nil {
			return err
		}
	}
	for i := range 600 {
		name := fmt.Sprintf("entry %04d with a name long enough to fill metadata blocks %s", i, strings.Repeat("x", i%40))
		if err := os.WriteFile(filepath.Join(x, "many", name), []byte(name), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// UnsquashfsView extracts the image with unsquashfs (as root: owners,
// devices and xattrs kept) and scans it. It skips (fails under CI)
// without unsquashfs.
func UnsquashfsView(t testing.TB, img string) Tree {
	t.Helper()
	Need(t, "unsquashfs")
	out := filepath.Join(t.TempDir(), "x")
	Run(t, "unsquashfs", "-no-progress", "-quiet", "-d", out, img)
	return MustScanDir(t, out)
}

// SquashfsKept is tree as a SquashFS image holds it: mtimes before 1970
// are 0 (its times are unsigned seconds; our writer clamps them).
func SquashfsKept(tree Tree) Tree {
	out := Tree{}
	for p, e := range tree {
		c := *e
		c.Mtime = max(c.Mtime, 0)
		out[p] = &c
	}
	return out
}

// SquashfsCompare is what a comparison of MakeTree's tree with a
// SquashFS image of it leaves out: sockets (tar has none), sub-second
// times, ACLs (system.* xattrs: SquashFS stores user., trusted. and
// security. ones).
func SquashfsCompare() CompareOptions {
	return CompareOptions{SkipTypes: []string{TypeSocket}, MtimeUnit: time.Second,
		IgnoreXattrs: []string{"system.posix_acl_access", "system.posix_acl_default"}}
}
