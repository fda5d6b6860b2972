//go:build linux

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

// TestNBD: lklimg on NBD exports. convert of an ext4 image qemu-nbd
// serves writes the raw image qemu-img convert writes from the same
// export, byte for byte; info says the export's size and the
// filesystem's figures the file gives; mkfs -t ext4 on an export of
// nbdkit's memory plugin makes a filesystem that e2fsck -fn finds clean
// (read back by qemu-img convert).
func TestNBD(t *testing.T) {
	testutil.Need(t, "qemu-nbd", "qemu-img", "nbdkit", "mkfs.ext4", "e2fsck")
	dir := t.TempDir()
	raw := filepath.Join(dir, "fs.img")
	src, _ := testutil.NewTree(t)
	testutil.MkfsExt4(t, raw, src, "48M")
	srv := testutil.QemuNBD(t, false, "fs", "-f", "raw", raw)

	got, want := filepath.Join(dir, "got.raw"), filepath.Join(dir, "want.raw")
	if r := runCmd(t, exec.Command(lklimgBin, "convert", srv.URI, got)); r.code != exitOK || r.stderr != "" {
		t.Fatalf("convert %s: exit %d, %s", srv.URI, r.code, r.stderr)
	}
	testutil.Run(t, "qemu-img", "convert", "-f", "raw", "-O", "raw", srv.URI, want)
	a, _ := os.ReadFile(got)
	b, _ := os.ReadFile(want)
	if !bytes.Equal(a, b) || len(a) != 48<<20 {
		t.Fatalf("lklimg convert of the export (%d bytes) differs from qemu-img convert's (%d)", len(a), len(b))
	}

	info := runCmd(t, exec.Command(lklimgBin, "info", srv.URI))
	fileInfo := runCmd(t, exec.Command(lklimgBin, "info", raw))
	if info.code != exitOK || !strings.HasPrefix(info.stdout, "Disk "+srv.URI+": 48 MiB, 50331648 bytes, 98304 sectors\n") ||
		strings.ReplaceAll(info.stdout, srv.URI, raw) != fileInfo.stdout {
		t.Fatalf("info %s: exit %d, %s%s\nthe file's:\n%s", srv.URI, info.code, info.stdout, info.stderr, fileInfo.stdout)
	}

	mem := testutil.Nbdkit(t, false, "memory", "size=32M")
	if r := runCmd(t, exec.Command(lklimgBin, "mkfs", "-q", "-t", "ext4", mem.URI)); r.code != exitOK || r.stderr != "" {
		t.Fatalf("mkfs -t ext4 %s: exit %d, %s", mem.URI, r.code, r.stderr)
	}
	made := filepath.Join(dir, "made.raw")
	testutil.Run(t, "qemu-img", "convert", "-f", "raw", "-O", "raw", mem.URI, made)
	testutil.E2fsckClean(t, made)
}
