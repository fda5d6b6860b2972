package kernel

import (
	"bytes"
	"errors"
	"io/fs"
	"slices"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/kernel/abi"
)

func TestSyscallsFake(t *testing.T) {
	k, _ := bootFake(t, true)
	mnt, err := k.MountDev("vda1", "", 0, "")
	if err != nil || mnt != "/mnt/vda1" {
		t.Fatalf("MountDev: %q %v", mnt, err)
	}
	clean, err := k.MountDev("vda3", "", 0, "")
	if err != nil {
		t.Fatal(err)
	}
	checkAll(t, &env{k: k, mnt: mnt, clean: clean, dev: abi.Makedev(VirtblkMajor, 1), btime: true, xattrs: true})
}

func TestMountErrors(t *testing.T) {
	k, typ := bootFake(t, true)
	if parts, err := k.Partitions("vda"); err != nil || !slices.Equal(parts, []string{"vda1", "vda2", "vda3"}) {
		t.Errorf("Partitions: %v %v", parts, err)
	}
	if _, err := k.Partitions("vdq"); !errors.Is(err, abi.ENOENT) {
		t.Errorf("Partitions of nothing: %v", err)
	}
	if got, err := k.Probe("/dev/vda1"); err != nil || got != "fakefs" {
		t.Errorf("Probe vda1: %q %v", got, err)
	}
	if _, err := k.Probe("vda2"); !errors.Is(err, abi.ENODEV) {
		t.Errorf("Probe vda2: %v", err)
	}
	// The /dev nodes.
	var st abi.Stat
	if err := k.Fstatat(abi.AT_FDCWD, "/dev/vda2", &st, 0); err != nil || st.Mode&abi.S_IFMT != abi.S_IFBLK || st.Rdev != abi.Makedev(254, 2) {
		t.Errorf("/dev/vda2: %+v %v", st, err)
	}
	if _, err := k.Openat(abi.AT_FDCWD, "/dev/vda2", abi.O_RDONLY, 0); !errors.Is(err, abi.ENXIO) {
		t.Errorf("open /dev/vda2: %v", err)
	}

	for _, c := range []struct {
		source, target, fstype string
		want                   abi.Errno
	}{
		{"/dev/nope", "/mnt", "", abi.ENOENT},
		{"", "/mnt", "", abi.ENOENT},
		{"/mnt", "/mnt", "", abi.ENOTBLK},
		{"/dev/vda1", "/mnt", "bogus", abi.ENODEV},
		{"/dev/vda2", "/mnt", "", abi.ENODEV},
		{"/dev/vda2", "/mnt", "fakefs", abi.EINVAL},
		{"/dev/vda1", "/nope", "", abi.ENOENT},
		{"/dev/vda1", "/dev/vda2", "", abi.ENOTDIR},
	} {
		err := k.Mount(c.source, c.target, c.fstype, 0, "")
		wantErr(t, "mount "+c.source+" "+c.target+" "+c.fstype, err, c.want)
	}
	if err := k.Mount("/dev/vda1", "/mnt", "fake2", 0, ""); err != nil {
		t.Fatalf("mount by alias: %v", err)
	}
	wantErr(t, "second mount", k.Mount("vda1", "/dev", "", 0, ""), abi.EBUSY)
	wantErr(t, "mount on /", k.Mount("/dev/vda1", "/", "", 0, ""), abi.EBUSY)
	_, err := k.MountDev("vda1", "", 0, "")
	wantErr(t, "MountDev under a ro mount", err, abi.EROFS)

	// The ro disk made the mount ro whatever the flags said.
	if !strings.Contains(k.Dmesg(), "write-protected, mounted read-only") {
		t.Errorf("dmesg:\n%s", k.Dmesg())
	}
	var sfs abi.Statfs
	if err := k.Statfs("/mnt/dir", &sfs); err != nil || sfs.Flags&abi.MS_RDONLY == 0 {
		t.Errorf("statfs: %+v %v", sfs, err)
	}

	// Umount: EBUSY with an open file, EINVAL on a non-mountpoint.
	fd, err := k.Openat(abi.AT_FDCWD, "/mnt/dir/a", abi.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "umount with an open file", k.Umount("/mnt", 0), abi.EBUSY)
	wantErr(t, "umount of a directory", k.Umount("/mnt/dir", 0), abi.EINVAL)
	wantErr(t, "umount /", k.Umount("/", 0), abi.EINVAL)
	wantErr(t, "umount MNT_DETACH", k.Umount("/mnt", abi.MNT_DETACH), abi.EINVAL)
	wantErr(t, "umount of nothing", k.Umount("/nope", 0), abi.ENOENT)
	k.Close(fd)
	if err := k.Umount("/mnt", 0); err != nil {
		t.Fatalf("umount: %v", err)
	}
	if typ.Mounted.Load() != 0 {
		t.Errorf("superblock not released")
	}
	if err := k.Fstatat(abi.AT_FDCWD, "/mnt/vda1", &st, 0); !errors.Is(err, abi.ENOENT) {
		t.Errorf("/mnt/vda1 before MountDev: %v", err)
	}
	// Mounted again, with a file left open, Halt still cleans up.
	if _, err := k.MountDev("/dev/vda1", "", 0, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Openat(abi.AT_FDCWD, "/mnt/vda1/hello.txt", abi.O_RDONLY, 0); err != nil {
		t.Fatal(err)
	}
	if err := k.Halt(); err != nil {
		t.Fatal(err)
	}
	if typ.Mounted.Load() != 0 {
		t.Errorf("Halt left a superblock mounted")
	}
	if err := k.Halt(); err != nil {
		t.Errorf("second Halt: %v", err)
	}
	if _, err := k.MountDev("vda1", "", 0, ""); !errors.Is(err, abi.EIO) {
		t.Errorf("MountDev after Halt: %v", err)
	}
}

func TestNoXattrs(t *testing.T) {
	k, _ := bootFake(t, false)
	if _, err := k.AddDisk("disk:0", DiskOptions{}); err != nil {
		t.Fatal(err)
	}
	mnt, err := k.MountDev("vdb", "plainfs", abi.MS_RDONLY, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Getxattr(mnt+"/hello.txt", "user.a", nil); !errors.Is(err, abi.EOPNOTSUPP) {
		t.Errorf("getxattr: %v", err)
	}
	if n, err := k.Listxattr(mnt+"/hello.txt", nil); n != 0 || err != nil {
		t.Errorf("listxattr: %d %v", n, err)
	}
	var st abi.Stat
	if err := k.Fstatat(abi.AT_FDCWD, mnt+"/hello.txt", &st, 0); err != nil || st.Dev != abi.Makedev(254, 16) {
		t.Errorf("st_dev of vdb: %v %v", st.Dev, err)
	}
	var root abi.Stat
	if err := k.Fstatat(abi.AT_FDCWD, "/", &root, 0); err != nil || abi.Major(root.Dev) != 0 {
		t.Errorf("st_dev of /: %v %v", root.Dev, err)
	}
}

func TestWritableMount(t *testing.T) {
	k, typ := bootFake(t, false)
	mnt, err := k.MountDev("vda1", "", 0, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Openat(abi.AT_FDCWD, mnt+"/new", abi.O_WRONLY|abi.O_CREAT, 0o644); !errors.Is(err, abi.EACCES) {
		t.Errorf("creat on a rw mount of a driver that cannot create: %v", err)
	}
	fd, err := k.Openat(abi.AT_FDCWD, mnt+"/hello.txt", abi.O_RDWR, 0)
	if err != nil {
		t.Fatalf("O_RDWR on a rw mount: %v", err)
	}
	k.Close(fd)
	fd, err = k.Openat(abi.AT_FDCWD, mnt+"/hello.txt", abi.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Read(fd, make([]byte, 1)); !errors.Is(err, abi.EBADF) {
		t.Errorf("read of O_WRONLY: %v", err)
	}
	// Sync(2), fsync(2) and Halt sync the writable mount; the read-only
	// one never.
	if _, err := k.MountDev("vda3", "", abi.MS_RDONLY, ""); err != nil {
		t.Fatal(err)
	}
	if err := k.Sync(); err != nil || typ.Syncs.Load() != 1 {
		t.Errorf("sync: %d syncs, %v", typ.Syncs.Load(), err)
	}
	if err := k.Fsync(fd); err != nil || typ.Syncs.Load() != 2 {
		t.Errorf("fsync: %d syncs, %v", typ.Syncs.Load(), err)
	}
	k.Close(fd)
	if err := k.Halt(); err != nil || typ.Syncs.Load() != 3 {
		t.Errorf("halt: %d syncs, %v", typ.Syncs.Load(), err)
	}
}

func TestEMFILE(t *testing.T) {
	k, _ := bootFake(t, true)
	for i := 0; i < MaxFiles; i++ {
		fd, err := k.Openat(abi.AT_FDCWD, "/dev", abi.O_RDONLY, 0)
		if err != nil || fd != i {
			t.Fatalf("open %d: fd %d, %v", i, fd, err)
		}
	}
	if _, err := k.Openat(abi.AT_FDCWD, "/dev", abi.O_RDONLY, 0); !errors.Is(err, abi.EMFILE) {
		t.Fatalf("open beyond the limit: %v", err)
	}
	// The lowest free fd is reused.
	k.Close(7)
	k.Close(3)
	if fd, err := k.Openat(abi.AT_FDCWD, "/mnt", abi.O_RDONLY, 0); fd != 3 || err != nil {
		t.Errorf("reopen: fd %d, %v", fd, err)
	}
}

// TestMaxFiles raises RLIMIT_NOFILE by Config.MaxFiles: thousands of
// descriptors open, EMFILE past the limit, and the lowest free one still
// handed out first after closes scattered over them.
func TestMaxFiles(t *testing.T) {
	const max = 5000
	k := bootRamfs(t, Config{MaxFiles: max})
	for i := 0; i < max; i++ {
		if fd, err := k.Openat(abi.AT_FDCWD, "/dev", abi.O_RDONLY, 0); err != nil || fd != i {
			t.Fatalf("open %d: fd %d, %v", i, fd, err)
		}
	}
	if _, err := k.Openat(abi.AT_FDCWD, "/dev", abi.O_RDONLY, 0); !errors.Is(err, abi.EMFILE) {
		t.Fatalf("open beyond the limit: %v", err)
	}
	for _, fd := range []int{4999, 4097, 4095, 64, 63} {
		if err := k.Close(fd); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []int{63, 64, 4095, 4097, 4999} {
		if fd, err := k.Openat(abi.AT_FDCWD, "/mnt", abi.O_RDONLY, 0); fd != want || err != nil {
			t.Errorf("reopen: fd %d, %v; want %d", fd, err, want)
		}
	}
}

func TestRootGetdents(t *testing.T) {
	k, _ := bootFake(t, true)
	fd, err := k.Openat(abi.AT_FDCWD, "/", abi.O_RDONLY|abi.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close(fd)
	buf := make([]byte, 4096)
	n, err := k.Getdents64(fd, buf)
	ds := abi.ParseDirents(buf[:n], nil)
	var names []string
	for _, d := range ds {
		names = append(names, d.Name)
	}
	if err != nil || !slices.Equal(names, []string{".", "..", "dev", "mnt"}) || ds[0].Ino != ds[1].Ino {
		t.Errorf("/: %v %v", ds, err)
	}
}

func TestDmesg(t *testing.T) {
	var out bytes.Buffer
	p := newPrintk(&out)
	for i := 0; i < 5000; i++ {
		p.Printf("line %d of the kernel log\nsecond part", i)
	}
	s := p.String()
	if len(s) > LogBufSize || !strings.HasSuffix(s, "second part\n") || !strings.HasPrefix(s, "[") {
		t.Errorf("log of %d bytes: %q...", len(s), s[:40])
	}
	if !strings.Contains(s, "line 4999 of") || strings.Contains(s, "line 0 of") {
		t.Errorf("ring buffer kept the wrong lines")
	}
	if !strings.HasSuffix(out.String(), s) || strings.Count(out.String(), "\n") != 10000 {
		t.Errorf("forwarded %d lines", strings.Count(out.String(), "\n"))
	}
}

func TestIOFSErrors(t *testing.T) {
	k, _ := bootFake(t, true)
	mnt, err := k.MountDev("vda1", "", 0, "")
	if err != nil {
		t.Fatal(err)
	}
	fsys := k.FS(mnt)
	if _, err := fsys.Open("../etc"); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("Open(../etc): %v", err)
	}
	f, err := fsys.Open("dir")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Read(make([]byte, 1)); !errors.Is(err, abi.EISDIR) {
		t.Errorf("Read of a directory: %v", err)
	}
	f.Close()
	if err := f.Close(); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
	fi, err := fs.Stat(fsys, "hello.txt")
	if err != nil || fi.Size() != int64(len(helloData)) || fi.ModTime().Unix() != 1600000000 {
		t.Errorf("Stat: %v %v", fi, err)
	}
	fi, err = fsys.(fs.ReadLinkFS).Lstat("dev")
	if err != nil || fi.Mode().Type() != fs.ModeDevice|fs.ModeCharDevice {
		t.Errorf("Lstat(dev): %v %v", fi, err)
	}
}

func TestDevNumber(t *testing.T) {
	for name, want := range map[string]uint64{
		"vda": abi.Makedev(254, 0), "vda1": abi.Makedev(254, 1), "/dev/vdb3": abi.Makedev(254, 19),
		"vdz": abi.Makedev(254, 25*16), "vdaa": abi.Makedev(254, 26*16), "vda15": abi.Makedev(254, 15),
	} {
		if got, ok := devNumber(name); !ok || got != want {
			t.Errorf("%s: %d:%d", name, abi.Major(got), abi.Minor(got))
		}
	}
	for _, name := range []string{"sda", "vd", "vda16", "vda0", "vda01", "vdA"} {
		if _, ok := devNumber(name); ok {
			t.Errorf("%s: accepted", name)
		}
	}
}
