package squashfs_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/lklimg/lklimg/internal/kerneltest"
	"github.com/lklimg/lklimg/internal/testutil"
	"golang.org/x/sys/unix"
)

// sourceTree is MakeTree's tree with what SquashFS layouts turn on
// added (extra.go's makeExtras), made once for the package.
type sourceTree struct {
	once sync.Once
	dir  string
	err  error
}

// get returns the tree's root, making it on the first call.
func (s *sourceTree) get(t *testing.T) string {
	t.Helper()
	s.once.Do(func() {
		dir, err := os.MkdirTemp("", "squashfs-tree")
		if err != nil {
			s.err = err
			return
		}
		s.dir = dir
		src := filepath.Join(dir, "src")
		if err := os.Mkdir(src, 0o755); err != nil {
			s.err = err
			return
		}
		testutil.MakeTree(t, src)
		s.err = makeExtras(src)
	})
	if s.err != nil || s.dir == "" {
		t.Fatalf("making the source tree: %v", s.err)
	}
	return filepath.Join(s.dir, "src")
}

func (s *sourceTree) remove() {
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}

// makeExtras adds to the tree what SquashFS stores in its own ways:
// files of exactly one, two and four blocks of each block size tested
// (no tail), a block plus one byte (a tail of one byte), files of zeros
// (sparse blocks), the same content twice (a duplicate shares blocks),
// and xattr values long and shared by several files (stored out of line
// once), a directory of 600 entries with long names (several headers and
// metadata blocks, an index).
func makeExtras(src string) error {
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
		if err := setxattr(filepath.Join(x, name), "user.long", long); err != nil {
			return err
		}
		if err := setxattr(filepath.Join(x, name), "user.short", []byte("v")); err != nil {
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

// mksquashfs makes an image of src with mksquashfs ARGS.
func mksquashfs(t *testing.T, src string, args ...string) string {
	t.Helper()
	return testutil.SquashfsImage(t, src, args...)
}

// kernelView exports the image's tree through the library kernel, the
// type probed, mounted with flags.
func kernelView(t *testing.T, img string, flags uint64) testutil.Tree {
	t.Helper()
	return kerneltest.ExportTree(t, img, "", flags, "")
}

// unsquashfsView extracts the image with unsquashfs (as root: owners,
// devices and xattrs kept) and scans it: the oracle where the host
// kernel cannot mount the image.
func unsquashfsView(t *testing.T, img string) testutil.Tree {
	t.Helper()
	testutil.Need(t, "unsquashfs")
	out := filepath.Join(t.TempDir(), "x")
	cmd := exec.Command("unsquashfs", "-no-progress", "-quiet", "-d", out, img)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("unsquashfs: %v\n%s", err, b)
	}
	return testutil.MustScanDir(t, out)
}

// compareOpts is what the comparisons leave out: sockets, which tar
// cannot carry.
var compareOpts = testutil.CompareOptions{SkipTypes: []string{testutil.TypeSocket}}

// setxattr sets an xattr on a host file.
func setxattr(path, name string, value []byte) error {
	return unix.Setxattr(path, name, value, 0)
}
