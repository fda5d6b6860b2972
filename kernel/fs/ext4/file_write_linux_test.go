//go:build linux

package ext4

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
	"golang.org/x/sys/unix"
)

// hostMount loop-mounts an image read-only with the host kernel until the
// test ends.
func hostMount(t *testing.T, img string) string {
	t.Helper()
	testutil.NeedLoop(t)
	mnt := t.TempDir()
	testutil.Run(t, "mount", "-o", "loop,ro", img, mnt)
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	return mnt
}

// checkHost loop-mounts the image read-only and compares the file with
// the model, st_blocks with the driver's count, and checks that the
// given offsets lie in holes.
func checkHost(t *testing.T, img, name string, m *fileModel, blocks int64, holes []int64) {
	t.Helper()
	mnt := hostMount(t, img)
	path := filepath.Join(mnt, name)
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, m.data) {
		t.Errorf("host kernel reads different content (size %d, want %d)", len(got), len(m.data))
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if sb := st.Sys().(*syscall.Stat_t).Blocks; sb != blocks {
		t.Errorf("host st_blocks %d, driver %d", sb, blocks)
	}
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	for _, off := range holes {
		if h, err := fh.Seek(off, abi.SEEK_HOLE); err != nil || h != off {
			t.Errorf("SEEK_HOLE at %d = %d, %v: want a hole there", off, h, err)
		}
	}
}

// checkHostAttr loop-mounts the image read-only and compares the
// attributes the host kernel shows with those set.
func checkHostAttr(t *testing.T, img, name string, a vfs.SetAttr) {
	t.Helper()
	mnt := hostMount(t, img)
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(mnt, name), &st); err != nil {
		t.Fatal(err)
	}
	ts := func(t unix.Timespec) abi.Timespec { return abi.Timespec{Sec: t.Sec, Nsec: t.Nsec} }
	if st.Mode&07777 != a.Mode || st.Uid != a.Uid || st.Gid != a.Gid ||
		ts(st.Atim) != a.Atime || ts(st.Mtim) != a.Mtime || ts(st.Ctim) != a.Ctime {
		t.Errorf("host sees mode %o uid %d gid %d atime %v mtime %v ctime %v", st.Mode, st.Uid, st.Gid, st.Atim, st.Mtim, st.Ctim)
	}
}
