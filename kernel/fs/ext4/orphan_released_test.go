//go:build linux

package ext4_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/kerneltest"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
)

// TestOrphanReleasedByE2fsck crashes with a file open after its unlink,
// then has e2fsck -E journal_only replay the log: e2fsck frees the orphan
// and, with orphan_file, leaves its entry. Our mount must skip an entry
// naming an inode not in use, as ext4_orphan_get does, rather than free
// the inode's blocks a second time (the mount failed with EUCLEAN), and
// the filesystem must be consistent.
func TestOrphanReleasedByE2fsck(t *testing.T) {
	testutil.Need(t, "mke2fs", "e2fsck", "cp")
	for _, feat := range []string{"orphan_file", "^orphan_file"} {
		t.Run(feat, func(t *testing.T) {
			img := testutil.Mke2fsImage(t, "32M", "-b", "1024", "-O", feat)
			crash := filepath.Join(t.TempDir(), "crash")
			kerneltest.WithKernel(t, img, "", func(k *kernel.Kernel, must func(string, error)) {
				fd, err := k.Openat(abi.AT_FDCWD, "/mnt/gone", abi.O_RDWR|abi.O_CREAT, 0o644)
				must("create", err)
				_, err = k.Pwrite(fd, pattern(100*kib, 1), 0)
				must("write", err)
				must("unlink", k.Unlinkat(abi.AT_FDCWD, "/mnt/gone", 0))
				must("sync", k.Sync())
				testutil.Run(t, "cp", "--sparse=always", img, crash)
				must("close", k.Close(fd))
			})
			testutil.Run(t, "e2fsck", "-E", "journal_only", "-y", crash)
			kerneltest.WithKernel(t, crash, "", func(k *kernel.Kernel, must func(string, error)) {
				fd, err := k.Openat(abi.AT_FDCWD, "/mnt/new", abi.O_RDWR|abi.O_CREAT, 0o644)
				must("create", err)
				_, err = k.Pwrite(fd, pattern(100*kib, 2), 0)
				must("write", err)
				must("close", k.Close(fd))
			})
			// Our kernel leaves the stale entry, as Linux does
			// (ext4_orphan_cleanup skips it): e2fsck may clear it and
			// must find nothing else.
			out, _ := exec.Command("e2fsck", "-fy", crash).CombinedOutput()
			problem := "" // the line before each answer
			for _, l := range strings.Split(string(out), "\n") {
				if strings.Contains(l, "? yes") && !strings.Contains(problem+l, "rphan file") {
					t.Errorf("e2fsck -fy fixed more than the orphan file: %q %q\n%s", problem, l, out)
				}
				if l != "" {
					problem = l
				}
			}
			testutil.E2fsckClean(t, crash)
		})
	}
}
