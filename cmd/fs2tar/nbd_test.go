//go:build linux

package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lklimg/lklimg/internal/testutil"
)

// TestNBD: fs2tar of an ext4 image (the full test tree) through an NBD
// URI is fs2tar of the file, byte for byte: qemu-nbd serving the raw
// file over a Unix socket and over TCP, and serving a qcow2 copy of it
// (the server reads the format). The times are logged beside the
// file's. An export whose bytes are a qcow2 image (nbdkit's file plugin
// serves files as they are), a format over NBD, an nbds:// URI and a
// missing socket and an export the server does not have are refused,
// each saying why.
func TestNBD(t *testing.T) {
	testutil.Need(t, "qemu-nbd", "qemu-img", "nbdkit")
	src, _ := testutil.NewTree(t)
	dir := t.TempDir()
	raw := filepath.Join(dir, "fs.img")
	testutil.MkfsExt4(t, raw, src, "64M")
	start := time.Now()
	want := mustExport(t, raw)
	fileTime := time.Since(start)
	qcow2 := filepath.Join(dir, "fs.qcow2")
	testutil.Run(t, "qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, qcow2)
	for _, c := range []struct {
		name string
		tcp  bool
		args []string
	}{
		{"unix", false, []string{"-f", "raw", raw}},
		{"tcp", true, []string{"-f", "raw", raw}},
		{"qcow2", false, []string{"-f", "qcow2", qcow2}},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := testutil.QemuNBD(t, c.tcp, "fs", c.args...)
			start := time.Now()
			got := mustExport(t, srv.URI)
			took := time.Since(start)
			if !bytes.Equal(got, want) {
				t.Fatalf("fs2tar over NBD: %d bytes, not the %d of fs2tar of the file", len(got), len(want))
			}
			t.Logf("%d bytes, as fs2tar of the file; %v against %v (%.1fx)", len(got), took.Round(time.Millisecond),
				fileTime.Round(time.Millisecond), float64(took)/float64(fileTime))
		})
	}
	srv := testutil.Nbdkit(t, false, "-r", "file", qcow2)
	qemu := testutil.QemuNBD(t, false, "fs", "-f", "raw", raw)
	socket := filepath.Join(t.TempDir(), "none")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{srv.URI}, "the export holds a qcow2 image, not a disk: serve the image's disk instead (qemu-nbd -f qcow2 IMAGE)"},
		{[]string{"-f", "qcow2", srv.URI}, `image format "qcow2" over NBD: the disk is read as it is served (raw)`},
		{[]string{"nbds://localhost/fs"}, "TLS (nbds://) is not supported by this client"},
		{[]string{"nbd+unix:///fs?socket=" + socket}, "nbd+unix:///fs?socket=" + socket + ": no such file or directory"},
		{[]string{strings.Replace(qemu.URI, "/fs?", "/other?", 1)}, "EIO (nbd: " + strings.Replace(qemu.URI, "/fs?", "/other?", 1) +
			": the server refused NBD_OPT_GO: NBD_REP_ERR_UNKNOWN (no such export): export 'other' not present)"},
	} {
		r := fs2tar(t, c.args...)
		if r.code == 0 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("fs2tar %q: exit %d, %s; want %q", c.args, r.code, r.stderr, c.want)
		}
	}
}
