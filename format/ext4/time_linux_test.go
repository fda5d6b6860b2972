package ext4

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel/abi"
)

// TestEncodeTimeHostKernel sets times through the host kernel on a
// loop-mounted image (utimensat: the VFS clamps to the superblock's time
// range, ext4 encodes the extra field) and checks that EncodeTime gives
// the bytes Linux stored, with 256- and 128-byte inodes: times before
// 1970 and 1901, after 2038, 2106 and 2446, and the ends of the range.
func TestEncodeTimeHostKernel(t *testing.T) {
	times := []abi.Timespec{
		{Sec: 0, Nsec: 0}, {Sec: -1, Nsec: 123456789}, {Sec: -1234567890, Nsec: 5},
		{Sec: -1 << 31, Nsec: 0}, {Sec: -1 << 31, Nsec: 999}, {Sec: -1<<31 + 1, Nsec: 7}, {Sec: -1<<31 - 1, Nsec: 7},
		{Sec: -5000000000, Nsec: 1}, {Sec: 1<<31 - 1, Nsec: 999999999}, {Sec: 1 << 31, Nsec: 1},
		{Sec: 1<<32 + 17, Nsec: 500}, {Sec: 3<<32 - 1<<31, Nsec: 2}, {Sec: 1<<31 - 1 + 3<<32, Nsec: 0},
		{Sec: 1<<31 - 1 + 3<<32, Nsec: 42}, {Sec: 1<<31 + 3<<32, Nsec: 42}, {Sec: 99999999999, Nsec: 3},
	}
	for _, isize := range []string{"256", "128"} {
		t.Run("inode-"+isize, func(t *testing.T) {
			path := testutil.Mke2fsImage(t, "8M", "-I", isize, "-O", "^has_journal")
			mnt, umount := testutil.HostMount(t, path, "rw")
			inos := make([]uint32, len(times))
			for i, ts := range times {
				f := filepath.Join(mnt, "f"+strconv.Itoa(i))
				if err := os.WriteFile(f, nil, 0o644); err != nil {
					t.Fatal(err)
				}
				uts := []unix.Timespec{{Sec: ts.Sec, Nsec: ts.Nsec}, {Sec: ts.Sec, Nsec: ts.Nsec}}
				if err := unix.UtimesNanoAt(unix.AT_FDCWD, f, uts, 0); err != nil {
					t.Fatalf("utimensat %+v: %v", ts, err)
				}
				st, err := os.Stat(f)
				if err != nil {
					t.Fatal(err)
				}
				inos[i] = uint32(st.Sys().(*syscall.Stat_t).Ino)
			}
			umount()
			im := openImage(t, path)
			for i, ts := range times {
				raw := im.inode(t, inos[i])
				extra := im.ExtraIsize(raw)+GoodOldInodeSize >= OffIMtimeExtra+4
				lo, x := EncodeTime(ts, extra)
				gotLo, gotX := le.Uint32(raw[OffIMtime:]), uint32(0)
				if extra {
					gotX = le.Uint32(raw[OffIMtimeExtra:])
				}
				if extra && (gotLo != lo || gotX != x) || !extra && gotLo != lo {
					t.Errorf("%d.%09d: EncodeTime %#08x:%08x, Linux stored %#08x:%08x", ts.Sec, ts.Nsec, lo, x, gotLo, gotX)
				}
				if alo := le.Uint32(raw[OffIAtime:]); alo != gotLo {
					t.Errorf("%d: atime %#x, mtime %#x", ts.Sec, alo, gotLo)
				}
			}
		})
	}
}
