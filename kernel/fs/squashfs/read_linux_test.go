package squashfs_test

import (
	"slices"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel/abi"
)

// The read side is checked against the host kernel: images of the test
// tree made by mksquashfs with each compressor and the options that
// change the layout, each mounted loop,ro by the host and through the
// library kernel; the two views must agree entry by entry (names, types,
// modes, owners, mtimes, sizes, contents, link targets, device numbers,
// xattrs, hard-link groups). lzma, which Linux does not read, is
// compared with unsquashfs's extraction instead.

// layouts are the mksquashfs options compared.
var layouts = []struct {
	name string
	args []string
	// unsquashfs: the host kernel cannot mount it; unsquashfs is the
	// oracle.
	unsquashfs bool
}{
	{name: "gzip", args: []string{"-comp", "gzip"}},
	{name: "xz", args: []string{"-comp", "xz"}},
	{name: "lzma", args: []string{"-comp", "lzma"}, unsquashfs: true},
	{name: "lz4", args: []string{"-comp", "lz4"}},
	{name: "lz4-hc", args: []string{"-comp", "lz4", "-Xhc"}},
	{name: "zstd", args: []string{"-comp", "zstd"}},
	{name: "lzo", args: []string{"-comp", "lzo"}},
	{name: "gzip-no-fragments", args: []string{"-no-fragments"}},
	{name: "gzip-always-fragments", args: []string{"-always-use-fragments"}},
	{name: "gzip-tailends", args: []string{"-tailends"}},
	{name: "gzip-4k", args: []string{"-b", "4K"}},
	{name: "xz-1m", args: []string{"-comp", "xz", "-b", "1M"}},
	{name: "uncompressed", args: []string{"-noI", "-noD", "-noF", "-noX"}},
	{name: "no-xattrs", args: []string{"-no-xattrs"}},
	{name: "all-root", args: []string{"-all-root"}},
	{name: "exports-no-duplicates", args: []string{"-exports", "-no-duplicates"}},
	{name: "zstd-1m-tailends", args: []string{"-comp", "zstd", "-b", "1M", "-tailends"}},
	// Compressor options: what they change is the compressor's
	// stream, which the decompressors must take as it comes.
	{name: "xz-dict-50", args: []string{"-comp", "xz", "-Xdict-size", "50%"}},
	{name: "lzo1x-1-15", args: []string{"-comp", "lzo", "-Xalgorithm", "lzo1x_1_15"}},
	{name: "lzo1x-999-level1", args: []string{"-comp", "lzo", "-Xcompression-level", "1"}},
	{name: "gzip-window8-filtered", args: []string{"-comp", "gzip", "-Xwindow-size", "8", "-Xstrategy", "filtered"}},
	{name: "zstd-level19", args: []string{"-comp", "zstd", "-Xcompression-level", "19"}},
}

func TestReadMksquashfsImages(t *testing.T) {
	src := tree.get(t)
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			img := mksquashfs(t, src, l.args...)
			var want testutil.Tree
			if l.unsquashfs {
				want = unsquashfsView(t, img)
			} else {
				want = testutil.LoopView(t, img)
			}
			got := kernelView(t, img, abi.MS_RDONLY)
			testutil.ExpectSame(t, "host vs library kernel", want, got, compareOpts)
			checkCoverage(t, got, !slices.Contains(l.args, "-no-xattrs"))
			t.Logf("%s: %d entries compared", l.name, len(want))
		})
	}
}

// checkCoverage fails the test if the view lacks what the comparison is
// meant to cover, so that two empty views cannot agree: the entries, the
// 600-entry directory, a hard-link group, the shared long xattr value
// (stored out of line) and the files of exact blocks.
func checkCoverage(t *testing.T, got testutil.Tree, xattrs bool) {
	t.Helper()
	if len(got) < 2700 {
		t.Errorf("only %d entries", len(got))
	}
	if n := len(got.Sub("squashfs/many")); n < 600 {
		t.Errorf("squashfs/many: %d entries", n)
	}
	if e := got["squashfs/block-plus-one-131072"]; e == nil || e.Size != 128<<10+1 {
		t.Errorf("squashfs/block-plus-one-131072: %+v", e)
	}
	links := map[uint64]int{}
	for _, e := range got {
		if e.Type == testutil.TypeFile {
			links[e.Ino]++
		}
	}
	grouped := false
	for _, n := range links {
		grouped = grouped || n > 1
	}
	if !grouped {
		t.Error("no hard-link group")
	}
	if xattrs {
		for _, p := range []string{"squashfs/dup-a", "squashfs/dup-b", "squashfs/small-dup-a"} {
			if e := got[p]; e == nil || len(e.Xattrs["user.long"]) != 2040 || string(e.Xattrs["user.short"]) != "v" {
				t.Errorf("%s: xattrs %v", p, e)
			}
		}
	}
}
