package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

// TestQcow2: fs2tar of an ext4 image converted to qcow2 by qemu-img
// (plain, deflate-compressed, zstd-compressed, and an overlay on the raw
// image as its backing file) gives the same archive, byte for byte, as
// fs2tar of the raw image; -f names the format instead of the probe.
func TestQcow2(t *testing.T) {
	testutil.Need(t, "qemu-img")
	dir := t.TempDir()
	raw := filepath.Join(dir, "fs.img")
	src, _ := testutil.NewTree(t)
	testutil.MkfsExt4(t, raw, src, "64M")
	want := mustExport(t, raw, "-")
	for name, args := range map[string][]string{
		"plain":   {"convert", "-f", "raw", "-O", "qcow2"},
		"deflate": {"convert", "-f", "raw", "-O", "qcow2", "-c"},
		"zstd":    {"convert", "-f", "raw", "-O", "qcow2", "-c", "-o", "compression_type=zstd"},
		"overlay": {"create", "-q", "-f", "qcow2", "-F", "raw", "-b"},
	} {
		img := filepath.Join(dir, name+".qcow2")
		testutil.Run(t, "qemu-img", append(args, raw, img)...)
		if got := mustExport(t, img, "-"); !bytes.Equal(got, want) {
			t.Errorf("%s: fs2tar of the qcow2 image (%d bytes) differs from fs2tar of the raw one (%d)", name, len(got), len(want))
		}
	}
	// -f names the format: qcow2 as probed; raw reads the qcow2 file's
	// own bytes, where no filesystem is.
	if got := mustExport(t, "-f", "qcow2", filepath.Join(dir, "plain.qcow2"), "-"); !bytes.Equal(got, want) {
		t.Error("fs2tar -f qcow2 differs from fs2tar of the raw image")
	}
	if r := fs2tar(t, "-f", "raw", filepath.Join(dir, "plain.qcow2"), "-"); r.code != 2 || !strings.Contains(r.stderr, "not a filesystem this kernel reads") {
		t.Errorf("fs2tar -f raw of a qcow2 image: exit %d, %s", r.code, r.stderr)
	}
	if r := fs2tar(t, "-f", "qcow2", raw, "-"); r.code != 2 || !strings.Contains(r.stderr, raw+": a qcow2 image this kernel cannot read: qcow2: corrupt image: no qcow2 magic") {
		t.Errorf("fs2tar -f qcow2 of a raw image: exit %d, %s", r.code, r.stderr)
	}
}
