package btrfs_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lklimg/lklimg/internal/kerneltest"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel/abi"
)

// The oracle is the host kernel's btrfs: images made by mkfs.btrfs
// --rootdir from testutil's tree, and images filled through a loop
// mount with what --rootdir cannot make (compression, reflinks,
// subvolumes and snapshots, prealloc), are mounted loop,ro and scanned,
// and what the library kernel shows of them (through fs2tar's export)
// must agree entry by entry.

// imageSize is the size of the test images: mkfs.btrfs's smallest with
// room for the trees (the file is sparse).
const imageSize = 256 << 20

// mkfsBtrfs makes a btrfs image with mkfs.btrfs ARGS (--rootdir among
// them, or not) and returns its path.
func mkfsBtrfs(t testing.TB, args ...string) string {
	t.Helper()
	testutil.Need(t, "mkfs.btrfs")
	img := filepath.Join(t.TempDir(), "btrfs.img")
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, imageSize); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "mkfs.btrfs", append([]string{"-q", "-f"}, append(args, img)...)...)
	return img
}

// kernelView exports the image's tree through the library kernel, the
// type probed, with the mount data opts.
func kernelView(t testing.TB, img, opts string) testutil.Tree {
	return kerneltest.ExportTree(t, img, "", abi.MS_RDONLY, opts)
}

// hostView is what the host kernel shows of img mounted loop,ro with
// opts, and the paths of the directories Linux makes up for subvolumes
// a snapshot lacks (inode 2), whose times are those of their making.
func hostView(t testing.TB, img, opts string) (testutil.Tree, []string) {
	t.Helper()
	o := "ro"
	if opts != "" {
		o += "," + opts
	}
	mnt, umount := testutil.HostMount(t, img, o)
	defer umount()
	return hostScan(t, mnt)
}

// hostScan is hostView of the host's mount at mnt.
func hostScan(t testing.TB, mnt string) (testutil.Tree, []string) {
	t.Helper()
	tree := testutil.MustScanDir(t, mnt)
	var madeUp []string
	for p, e := range tree {
		var st unix.Stat_t
		if e.Type == testutil.TypeDir && unix.Lstat(filepath.Join(mnt, p), &st) == nil && st.Ino == 2 {
			madeUp = append(madeUp, p)
		}
	}
	return tree, madeUp
}

// compareOptions leave out sockets (tar cannot carry them) and compare
// the data regions SEEK_DATA and SEEK_HOLE give, to the sector.
func compareOptions() testutil.CompareOptions {
	return testutil.CompareOptions{SkipTypes: []string{testutil.TypeSocket}, HoleUnit: 4096}
}

// compare checks the library kernel's view of img against the host's,
// mounted with opts, and returns the entries compared.
func compare(t *testing.T, what, img, opts string) int {
	t.Helper()
	want, madeUp := hostView(t, img, opts)
	return expectView(t, what, want, madeUp, kernelView(t, img, opts))
}

// expectView checks got, the library kernel's view, against want, the
// host's, whose made-up directories (hostScan) take got's times.
func expectView(t *testing.T, what string, want testutil.Tree, madeUp []string, got testutil.Tree) int {
	t.Helper()
	for _, p := range madeUp {
		if g := got[p]; g != nil {
			want[p].Mtime = g.Mtime
		}
	}
	testutil.ExpectSame(t, what, want, got, compareOptions())
	t.Logf("%s: %d entries compared", what, len(want))
	return len(want)
}

func TestRootdirAgainstHost(t *testing.T) {
	testutil.Need(t, "mkfs.btrfs")
	testutil.NeedLoop(t)
	src, _ := shared.Get(t)
	for _, c := range []struct {
		name string
		args []string
	}{
		{"crc32c-16k-dup", []string{"--csum", "crc32c", "-n", "16384", "-m", "dup"}},
		{"xxhash-4k-single", []string{"--csum", "xxhash", "-n", "4096", "-m", "single"}},
		{"sha256-64k-dup", []string{"--csum", "sha256", "-n", "65536", "-m", "dup"}},
		{"blake2-16k-single", []string{"--csum", "blake2", "-n", "16384", "-m", "single"}},
		{"mixed-4k", []string{"--mixed", "-n", "4096"}},
		{"data-dup", []string{"-d", "dup", "-m", "dup"}},
		{"raid0", []string{"-d", "raid0", "-m", "raid0"}},
		{"features-off", []string{"-O", "^no-holes,^extref,^skinny-metadata"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			img := mkfsBtrfs(t, append(c.args, "--rootdir", src)...)
			compare(t, c.name, img, "")
			checkDirents(t, img, "")
		})
	}
}

// Sector sizes above the page's (images of 64 KiB-page machines), which
// the host here refuses (EINVAL, "sectorsize ... not yet supported for
// page size 4096"), are read: the tree is the source's (mkfs.btrfs
// --rootdir keeps whole seconds and no device numbers).
func TestLargeSectors(t *testing.T) {
	testutil.Need(t, "mkfs.btrfs")
	testutil.NeedLoop(t)
	src, want := shared.Get(t)
	for _, s := range []string{"8192", "65536"} {
		img := mkfsBtrfs(t, "-s", s, "-n", "65536", "--rootdir", src)
		mnt := t.TempDir()
		if err := exec.Command("mount", "-o", "loop,ro", img, mnt).Run(); err == nil {
			exec.Command("umount", mnt).Run()
			t.Logf("the host mounts sectorsize %s", s)
		}
		o := compareOptions()
		o.MtimeUnit, o.Ignore, o.SkipPaths = time.Second, []string{"rdev"}, []string{"."}
		testutil.ExpectSame(t, "sectorsize "+s, want, kernelView(t, img, ""), o)
	}
}
