//go:build linux

package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

// TestOrphanFileCsumSeed: cptofs copies the full test tree into an image
// with an orphan file and metadata_csum_seed whose UUID tune2fs -U changed
// (its checksum seed is no longer the UUID's), and cpfromfs copies it back
// out: e2fsck -fn finds nothing, the host kernel shows the source tree,
// and the copy out is the source.
func TestOrphanFileCsumSeed(t *testing.T) {
	tune2fs := testutil.Need(t, "tune2fs", "dumpe2fs")
	src, want := shared.Get(t)
	img := filepath.Join(t.TempDir(), "fs.img")
	mkfs(t, img, "", "64M", "-O", "orphan_file,metadata_csum_seed", "-U", "11111111-2222-4333-8444-555555555555")
	testutil.Run(t, tune2fs[0], "-U", "99999999-2222-4333-8444-555555555555", img)
	if hdr := string(testutil.Run(t, tune2fs[1], "-h", img)); !strings.Contains(hdr, "99999999-2222-4333-8444-555555555555") ||
		!strings.Contains(hdr, "Orphan file inode:") || !strings.Contains(hdr, "metadata_csum_seed") {
		t.Fatalf("dumpe2fs -h:\n%s", hdr)
	}
	mustRun(t, cptofs(t, "-i", img, src+"/.", "/"), "cptofs")
	e2fsckClean(t, img)
	opts := testutil.CompareOptions{SkipPaths: []string{"lost+found", "."}, HoleUnit: 4096}
	testutil.ExpectSame(t, "source vs mount -o loop", want, testutil.LoopView(t, img), opts)
	out := filepath.Join(t.TempDir(), "out")
	mustRun(t, cpfromfs(t, "-i", img, "/", out), "cpfromfs / OUT")
	testutil.ExpectSame(t, "source vs cpfromfs", want, testutil.MustScanDir(t, out), opts)
}
