package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// SharedTree is MakeTree's tree, made once for a package's tests (making
// and scanning it is the slow part of each) and never changed by them.
// The package's TestMain removes it after the tests (Remove).
type SharedTree struct {
	once sync.Once
	dir  string
	tree Tree
}

// Get returns the tree's root and scan, making it on the first call. A
// first call that fails or skips leaves it unmade: the later ones skip
// (fail under CI) with that said.
func (s *SharedTree) Get(t testing.TB) (string, Tree) {
	t.Helper()
	s.once.Do(func() {
		dir, err := os.MkdirTemp("", "shared-tree")
		if err != nil {
			t.Fatal(err)
		}
		// Tests run commands as nobody on it too.
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		s.dir = dir
		src := filepath.Join(dir, "src")
		if err := os.Mkdir(src, 0o755); err != nil {
			t.Fatal(err)
		}
		MakeTree(t, src)
		s.tree = MustScanDir(t, src)
	})
	if s.tree == nil {
		Skip(t, "the shared source tree could not be made (see the first test that tried)")
	}
	return filepath.Join(s.dir, "src"), s.tree
}

// Remove removes the tree, if it was made.
func (s *SharedTree) Remove() {
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}

// NewTree makes MakeTree's tree in a new directory of the test's
// (t.TempDir()/src), for a test that changes it or needs its own, and
// returns the directory and its scan (SharedTree is the one made once).
func NewTree(t testing.TB) (string, Tree) {
	t.Helper()
	src := filepath.Join(t.TempDir(), "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	MakeTree(t, src)
	return src, MustScanDir(t, src)
}

// MustScanDir is ScanDir, failing the test on an error.
func MustScanDir(t testing.TB, dir string) Tree {
	t.Helper()
	tree, err := ScanDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

// ExpectSame fails the test with each difference between trees a and b
// (the first 50, then how many more), each line prefixed with what.
func ExpectSame(t testing.TB, what string, a, b Tree, opts CompareOptions) {
	t.Helper()
	diffs := Compare(a, b, opts)
	for i, d := range diffs {
		if i == 50 {
			t.Errorf("%s: ... %d more", what, len(diffs)-i)
			break
		}
		t.Errorf("%s: %s", what, d)
	}
}

// LoopView returns what the host kernel shows of img, mounted loop,ro:
// the oracle comparisons of an image end with. It skips the test (fails
// it under CI) without loop devices.
func LoopView(t testing.TB, img string) Tree {
	t.Helper()
	return loopView(t, img, nil)
}

// loopView is LoopView calling prepare, if not nil, on the mount point
// before the scan.
func loopView(t testing.TB, img string, prepare func(mnt string)) Tree {
	t.Helper()
	NeedLoop(t)
	mnt := t.TempDir()
	Run(t, "mount", "-o", "loop,ro", img, mnt)
	defer umountBusy(t, mnt)
	if prepare != nil {
		prepare(mnt)
	}
	return MustScanDir(t, mnt)
}

// umountBusy unmounts mnt, trying again for a while while it is busy: a
// child another goroutine of a parallel test is forking holds the
// scan's open files until it execs.
func umountBusy(t testing.TB, mnt string) {
	t.Helper()
	for range 50 {
		if exec.Command("umount", mnt).Run() == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	Run(t, "umount", mnt)
}

// Ext4Layout is one ext4 layout a command must handle: the mkfs.ext4
// options that make it, and what it cannot keep of a source tree.
type Ext4Layout struct {
	Name string
	Opts []string
	// NoNS: 128-byte inodes hold whole seconds, 32-bit times only.
	NoNS bool
}

// Ext4Layouts are the layouts the commands' acceptance tests make with
// mkfs.ext4: the default, ext2 and ext3, small blocks, small inodes,
// without the features that change the block maps and group descriptors,
// and with an orphan file and metadata_csum_seed (newer e2fsprogs'
// defaults).
func Ext4Layouts() []Ext4Layout {
	return []Ext4Layout{
		{Name: "default"},
		{Name: "ext2", Opts: []string{"-t", "ext2"}},
		{Name: "ext3", Opts: []string{"-t", "ext3"}},
		{Name: "blocksize-1024", Opts: []string{"-b", "1024"}},
		{Name: "inode-128", Opts: []string{"-I", "128"}, NoNS: true},
		{Name: "no-64bit", Opts: []string{"-O", "^64bit"}},
		{Name: "no-metadata_csum", Opts: []string{"-O", "^metadata_csum"}},
		{Name: "meta_bg", Opts: []string{"-O", "meta_bg,^resize_inode"}},
		{Name: "orphan_file", Opts: []string{"-O", "orphan_file,metadata_csum_seed"}},
	}
}
