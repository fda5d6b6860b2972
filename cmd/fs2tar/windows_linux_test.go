package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

// TestWindows runs the Windows build of fs2tar under Wine (issue 19) on
// images of every kind of filesystem, whole and in a partition, to a
// file and compressed: each archive is byte for byte the Linux build's.
func TestWindows(t *testing.T) {
	w := testutil.NeedWine(t)
	exe := w.Build(t, "github.com/lklimg/lklimg/cmd/fs2tar")
	src, _ := testutil.NewTree(t)
	dir := t.TempDir()
	ext4 := filepath.Join(dir, "ext4.img")
	testutil.MkfsExt4(t, ext4, src, "64M")
	fat, _ := testutil.NewFATImage(t, testutil.FATCases()[len(testutil.FATCases())-1])
	images := map[string][]string{
		"ext4":       {ext4},
		"vfat":       append(fat.PartitionFlag(), fat.Path),
		"squashfs":   {testutil.SquashfsImage(t, src, "-comp", "zstd")},
		"ext4 gzip":  {ext4},
		"ext4 --gnu": {"--format", "gnu", ext4},
	}
	for name, args := range images {
		t.Run(name, func(t *testing.T) {
			out := "out.tar"
			if name == "ext4 gzip" {
				out = "out.tar.gz"
			}
			linux := filepath.Join(t.TempDir(), out)
			if r := fs2tar(t, append(append([]string{}, args...), linux)...); r.code != 0 {
				t.Fatalf("fs2tar %q: exit %d\n%s", args, r.code, r.stderr)
			}
			windows := filepath.Join(t.TempDir(), out)
			cmd := w.Command(exe, append(append([]string{}, args...), windows)...)
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("fs2tar.exe %q under Wine: %v\n%s", args, err, b)
			}
			a, _ := os.ReadFile(linux)
			b, _ := os.ReadFile(windows)
			if len(a) == 0 || !bytes.Equal(a, b) {
				t.Errorf("fs2tar.exe's archive (%d bytes) differs from fs2tar's (%d)", len(b), len(a))
			}
		})
	}
}
