package erofs_test

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/lklimg/lklimg/internal/kerneltest"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
)

// What the tree comparison does not see, checked against the host
// kernel's mount of the same images: getdents64's order, inode numbers,
// d_off and types (with "." and ".." where the directory holds them),
// every field of lstat, and statfs.

func TestDirentsAndStat(t *testing.T) {
	testutil.Need(t, "mkfs.erofs")
	big, tree := bigTree(t), erofsTree(t)
	for _, c := range []struct {
		name, src string
		args      []string
	}{
		{"tree-plain", tree, nil},
		{"tree-lz4-shared-xattrs", tree, []string{"-zlz4", "-x1"}},
		{"big-plain", big, nil},
		{"big-lz4hc-extended", big, []string{"-zlz4hc", "-Eforce-inode-extended"}},
		{"big-compact-chunks", big, []string{"-Eforce-inode-compact", "--chunksize=4096"}},
		{"tree-lz4-bigpcluster-ztail", tree, []string{"-zlz4", "-C65536", "-Eztailpacking"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			checkDirentsAndStat(t, mkfsErofs(t, c.src, c.args...))
		})
	}
}

// TestMkfs19DirentsAndStat checks the images of mkfs.erofs 1.9.3
// (TestMkfs19's) as TestDirentsAndStat: "." last in a directory without
// it, nids of the metabox (bit 63 set) as inode numbers, the block
// count statfs shows of a 48-bit image.
func TestMkfs19DirentsAndStat(t *testing.T) {
	eachMkfs19(t, func(t *testing.T, name, gz string) { checkDirentsAndStat(t, testutil.Gunzip(t, gz)) })
}

// checkDirentsAndStat compares the host's mount of img with the library
// kernel's: getdents64 and lstat of every entry, and statfs.
func checkDirentsAndStat(t *testing.T, img string) {
	mnt, umount := testutil.HostMount(t, img, "ro")
	defer umount()
	kerneltest.WithMount(t, img, "erofs", abi.MS_RDONLY, "", func(k *kernel.Kernel, must func(string, error)) {
		entries, stats := kerneltest.CheckDirents(t, k, mnt, "/mnt", nil)
		var hf unix.Statfs_t
		if err := unix.Statfs(mnt, &hf); err != nil {
			t.Fatal(err)
		}
		var kf abi.Statfs
		must("statfs", k.Statfs("/mnt", &kf))
		if kf.Type != hf.Type || kf.Bsize != hf.Bsize || kf.Blocks != hf.Blocks || kf.Bfree != hf.Bfree ||
			kf.Bavail != hf.Bavail || kf.Files != hf.Files || kf.Ffree != hf.Ffree || kf.Namelen != hf.Namelen {
			t.Errorf("statfs %+v, host %+v", kf, hf)
		}
		t.Logf("%d directory entries and %d lstats agree", entries, stats)
	})
}
