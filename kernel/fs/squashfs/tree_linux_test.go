package squashfs_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/lklimg/lklimg/internal/kerneltest"
	"github.com/lklimg/lklimg/internal/testutil"
)

// sourceTree is MakeTree's tree with what SquashFS layouts turn on
// added (testutil.MakeSquashfsExtras), made once for the package.
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
		s.err = testutil.MakeSquashfsExtras(src)
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
