package ext4

import (
	"os"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

// rwDev is a writable vfs.BlockDevice over an image file, for the write
// tests: WriteAt goes straight to the file, Sync is fsync.
type rwDev struct {
	*fileDev
}

func openDevRW(t testing.TB, path string) rwDev {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return rwDev{&fileDev{f: f, size: st.Size()}}
}

func (d rwDev) ReadOnly() bool                           { return false }
func (d rwDev) WriteAt(p []byte, off int64) (int, error) { return d.f.WriteAt(p, off) }
func (d rwDev) Sync() error                              { return d.f.Sync() }

// mountImageRW mounts an image file read-write; the test fails if the
// driver mounts it read-only. Unmount is the caller's (umountRW), so that
// it can check the image afterwards.
func mountImageRW(t testing.TB, path string) (*fsys, *testLog) {
	t.Helper()
	log := &testLog{}
	sb, err := NewType().Mount(openDevRW(t, path), 0, "", log)
	if err != nil {
		t.Fatalf("mount %s: %v\nlog:\n%s", path, err, log)
	}
	f := sb.(*fsys)
	if f.ReadOnly() {
		t.Fatalf("mount %s: read-only\nlog:\n%s", path, log)
	}
	return f, log
}

// umountRW unmounts f and fails the test on an error.
func umountRW(t testing.TB, f *fsys) {
	t.Helper()
	if err := f.Unmount(); err != nil {
		t.Fatalf("unmount: %v", err)
	}
}

// e2fsckClean is testutil.E2fsckClean.
func e2fsckClean(t testing.TB, path string) { testutil.E2fsckClean(t, path) }
