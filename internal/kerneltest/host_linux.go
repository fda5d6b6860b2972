package kerneltest

import (
	"path/filepath"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
	"golang.org/x/sys/unix"
)

// The comparisons with the host's own view of a mounted image: Linux's
// stat and getdents64 (testutil.HostDirents).

// CheckDirents walks the tree the host mounted at hostMnt and the one
// kernel k mounted at kernelMnt side by side, and fails t for each
// difference in getdents64 (order, d_ino, d_off, d_type; ".." of the
// root left out, as the mountpoints' parents differ) and in lstat of
// each entry (st_dev taken as the kernel's). each, if not nil, is called
// for every entry (its path under the mounts) before the lstats are
// compared: it may change the host's for what the two may rightly differ
// in, and check more of the entry (statx). It returns the entries and
// the lstats compared.
func CheckDirents(t testing.TB, k *kernel.Kernel, hostMnt, kernelMnt string, each func(path string, host *abi.Stat, got abi.Stat)) (entries, stats int) {
	t.Helper()
	dirs := []string{"."}
	for len(dirs) > 0 {
		dir := dirs[0]
		dirs = dirs[1:]
		want := testutil.HostDirents(t, filepath.Join(hostMnt, dir))
		got := Dirents(t, k, filepath.Join(kernelMnt, dir))
		if len(want) != len(got) {
			t.Errorf("%s: %d entries, host %d", dir, len(got), len(want))
			continue
		}
		for i := range want {
			if dir == "." && want[i].Name == ".." {
				continue
			}
			if want[i] != got[i] {
				t.Errorf("%s: entry %d: %+v, host %+v", dir, i, got[i], want[i])
			}
			entries++
			if want[i].Name == "." || want[i].Name == ".." {
				continue
			}
			if want[i].Type == abi.DT_DIR {
				dirs = append(dirs, filepath.Join(dir, want[i].Name))
			}
			var hs unix.Stat_t
			if err := unix.Lstat(filepath.Join(hostMnt, dir, want[i].Name), &hs); err != nil {
				t.Fatal(err)
			}
			var ks abi.Stat
			if err := k.Fstatat(abi.AT_FDCWD, filepath.Join(kernelMnt, dir, want[i].Name), &ks, abi.AT_SYMLINK_NOFOLLOW); err != nil {
				t.Fatalf("lstat %s/%s: %v", dir, want[i].Name, err)
			}
			host := abi.Stat{Dev: ks.Dev, Ino: hs.Ino, Nlink: uint64(hs.Nlink), Mode: hs.Mode, Uid: hs.Uid, Gid: hs.Gid,
				Rdev: hs.Rdev, Size: hs.Size, Blksize: int64(hs.Blksize), Blocks: hs.Blocks,
				Atim: abi.Timespec{Sec: hs.Atim.Sec, Nsec: hs.Atim.Nsec}, Mtim: abi.Timespec{Sec: hs.Mtim.Sec, Nsec: hs.Mtim.Nsec},
				Ctim: abi.Timespec{Sec: hs.Ctim.Sec, Nsec: hs.Ctim.Nsec}}
			if each != nil {
				each(filepath.Join(dir, want[i].Name), &host, ks)
			}
			if host != ks {
				t.Errorf("%s/%s: lstat %+v, host %+v", dir, want[i].Name, ks, host)
			}
			stats++
		}
	}
	return entries, stats
}

// HostDev returns the st_dev of path on the host.
func HostDev(t testing.TB, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Dev
}
