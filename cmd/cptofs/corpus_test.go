//go:build linux

package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

// TestCorpus is issue 5's acceptance test on the realistic corpus of
// bench/corpus.sh, when LKLIMG_CORPUS names its directory: the
// Debian root filesystem tree, copied by cptofs into an empty image made
// by mkfs.ext4, passes e2fsck -fn, and the host kernel shows the source
// tree entry by entry (owners, modes, mtimes with ns, contents, symlinks,
// devices, xattrs, hard links, holes); cpfromfs brings it back equal.
func TestCorpus(t *testing.T) {
	dir := testutil.NeedCorpus(t)
	src := filepath.Join(dir, "rootfs")
	img := filepath.Join(t.TempDir(), "rootfs.img")
	testutil.MkfsExt4(t, img, "", "1G")
	cmd := cptofsCmd("-i", img, ".", "/")
	cmd.Dir = src
	mustRun(t, runCmd(t, cmd), "cptofs")
	testutil.E2fsckClean(t, img)

	want := testutil.MustScanDir(t, src)
	opts := testutil.CompareOptions{SkipPaths: []string{".", "lost+found", ".complete"},
		SkipTypes: []string{testutil.TypeSocket}}
	got := testutil.LoopView(t, img)
	testutil.ExpectSame(t, "rootfs vs mount -o loop", want, got, opts)
	t.Logf("%d entries of the source tree compared with the loop-mounted image", len(want))

	out := filepath.Join(t.TempDir(), "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	mustRun(t, cpfromfs(t, "-i", img, "/.", out), "cpfromfs")
	testutil.ExpectSame(t, "rootfs vs cpfromfs", want, testutil.MustScanDir(t, out), opts)
}
