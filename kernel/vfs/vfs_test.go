package vfs_test

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
	"github.com/lklimg/lklimg/kernel/vfs/vfstest"
)

// tree is the image mounted at /mnt/a in most tests.
func tree() *vfstest.Node {
	return vfstest.Dir(map[string]*vfstest.Node{
		"file": vfstest.File("hello"),
		"dir": vfstest.Dir(map[string]*vfstest.Node{
			"sub":  vfstest.Dir(nil),
			"f2":   vfstest.File("two"),
			"up":   vfstest.Symlink(".."),
			"abs":  vfstest.Symlink("/mnt/a/file"),
			"rel":  vfstest.Symlink("../file"),
			"tosb": vfstest.Symlink("sub"),
		}),
		"loop1":    vfstest.Symlink("loop2"),
		"loop2":    vfstest.Symlink("loop1"),
		"self":     vfstest.Symlink("self/x"),
		"dangling": vfstest.Symlink("nowhere"),
		"empty":    vfstest.Symlink(""),
		"tofile":   vfstest.Symlink("file"),
		"todir":    vfstest.Symlink("dir"),
	})
}

type testEnv struct {
	v   *vfs.VFS
	typ *vfstest.Type
	m   *vfs.Mount
}

func newEnv(t *testing.T, opts vfs.Options) *testEnv {
	t.Helper()
	v, err := vfs.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	typ := &vfstest.Type{TypeName: "fake", Images: map[string]*vfstest.Node{"vda": tree(), "vdb": tree()}}
	if err := v.RegisterFilesystem(typ, "fake2"); err != nil {
		t.Fatal(err)
	}
	if err := v.Mkdirat(vfs.Cred{}, nil, "/mnt/a", 0o755); err != nil {
		t.Fatal(err)
	}
	target := mustWalk(t, v, nil, "/mnt/a", 0)
	defer v.Put(target)
	m, err := v.Mount(target, vfs.MountInfo{Type: typ, Source: "/dev/vda", Device: &vfstest.Device{DevName: "vda", Bytes: 1 << 20}, Flags: abi.MS_RDONLY})
	if err != nil {
		t.Fatal(err)
	}
	return &testEnv{v: v, typ: typ, m: m}
}

func mustWalk(t *testing.T, v *vfs.VFS, start *vfs.Dentry, path string, flags int) *vfs.Dentry {
	t.Helper()
	d, err := v.Walk(start, path, flags)
	if err != nil {
		t.Fatalf("walk %q: %v", path, err)
	}
	return d
}

func TestWalk(t *testing.T) {
	e := newEnv(t, vfs.Options{})
	v := e.v
	root := v.Root()
	defer v.Put(root)
	fileIno := func() uint64 { d := mustWalk(t, v, nil, "/mnt/a/file", 0); defer v.Put(d); return d.Ino() }()
	dirD := mustWalk(t, v, nil, "/mnt/a/dir", 0)
	defer v.Put(dirD)
	mntD := mustWalk(t, v, nil, "/mnt", 0)
	defer v.Put(mntD)
	aRoot := mustWalk(t, v, nil, "/mnt/a", 0)
	defer v.Put(aRoot)
	if aRoot.Mount() != e.m {
		t.Fatalf("/mnt/a did not cross into the mount")
	}

	ok := []struct {
		start *vfs.Dentry
		path  string
		flags int
		want  func(d *vfs.Dentry) bool
	}{
		{nil, "/", 0, func(d *vfs.Dentry) bool { return d == root }},
		{nil, "/..", 0, func(d *vfs.Dentry) bool { return d == root }},
		{nil, "/../../..", 0, func(d *vfs.Dentry) bool { return d == root }},
		{nil, "//mnt//a/./file", 0, func(d *vfs.Dentry) bool { return d.Ino() == fileIno }},
		{nil, "/mnt/a/..", 0, func(d *vfs.Dentry) bool { return d == mntD }},
		{nil, "/mnt/a/dir/../..", 0, func(d *vfs.Dentry) bool { return d == mntD }},
		{nil, "/mnt/a/dir/up", 0, func(d *vfs.Dentry) bool { return d == aRoot }},
		{nil, "/mnt/a/dir/up/..", 0, func(d *vfs.Dentry) bool { return d == mntD }},
		{nil, "/mnt/a/dir/abs", 0, func(d *vfs.Dentry) bool { return d.Ino() == fileIno }},
		{nil, "/mnt/a/dir/rel", 0, func(d *vfs.Dentry) bool { return d.Ino() == fileIno }},
		{nil, "/mnt/a/dir/rel", vfs.WalkNoFollow, func(d *vfs.Dentry) bool { return d.IsSymlink() }},
		{nil, "/mnt/a/todir/", vfs.WalkNoFollow, func(d *vfs.Dentry) bool { return d == dirD }},
		{nil, "/mnt/a/todir/f2", 0, func(d *vfs.Dentry) bool { return d.Mode() == abi.S_IFREG }},
		{nil, "/mnt/a/dangling", vfs.WalkNoFollow, func(d *vfs.Dentry) bool { return d.IsSymlink() }},
		{dirD, "f2", 0, func(d *vfs.Dentry) bool { return d.Name() == "f2" }},
		{dirD, "../file", 0, func(d *vfs.Dentry) bool { return d.Ino() == fileIno }},
		{dirD, "/mnt", 0, func(d *vfs.Dentry) bool { return d == mntD }},
		{dirD, ".", 0, func(d *vfs.Dentry) bool { return d == dirD }},
		{dirD, "", vfs.WalkEmptyPath, func(d *vfs.Dentry) bool { return d == dirD }},
		{nil, "/mnt/a/dir/tosb/", 0, func(d *vfs.Dentry) bool { return d.Name() == "sub" }},
		{nil, "/mnt/a/dir/sub/", 0, func(d *vfs.Dentry) bool { return d.Name() == "sub" }},
	}
	for _, c := range ok {
		d, err := v.Walk(c.start, c.path, c.flags)
		if err != nil {
			t.Errorf("walk %q: %v", c.path, err)
			continue
		}
		if !c.want(d) {
			t.Errorf("walk %q: got %q (ino %d)", c.path, d.Name(), d.Ino())
		}
		v.Put(d)
	}

	long := strings.Repeat("x", 256)
	bad := []struct {
		start *vfs.Dentry
		path  string
		flags int
		want  abi.Errno
	}{
		{nil, "", 0, abi.ENOENT},
		{nil, "/nope", 0, abi.ENOENT},
		{nil, "/mnt/a/nope/x", 0, abi.ENOENT},
		{nil, "/mnt/a/file/", 0, abi.ENOTDIR},
		{nil, "/mnt/a/file/.", 0, abi.ENOTDIR},
		{nil, "/mnt/a/file/x", 0, abi.ENOTDIR},
		{nil, "/mnt/a/file/..", 0, abi.ENOTDIR},
		{nil, "/mnt/a/tofile/", 0, abi.ENOTDIR},
		{nil, "/mnt/a/tofile/", vfs.WalkNoFollow, abi.ENOTDIR},
		{nil, "/mnt/a/loop1", 0, abi.ELOOP},
		{nil, "/mnt/a/loop1/x", vfs.WalkNoFollow, abi.ELOOP},
		{nil, "/mnt/a/self", 0, abi.ELOOP},
		{nil, "/mnt/a/dangling", 0, abi.ENOENT},
		{nil, "/mnt/a/empty", 0, abi.ENOENT},
		{nil, "/" + long, 0, abi.ENAMETOOLONG},
		{nil, "/mnt/a/" + long + "/x", 0, abi.ENAMETOOLONG},
		{nil, "/" + strings.Repeat("a/", 2048), 0, abi.ENAMETOOLONG},
	}
	for _, c := range bad {
		d, err := v.Walk(c.start, c.path, c.flags)
		if err == nil {
			v.Put(d)
		}
		if !errors.Is(err, c.want) {
			name := c.path
			if len(name) > 40 {
				name = name[:40] + "..."
			}
			t.Errorf("walk %q: got %v, want %v", name, err, c.want)
		}
	}
	// A name of exactly NAME_MAX bytes is fine (and missing), a path of
	// PATH_MAX-1 bytes too.
	if _, err := v.Walk(nil, "/mnt/a/"+long[:255], 0); !errors.Is(err, abi.ENOENT) {
		t.Errorf("255-byte name: %v", err)
	}
	p := "/" + strings.Repeat("./", (abi.PATH_MAX-2)/2)
	p += strings.Repeat("/", abi.PATH_MAX-1-len(p))
	if d, err := v.Walk(nil, p, 0); err != nil {
		t.Errorf("path of %d bytes: %v", len(p), err)
	} else {
		v.Put(d)
	}
}

func TestSymlinkLimit(t *testing.T) {
	// A chain of exactly MAXSYMLINKS links resolves; one more is ELOOP.
	chain := func(n int) *vfstest.Node {
		root := vfstest.Dir(map[string]*vfstest.Node{"end": vfstest.File("x")})
		for i := 0; i < n; i++ {
			target := "end"
			if i+1 < n {
				target = fmt.Sprintf("l%d", i+1)
			}
			root.Children[fmt.Sprintf("l%d", i)] = vfstest.Symlink(target)
		}
		return root
	}
	v, err := vfs.New(vfs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	typ := &vfstest.Type{TypeName: "fake", Images: map[string]*vfstest.Node{"vda": chain(abi.MAXSYMLINKS), "vdb": chain(abi.MAXSYMLINKS + 1)}}
	v.RegisterFilesystem(typ)
	for _, dev := range []string{"vda", "vdb"} {
		if err := v.Mkdirat(vfs.Cred{}, nil, "/mnt/"+dev, 0o755); err != nil {
			t.Fatal(err)
		}
		target := mustWalk(t, v, nil, "/mnt/"+dev, 0)
		if _, err := v.Mount(target, vfs.MountInfo{Type: typ, Source: dev, Device: &vfstest.Device{DevName: dev}}); err != nil {
			t.Fatal(err)
		}
		v.Put(target)
	}
	d := mustWalk(t, v, nil, "/mnt/vda/l0", 0)
	if d.Mode() != abi.S_IFREG {
		t.Errorf("40 links: got mode %o", d.Mode())
	}
	v.Put(d)
	if _, err := v.Walk(nil, "/mnt/vdb/l0", 0); !errors.Is(err, abi.ELOOP) {
		t.Errorf("41 links: got %v, want ELOOP", err)
	}
}

func TestMountUmount(t *testing.T) {
	e := newEnv(t, vfs.Options{})
	v := e.v
	// The same device twice: EBUSY.
	if err := v.Mkdirat(vfs.Cred{}, nil, "/mnt/b", 0o755); err != nil {
		t.Fatal(err)
	}
	b := mustWalk(t, v, nil, "/mnt/b", 0)
	if _, err := v.Mount(b, vfs.MountInfo{Type: e.typ, Source: "/dev/vda", Device: &vfstest.Device{DevName: "vda"}}); !errors.Is(err, abi.EBUSY) {
		t.Errorf("second mount of vda: %v", err)
	}
	// On a file: ENOTDIR.
	f := mustWalk(t, v, nil, "/mnt/a/file", 0)
	if _, err := v.Mount(f, vfs.MountInfo{Type: e.typ, Source: "/dev/vdb", Device: &vfstest.Device{DevName: "vdb"}}); !errors.Is(err, abi.ENOTDIR) {
		t.Errorf("mount on a file: %v", err)
	}
	// Submount inside the first mount.
	sub := mustWalk(t, v, nil, "/mnt/a/dir/sub", 0)
	m2, err := v.Mount(sub, vfs.MountInfo{Type: e.typ, Source: "/dev/vdb", Device: &vfstest.Device{DevName: "vdb"}})
	if err != nil {
		t.Fatal(err)
	}
	v.Put(sub)
	d := mustWalk(t, v, nil, "/mnt/a/dir/sub/dir/f2", 0)
	if d.Mount() != m2 {
		t.Errorf("did not cross into the submount")
	}
	if got := v.PathOf(d); got != "/mnt/a/dir/sub/dir/f2" {
		t.Errorf("PathOf = %q", got)
	}
	v.Put(d)
	up := mustWalk(t, v, nil, "/mnt/a/dir/sub/..", 0)
	if up.Name() != "dir" || up.Mount() != e.m {
		t.Errorf(".. from a submount root: %q", up.Name())
	}
	v.Put(up)

	// Not a mountpoint: EINVAL; the root: EINVAL.
	dir := mustWalk(t, v, nil, "/mnt/a/dir", 0)
	if err := v.Umount(dir); !errors.Is(err, abi.EINVAL) {
		t.Errorf("umount of a directory: %v", err)
	}
	v.Put(dir)
	root := v.Root()
	if err := v.Umount(root); !errors.Is(err, abi.EINVAL) {
		t.Errorf("umount /: %v", err)
	}
	v.Put(root)

	// Busy with a submount.
	a := mustWalk(t, v, nil, "/mnt/a", 0)
	if err := v.Umount(a); !errors.Is(err, abi.EBUSY) {
		t.Errorf("umount with a submount: %v", err)
	}
	// Busy with an open file.
	file, err := v.Openat(vfs.Cred{}, nil, "/mnt/a/dir/sub/file", abi.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	s := mustWalk(t, v, nil, "/mnt/a/dir/sub", 0)
	if err := v.Umount(s); !errors.Is(err, abi.EBUSY) {
		t.Errorf("umount with an open file: %v", err)
	}
	file.DecRef()
	if err := v.Umount(s); err != nil {
		t.Errorf("umount: %v", err)
	}
	v.Put(s)
	// Pinned dentries of the held one (f) still drop cleanly.
	v.Put(f)
	v.Put(b)
	if err := v.Umount(a); err != nil {
		t.Errorf("umount /mnt/a: %v", err)
	}
	v.Put(a)
	if n := e.typ.Mounted.Load(); n != 0 {
		t.Errorf("%d superblocks still mounted", n)
	}
	// The directory is back to the ramfs.
	d = mustWalk(t, v, nil, "/mnt/a", 0)
	if d.Mount() != v.Mounts()[0] {
		t.Errorf("/mnt/a still in a mount")
	}
	v.Put(d)
	if _, err := v.Walk(nil, "/mnt/a/file", 0); !errors.Is(err, abi.ENOENT) {
		t.Errorf("after umount: %v", err)
	}
}

func TestFilesystemTypes(t *testing.T) {
	e := newEnv(t, vfs.Options{})
	if ft, err := e.v.FilesystemType("fake2"); err != nil || ft != vfs.FilesystemType(e.typ) {
		t.Errorf("alias: %v %v", ft, err)
	}
	if _, err := e.v.FilesystemType("nope"); !errors.Is(err, abi.ENODEV) {
		t.Errorf("unknown type: %v", err)
	}
	if err := e.v.RegisterFilesystem(e.typ); !errors.Is(err, abi.EBUSY) {
		t.Errorf("second registration: %v", err)
	}
	if n := len(e.v.FilesystemTypes()); n != 1 {
		t.Errorf("%d types", n)
	}
	if ft, err := e.v.Probe(&vfstest.Device{DevName: "vdb"}); err != nil || ft.Name() != "fake" {
		t.Errorf("probe: %v %v", ft, err)
	}
	if _, err := e.v.Probe(&vfstest.Device{DevName: "vdz"}); !errors.Is(err, abi.ENODEV) {
		t.Errorf("probe of nothing: %v", err)
	}
}

func TestDentryLRUBound(t *testing.T) {
	const files = 500
	root := vfstest.Dir(nil)
	for i := 0; i < files; i++ {
		d := vfstest.Dir(nil)
		d.Children["f"] = vfstest.File("x")
		root.Children[fmt.Sprintf("d%03d", i)] = d
	}
	v, err := vfs.New(vfs.Options{MaxUnusedDentries: 16})
	if err != nil {
		t.Fatal(err)
	}
	typ := &vfstest.Type{TypeName: "fake", Images: map[string]*vfstest.Node{"vda": root}}
	v.RegisterFilesystem(typ)
	v.Mkdirat(vfs.Cred{}, nil, "/mnt/x", 0o755)
	target := mustWalk(t, v, nil, "/mnt/x", 0)
	if _, err := v.Mount(target, vfs.MountInfo{Type: typ, Source: "vda", Device: &vfstest.Device{DevName: "vda"}}); err != nil {
		t.Fatal(err)
	}
	v.Put(target)
	base := v.CachedDentries()
	for i := 0; i < files; i++ {
		d := mustWalk(t, v, nil, fmt.Sprintf("/mnt/x/d%03d/f", i), 0)
		v.Put(d)
		if n := v.UnusedDentries(); n > 16 {
			t.Fatalf("%d unused dentries", n)
		}
	}
	// 16 unused leaves, each with at most one ancestor kept for it.
	if n := v.CachedDentries(); n > base+2*16 {
		t.Errorf("cache grew to %d dentries (base %d)", n, base)
	}
	// Pinned dentries survive trimming; walking again still works.
	held := mustWalk(t, v, nil, "/mnt/x/d000/f", 0)
	for i := 1; i < files; i++ {
		v.Put(mustWalk(t, v, nil, fmt.Sprintf("/mnt/x/d%03d/f", i), 0))
	}
	again := mustWalk(t, v, nil, "/mnt/x/d000/f", 0)
	if again != held {
		t.Errorf("a pinned dentry was evicted")
	}
	v.Put(again)
	v.Put(held)
}

func TestConcurrentWalks(t *testing.T) {
	e := newEnv(t, vfs.Options{MaxUnusedDentries: 4})
	var wg sync.WaitGroup
	paths := []string{"/mnt/a/file", "/mnt/a/dir/f2", "/mnt/a/dir/rel", "/mnt/a/dir/sub/../f2", "/mnt/a/todir/abs"}
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				p := paths[(g+i)%len(paths)]
				d, err := e.v.Walk(nil, p, 0)
				if err != nil {
					t.Errorf("%s: %v", p, err)
					return
				}
				e.v.Put(d)
			}
		}(g)
	}
	wg.Wait()
}

// TestMountRace walks into a mount while another goroutine mounts and
// unmounts it: every walk either finds the file or the bare directory, and
// umount is EBUSY exactly while something is inside.
func TestMountRace(t *testing.T) {
	e := newEnv(t, vfs.Options{MaxUnusedDentries: 8})
	v := e.v
	if err := v.Mkdirat(vfs.Cred{}, nil, "/mnt/r", 0o755); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var reads atomic.Int64
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				d, err := v.Walk(nil, "/mnt/r/dir/f2", 0)
				if err == nil {
					f, err := v.Open(d, abi.O_RDONLY)
					if err != nil {
						t.Errorf("open: %v", err)
					} else {
						buf := make([]byte, 8)
						if n, _ := f.Read(buf); string(buf[:n]) != "two" {
							t.Errorf("read %q", buf[:n])
						}
						reads.Add(1)
						f.DecRef()
					}
					v.Put(d)
				} else if !errors.Is(err, abi.ENOENT) {
					t.Errorf("walk: %v", err)
				}
				time.Sleep(50 * time.Microsecond)
			}
		}()
	}
	busy, done := 0, 0
	for i := 0; i < 50; i++ {
		target := mustWalk(t, v, nil, "/mnt/r", 0)
		_, err := v.Mount(target, vfs.MountInfo{Type: e.typ, Source: "vdb", Device: &vfstest.Device{DevName: "vdb"}})
		v.Put(target)
		if err != nil {
			t.Fatal(err)
		}
		// Let the walkers in before trying to leave.
		for r := reads.Load(); reads.Load() == r; {
			runtime.Gosched()
		}
		for {
			root := mustWalk(t, v, nil, "/mnt/r", 0)
			err := v.Umount(root)
			v.Put(root)
			if err == nil {
				done++
				break
			}
			if !errors.Is(err, abi.EBUSY) {
				t.Fatal(err)
			}
			busy++
			runtime.Gosched()
		}
	}
	close(stop)
	wg.Wait()
	if n := e.typ.Mounted.Load(); n != 1 {
		t.Errorf("%d superblocks mounted, want 1 (vda)", n)
	}
	t.Logf("%d umounts, %d EBUSY", done, busy)
}
