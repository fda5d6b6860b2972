package squashfs_test

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel/abi"
)

// TestReadXzBCJ: mksquashfs -Xbcj x86 compresses each block of machine
// code with the x86 BCJ filter before LZMA2 where that is smaller (the
// test's own executable here); the host kernel's xz decoder undoes it,
// and so must ours.
func TestReadXzBCJ(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(filepath.Join(src, "program"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	out.Close()
	plain := testutil.SquashfsImage(t, src, "-comp", "xz")
	img := testutil.SquashfsImage(t, src, "-comp", "xz", "-Xbcj", "x86")
	a, _ := os.Stat(plain)
	b, _ := os.Stat(img)
	if a.Size() == b.Size() {
		t.Fatalf("-Xbcj x86 made an image of the same size (%d bytes): no block used the filter", a.Size())
	}
	want := testutil.LoopView(t, img)
	got := kernelView(t, img, abi.MS_RDONLY)
	testutil.ExpectSame(t, "host vs library kernel", want, got, compareOpts)
	t.Logf("%d bytes without the filter, %d with it; %d entries compared", a.Size(), b.Size(), len(want))
}
