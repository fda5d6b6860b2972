package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// E2fsckClean runs e2fsck -fn on an image and fails the test unless it
// exits 0 (nothing to fix).
func E2fsckClean(t testing.TB, path string) {
	t.Helper()
	Need(t, "e2fsck")
	out, err := exec.Command("e2fsck", "-fn", path).CombinedOutput()
	if err != nil {
		t.Fatalf("e2fsck -fn %s: %v\n%s", path, err, out)
	}
}

// Mke2fsImage makes a sparse file of size bytes (mke2fs's size argument:
// "64M") in the test's temporary directory holding an ext4 made by mke2fs
// with args (before the device; -t ext4 unless args give -t), and returns
// its path.
func Mke2fsImage(t testing.TB, size string, args ...string) string {
	t.Helper()
	Need(t, "mke2fs", "e2fsck", "dumpe2fs")
	img := filepath.Join(t.TempDir(), "img")
	a := []string{"-q", "-F"}
	if !slices.Contains(args, "-t") {
		a = append(a, "-t", "ext4")
	}
	a = append(a, args...)
	Run(t, "mke2fs", append(a, img, size)...)
	return img
}

// MkfsExt4 makes at img (a new sparse file of size bytes, mke2fs's size
// argument: "64M") an ext4 filesystem with the host's mkfs.ext4, root
// owned by root (-E root_owner=0:0, as a tree copied in by root would be),
// holding the directory src when it is not "" (-d src), with opts
// before the device.
func MkfsExt4(t testing.TB, img, src, size string, opts ...string) {
	t.Helper()
	mke2fs := Need(t, "mkfs.ext4")[0]
	Run(t, "truncate", "-s", size, img)
	args := []string{"-q", "-F", "-E", "root_owner=0:0"}
	if src != "" {
		args = append(args, "-d", src)
	}
	cmd := exec.Command(mke2fs, append(append(args, opts...), img)...)
	// One time for every image a test binary makes, so that twins made
	// in different seconds (an image for us and one for the host kernel)
	// have the same root and lost+found times.
	cmd.Env = append(os.Environ(), fmt.Sprintf("E2FSPROGS_FAKE_TIME=%d", mkfsTime()))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, out)
	}
}

// mkfsTime is the time MkfsExt4's images are made at: the first call's.
var mkfsTime = sync.OnceValue(func() int64 { return time.Now().Unix() })

// DebugfsOut runs debugfs's request req (-R) on img, read-only, and
// returns its output (its banner, on stderr, left out).
func DebugfsOut(t testing.TB, img, req string) string {
	t.Helper()
	debugfs := Need(t, "debugfs")[0]
	out, err := exec.Command(debugfs, "-R", req, img).Output()
	if err != nil {
		t.Fatalf("debugfs -R %q %s: %v", req, img, err)
	}
	return string(out)
}

// HostMount mounts img in the host kernel (mount -o loop,opts) and
// returns the mount point and the function that unmounts it, which the
// test's cleanup calls too when it was not; it skips the test without
// loop devices (fails under CI).
func HostMount(t testing.TB, img, opts string) (string, func()) {
	t.Helper()
	NeedLoop(t)
	mnt := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	Run(t, "mount", "-o", "loop,"+opts, img, mnt)
	mounted := true
	t.Cleanup(func() {
		if mounted {
			exec.Command("umount", mnt).Run()
		}
	})
	return mnt, func() {
		if mounted {
			mounted = false
			Run(t, "umount", mnt)
		}
	}
}

// FsckView runs e2fsck -fn on img (it must find nothing) and returns what
// the host kernel shows of it, loop-mounted read-only (LoopView): how a
// test of a tool that wrote an image ends.
func FsckView(t testing.TB, img string) Tree {
	t.Helper()
	E2fsckClean(t, img)
	return LoopView(t, img)
}
