package isofs_test

import (
	"os"
	"path/filepath"
	"strings"
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

// TestNameLengths: Rock Ridge names up to 253 bytes, which xorriso
// splits into NM pieces (NM's CONTINUE flag, in a continuation area),
// are shown whole; from 254 bytes Linux cuts them at a piece's end
// (get_rock_ridge_filename), so they are shown as a prefix.
func TestNameLengths(t *testing.T) {
	src := mkdir(t, filepath.Join(t.TempDir(), "src"))
	lengths := []int{1, 100, 150, 200, 250, 253, 254, 255}
	for _, n := range lengths {
		name := strings.Repeat(string(rune('a'+n%26)), n)
		if err := os.WriteFile(filepath.Join(src, name), []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	img := testutil.XorrisoImage(t, src, "-R")
	got := kernelView(t, img, "")
	for _, n := range lengths {
		name := strings.Repeat(string(rune('a'+n%26)), n)
		e := got[name]
		switch {
		case n < 254 && (e == nil || e.Size != int64(n)):
			t.Errorf("%d bytes: %+v", n, e)
		case n >= 254 && e != nil:
			t.Errorf("%d bytes: shown whole", n)
		}
	}
	if len(got) != len(lengths)+1 {
		t.Errorf("%d entries, want %d", len(got), len(lengths)+1)
	}
}
