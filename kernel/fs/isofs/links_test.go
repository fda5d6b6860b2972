package isofs_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/lklimg/lklimg/internal/kerneltest"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
)

// TestHardLinks: a file of three names, written by xorriso with its hard
// links recorded (-hardlinks on: one extent, PX's link count and serial
// number shared). Linux gives each name an inode of its own (its record's
// position), with PX's link count, and so does this driver; the data is
// one.
func TestHardLinks(t *testing.T) {
	src := mkdir(t, filepath.Join(t.TempDir(), "src"))
	mkdir(t, filepath.Join(src, "sub"))
	if err := os.WriteFile(filepath.Join(src, "one"), []byte("three names\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"two", "sub/three"} {
		if err := os.Link(filepath.Join(src, "one"), filepath.Join(src, n)); err != nil {
			t.Fatal(err)
		}
	}
	img := testutil.XorrisoNative(t, src, []string{"-hardlinks", "on"}, nil)
	kerneltest.WithMount(t, img, "iso9660", abi.MS_RDONLY, "", func(k *kernel.Kernel, must func(string, error)) {
		inos := map[uint64]bool{}
		for _, n := range []string{"one", "two", "sub/three"} {
			var st abi.Stat
			must("stat", k.Fstatat(abi.AT_FDCWD, "/mnt/"+n, &st, 0))
			if st.Nlink != 3 || st.Size != 12 {
				t.Errorf("%s: nlink %d size %d, want 3 and 12", n, st.Nlink, st.Size)
			}
			inos[st.Ino] = true
		}
		if len(inos) != 3 {
			t.Errorf("inode numbers %v: want three, one per record", inos)
		}
		var st abi.Stat
		must("stat", k.Fstatat(abi.AT_FDCWD, "/mnt/sub", &st, 0))
		if st.Nlink != 1 {
			// xorriso writes 1 in a directory's PX, and Linux
			// shows PX's count.
			t.Errorf("sub: nlink %d, want PX's 1", st.Nlink)
		}
	})
}
