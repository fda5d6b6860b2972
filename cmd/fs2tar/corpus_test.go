//go:build linux

package main

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

// TestCorpus runs the acceptance comparison on the realistic corpus of
// bench/corpus.sh (a Debian root filesystem in rootfs.ext4),
// when LKLIMG_CORPUS names its directory: fs2tar's archive must be what
// the host kernel shows of the image, and the source tree (less the
// corpus's own marker file).
func TestCorpus(t *testing.T) {
	dir := testutil.NeedCorpus(t)
	img := filepath.Join(dir, "rootfs.ext4")
	before := testutil.FileSum(t, img)
	got, err := testutil.ScanTar(bytes.NewReader(mustExport(t, img)))
	if err != nil {
		t.Fatal(err)
	}
	if testutil.FileSum(t, img) != before {
		t.Fatal("the image changed")
	}
	src, err := testutil.ScanDir(filepath.Join(dir, "rootfs"))
	if err != nil {
		t.Fatal(err)
	}
	opts := testutil.CompareOptions{SkipPaths: []string{".", "lost+found", ".complete"},
		SkipTypes: []string{testutil.TypeSocket}, Ignore: []string{"mtime"}} // mkfs.ext4 1.47.0 -d keeps whole seconds
	for _, d := range testutil.Compare(src, got, opts) {
		t.Errorf("rootfs vs fs2tar: %s", d)
	}
	t.Run("loop", func(t *testing.T) {
		kernelView := testutil.LoopView(t, img)
		diffs := testutil.Compare(kernelView, got, testutil.CompareOptions{SkipTypes: []string{testutil.TypeSocket}})
		for _, d := range diffs {
			t.Errorf("mount -o loop vs fs2tar: %s", d)
		}
		if len(diffs) == 0 {
			t.Logf("%d entries of the loop-mounted view matched fs2tar's archive", len(kernelView))
		}
	})
}

// TestCorpusSquashfs is the acceptance comparison for SquashFS on the
// corpus: its rootfs/ made into an image by mksquashfs (xz), whose fs2tar
// archive must be what the host kernel shows of it.
func TestCorpusSquashfs(t *testing.T) {
	dir := testutil.NeedCorpus(t)
	img := testutil.SquashfsImage(t, filepath.Join(dir, "rootfs"), "-comp", "xz")
	got, err := testutil.ScanTar(bytes.NewReader(mustExport(t, img)))
	if err != nil {
		t.Fatal(err)
	}
	kernelView := testutil.LoopView(t, img)
	diffs := testutil.Compare(kernelView, got, testutil.CompareOptions{SkipTypes: []string{testutil.TypeSocket}})
	for i, d := range diffs {
		if i == 50 {
			t.Errorf("... %d more", len(diffs)-i)
			break
		}
		t.Errorf("mount -o loop vs fs2tar: %s", d)
	}
	if len(diffs) == 0 {
		t.Logf("%d entries of the loop-mounted view matched fs2tar's archive", len(kernelView))
	}
}

// TestCorpusFormats: the corpus image as qcow2 (qemu-img convert, plain
// and compressed with deflate and zstd) and served over NBD (qemu-nbd,
// Unix socket) gives fs2tar's archive of the raw image, byte for byte.
func TestCorpusFormats(t *testing.T) {
	dir := testutil.NeedCorpus(t)
	testutil.Need(t, "qemu-img")
	img := filepath.Join(dir, "rootfs.ext4")
	want := mustExport(t, img)
	tmp := t.TempDir()
	for name, opts := range map[string][]string{
		"qcow2":         nil,
		"qcow2-deflate": {"-c"},
		"qcow2-zstd":    {"-c", "-o", "compression_type=zstd"},
	} {
		t.Run(name, func(t *testing.T) {
			q := filepath.Join(tmp, name+".qcow2")
			testutil.Run(t, "qemu-img", append(append([]string{"convert", "-f", "raw", "-O", "qcow2"}, opts...), img, q)...)
			if got := mustExport(t, q); !bytes.Equal(got, want) {
				t.Errorf("fs2tar of the corpus image as %s differs from the raw image's (%d and %d bytes)", name, len(got), len(want))
			}
		})
	}
	t.Run("nbd", func(t *testing.T) {
		srv := testutil.QemuNBD(t, false, "corpus", "-r", "-f", "raw", img)
		if got := mustExport(t, srv.URI); !bytes.Equal(got, want) {
			t.Errorf("fs2tar of the corpus image over NBD differs from the file's (%d and %d bytes)", len(got), len(want))
		}
	})
}
