package vfs_test

import (
	"errors"
	"testing"

	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

func TestFileOps(t *testing.T) {
	e := newEnv(t, vfs.Options{})
	v := e.v
	open := func(path string, flags int) *vfs.File {
		t.Helper()
		f, err := v.Openat(nil, path, flags, 0)
		if err != nil {
			t.Fatalf("open %s: %v", path, err)
		}
		return f
	}
	f := open("/mnt/a/tofile", abi.O_RDONLY)
	buf := make([]byte, 3)
	if n, err := f.Read(buf); n != 3 || err != nil || string(buf) != "hel" {
		t.Errorf("read: %q %v", buf[:n], err)
	}
	if n, err := f.Read(buf); n != 2 || err != nil || string(buf[:n]) != "lo" {
		t.Errorf("read: %q %v", buf[:n], err)
	}
	if n, err := f.Read(buf); n != 0 || err != nil {
		t.Errorf("read at EOF: %d %v", n, err)
	}
	if pos, err := f.Seek(-2, abi.SEEK_END); pos != 3 || err != nil {
		t.Errorf("seek: %d %v", pos, err)
	}
	if _, err := f.Getdents64(make([]byte, 100)); !errors.Is(err, abi.ENOTDIR) {
		t.Errorf("getdents of a file: %v", err)
	}
	f.DecRef()

	for _, c := range []struct {
		path  string
		flags int
		want  abi.Errno
	}{
		{"/mnt/a/tofile", abi.O_NOFOLLOW, abi.ELOOP},
		{"/mnt/a/file", abi.O_DIRECTORY, abi.ENOTDIR},
		{"/mnt/a/file", abi.O_WRONLY, abi.EROFS},
		{"/mnt/a/dir", abi.O_RDWR, abi.EISDIR},
		{"/mnt/a/new", abi.O_CREAT | abi.O_WRONLY, abi.EROFS},
		{"/mnt/new/", abi.O_CREAT | abi.O_WRONLY, abi.EISDIR},
		{"/mnt", abi.O_CREAT | abi.O_DIRECTORY, abi.EINVAL},
		{"/mnt/a/file", abi.O_CREAT | abi.O_EXCL, abi.EEXIST},
		{"/mnt/a/dangling", abi.O_CREAT | abi.O_EXCL, abi.EEXIST},
	} {
		if f, err := v.Openat(nil, c.path, c.flags, 0); !errors.Is(err, c.want) {
			t.Errorf("open %s %#o: %v, want %v", c.path, c.flags, err, c.want)
			if err == nil {
				f.DecRef()
			}
		}
	}

	// O_PATH of a symlink: no reads, but a dentry.
	p := open("/mnt/a/tofile", abi.O_PATH|abi.O_NOFOLLOW|abi.O_WRONLY)
	if !p.Dentry().IsSymlink() || !p.IsPath() {
		t.Errorf("O_PATH|O_NOFOLLOW did not open the link")
	}
	if _, err := p.Read(buf); !errors.Is(err, abi.EBADF) {
		t.Errorf("read of O_PATH: %v", err)
	}
	if _, err := p.Seek(0, abi.SEEK_SET); !errors.Is(err, abi.EBADF) {
		t.Errorf("seek of O_PATH: %v", err)
	}
	p.DecRef()

	// getdents64 of the mount's root: ".." is /mnt.
	d := open("/mnt/a", abi.O_RDONLY|abi.O_DIRECTORY)
	defer d.DecRef()
	mnt := mustWalk(t, v, nil, "/mnt", 0)
	defer v.Put(mnt)
	big := make([]byte, 4096)
	n, err := d.Getdents64(big)
	ds := abi.ParseDirents(big[:n], nil)
	if err != nil || len(ds) != 2+len(tree().Children) || ds[1].Name != ".." || ds[1].Ino != mnt.Ino() {
		t.Errorf("getdents64: %v %v", ds, err)
	}
	if n, err := d.Getdents64(big); n != 0 || err != nil {
		t.Errorf("getdents64 at the end: %d %v", n, err)
	}
	if _, err := d.Read(buf); !errors.Is(err, abi.EISDIR) {
		t.Errorf("read of a directory: %v", err)
	}
	if _, err := d.Seek(0, abi.SEEK_END); !errors.Is(err, abi.EINVAL) {
		t.Errorf("SEEK_END on a directory: %v", err)
	}

	// The fd table: lowest free, EBADF, EMFILE.
	tab := vfs.NewFDTable(3)
	for i := 0; i < 3; i++ {
		if fd, err := tab.Install(open("/mnt/a/file", abi.O_RDONLY)); fd != i || err != nil {
			t.Fatalf("install: %d %v", fd, err)
		}
	}
	extra := open("/mnt/a/file", abi.O_RDONLY)
	if _, err := tab.Install(extra); !errors.Is(err, abi.EMFILE) {
		t.Errorf("install beyond the limit: %v", err)
	}
	extra.DecRef()
	f1, err := tab.Remove(1)
	if err != nil {
		t.Fatal(err)
	}
	f1.DecRef()
	if _, err := tab.Get(1); !errors.Is(err, abi.EBADF) {
		t.Errorf("get of a closed fd: %v", err)
	}
	if _, err := tab.Remove(1); !errors.Is(err, abi.EBADF) {
		t.Errorf("remove of a closed fd: %v", err)
	}
	if fd, _ := tab.Install(open("/mnt/a/file", abi.O_RDONLY)); fd != 1 {
		t.Errorf("lowest free fd: %d", fd)
	}
	for _, f := range tab.RemoveAll() {
		f.DecRef()
	}
	if tab.Len() != 0 {
		t.Errorf("%d fds after RemoveAll", tab.Len())
	}
}

// TestOpener: an inode's own open error (an encrypted file without its
// key) fails open(2), but not an O_PATH open, which does not reach it.
func TestOpener(t *testing.T) {
	e := newEnv(t, vfs.Options{})
	e.typ.Images["vda"].Children["file"].OpenErr = abi.ENOKEY
	if _, err := e.v.Openat(nil, "/mnt/a/file", abi.O_RDONLY, 0); !errors.Is(err, abi.ENOKEY) {
		t.Errorf("open: %v, want ENOKEY", err)
	}
	f, err := e.v.Openat(nil, "/mnt/a/file", abi.O_PATH, 0)
	if err != nil {
		t.Fatalf("O_PATH open: %v", err)
	}
	f.DecRef()
}
