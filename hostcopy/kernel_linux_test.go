package hostcopy

import (
	"path/filepath"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
)

// TestKernelRamfs copies the full test tree into the library kernel's own
// ramfs with To and back out with From: the real write syscalls, without
// a disk filesystem; the copy must equal the source.
func TestKernelRamfs(t *testing.T) {
	k, err := kernel.Boot(kernel.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Halt()
	if err := k.Mkdirat(abi.AT_FDCWD, "/img", 0o755); err != nil {
		t.Fatal(err)
	}
	fd, err := k.Openat(abi.AT_FDCWD, "/img/probe", abi.O_WRONLY|abi.O_CREAT|abi.O_EXCL, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	k.Close(fd)
	if err := k.Unlinkat(abi.AT_FDCWD, "/img/probe", 0); err != nil {
		t.Fatal(err)
	}

	src, want := shared.Get(t)
	var errs []string
	if err := To(k, "/img", []string{src + "/."}, "/", collect(&errs)); err != nil || len(errs) > 0 {
		t.Fatalf("To: %v %q", err, errs)
	}
	out := filepath.Join(t.TempDir(), "out")
	if err := From(k, "/img", []string{"/"}, out, collect(&errs)); err != nil || len(errs) > 0 {
		t.Fatalf("From: %v %q", err, errs)
	}
	o := treeOpts()
	o.HoleUnit = 4096
	testutil.ExpectSame(t, "source vs To+From through the kernel's ramfs", want, testutil.MustScanDir(t, out), o)
}
