//go:build linux

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

// TestNBD: cptofs writes the full test tree into an empty ext4 image
// that qemu-nbd serves (over a Unix socket and over TCP), through an NBD
// URI; once done, e2fsck -fn of the image file finds nothing, the host
// kernel's view of the file is the source tree, and cpfromfs through NBD
// brings the tree back. An export served read-only (qemu-nbd -r) is
// refused clearly, and left as it was.
func TestNBD(t *testing.T) {
	src, want := shared.Get(t)
	opts := testutil.CompareOptions{SkipPaths: []string{"lost+found"}, HoleUnit: 4096}
	if os.Geteuid() != 0 {
		opts.Ignore = append(opts.Ignore, "uid", "gid") // owned by the kernel's 0:0
	}
	for _, tcp := range []bool{false, true} {
		name := map[bool]string{false: "unix", true: "tcp"}[tcp]
		t.Run(name, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "fs.img")
			testutil.MkfsExt4(t, img, "", "64M")
			srv := testutil.QemuNBD(t, tcp, "fs", "-f", "raw", img)
			mustRun(t, cptofs(t, "-i", srv.URI, src+"/.", "/"), "cptofs -i "+srv.URI+" SRC/. /")
			testutil.E2fsckClean(t, img)
			t.Run("loop", func(t *testing.T) {
				testutil.ExpectSame(t, "source vs mount -o loop of the file", want, testutil.LoopView(t, img), opts)
			})
			out := filepath.Join(t.TempDir(), "out")
			mustRun(t, cpfromfs(t, "-i", srv.URI, "/", out), "cpfromfs -i "+srv.URI+" / OUT")
			testutil.ExpectSame(t, "source vs cptofs+cpfromfs over NBD", want, testutil.MustScanDir(t, out), opts)
			t.Logf("%d entries written over NBD and read back", len(want))
		})
	}
	t.Run("read-only", func(t *testing.T) {
		img := filepath.Join(t.TempDir(), "fs.img")
		testutil.MkfsExt4(t, img, "", "16M")
		before := testutil.FileSum(t, img)
		srv := testutil.QemuNBD(t, false, "", "-r", "-f", "raw", img)
		r := cptofs(t, "-i", srv.URI, src+"/.", "/")
		if r.code == 0 || !strings.Contains(r.stderr, "the filesystem cannot be written: vda: write-protected") {
			t.Fatalf("cptofs into a read-only export: exit %d, %s", r.code, r.stderr)
		}
		if testutil.FileSum(t, img) != before {
			t.Fatal("the read-only export's image changed")
		}
	})
}

// TestNBDWriteErrors: an export that starts failing writes (nbdkit's
// file plugin behind its error filter, EIO for one write in twenty once
// a trigger file exists) makes cptofs fail, saying EIO, in each of five
// copies of the test tree: no write the server failed passes for done.
func TestNBDWriteErrors(t *testing.T) {
	testutil.Need(t, "nbdkit")
	src, _ := shared.Get(t)
	img := filepath.Join(t.TempDir(), "fs.img")
	testutil.MkfsExt4(t, img, "", "64M")
	trigger := filepath.Join(t.TempDir(), "fail")
	srv := testutil.Nbdkit(t, false, "--filter=error", "file", img, "error-pwrite=EIO", "error-pwrite-rate=5%",
		"error-pwrite-file="+trigger)
	mustRun(t, cptofs(t, "-i", srv.URI, src+"/.", "/"), "cptofs before the errors")
	if err := os.WriteFile(trigger, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		dst := "/copy" + string(rune('0'+i))
		r := cptofs(t, "-i", srv.URI, src, dst)
		if r.code == 0 || !strings.Contains(r.stderr, "EIO") {
			t.Fatalf("cptofs %s with writes failing: exit %d, %s", dst, r.code, r.stderr)
		}
		t.Logf("%s", strings.TrimSpace(r.stderr))
	}
}
