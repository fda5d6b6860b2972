package kernel

import (
	"errors"
	"testing"

	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs/vfstest"
)

// bootRamfs boots a kernel without disks: its "/" is the ramfs.
func bootRamfs(t *testing.T, cfg Config) *Kernel {
	t.Helper()
	devs := &fakeDevices{devs: map[string]*vfstest.Device{}, parts: map[string][]string{}}
	k, err := boot(cfg, newPrintk(nil), devs, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Halt() })
	return k
}

// TestWriteSyscallErrnos checks the errnos the host comparison cannot
// reach: mount boundaries (EXDEV, EBUSY), read-only mounts (EROFS from
// every change), a driver without write operations, bad descriptors.
func TestWriteSyscallErrnos(t *testing.T) {
	k, typ := bootFake(t, true)
	ro, err := k.MountDev("vda1", "", 0, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Mkdirat(abi.AT_FDCWD, "/w", 0o755); err != nil {
		t.Fatal(err)
	}
	fd, err := k.Openat(abi.AT_FDCWD, "/w/f", abi.O_CREAT|abi.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	rofd, err := k.Openat(abi.AT_FDCWD, ro+"/hello.txt", abi.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	dirfd, err := k.Openat(abi.AT_FDCWD, "/w", abi.O_RDONLY|abi.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	h := ro + "/hello.txt"
	omit := abi.Timespec{Nsec: abi.UTIME_OMIT}
	for _, c := range []struct {
		name string
		err  error
		want abi.Errno
	}{
		{"rename across mounts", k.Renameat2(abi.AT_FDCWD, "/w/f", abi.AT_FDCWD, ro+"/x", 0), abi.EXDEV},
		{"link across mounts", k.Linkat(abi.AT_FDCWD, h, abi.AT_FDCWD, "/w/h", 0), abi.EXDEV},
		{"rmdir mountpoint", k.Unlinkat(abi.AT_FDCWD, ro, abi.AT_REMOVEDIR), abi.EBUSY},
		{"rename mountpoint", k.Renameat2(abi.AT_FDCWD, ro, abi.AT_FDCWD, "/w/m", 0), abi.EBUSY},
		{"rename onto mountpoint", k.Renameat2(abi.AT_FDCWD, "/w", abi.AT_FDCWD, ro, 0), abi.EBUSY},
		{"rmdir /", k.Unlinkat(abi.AT_FDCWD, "/", abi.AT_REMOVEDIR), abi.EBUSY},
		{"unlink /", k.Unlinkat(abi.AT_FDCWD, "/", 0), abi.EISDIR},
		{"rename /", k.Renameat2(abi.AT_FDCWD, "/", abi.AT_FDCWD, "/w/x", 0), abi.EBUSY},
		{"mkdir /", k.Mkdirat(abi.AT_FDCWD, "/", 0o755), abi.EEXIST},
		{"open O_WRONLY ro", func() error { _, err := k.Openat(abi.AT_FDCWD, h, abi.O_WRONLY, 0); return err }(), abi.EROFS},
		{"open O_TRUNC ro", func() error { _, err := k.Openat(abi.AT_FDCWD, h, abi.O_RDONLY|abi.O_TRUNC, 0); return err }(), abi.EROFS},
		{"creat ro", func() error { _, err := k.Openat(abi.AT_FDCWD, ro+"/new", abi.O_CREAT|abi.O_RDONLY, 0o644); return err }(), abi.EROFS},
		{"creat existing ro", func() error {
			fd, err := k.Openat(abi.AT_FDCWD, h, abi.O_CREAT|abi.O_RDONLY, 0o644)
			if err == nil {
				k.Close(fd)
			}
			return err
		}(), 0},
		{"mkdir ro", k.Mkdirat(abi.AT_FDCWD, ro+"/d", 0o755), abi.EROFS},
		{"mkdir existing ro", k.Mkdirat(abi.AT_FDCWD, ro+"/dir", 0o755), abi.EEXIST},
		{"mknod ro", k.Mknodat(abi.AT_FDCWD, ro+"/p", abi.S_IFIFO|0o644, 0), abi.EROFS},
		{"symlink ro", k.Symlinkat("x", abi.AT_FDCWD, ro+"/l"), abi.EROFS},
		{"link ro", k.Linkat(abi.AT_FDCWD, h, abi.AT_FDCWD, ro+"/h2", 0), abi.EROFS},
		{"unlink ro", k.Unlinkat(abi.AT_FDCWD, h, 0), abi.EROFS},
		{"unlink missing ro", k.Unlinkat(abi.AT_FDCWD, ro+"/missing", 0), abi.EROFS},
		{"rmdir ro", k.Unlinkat(abi.AT_FDCWD, ro+"/empty", abi.AT_REMOVEDIR), abi.EROFS},
		{"rename ro", k.Renameat2(abi.AT_FDCWD, h, abi.AT_FDCWD, ro+"/x", 0), abi.EROFS},
		{"truncate ro", k.Truncate(h, 0), abi.EROFS},
		{"truncate dir ro", k.Truncate(ro+"/dir", 0), abi.EISDIR},
		{"chmod ro", k.Fchmodat(abi.AT_FDCWD, h, 0o600, 0), abi.EROFS},
		{"fchmod ro", k.Fchmod(rofd, 0o600), abi.EROFS},
		{"chown ro", k.Fchownat(abi.AT_FDCWD, h, 1, 1, 0), abi.EROFS},
		{"fchown ro", k.Fchown(rofd, 1, 1), abi.EROFS},
		{"utimensat ro", k.Utimensat(abi.AT_FDCWD, h, nil, 0), abi.EROFS},
		{"utimensat ro omit both", k.Utimensat(abi.AT_FDCWD, h, &[2]abi.Timespec{omit, omit}, 0), 0},
		{"futimens ro", k.Futimens(rofd, nil), abi.EROFS},
		{"setxattr ro", k.Setxattr(h, "user.a", []byte("x"), 0), abi.EROFS},
		{"lsetxattr ro", k.Lsetxattr(h, "user.a", []byte("x"), 0), abi.EROFS},
		{"fsetxattr ro", k.Fsetxattr(rofd, "user.a", []byte("x"), 0), abi.EROFS},
		{"removexattr ro", k.Removexattr(h, "user.a"), abi.EROFS},
		{"lremovexattr ro", k.Lremovexattr(h, "user.a"), abi.EROFS},
		{"fremovexattr ro", k.Fremovexattr(rofd, "user.a"), abi.EROFS},
		{"fsync ro", k.Fsync(rofd), 0},
		{"syncfs ro", k.Syncfs(rofd), 0},
		{"write ro fd", func() error { _, err := k.Write(rofd, []byte("x")); return err }(), abi.EBADF},
		{"ftruncate ro fd", k.Ftruncate(rofd, 0), abi.EINVAL},
		{"fallocate ro fd", k.Fallocate(rofd, 0, 0, 1), abi.EBADF},
		{"write bad fd", func() error { _, err := k.Write(99, []byte("x")); return err }(), abi.EBADF},
		{"pwrite bad fd", func() error { _, err := k.Pwrite(99, []byte("x"), 0); return err }(), abi.EBADF},
		{"pwrite bad fd, negative", func() error { _, err := k.Pwrite(99, []byte("x"), -1); return err }(), abi.EINVAL},
		{"ftruncate bad fd, negative", k.Ftruncate(99, -1), abi.EINVAL},
		{"fsync bad fd", k.Fsync(99), abi.EBADF},
		{"fdatasync bad fd", k.Fdatasync(99), abi.EBADF},
		{"syncfs bad fd", k.Syncfs(99), abi.EBADF},
		{"fchmod bad fd", k.Fchmod(99, 0), abi.EBADF},
		{"fchown bad fd", k.Fchown(99, 0, 0), abi.EBADF},
		{"futimens bad fd", k.Futimens(99, nil), abi.EBADF},
		{"fsetxattr bad fd", k.Fsetxattr(99, "user.a", nil, 0), abi.EBADF},
		{"fremovexattr bad fd", k.Fremovexattr(99, "user.a"), abi.EBADF},
		{"mkdirat bad dirfd", k.Mkdirat(99, "x", 0o755), abi.EBADF},
		{"mkdirat file dirfd", k.Mkdirat(fd, "x", 0o755), abi.ENOTDIR},
		{"mknodat dir type first", k.Mknodat(99, "x", abi.S_IFDIR, 0), abi.EPERM},
		{"symlinkat empty target first", k.Symlinkat("", 99, "x"), abi.ENOENT},
		{"unlinkat bad flags first", k.Unlinkat(99, "x", 1), abi.EINVAL},
		{"linkat bad flags first", k.Linkat(99, "x", 99, "y", 1), abi.EINVAL},
		{"renameat2 bad flags", k.Renameat2(abi.AT_FDCWD, "/w/f", abi.AT_FDCWD, "/w/g", 8), abi.EINVAL},
		{"renameat2 whiteout", k.Renameat2(abi.AT_FDCWD, "/w/f", abi.AT_FDCWD, "/w/g", abi.RENAME_WHITEOUT), abi.EINVAL},
		{"setxattr bad flags first", k.Setxattr("/missing", "user.a", nil, 8), abi.EINVAL},
		{"fchownat bad id", k.Fchownat(abi.AT_FDCWD, "/w/f", -2, 0, 0), abi.EINVAL},
		{"relative mkdirat", k.Mkdirat(dirfd, "sub", 0o755), 0},
		{"relative linkat", k.Linkat(dirfd, "f", dirfd, "sub/f2", 0), 0},
		{"relative renameat2", k.Renameat2(dirfd, "sub/f2", dirfd, "f3", 0), 0},
		{"relative unlinkat", k.Unlinkat(dirfd, "f3", 0), 0},
		{"relative rmdir", k.Unlinkat(dirfd, "sub", abi.AT_REMOVEDIR), 0},
		{"relative symlinkat", k.Symlinkat("f", dirfd, "l"), 0},
		{"relative mknodat", k.Mknodat(dirfd, "p", abi.S_IFIFO|0o600, 0), 0},
		{"sync", k.Sync(), 0},
	} {
		if c.want == 0 && c.err != nil || c.want != 0 && !errors.Is(c.err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, c.err, c.want)
		}
	}
	for _, fd := range []int{fd, rofd, dirfd} {
		k.Close(fd)
	}
	if err := k.Halt(); err != nil {
		t.Fatal(err)
	}
	if h, e := typ.Handouts.Load(), typ.Evicts.Load(); h != e || h == 0 {
		t.Errorf("after halt: %d handouts, %d evicts", h, e)
	}
	if n := typ.EvictAfterUnmount.Load(); n != 0 {
		t.Errorf("%d evicts after unmount", n)
	}
}

// TestWriteConfig checks that new files are owned by Config.Uid/Gid and
// stamped by Config.Now, that the umask applies and Umask returns the old
// one, and that an unlinked open file keeps working through its fd.
func TestWriteConfig(t *testing.T) {
	now := abi.Timespec{Sec: 1234567890, Nsec: 42}
	k := bootRamfs(t, Config{Uid: 1000, Gid: 1001, Now: func() abi.Timespec { return now }})
	if old := k.Umask(0o027); old != 0o022 {
		t.Errorf("boot umask %#o", old)
	}
	fd, err := k.Openat(abi.AT_FDCWD, "/f", abi.O_CREAT|abi.O_RDWR, 0o777)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Mkdirat(abi.AT_FDCWD, "/d", 0o777); err != nil {
		t.Fatal(err)
	}
	var st abi.Stat
	for path, mode := range map[string]uint32{"/f": abi.S_IFREG | 0o750, "/d": abi.S_IFDIR | 0o750} {
		if err := k.Fstatat(abi.AT_FDCWD, path, &st, 0); err != nil {
			t.Fatal(err)
		}
		if st.Mode != mode || st.Uid != 1000 || st.Gid != 1001 || st.Mtim != now || st.Ctim != now || st.Atim != now {
			t.Errorf("%s: mode %#o owner %d:%d times %v %v %v", path, st.Mode, st.Uid, st.Gid, st.Atim, st.Mtim, st.Ctim)
		}
	}
	if old := k.Umask(0o1777); old != 0o027 {
		t.Errorf("umask %#o", old)
	}
	if old := k.Umask(0o022); old != 0o777 {
		t.Errorf("umask kept bits beyond 0777: %#o", old)
	}
	if _, err := k.Write(fd, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := k.Unlinkat(abi.AT_FDCWD, "/f", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Pwrite(fd, []byte("J"), 0); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	if n, err := k.Pread(fd, buf, 0); err != nil || string(buf[:n]) != "Jello" {
		t.Errorf("unlinked file: %q %v", buf[:n], err)
	}
	if err := k.Fstat(fd, &st); err != nil || st.Nlink != 0 {
		t.Errorf("unlinked file: nlink %d %v", st.Nlink, err)
	}
	if err := k.Close(fd); err != nil {
		t.Fatal(err)
	}
}
