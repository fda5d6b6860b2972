package testutil

import (
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// Retime gives every entry of the ext4 image img the atime and mtime tree
// (the scan of the directory it was made from) says, through the host
// kernel (mount -o loop), and reports whether it could (root and loop
// devices). mkfs.ext4 -d of e2fsprogs 1.47.0 stores whole seconds in 32
// bits only: without this, nanoseconds and times past 2038 never reach
// the image, and a test that could not retime leaves mtimes out of its
// comparison with the source.
func Retime(t testing.TB, img string, tree Tree) bool {
	t.Helper()
	if !CanLoop() {
		return false
	}
	mnt := t.TempDir()
	Run(t, "mount", "-o", "loop", img, mnt)
	paths := tree.Paths()
	for i := len(paths) - 1; i >= 0; i-- { // children before their directory
		e := tree[paths[i]]
		if paths[i] == "." {
			continue
		}
		ts := unix.NsecToTimespec(e.Mtime)
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(mnt, e.Path), []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			t.Errorf("retime %s: %v", e.Path, err)
		}
	}
	Run(t, "umount", mnt)
	return true
}
