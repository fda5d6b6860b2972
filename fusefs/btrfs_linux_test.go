package fusefs_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

// TestServeBtrfsSubvolumes: files of a btrfs subvolume have the inode
// numbers of the top's (each subvolume counts from 256): through FUSE,
// which has one st_dev, they stay apart, each with its own content, not
// hard links of one another, as the host's loop mount shows them.
func TestServeBtrfsSubvolumes(t *testing.T) {
	testutil.Need(t, "mkfs.btrfs", "btrfs")
	testutil.NeedLoop(t)
	img := filepath.Join(t.TempDir(), "img")
	testutil.Run(t, "truncate", "-s", "256M", img)
	testutil.Run(t, "mkfs.btrfs", "-q", img)
	mnt, umount := testutil.HostMount(t, img, "")
	if err := os.WriteFile(filepath.Join(mnt, "top"), []byte("in the top subvolume\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"a", "b"} {
		testutil.Run(t, "btrfs", "-q", "subvolume", "create", filepath.Join(mnt, sub))
		if err := os.WriteFile(filepath.Join(mnt, sub, "file"), []byte("in subvolume "+sub+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	umount()
	want := testutil.LoopView(t, img)
	s := serve(t, img, true)
	got := testutil.MustScanDir(t, s.mnt)
	testutil.ExpectSame(t, "fuse vs loop", want, got, testutil.CompareOptions{})
	if got["top"].Ino == got["a/file"].Ino || got["a/file"].Ino == got["b/file"].Ino {
		t.Errorf("files of three subvolumes share inode numbers through FUSE: %d, %d, %d", got["top"].Ino, got["a/file"].Ino, got["b/file"].Ino)
	}
	s.stop()
}
