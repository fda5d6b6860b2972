package btrfs_test

import (
	"math"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/lklimg/lklimg/internal/kerneltest"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
)

// What the tree comparison does not see, checked against the host
// kernel's mount: getdents64's order, d_ino, d_off and d_type of every
// directory, and lstat's inode numbers, link counts, sizes, blocks and
// times, whether two entries share st_dev (a subvolume's own), statx's
// birth time and attributes, and statfs's type, block size and count.

// checkDirents compares every directory's entries and every entry's
// lstat of img mounted with opts.
func checkDirents(t *testing.T, img, opts string) {
	t.Helper()
	checkDirentsOf(t, img, img, opts, math.MaxInt64)
}

// checkDirentsOf is checkDirents with the host mounting hostImg: the
// same filesystem as img, or img's once the host replayed its log, at
// replayedAt (nanoseconds): the times the replay stamped, from then on,
// are the host's clock's, which the library kernel's replay does not
// read (see treelog.go), and are not compared.
func checkDirentsOf(t *testing.T, hostImg, img, opts string, replayedAt int64) {
	t.Helper()
	o := "ro"
	if opts != "" {
		o += "," + opts
	}
	mnt, umount := testutil.HostMount(t, hostImg, o)
	defer umount()
	hroot := kerneltest.HostDev(t, mnt)
	kerneltest.WithMount(t, img, "btrfs", abi.MS_RDONLY, opts, func(k *kernel.Kernel, must func(string, error)) {
		var kroot abi.Stat
		must("lstat /mnt", k.Fstatat(abi.AT_FDCWD, "/mnt", &kroot, abi.AT_SYMLINK_NOFOLLOW))
		entries, stats := kerneltest.CheckDirents(t, k, mnt, "/mnt", func(path string, host *abi.Stat, got abi.Stat) {
			// st_dev: the mount's own on both sides, or another
			// (a subvolume's) on both.
			if (kerneltest.HostDev(t, filepath.Join(mnt, path)) == hroot) != (got.Dev == kroot.Dev) {
				host.Dev = ^got.Dev
			}
			if host.Ctim.Sec*1e9+host.Ctim.Nsec >= replayedAt {
				t.Logf("%s: ctime %d.%09d stamped by the host's replay", path, host.Ctim.Sec, host.Ctim.Nsec)
				host.Ctim = got.Ctim
				if host.Mtim.Sec*1e9+host.Mtim.Nsec >= replayedAt {
					host.Mtim = got.Mtim
				}
			}
			if host.Ino == 2 {
				// The empty directory Linux makes up for a
				// subvolume a snapshot lacks is stamped when it
				// is made.
				host.Atim, host.Mtim, host.Ctim = got.Atim, got.Mtim, got.Ctim
				return
			}
			// statx: the birth time (otime) and the attributes.
			var hx unix.Statx_t
			if err := unix.Statx(unix.AT_FDCWD, filepath.Join(mnt, path), unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BASIC_STATS|unix.STATX_BTIME, &hx); err != nil {
				t.Fatal(err)
			}
			var kx abi.Statx
			must("statx", k.Statx(abi.AT_FDCWD, filepath.Join("/mnt", path), abi.AT_SYMLINK_NOFOLLOW, abi.STATX_BASIC_STATS|abi.STATX_BTIME, &kx))
			if hx.Btime.Sec != kx.Btime.Sec || hx.Btime.Nsec != kx.Btime.Nsec || hx.Mask&unix.STATX_BTIME != kx.Mask&abi.STATX_BTIME ||
				hx.Attributes&hx.Attributes_mask&kx.AttributesMask != kx.Attributes&hx.Attributes_mask {
				t.Errorf("%s: statx btime %+v mask %#x attributes %#x, host %+v %#x %#x", path, kx.Btime, kx.Mask, kx.Attributes, hx.Btime, hx.Mask, hx.Attributes)
			}
		})
		var hf unix.Statfs_t
		if err := unix.Statfs(mnt, &hf); err != nil {
			t.Fatal(err)
		}
		var kf abi.Statfs
		must("statfs", k.Statfs("/mnt", &kf))
		if kf.Type != hf.Type || kf.Bsize != hf.Bsize || kf.Blocks != hf.Blocks || kf.Namelen != hf.Namelen || kf.Files != hf.Files {
			t.Errorf("statfs %+v, host %+v", kf, hf)
		}
		t.Logf("%d directory entries and %d lstats agree", entries, stats)
	})
}
