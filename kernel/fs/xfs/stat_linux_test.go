package xfs_test

import (
	"encoding/binary"
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

// hostDirents lists dir as the host's getdents64 gives it.
func hostDirents(t *testing.T, dir string) []abi.Dirent {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	var ds []abi.Dirent
	buf := make([]byte, 8192)
	for {
		n, err := unix.Getdents(fd, buf)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return ds
		}
		for p := buf[:n]; len(p) > 0; {
			reclen := int(binary.LittleEndian.Uint16(p[16:]))
			name := p[19:reclen]
			for i, c := range name {
				if c == 0 {
					name = name[:i]
					break
				}
			}
			ds = append(ds, abi.Dirent{Ino: binary.LittleEndian.Uint64(p), Off: int64(binary.LittleEndian.Uint64(p[8:])), Type: p[18], Name: string(name)})
			p = p[reclen:]
		}
	}
}

// kernelDirents lists dir as the library kernel's getdents64 gives it.
func kernelDirents(t *testing.T, k *kernel.Kernel, dir string) []abi.Dirent {
	fd, err := k.Openat(abi.AT_FDCWD, dir, abi.O_RDONLY|abi.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close(fd)
	var ds []abi.Dirent
	buf := make([]byte, 8192)
	for {
		n, err := k.Getdents64(fd, buf)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return ds
		}
		ds = abi.ParseDirents(buf[:n], ds)
	}
}

func TestDirentsAndStat(t *testing.T) {
	testutil.Need(t, "mkfs.xfs")
	for _, c := range layouts {
		t.Run(c.name, func(t *testing.T) {
			img := layoutImage(t, c)
			mnt, umount := testutil.HostMount(t, img, "ro")
			defer umount()
			kerneltest.WithMount(t, img, "xfs", abi.MS_RDONLY, "", func(k *kernel.Kernel, must func(string, error)) {
				entries, stats := 0, 0
				dirs := []string{"."}
				for len(dirs) > 0 {
					dir := dirs[0]
					dirs = dirs[1:]
					want := hostDirents(t, filepath.Join(mnt, dir))
					got := kernelDirents(t, k, filepath.Join("/mnt", dir))
					if len(want) != len(got) {
						t.Fatalf("%s: %d entries, host %d", dir, len(got), len(want))
					}
					for i := range want {
						if dir == "." && want[i].Name == ".." {
							continue // the mountpoints' parents differ
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
						if err := unix.Lstat(filepath.Join(mnt, dir, want[i].Name), &hs); err != nil {
							t.Fatal(err)
						}
						var ks abi.Stat
						must("lstat", k.Fstatat(abi.AT_FDCWD, filepath.Join("/mnt", dir, want[i].Name), &ks, abi.AT_SYMLINK_NOFOLLOW))
						host := abi.Stat{Dev: ks.Dev, Ino: hs.Ino, Nlink: uint64(hs.Nlink), Mode: hs.Mode, Uid: hs.Uid, Gid: hs.Gid,
							Rdev: hs.Rdev, Size: hs.Size, Blksize: int64(hs.Blksize), Blocks: hs.Blocks,
							Atim: abi.Timespec{Sec: hs.Atim.Sec, Nsec: hs.Atim.Nsec}, Mtim: abi.Timespec{Sec: hs.Mtim.Sec, Nsec: hs.Mtim.Nsec},
							Ctim: abi.Timespec{Sec: hs.Ctim.Sec, Nsec: hs.Ctim.Nsec}}
						if host != ks {
							t.Errorf("%s/%s: lstat %+v, host %+v", dir, want[i].Name, ks, host)
						}
						// The birth time (di_crtime of v3 inodes), which
						// lstat does not carry.
						var hx unix.Statx_t
						if err := unix.Statx(unix.AT_FDCWD, filepath.Join(mnt, dir, want[i].Name), unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BTIME, &hx); err != nil {
							t.Fatal(err)
						}
						var kx abi.Statx
						must("statx", k.Statx(abi.AT_FDCWD, filepath.Join("/mnt", dir, want[i].Name), abi.AT_SYMLINK_NOFOLLOW, abi.STATX_BTIME, &kx))
						if hx.Mask&unix.STATX_BTIME != kx.Mask&abi.STATX_BTIME || hx.Btime.Sec != kx.Btime.Sec || hx.Btime.Nsec != kx.Btime.Nsec {
							t.Errorf("%s/%s: statx btime %+v (mask %#x), host %+v (mask %#x)", dir, want[i].Name, kx.Btime, kx.Mask, hx.Btime, hx.Mask)
						}
						stats++
					}
				}
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
