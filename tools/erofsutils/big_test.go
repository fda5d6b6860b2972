package erofsutils_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/lklimg/lklimg/archive"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/tools/erofsutils"
)

// bigTree writes testutil.MakeErofsBigTree's tree and copies of some of
// its files (for the dedupe).
func bigTree(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "big")
	testutil.MakeErofsBigTree(t, dir)
	testutil.Run(t, "cp", "-a", filepath.Join(dir, "sizes"), filepath.Join(dir, "dup"))
	return dir
}

// tarOf archives dir with GNU tar as TreeArchive does.
func tarOf(t testing.TB, dir string) string {
	t.Helper()
	tarPath := testutil.Need(t, "tar")[0]
	out := filepath.Join(t.TempDir(), "tree.tar")
	testutil.Run(t, tarPath, "--format=pax", "--numeric-owner", "-cf", out, "-C", dir, ".")
	return out
}

// TestMkfsBigTree: the big tree through every compressor and the
// indexes' two forms, seen by the host kernel, fsck.erofs and our
// driver as it is on the host.
func TestMkfsBigTree(t *testing.T) {
	testutil.NeedLoop(t)
	dir := bigTree(t)
	want, err := testutil.ScanDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	tarPath := tarOf(t, dir)
	for _, c := range []struct {
		name string
		set  func(p *erofsutils.Params)
	}{
		{"plain", func(p *erofsutils.Params) {}},
		{"lz4", func(p *erofsutils.Params) { p.Compressor = "lz4" }},
		{"lz4hc", func(p *erofsutils.Params) { p.Compressor = "lz4hc" }},
		{"lz4-legacy", func(p *erofsutils.Params) { p.Compressor, p.LegacyCompress = "lz4", true }},
		{"deflate", func(p *erofsutils.Params) { p.Compressor = "deflate" }},
		{"zstd", func(p *erofsutils.Params) { p.Compressor = "zstd" }},
		{"zstd-legacy", func(p *erofsutils.Params) { p.Compressor, p.LegacyCompress = "zstd", true }},
		{"lz4hc-16k", func(p *erofsutils.Params) { p.Compressor, p.PclusterSize = "lz4hc", 16384 }},
		{"lz4-64k-legacy", func(p *erofsutils.Params) { p.Compressor, p.PclusterSize, p.LegacyCompress = "lz4", 65536, true }},
		{"zstd-1m", func(p *erofsutils.Params) { p.Compressor, p.PclusterSize = "zstd", 1<<20 }},
		{"lz4hc-ztail", func(p *erofsutils.Params) { p.Compressor, p.Ztailpacking = "lz4hc", true }},
		{"lz4-ztail-legacy", func(p *erofsutils.Params) { p.Compressor, p.Ztailpacking, p.LegacyCompress = "lz4", true, true }},
		{"deflate-64k-ztail", func(p *erofsutils.Params) { p.Compressor, p.PclusterSize, p.Ztailpacking = "deflate", 65536, true }},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := erofsutils.DefaultParams()
			p.BuildTime = archive.Time{Sec: 1700000000}
			c.set(&p)
			img := mkfs(t, tarPath, p)
			checkImage(t, img, want, testutil.CompareOptions{}, p)
		})
	}
}

// TestMkfsWorkers: the image is the same bytes whatever the number of
// workers, and from one run to the next.
func TestMkfsWorkers(t *testing.T) {
	tarPath := tarOf(t, bigTree(t))
	for _, z := range []string{"", "lz4", "lz4hc", "deflate", "zstd"} {
		var imgs [][]byte
		for _, w := range []int{1, 4, 4} {
			p := erofsutils.DefaultParams()
			p.Compressor, p.Workers = z, w
			b, err := os.ReadFile(mkfs(t, tarPath, p))
			if err != nil {
				t.Fatal(err)
			}
			imgs = append(imgs, b)
		}
		if !bytes.Equal(imgs[0], imgs[1]) || !bytes.Equal(imgs[1], imgs[2]) {
			t.Errorf("-z %q: 1 and 4 workers make different images", z)
		}
	}
}

// TestMkfsSizeAgainstMkfsErofs: the big tree's image is near
// mkfs.erofs's of the same tree with the same compressor (the dedupe
// off: mkfs.erofs 1.5 has none): with LZ4 within 1%, pclusters filled as
// well as liblz4's LZ4_compress_destSize fills them and the same extents
// compressed (what is left: a file's 1 MiB segments end extents that
// mkfs.erofs runs on, a block more for each of the 3 MiB files); with
// LZ4HC (lz4dst's hash chains, as deep as LZ4HC's level 9) within 1% too.
func TestMkfsSizeAgainstMkfsErofs(t *testing.T) {
	testutil.Need(t, "mkfs.erofs")
	dir := bigTree(t)
	tarPath := tarOf(t, dir)
	for _, c := range []struct {
		z     string
		slack float64
	}{{"lz4", 1.01}, {"lz4hc", 1.01}} {
		p := erofsutils.DefaultParams()
		p.Compressor, p.NoDedupe = c.z, true
		ours, err := os.Stat(mkfs(t, tarPath, p))
		if err != nil {
			t.Fatal(err)
		}
		img := filepath.Join(t.TempDir(), "mkfs.erofs.img")
		testutil.Run(t, "mkfs.erofs", "--quiet", "-z"+c.z, img, dir)
		theirs, err := os.Stat(img)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("-z%s: ours %d bytes, mkfs.erofs %d", c.z, ours.Size(), theirs.Size())
		if float64(ours.Size()) > float64(theirs.Size())*c.slack {
			t.Errorf("-z%s: our image of %d bytes, mkfs.erofs's %d", c.z, ours.Size(), theirs.Size())
		}
	}
}
