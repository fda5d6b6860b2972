package vfs_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
	"github.com/lklimg/lklimg/kernel/vfs/vfstest"
)

func TestFileOps(t *testing.T) {
	e := newEnv(t, vfs.Options{})
	v := e.v
	open := func(path string, flags int) *vfs.File {
		t.Helper()
		f, err := v.Openat(vfs.Cred{}, nil, path, flags, 0)
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
		if f, err := v.Openat(vfs.Cred{}, nil, c.path, c.flags, 0); !errors.Is(err, c.want) {
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
	if _, err := e.v.Openat(vfs.Cred{}, nil, "/mnt/a/file", abi.O_RDONLY, 0); !errors.Is(err, abi.ENOKEY) {
		t.Errorf("open: %v, want ENOKEY", err)
	}
	f, err := e.v.Openat(vfs.Cred{}, nil, "/mnt/a/file", abi.O_PATH, 0)
	if err != nil {
		t.Fatalf("O_PATH open: %v", err)
	}
	f.DecRef()
}

// mountFake returns a VFS with a fake filesystem of tree mounted
// read-only on its root.
func mountFake(t *testing.T, tree *vfstest.Node) *vfs.VFS {
	t.Helper()
	v, err := vfs.New(vfs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	typ := &vfstest.Type{TypeName: "fake", Images: map[string]*vfstest.Node{"vda": tree}}
	if err := v.RegisterFilesystem(typ); err != nil {
		t.Fatal(err)
	}
	root := mustWalk(t, v, nil, "/", 0)
	defer v.Put(root)
	if _, err := v.Mount(root, vfs.MountInfo{Type: typ, Source: "/dev/vda", Device: &vfstest.Device{DevName: "vda", Bytes: 1 << 20}, Flags: abi.MS_RDONLY}); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestGetdentsRuns reads a directory whose entries share positions in runs
// (as ext4's hash collision chains do): every entry once whatever the
// buffer, d_off the run's position inside it, lseek to a run's d_off
// restarting at its first member, and a driver that never advances
// stopped with EUCLEAN.
func TestGetdentsRuns(t *testing.T) {
	kids := map[string]*vfstest.Node{}
	for i := range 10 {
		kids[fmt.Sprintf("n%d", i)] = vfstest.File("")
	}
	runs := vfstest.Dir(kids)
	runs.Run = 3
	stuck := vfstest.Dir(map[string]*vfstest.Node{"x": vfstest.File("")})
	stuck.Stuck = true
	v := mountFake(t, vfstest.Dir(map[string]*vfstest.Node{"runs": runs, "stuck": stuck}))
	open := func(path string) *vfs.File {
		t.Helper()
		f, err := v.Openat(vfs.Cred{}, nil, path, abi.O_RDONLY|abi.O_DIRECTORY, 0)
		if err != nil {
			t.Fatalf("open %s: %v", path, err)
		}
		t.Cleanup(f.DecRef)
		return f
	}
	read := func(f *vfs.File, size, max int) []abi.Dirent {
		t.Helper()
		var ds []abi.Dirent
		buf := make([]byte, size)
		for len(ds) < max {
			n, err := f.Getdents64(buf)
			if err != nil {
				t.Fatalf("getdents64: %v", err)
			}
			if n == 0 {
				break
			}
			ds = abi.ParseDirents(buf[:n], ds)
		}
		return ds
	}
	// Entry i (after . and ..) is at 2+10*(i/3); its d_off is the
	// position of the entry after it.
	var want []abi.Dirent
	for i := range 10 {
		off := int64(2 + 10*((i+1)/3))
		if i == 9 {
			off = 2 + 40
		}
		want = append(want, abi.Dirent{Name: fmt.Sprintf("n%d", i), Off: off})
	}
	names := func(ds []abi.Dirent) []abi.Dirent {
		var out []abi.Dirent
		for _, d := range ds {
			if d.Name != "." && d.Name != ".." {
				out = append(out, abi.Dirent{Name: d.Name, Off: d.Off})
			}
		}
		return out
	}
	big := names(read(open("/runs"), 4096, 100))
	small := names(read(open("/runs"), 24, 100)) // one record a call
	if !slices.Equal(big, want) || !slices.Equal(small, want) {
		t.Errorf("runs:\n big   %v\n small %v\n want  %v", big, small, want)
	}

	// Stop inside the second run (after n4), seek away and back to the
	// run's d_off: the run starts again at n3, as Linux restarts a
	// collision chain. Seeking to the current position keeps the cursor.
	f := open("/runs")
	got := names(read(f, 24, 7)) // . .. n0..n4
	if len(got) != 5 || got[4].Name != "n4" {
		t.Fatalf("first records: %v", got)
	}
	cur, _ := f.Seek(0, abi.SEEK_CUR)
	if _, err := f.Seek(cur, abi.SEEK_SET); err != nil {
		t.Fatal(err)
	}
	if next := names(read(f, 24, 1)); len(next) != 1 || next[0].Name != "n5" {
		t.Errorf("after seeking to the current position: %v, want n5", next)
	}
	if _, err := f.Seek(0, abi.SEEK_SET); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(want[2].Off, abi.SEEK_SET); err != nil {
		t.Fatal(err)
	}
	if next := names(read(f, 24, 1)); len(next) != 1 || next[0].Name != "n3" {
		t.Errorf("after seeking to the d_off of n2: %v, want n3", next)
	}

	// A driver stuck at one position: a million entries, then EUCLEAN.
	f = open("/stuck")
	buf := make([]byte, 32<<20)
	n, err := f.Getdents64(buf)
	if err != nil || n == 0 {
		t.Fatalf("stuck directory, first call: %d %v", n, err)
	}
	if _, err := f.Getdents64(buf); !errors.Is(err, abi.EUCLEAN) {
		t.Errorf("stuck directory: %v, want EUCLEAN", err)
	}
}

// TestDamagedNames: an entry name a damaged directory gives with a '/'
// ends the listing with EIO after the entries before it
// (verify_dirent_name), and a user.* attribute of a symlink reads as
// absent (xattr_permission), trusted.* as stored: both as the host
// kernel shows e2fsprogs' f_baddir and f_clear_xattr images.
func TestDamagedNames(t *testing.T) {
	link := vfstest.Symlink("t")
	link.Xattrs = map[string][]byte{"user.x": []byte("u"), "trusted.y": []byte("t")}
	v := mountFake(t, vfstest.Dir(map[string]*vfstest.Node{
		"bad":  vfstest.Dir(map[string]*vfstest.Node{"a": vfstest.File(""), "b/c": vfstest.File(""), "d": vfstest.File("")}),
		"link": link,
	}))
	f, err := v.Openat(vfs.Cred{}, nil, "/bad", abi.O_RDONLY|abi.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.DecRef()
	var names []string
	buf := make([]byte, 4096)
	for range 3 {
		n, err := f.Getdents64(buf)
		if err != nil {
			if !errors.Is(err, abi.EIO) {
				t.Errorf("getdents64: %v, want EIO", err)
			}
			break
		}
		if n == 0 {
			t.Error("getdents64 reached the end past a name with '/'")
			break
		}
		for _, d := range abi.ParseDirents(buf[:n], nil) {
			names = append(names, d.Name)
		}
	}
	if got := strings.Join(names, " "); got != ". .. a" {
		t.Errorf("entries %q, want \". .. a\"", got)
	}

	d := mustWalk(t, v, nil, "/link", vfs.WalkNoFollow)
	defer v.Put(d)
	if _, err := v.Getxattr(d, "user.x"); !errors.Is(err, abi.ENODATA) {
		t.Errorf("user.x of a symlink: %v, want ENODATA", err)
	}
	if val, err := v.Getxattr(d, "trusted.y"); err != nil || string(val) != "t" {
		t.Errorf("trusted.y of a symlink: %q, %v", val, err)
	}
}

// TestAncestorLoop: a directory that is one of its ancestors' inode (a
// damaged filesystem's directory linked below itself) is ELOOP, as
// d_splice_alias refuses it; one with the same number on a device of its
// own (a btrfs subvolume's root, 256 as its parent volume's root) is
// another inode and walks.
func TestAncestorLoop(t *testing.T) {
	v := mountFake(t, vfstest.Dir(map[string]*vfstest.Node{
		"d": vfstest.Dir(map[string]*vfstest.Node{
			"up":  {Mode: abi.S_IFDIR | 0o755, Ino: 2},
			"vol": {Mode: abi.S_IFDIR | 0o755, Ino: 2, Dev: abi.Makedev(0, 42)},
		}),
	}))
	if _, err := v.Walk(nil, "/d/up", 0); !errors.Is(err, abi.ELOOP) {
		t.Errorf("a directory that is the root: %v, want ELOOP", err)
	}
	d := mustWalk(t, v, nil, "/d/vol", 0)
	v.Put(d)
}
