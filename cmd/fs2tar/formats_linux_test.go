package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

// TestImageFormats: fs2tar of an ext4 image converted by qemu-img to
// qcow2 (plain, deflate-compressed, zstd-compressed, and an overlay on the
// raw image as its backing file), to VMDK (sparse, stream-optimized,
// flat), to VHD (dynamic, fixed) and to VHDX, and by img2simg to an Android sparse
// image, gives the same archive, byte for byte, as fs2tar of the raw
// image; -f names the format instead of the probe.
func TestImageFormats(t *testing.T) {
	testutil.Need(t, "qemu-img")
	dir := t.TempDir()
	raw := filepath.Join(dir, "fs.img")
	src, _ := testutil.NewTree(t)
	testutil.MkfsExt4(t, raw, src, "64M")
	want := mustExport(t, raw, "-")
	for name, args := range map[string][]string{
		"plain.qcow2":     {"convert", "-f", "raw", "-O", "qcow2"},
		"deflate.qcow2":   {"convert", "-f", "raw", "-O", "qcow2", "-c"},
		"zstd.qcow2":      {"convert", "-f", "raw", "-O", "qcow2", "-c", "-o", "compression_type=zstd"},
		"overlay.qcow2":   {"create", "-q", "-f", "qcow2", "-F", "raw", "-b"},
		"sparse.vmdk":     {"convert", "-f", "raw", "-O", "vmdk"},
		"stream.vmdk":     {"convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized"},
		"descriptor.vmdk": {"convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=monolithicFlat"},
		"dynamic.vhd":     {"convert", "-f", "raw", "-O", "vpc", "-o", "force_size=on"},
		"android.simg":    nil,
		"dynamic.vhdx":    {"convert", "-f", "raw", "-O", "vhdx"},
		"fixed.vhd":       {"convert", "-f", "raw", "-O", "vpc", "-o", "subformat=fixed,force_size=on"},
	} {
		img := filepath.Join(dir, name)
		if args == nil {
			testutil.Run(t, testutil.Need(t, "img2simg")[0], raw, img)
		} else {
			testutil.Run(t, "qemu-img", append(args, raw, img)...)
		}
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
