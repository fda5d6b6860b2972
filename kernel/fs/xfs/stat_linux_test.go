package xfs_test

import (
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/lklimg/lklimg/internal/kerneltest"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
)

// What the tree comparison does not see, checked against the host
// kernel's mount of the same images: getdents64's order, inode numbers,
// d_off and types ("." and ".." included), every field of lstat, the
// birth time statx gives, and statfs.

func TestDirentsAndStat(t *testing.T) {
	testutil.Need(t, "mkfs.xfs")
	for _, c := range layouts {
		t.Run(c.name, func(t *testing.T) {
			img := layoutImage(t, c)
			mnt, umount := testutil.HostMount(t, img, "ro")
			defer umount()
			kerneltest.WithMount(t, img, "xfs", abi.MS_RDONLY, "", func(k *kernel.Kernel, must func(string, error)) {
				entries, stats := kerneltest.CheckDirents(t, k, mnt, "/mnt", func(path string, _ *abi.Stat, _ abi.Stat) {
					// The birth time (di_crtime of v3 inodes),
					// which lstat does not carry.
					var hx unix.Statx_t
					if err := unix.Statx(unix.AT_FDCWD, filepath.Join(mnt, path), unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BTIME, &hx); err != nil {
						t.Fatal(err)
					}
					var kx abi.Statx
					must("statx", k.Statx(abi.AT_FDCWD, filepath.Join("/mnt", path), abi.AT_SYMLINK_NOFOLLOW, abi.STATX_BTIME, &kx))
					if hx.Mask&unix.STATX_BTIME != kx.Mask&abi.STATX_BTIME || hx.Btime.Sec != kx.Btime.Sec || hx.Btime.Nsec != kx.Btime.Nsec {
						t.Errorf("%s: statx btime %+v (mask %#x), host %+v (mask %#x)", path, kx.Btime, kx.Mask, hx.Btime, hx.Mask)
					}
				})
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
