//go:build linux

package e2fsprogs_test

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/tools/e2fsprogs"
	"golang.org/x/sys/unix"
)

// The tests of Minimize's moves. An image made by mke2fs -d holds files
// written in order, every other one of which the host kernel then
// deletes, so that the data past the cut lies above holes: Minimize has
// to move it, splitting extents and growing trees. The oracles: e2fsck
// -fn, the host kernel's view of the tree before and after, and
// resize2fs -M of the same starting image for the size.

// relocateCases are the layouts the moves are tried on.
var relocateCases = []struct {
	name, size string
	args       []string
}{
	{"4k", "64M", []string{"-O", "^has_journal"}},
	{"4k-g4096", "64M", []string{"-g", "4096", "-O", "^has_journal"}},
	{"1k", "32M", []string{"-b", "1024", "-O", "^has_journal"}},
	{"4k-noextent", "64M", []string{"-O", "^has_journal,^extent,^64bit"}},
	{"ext2-1k", "32M", []string{"-t", "ext2", "-b", "1024"}},
	{"ext3", "64M", []string{"-t", "ext3"}},
	{"4k-bigalloc-C16k", "128M", []string{"-O", "^has_journal,bigalloc", "-C", "16384"}},
	{"4k-ea_inode-inline_data", "64M", []string{"-O", "^has_journal,ea_inode,inline_data"}},
	{"4k-nocsum-32bit", "64M", []string{"-O", "^has_journal,^metadata_csum,^64bit"}},
}

// fragmentSource fills dir with what the images hold: files of many
// sizes in order (the odd ones to be deleted), a big file last, an
// empty directory (fragment fills it), fast and slow symlinks, hard
// links.
func fragmentSource(t *testing.T, dir string) {
	t.Helper()
	rnd := rand.New(rand.NewSource(1))
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	data := func(n int) []byte {
		b := make([]byte, n)
		rnd.Read(b)
		return b
	}
	must(os.MkdirAll(filepath.Join(dir, "d"), 0o755))
	must(os.MkdirAll(filepath.Join(dir, "htree"), 0o755))
	for i := range 120 {
		n := 1000 + rnd.Intn(60000)
		must(os.WriteFile(filepath.Join(dir, "d", fmt.Sprintf("f%03d", i)), data(n), 0o644))
	}
	must(os.WriteFile(filepath.Join(dir, "d", "zlast"), data(3<<20), 0o600))
	must(os.Symlink("f000", filepath.Join(dir, "d", "fast")))
	must(os.Symlink(strings.Repeat("long/", 30)+"target", filepath.Join(dir, "d", "slow")))
	must(os.Link(filepath.Join(dir, "d", "f002"), filepath.Join(dir, "hardlink")))
}

// fragment gives some of the files the same large xattr (the kernel
// shares one block between them) and others one of their own (in an EA
// inode with ea_inode), puts 800 names in /htree (the kernel indexes it;
// its inodes stay in the first group, the parent's) and deletes the odd
// files, all through the host kernel: the xattr blocks and the
// directory's blocks lie above the holes.
func fragment(t *testing.T, img string) {
	t.Helper()
	mnt, umount := testutil.HostMount(t, img, "rw")
	defer umount()
	shared := bytes.Repeat([]byte("shared value "), 40)
	own := 700
	if strings.Contains(string(testutil.DebugfsOut(t, img, "features")), "ea_inode") {
		own = 9000
	}
	for i := range 120 {
		p := filepath.Join(mnt, "d", fmt.Sprintf("f%03d", i))
		switch {
		case i%8 == 0:
			if err := unix.Setxattr(p, "user.shared", shared, 0); err != nil {
				t.Fatal(err)
			}
		case i%8 == 2:
			if err := unix.Setxattr(p, "user.own", bytes.Repeat([]byte{byte(i)}, own), 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := range 800 {
		if err := os.WriteFile(filepath.Join(mnt, "htree", fmt.Sprintf("a-rather-long-file-name-%04d", i)), []byte{byte(i)}, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i < 120; i += 2 {
		if err := os.Remove(filepath.Join(mnt, "d", fmt.Sprintf("f%03d", i))); err != nil {
			t.Fatal(err)
		}
	}
}

var reFileACL = regexp.MustCompile(`File ACL: (\d+)`)

// fileACL is the xattr block of path in img (debugfs stat), 0 for none.
func fileACL(t *testing.T, img, path string) uint64 {
	t.Helper()
	m := reFileACL.FindStringSubmatch(testutil.DebugfsOut(t, img, "stat "+path))
	if m == nil {
		return 0
	}
	n, _ := strconv.ParseUint(m[1], 10, 64)
	return n
}

func TestMinimizeMoves(t *testing.T) {
	src := t.TempDir()
	fragmentSource(t, src)
	for _, tc := range relocateCases {
		t.Run(tc.name, func(t *testing.T) {
			img := testutil.Mke2fsImage(t, tc.size, append([]string{"-d", src}, tc.args...)...)
			fragment(t, img)
			testutil.E2fsckClean(t, img)
			if !strings.Contains(testutil.DebugfsOut(t, img, "htree /htree"), "Root node dump") {
				t.Fatalf("/htree is not indexed")
			}
			acl := fileACL(t, img, "/d/f000")
			if acl == 0 || fileACL(t, img, "/d/f008") != acl {
				t.Fatalf("/d/f000 and /d/f008 do not share an xattr block")
			}
			before := readDump(t, img)
			view := testutil.LoopView(t, img)
			ref := copyImage(t, img)

			n := minimizeFile(t, img, 0)
			testutil.E2fsckClean(t, img)
			after := readDump(t, img)
			ub, ua := before.usage(t), after.usage(t)
			if ub.highBlock < n {
				t.Fatalf("the data ended at block %d, below the new end %d: nothing moved", ub.highBlock, n)
			}
			if ua.highBlock >= n {
				t.Fatalf("data at block %d past the end %d", ua.highBlock, n)
			}
			if a := fileACL(t, img, "/d/f000"); fileACL(t, img, "/d/f008") != a || a >= n {
				t.Errorf("the shared xattr block %d (was %d) is not shared below the end %d", a, acl, n)
			} else {
				t.Logf("the shared xattr block: %d -> %d", acl, a)
			}
			if err := os.Truncate(img, int64(n*after.num(t, "Block size"))); err != nil {
				t.Fatal(err)
			}
			testutil.E2fsckClean(t, img)
			if diff := testutil.Compare(view, testutil.LoopView(t, img), testutil.CompareOptions{}); len(diff) > 0 {
				t.Errorf("the tree changed:\n%s", strings.Join(diff, "\n"))
			}

			testutil.Need(t, "resize2fs")
			if out, err := exec.Command("resize2fs", "-f", "-M", ref).CombinedOutput(); err != nil {
				t.Fatalf("resize2fs -M: %v\n%s", err, out)
			}
			want := readDump(t, ref).num(t, "Block count")
			t.Logf("%d blocks, data %d blocks up to %d -> %d (%s free); resize2fs -M %d",
				before.num(t, "Block count"), ub.dataBlocks, ub.highBlock, n, after.head["Free blocks"], want)
			if float64(n) > float64(want)*1.03 {
				t.Errorf("%d blocks, resize2fs -M %d: more than 3%% larger", n, want)
			}
		})
	}
}

// TestMinimizeMovesCorrupt: an extent tree pointing past the
// filesystem, found while moving, is an error, not a panic.
func TestMinimizeMovesCorrupt(t *testing.T) {
	src := t.TempDir()
	fragmentSource(t, src)
	img := testutil.Mke2fsImage(t, "64M", "-d", src, "-O", "^has_journal,^metadata_csum")
	fragment(t, img)
	// The big file's first extent made to start past the end, the
	// superblock made to believe the filesystem is clean.
	out := testutil.DebugfsOut(t, img, "ex /d/zlast")
	t.Logf("%s", out)
	testutil.Run(t, "debugfs", "-w", "-R", "sif /d/zlast block[5] 0x7fffff00", img)
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := e2fsprogs.Minimize(f, 0); err == nil {
		t.Fatal("Minimize of a corrupt tree: no error")
	} else {
		t.Logf("%v", err)
	}
}
