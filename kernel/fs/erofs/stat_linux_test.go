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
			img := mkfsErofs(t, c.src, c.args...)
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
		})
	}
}
