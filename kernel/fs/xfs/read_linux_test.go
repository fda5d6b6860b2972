package xfs_test

import (
	"testing"

	"github.com/lklimg/lklimg/internal/kerneltest"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel/abi"
)

// The oracle is the host kernel's XFS: images mkfs.xfs makes in each
// layout, filled through a loop mount, are mounted loop,ro and scanned,
// and what the library kernel shows of them (through fs2tar's export)
// must agree entry by entry: names, types, modes, owners, times, sizes,
// contents and holes, link targets, devices, xattrs and ACLs, hard-link
// groups.

// kernelView exports the image's tree through the library kernel, the
// type probed.
func kernelView(t testing.TB, img string) testutil.Tree {
	return kerneltest.ExportTree(t, img, "", abi.MS_RDONLY, "")
}

func compareOptions() testutil.CompareOptions {
	return testutil.CompareOptions{SkipTypes: []string{testutil.TypeSocket}}
}

// layouts are the mkfs.xfs options of the images compared: the v5
// default (crc, ftype, sparse inodes, reflink, bigtime, inobtcount),
// bigtime off, nrext64, rmapbt, 1 KiB blocks with 4 KiB directory
// blocks, 8 KiB directory blocks, 2 KiB inodes, a small AG size (many
// groups, inode numbers with high group bits).
type layout struct {
	name string
	args []string
	size int64 // 300 MiB if 0
}

var layouts = []layout{
	{"v5-default", nil, 0},
	{"v5-nobigtime", []string{"-m", "bigtime=0"}, 0},
	{"v5-nrext64-rmapbt", []string{"-i", "nrext64=1", "-m", "rmapbt=1"}, 0},
	{"v5-1k-blocks", []string{"-b", "size=1024", "-n", "size=4096"}, 0},
	{"v5-dirblk-8k", []string{"-n", "size=8192"}, 0},
	{"v5-inode-2k", []string{"-i", "size=2048"}, 0},
	{"v5-agcount-16", []string{"-d", "agcount=16"}, 2 << 30},
	{"v5-noreflink-nosparse", []string{"-m", "reflink=0,inobtcount=0", "-i", "sparse=0"}, 0},
}

func TestReadAgainstHost(t *testing.T) {
	testutil.Need(t, "mkfs.xfs")
	for _, c := range layouts {
		t.Run(c.name, func(t *testing.T) {
			img := layoutImage(t, c)
			want := testutil.LoopView(t, img)
			got := kernelView(t, img)
			testutil.ExpectSame(t, c.name, want, got, compareOptions())
			t.Logf("%s: %d entries compared", c.name, len(want))
		})
	}
}
