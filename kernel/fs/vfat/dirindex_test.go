package vfat_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/lklimg/lklimg/format/fat"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
)

// TestDuplicateNames: a directory holding two records of one name (a
// damaged one, or written by a system that did not check) answers with
// the first in directory order, as Linux's search from the start does;
// once that is removed, the second answers, then none.
func TestDuplicateNames(t *testing.T) {
	testutil.Need(t, "mkfs.fat", "mcopy", "fsck.fat")
	img := mkfsFAT(t, "16M", "-F", "16")
	src := filepath.Join(t.TempDir(), "a.txt")
	os.WriteFile(src, []byte("the first record's data\n"), 0o644)
	mtools(t, "mcopy", "-i", img, src, "::")

	// Copy A.TXT's short entry into the root's next free entry, as an
	// empty file (no cluster, size 0).
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	bs, err := fat.DecodeBootSector(b[:512])
	if err != nil {
		t.Fatal(err)
	}
	l, err := bs.Check()
	if err != nil {
		t.Fatal(err)
	}
	root := b[int64(l.RootStart)*int64(l.SectorSize):][:l.RootEntries*32]
	at := bytes.Index(root, []byte("A       TXT"))
	if at < 0 || at%32 != 0 {
		t.Fatalf("no A.TXT entry in the root directory (%d)", at)
	}
	free := at + 32
	for root[free] != 0 {
		free += 32
	}
	dup := root[free : free+32]
	copy(dup, root[at:at+32])
	copy(dup[26:32], make([]byte, 6)) // first cluster (low) and size
	copy(dup[20:22], []byte{0, 0})    // first cluster (high)
	if err := os.WriteFile(img, b, 0o644); err != nil {
		t.Fatal(err)
	}

	size := func(k *kernel.Kernel) int64 {
		var st abi.Stat
		if err := k.Fstatat(abi.AT_FDCWD, "/mnt/a.txt", &st, 0); err != nil {
			return -1
		}
		return st.Size
	}
	withFAT(t, img, "", func(k *kernel.Kernel) {
		if got := size(k); got != 24 {
			t.Errorf("a.txt: size %d, want the first record's 24", got)
		}
		// Creating one more name leaves both as they are.
		fd, err := k.Openat(abi.AT_FDCWD, "/mnt/other.txt", abi.O_WRONLY|abi.O_CREAT|abi.O_EXCL, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		k.Close(fd)
		if err := k.Unlinkat(abi.AT_FDCWD, "/mnt/a.txt", 0); err != nil {
			t.Fatal(err)
		}
		if got := size(k); got != 0 {
			t.Errorf("a.txt after the first unlink: size %d, want the second record's 0", got)
		}
		if err := k.Unlinkat(abi.AT_FDCWD, "/mnt/A.TXT", 0); err != nil {
			t.Fatal(err)
		}
		if err := k.Unlinkat(abi.AT_FDCWD, "/mnt/a.txt", 0); !errors.Is(err, abi.ENOENT) {
			t.Errorf("a third unlink: %v, want ENOENT", err)
		}
		if got := size(k); got != -1 {
			t.Errorf("a.txt after both unlinks: size %d", got)
		}
	})
	fsckClean(t, img)
}
