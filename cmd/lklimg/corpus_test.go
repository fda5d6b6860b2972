//go:build linux

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

// TestTar2fsCorpus is issue 6's acceptance test on the corpus of
// bench/corpus.sh (LKLIMG_CORPUS): the Debian minbase rootfs tar
// becomes the smallest image by `lklimg tar2fs rootfs.tar x.img`, which
// passes e2fsck -fn, is a journaled metadata_csum ext4, and shows the
// tar's entries through the host kernel, one by one (names, types, modes,
// owners, mtimes, sizes, contents, link targets, devices, xattrs,
// hard-link groups); the same tar as a zstd stream on stdin gives the
// same tree; two runs with SOURCE_DATE_EPOCH give the same bytes.
func TestTar2fsCorpus(t *testing.T) {
	corpus := testutil.NeedCorpus(t)
	tools := testutil.Need(t, "e2fsck", "dumpe2fs", "zstd")
	testutil.NeedLoop(t)
	tarPath := filepath.Join(corpus, "rootfs.tar")
	f, err := os.Open(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	want, err := testutil.ScanTar(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	opts := testutil.CompareOptions{SkipPaths: []string{".", "lost+found"}}
	check := func(what, img string) {
		t.Helper()
		testutil.E2fsckClean(t, img)
		hdr := testutil.Run(t, tools[1], "-h", img)
		for _, feature := range []string{"has_journal", "metadata_csum", "extent", "64bit", "flex_bg"} {
			if !bytes.Contains(hdr, []byte(feature)) {
				t.Errorf("%s: no %s in the features:\n%s", what, feature, hdr)
			}
		}
		testutil.ExpectSame(t, what+": rootfs.tar vs mount -o loop", want, testutil.LoopView(t, img), opts)
	}

	img := filepath.Join(dir, "x.img")
	if r := lklimg(t, nil, nil, "tar2fs", "-q", tarPath, img); r.code != 0 || r.stderr != "" {
		t.Fatalf("tar2fs rootfs.tar: exit %d\n%s", r.code, r.stderr)
	}
	check("tar2fs rootfs.tar", img)
	fi, err := os.Stat(img)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d entries of rootfs.tar compared; the image is %d MiB", len(want), fi.Size()>>20)

	zst := filepath.Join(dir, "rootfs.tar.zst")
	testutil.Run(t, tools[2], "-q", "-1", "-o", zst, tarPath)
	epoch := []string{"SOURCE_DATE_EPOCH=1700000000"}
	var images [2][]byte
	for i := range images {
		in, err := os.Open(zst)
		if err != nil {
			t.Fatal(err)
		}
		zimg := filepath.Join(dir, "z.img")
		r := lklimg(t, epoch, in, "tar2fs", "-q", "-", zimg)
		in.Close()
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("tar2fs - <rootfs.tar.zst: exit %d\n%s", r.code, r.stderr)
		}
		if i == 0 {
			check("tar2fs - <rootfs.tar.zst", zimg)
		}
		if images[i], err = os.ReadFile(zimg); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(images[0], images[1]) {
		n := 0
		for i := range min(len(images[0]), len(images[1])) {
			if images[0][i] != images[1][i] {
				n++
			}
		}
		t.Errorf("two runs with SOURCE_DATE_EPOCH differ: %d and %d bytes, %d bytes differ", len(images[0]), len(images[1]), n)
	}
}
