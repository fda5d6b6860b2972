package erofsutils_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/archive"
	"github.com/lklimg/lklimg/internal/kerneltest"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/tools/erofsutils"
)

// The oracles: the host kernel's erofs (mount -o loop,ro), fsck.erofs
// --extract (erofs-utils' own reader), and our kernel's driver; each
// must show the tree the archive was made from, entry by entry.

// mkfs writes the image of the tar archive tarPath with p and returns
// its path, the file cut to the size Mkfs returns. The file is filled
// with garbage first, so that a field left unwritten cannot pass by luck.
func mkfs(t testing.TB, tarPath string, p erofsutils.Params) string {
	t.Helper()
	f, err := os.Open(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img := filepath.Join(t.TempDir(), "erofs.img")
	out, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if _, err := out.Write(bytes.Repeat([]byte{0xa5}, 1<<20)); err != nil {
		t.Fatal(err)
	}
	var reports []error
	if p.Report == nil {
		p.Report = func(err error) { reports = append(reports, err) }
	}
	size, err := erofsutils.Mkfs(out, archive.NewReader(f), p)
	if err != nil {
		t.Fatalf("Mkfs: %v", err)
	}
	for _, r := range reports {
		t.Logf("reported: %v", r)
	}
	if err := out.Truncate(size); err != nil {
		t.Fatal(err)
	}
	return img
}

// compareOptions: the FIFO's second name is a FIFO of its own in GNU
// tar's archive; erofs has no holes (a sparse file's holes are zeros
// written out); sockets tar cannot carry.
func compareOptions() testutil.CompareOptions {
	o := testutil.TreeArchiveOptions()
	o.HoleUnit = 1 << 40
	return o
}

// fsckOptions: fsck.erofs 1.5 extracts neither xattrs nor the root's
// attributes, nor hard links (each name a file of its own).
func fsckOptions() testutil.CompareOptions {
	o := compareOptions()
	o.Ignore = []string{"xattrs", "links"}
	o.SkipPaths = append(o.SkipPaths, ".")
	return o
}

// noSetID returns a copy of tree whose modes lack setuid and setgid:
// fsck.erofs 1.5 extracts as root, but its chown after chmod clears
// them.
func noSetID(tree testutil.Tree) testutil.Tree {
	out := testutil.Tree{}
	for p, e := range tree {
		c := *e
		c.Mode &^= 0o6000
		out[p] = &c
	}
	return out
}

// fsckReads reports whether this fsck.erofs decompresses alg: 1.5 knows
// LZ4 alone (DEFLATE came with 1.7, Zstandard with 1.8).
func fsckReads(alg string) bool {
	if alg == "" || strings.HasPrefix(alg, "lz4") {
		return true
	}
	out, _ := exec.Command("fsck.erofs", "-V").CombinedOutput()
	var major, minor int
	fmt.Sscanf(strings.TrimPrefix(strings.TrimSpace(string(out)), "fsck.erofs "), "%d.%d", &major, &minor)
	v := major*100 + minor
	return (alg == "deflate" || alg == "lzma") && v >= 107 || alg == "zstd" && v >= 108
}

// fsckView extracts the image with fsck.erofs --extract and scans it.
func fsckView(t testing.TB, img string) testutil.Tree {
	t.Helper()
	testutil.Need(t, "fsck.erofs")
	dir := filepath.Join(t.TempDir(), "x")
	testutil.Run(t, "fsck.erofs", "--extract="+dir, "--preserve", img)
	tree, err := testutil.ScanDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

func TestMkfsAgainstOracles(t *testing.T) {
	testutil.NeedLoop(t)
	tarPath, want := testutil.TreeArchive(t)
	for _, c := range []struct {
		name string
		set  func(p *erofsutils.Params)
	}{
		{"default", func(p *erofsutils.Params) {}},
		{"shared-xattrs", func(p *erofsutils.Params) { p.XattrTolerance = 0 }},
		{"extended", func(p *erofsutils.Params) { p.ForceExtended = true }},
		{"noinline", func(p *erofsutils.Params) { p.NoInline = true }},
		{"no-dedupe", func(p *erofsutils.Params) { p.NoDedupe = true }},
		{"lz4", func(p *erofsutils.Params) { p.Compressor = "lz4" }},
		{"lz4hc", func(p *erofsutils.Params) { p.Compressor = "lz4hc" }},
		{"lz4hc-legacy", func(p *erofsutils.Params) { p.Compressor, p.LegacyCompress = "lz4hc", true }},
		{"deflate", func(p *erofsutils.Params) { p.Compressor = "deflate" }},
		{"zstd", func(p *erofsutils.Params) { p.Compressor = "zstd" }},
		{"lzma-ztail", func(p *erofsutils.Params) { p.Compressor, p.Ztailpacking = "lzma", true }},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := erofsutils.DefaultParams()
			p.BuildTime = archive.Time{Sec: 1700000000}
			c.set(&p)
			checkImage(t, mkfs(t, tarPath, p), want, compareOptions(), p)
		})
	}
}

// checkImage compares the image's tree as the host kernel shows it with
// want (what the archive holds), then our driver's and fsck.erofs
// --extract's with the host's.
func checkImage(t *testing.T, img string, want testutil.Tree, o testutil.CompareOptions, p erofsutils.Params) {
	t.Helper()
	host := testutil.LoopView(t, img)
	testutil.ExpectSame(t, "source vs host kernel", want, host, o)
	ours := kerneltest.ExportTree(t, img, "erofs", abi.MS_RDONLY, "")
	testutil.ExpectSame(t, "host kernel vs ours", host, ours, compareOptions())
	if fsckReads(p.Compressor) {
		testutil.ExpectSame(t, "host kernel vs fsck.erofs --extract", noSetID(host), noSetID(fsckView(t, img)), fsckOptions())
	}
	st, err := os.Stat(img)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d entries compared, image of %d bytes", len(host), st.Size())
}
