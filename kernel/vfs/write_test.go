package vfs_test

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
	"github.com/lklimg/lklimg/kernel/vfs/vfstest"
)

// mountRamfs mounts a fresh ramfs on the directory path (made if missing).
func mountRamfs(t *testing.T, v *vfs.VFS, path string, flags uint64) *vfs.Mount {
	t.Helper()
	if err := v.Mkdirat(vfs.Cred{}, nil, path, 0o755); err != nil && !errors.Is(err, abi.EEXIST) {
		t.Fatal(err)
	}
	target := mustWalk(t, v, nil, path, 0)
	defer v.Put(target)
	m, err := v.Mount(target, vfs.MountInfo{Type: vfs.RamfsType(), Source: "ramfs", Flags: flags})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func umount(t *testing.T, v *vfs.VFS, path string) error {
	t.Helper()
	d := mustWalk(t, v, nil, path, 0)
	defer v.Put(d)
	return v.Umount(d)
}

func create(t *testing.T, v *vfs.VFS, path, data string) {
	t.Helper()
	createAs(t, v, vfs.Cred{}, path, data)
}

// createAs is create by the task with cred.
func createAs(t *testing.T, v *vfs.VFS, cred vfs.Cred, path, data string) {
	t.Helper()
	f, err := v.Openat(cred, nil, path, abi.O_CREAT|abi.O_WRONLY|abi.O_TRUNC, 0o644)
	if err != nil {
		t.Fatalf("create %s: %v", path, err)
	}
	defer f.DecRef()
	if n, err := f.Write([]byte(data)); n != len(data) || err != nil {
		t.Fatalf("write %s: %d %v", path, n, err)
	}
}

func readAll(t *testing.T, f *vfs.File) string {
	t.Helper()
	buf := make([]byte, 4096)
	n, err := f.Pread(buf, 0)
	if err != nil {
		t.Fatalf("pread: %v", err)
	}
	return string(buf[:n])
}

func wantErr(t *testing.T, what string, err error, want abi.Errno) {
	t.Helper()
	if want == 0 && err != nil || want != 0 && !errors.Is(err, want) {
		t.Errorf("%s: %v, want %v", what, err, want)
	}
}

// TestDentryCacheAfterRename checks that a rename moves the cached dentry
// (and the subtree under it) and that the old name is gone from the cache,
// and that unlink drops the name while an open file keeps working.
func TestDentryCacheAfterRename(t *testing.T) {
	v, err := vfs.New(vfs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := mountRamfs(t, v, "/mnt/r", 0)
	for _, d := range []string{"/mnt/r/a", "/mnt/r/a/b", "/mnt/r/c"} {
		if err := v.Mkdirat(vfs.Cred{}, nil, d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	create(t, v, "/mnt/r/a/b/f", "data")
	f := mustWalk(t, v, nil, "/mnt/r/a/b/f", 0)
	b := mustWalk(t, v, nil, "/mnt/r/a/b", 0)
	wantErr(t, "rename a/b c/d", v.Renameat2(vfs.Cred{}, nil, "/mnt/r/a/b", nil, "/mnt/r/c/d", 0), 0)
	if b.Name() != "d" || v.PathOf(b) != "/mnt/r/c/d" || v.PathOf(f) != "/mnt/r/c/d/f" {
		t.Errorf("after rename: %q %q %q", b.Name(), v.PathOf(b), v.PathOf(f))
	}
	if _, err := v.Walk(nil, "/mnt/r/a/b/f", 0); !errors.Is(err, abi.ENOENT) {
		t.Errorf("old path: %v", err)
	}
	if g := mustWalk(t, v, nil, "/mnt/r/c/d/f", 0); g != f {
		t.Errorf("new path found another dentry")
	} else {
		v.Put(g)
	}
	up := mustWalk(t, v, b, "..", 0)
	if v.PathOf(up) != "/mnt/r/c" {
		t.Errorf(".. of the moved directory: %s", v.PathOf(up))
	}
	v.Put(up)

	// Exchange swaps the two dentries.
	create(t, v, "/mnt/r/x", "x")
	x := mustWalk(t, v, nil, "/mnt/r/x", 0)
	wantErr(t, "exchange", v.Renameat2(vfs.Cred{}, nil, "/mnt/r/x", nil, "/mnt/r/c/d", abi.RENAME_EXCHANGE), 0)
	if v.PathOf(x) != "/mnt/r/c/d" || v.PathOf(b) != "/mnt/r/x" || v.PathOf(f) != "/mnt/r/x/f" {
		t.Errorf("after exchange: %q %q %q", v.PathOf(x), v.PathOf(b), v.PathOf(f))
	}

	// A replaced file's open description still reads the old data.
	create(t, v, "/mnt/r/old", "old data")
	of, err := v.Openat(vfs.Cred{}, nil, "/mnt/r/old", abi.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	create(t, v, "/mnt/r/new", "new data")
	wantErr(t, "rename new old", v.Renameat2(vfs.Cred{}, nil, "/mnt/r/new", nil, "/mnt/r/old", 0), 0)
	if s := readAll(t, of); s != "old data" {
		t.Errorf("replaced file reads %q", s)
	}
	if _, err := of.Pwrite([]byte("more"), 8); err != nil {
		t.Errorf("write to replaced file: %v", err)
	}
	if s := readAll(t, of); s != "old datamore" {
		t.Errorf("replaced file reads %q", s)
	}
	nf, err := v.Openat(vfs.Cred{}, nil, "/mnt/r/old", abi.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if s := readAll(t, nf); s != "new data" {
		t.Errorf("renamed file reads %q", s)
	}
	nf.DecRef()
	live, _, _, _ := vfs.RamfsCounts(m)
	of.DecRef()
	if live2, _, _, _ := vfs.RamfsCounts(m); live2 != live-1 {
		t.Errorf("closing the replaced file freed %d inodes", live-live2)
	}

	// Unlink drops the dentry from the cache.
	before := v.CachedDentries()
	wantErr(t, "unlink", v.Unlinkat(nil, "/mnt/r/x/f", 0), 0)
	if n := v.CachedDentries(); n != before-1 {
		t.Errorf("cache after unlink: %d, was %d", n, before)
	}
	if _, err := v.Walk(nil, "/mnt/r/x/f", 0); !errors.Is(err, abi.ENOENT) {
		t.Errorf("unlinked path: %v", err)
	}
	for _, d := range []*vfs.Dentry{f, b, x} {
		v.Put(d)
	}
	wantErr(t, "umount", umount(t, v, "/mnt/r"), 0)
	live, handouts, syncs, bad := vfs.RamfsCounts(m)
	if handouts != 0 || bad != 0 || syncs != 1 {
		t.Errorf("after umount: %d handouts, %d bad evicts, %d syncs", handouts, bad, syncs)
	}
	// Root, a, c, x (the moved b), old (new data), c/d (the x file).
	if live != 6 {
		t.Errorf("%d inodes live", live)
	}
}

// TestEvictBalance runs every kind of change on a ramfs with a small
// dentry cache: every inode handed out is evicted once, unlinked inodes
// are freed when their last user goes, and nothing is left after umount.
func TestEvictBalance(t *testing.T) {
	v, err := vfs.New(vfs.Options{MaxUnusedDentries: 4})
	if err != nil {
		t.Fatal(err)
	}
	m := mountRamfs(t, v, "/mnt/r", 0)
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	for i := 0; i < 20; i++ {
		dir := fmt.Sprintf("/mnt/r/d%d", i)
		must("mkdir", v.Mkdirat(vfs.Cred{}, nil, dir, 0o755))
		create(t, v, dir+"/f", "x")
		must("symlink", v.Symlinkat(vfs.Cred{}, "f", nil, dir+"/l"))
		must("mknod", v.Mknodat(vfs.Cred{}, nil, dir+"/p", abi.S_IFIFO|0o644, 0))
		must("link", v.Linkat(nil, dir+"/f", nil, dir+"/g", 0))
		must("rename", v.Renameat2(vfs.Cred{}, nil, dir+"/g", nil, dir+"/h", 0))
		must("rename over", v.Renameat2(vfs.Cred{}, nil, dir+"/l", nil, dir+"/p", 0))
		must("exchange", v.Renameat2(vfs.Cred{}, nil, dir+"/h", nil, dir+"/p", abi.RENAME_EXCHANGE))
	}
	// An unlinked file held open stays live until closed.
	create(t, v, "/mnt/r/open", "data")
	f, err := v.Openat(vfs.Cred{}, nil, "/mnt/r/open", abi.O_RDWR, 0)
	must("open", err)
	must("unlink", v.Unlinkat(nil, "/mnt/r/open", 0))
	for i := 0; i < 20; i++ {
		dir := fmt.Sprintf("/mnt/r/d%d", i)
		must("unlink", v.Unlinkat(nil, dir+"/f", 0))
		must("unlink", v.Unlinkat(nil, dir+"/h", 0))
		must("unlink", v.Unlinkat(nil, dir+"/p", 0))
		if i%2 == 0 {
			must("rmdir", v.Unlinkat(nil, dir, abi.AT_REMOVEDIR))
		}
	}
	live, _, _, _ := vfs.RamfsCounts(m)
	// The root, 10 directories, the open file.
	if live != 12 {
		t.Errorf("%d inodes live before close, want 12", live)
	}
	wantErr(t, "umount with an open unlinked file", umount(t, v, "/mnt/r"), abi.EBUSY)
	if s := readAll(t, f); s != "data" {
		t.Errorf("unlinked file reads %q", s)
	}
	f.DecRef()
	if live, _, _, _ := vfs.RamfsCounts(m); live != 11 {
		t.Errorf("%d inodes live after close, want 11", live)
	}
	wantErr(t, "umount", umount(t, v, "/mnt/r"), 0)
	live, handouts, _, bad := vfs.RamfsCounts(m)
	if handouts != 0 || bad != 0 || live != 11 {
		t.Errorf("after umount: %d handouts, %d bad evicts, %d live", handouts, bad, live)
	}
}

// TestEvictBalanceReadOnly checks the protocol on a read-only driver: the
// LRU trims and umount evict everything Root and Lookup handed out, and
// nothing is evicted after Unmount.
func TestEvictBalanceReadOnly(t *testing.T) {
	e := newEnv(t, vfs.Options{MaxUnusedDentries: 2})
	v := e.v
	for i := 0; i < 3; i++ {
		for _, p := range []string{"/mnt/a/file", "/mnt/a/dir/f2", "/mnt/a/dir/sub", "/mnt/a/todir/rel", "/mnt/a/dir/abs"} {
			v.Put(mustWalk(t, v, nil, p, 0))
		}
	}
	if e.typ.Evicts.Load() == 0 {
		t.Errorf("the LRU evicted nothing")
	}
	if _, err := v.Walk(nil, "/mnt/a/missing", 0); !errors.Is(err, abi.ENOENT) {
		t.Fatal(err)
	}
	// An inode whose Getattr fails is evicted as soon as it is handed
	// out.
	e.typ.Images["vda"].Children["bad"] = &vfstest.Node{Mode: abi.S_IFREG, GetattrErr: abi.EUCLEAN}
	before := e.typ.Evicts.Load()
	if _, err := v.Walk(nil, "/mnt/a/bad", 0); !errors.Is(err, abi.EUCLEAN) {
		t.Errorf("walk to a bad inode: %v", err)
	}
	if n := e.typ.Evicts.Load() - before; n != 1 {
		t.Errorf("a failed handout was evicted %d times", n)
	}
	wantErr(t, "umount", umount(t, v, "/mnt/a"), 0)
	if h, ev := e.typ.Handouts.Load(), e.typ.Evicts.Load(); h != ev || h == 0 {
		t.Errorf("%d handouts, %d evicts", h, ev)
	}
	if n := e.typ.EvictAfterUnmount.Load(); n != 0 {
		t.Errorf("%d evicts after Unmount", n)
	}
}

// TestMountBoundaries checks EXDEV across mounts, EBUSY for mountpoints
// and EROFS on a read-only mount, and that Sync reaches writable mounts.
func TestMountBoundaries(t *testing.T) {
	v, err := vfs.New(vfs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := mountRamfs(t, v, "/mnt/a", 0)
	b := mountRamfs(t, v, "/mnt/b", 0)
	ro := mountRamfs(t, v, "/mnt/ro", abi.MS_RDONLY)
	create(t, v, "/mnt/a/f", "f")
	if err := v.Mkdirat(vfs.Cred{}, nil, "/mnt/a/mp", 0o755); err != nil {
		t.Fatal(err)
	}
	mountRamfs(t, v, "/mnt/a/mp", 0)
	wantErr(t, "rename across", v.Renameat2(vfs.Cred{}, nil, "/mnt/a/f", nil, "/mnt/b/f", 0), abi.EXDEV)
	wantErr(t, "link across", v.Linkat(nil, "/mnt/a/f", nil, "/mnt/b/f", 0), abi.EXDEV)
	wantErr(t, "rename onto the root of a mount", v.Renameat2(vfs.Cred{}, nil, "/mnt/a/f", nil, "/mnt/a/mp", 0), abi.EISDIR)
	wantErr(t, "rmdir mountpoint", v.Unlinkat(nil, "/mnt/a/mp", abi.AT_REMOVEDIR), abi.EBUSY)
	wantErr(t, "rename mountpoint", v.Renameat2(vfs.Cred{}, nil, "/mnt/a/mp", nil, "/mnt/a/mp2", 0), abi.EBUSY)
	if err := v.Mkdirat(vfs.Cred{}, nil, "/mnt/a/empty", 0o755); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "rename over mountpoint", v.Renameat2(vfs.Cred{}, nil, "/mnt/a/empty", nil, "/mnt/a/mp", 0), abi.EBUSY)
	wantErr(t, "rmdir mount root", v.Unlinkat(nil, "/mnt/a/mp/.", abi.AT_REMOVEDIR), abi.EINVAL)
	wantErr(t, "rmdir /", v.Unlinkat(nil, "/", abi.AT_REMOVEDIR), abi.EBUSY)
	wantErr(t, "rmdir mountpoint from /", v.Unlinkat(nil, "/mnt/ro", abi.AT_REMOVEDIR), abi.EBUSY)

	for _, c := range []struct {
		what string
		err  error
	}{
		{"mkdir", v.Mkdirat(vfs.Cred{}, nil, "/mnt/ro/d", 0o755)},
		{"mknod", v.Mknodat(vfs.Cred{}, nil, "/mnt/ro/p", abi.S_IFIFO|0o644, 0)},
		{"symlink", v.Symlinkat(vfs.Cred{}, "x", nil, "/mnt/ro/l")},
		{"unlink missing", v.Unlinkat(nil, "/mnt/ro/x", 0)},
		{"rename", v.Renameat2(vfs.Cred{}, nil, "/mnt/ro/x", nil, "/mnt/ro/y", 0)},
		{"chmod", v.Chmod(ro.Root(), 0o700)},
		{"chown", v.Chown(ro.Root(), 1, 1)},
		{"utimens", v.Utimens(ro.Root(), nil)},
		{"setxattr", v.Setxattr(ro.Root(), "user.a", nil, 0)},
		{"removexattr", v.Removexattr(ro.Root(), "user.a")},
		{"create", func() error {
			_, err := v.Openat(vfs.Cred{}, nil, "/mnt/ro/f", abi.O_CREAT|abi.O_RDONLY, 0o644)
			return err
		}()},
	} {
		wantErr(t, "read-only "+c.what, c.err, abi.EROFS)
	}
	wantErr(t, "link onto read-only", v.Linkat(nil, "/mnt/a/f", nil, "/mnt/ro/f", 0), abi.EROFS)
	wantErr(t, "mkdir existing on read-only", v.Mkdirat(vfs.Cred{}, nil, "/mnt/ro", 0o755), abi.EEXIST)

	wantErr(t, "sync", v.Sync(), 0)
	for _, m := range []*vfs.Mount{a, b, ro} {
		_, _, syncs, _ := vfs.RamfsCounts(m)
		want := 1
		if m == ro {
			want = 0
		}
		if syncs != want {
			t.Errorf("%s: %d syncs, want %d", v.PathOf(m.Root()), syncs, want)
		}
	}
	wantErr(t, "umount busy", umount(t, v, "/mnt/a"), abi.EBUSY)
	wantErr(t, "umount", umount(t, v, "/mnt/a/mp"), 0)
	wantErr(t, "umount", umount(t, v, "/mnt/a"), 0)
	if _, _, syncs, _ := vfs.RamfsCounts(a); syncs != 2 {
		t.Errorf("umount synced %d times", syncs-1)
	}
	wantErr(t, "umount ro", umount(t, v, "/mnt/ro"), 0)
	if _, _, syncs, _ := vfs.RamfsCounts(ro); syncs != 0 {
		t.Errorf("a read-only mount was synced")
	}
}

// TestClockAndOwner checks the times and owners of changes with a fixed
// clock: creation stamps the new inode and its directory, writes move
// mtime and ctime, chmod only ctime, and UTIME_OMIT leaves a time alone
// while ctime still moves.
func TestClockAndOwner(t *testing.T) {
	now := abi.Timespec{Sec: 1000, Nsec: 1}
	v, err := vfs.New(vfs.Options{Now: func() abi.Timespec { return now }})
	if err != nil {
		t.Fatal(err)
	}
	attr := func(path string) vfs.Attr {
		t.Helper()
		d := mustWalk(t, v, nil, path, vfs.WalkNoFollow)
		defer v.Put(d)
		a, err := v.Getattr(d)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	times := func(path string, a, m, c int64) {
		t.Helper()
		at := attr(path)
		if at.Atime.Sec != a || at.Mtime.Sec != m || at.Ctime.Sec != c {
			t.Errorf("%s: atime %d mtime %d ctime %d, want %d %d %d", path, at.Atime.Sec, at.Mtime.Sec, at.Ctime.Sec, a, m, c)
		}
	}
	if err := v.Mkdirat(vfs.Cred{}, nil, "/d", 0o755); err != nil {
		t.Fatal(err)
	}
	now.Sec = 2000
	createAs(t, v, vfs.Cred{Uid: 1000, Gid: 100, Umask: 0o022}, "/d/f", "x")
	times("/d/f", 2000, 2000, 2000)
	times("/d", 1000, 2000, 2000)
	if a := attr("/d/f"); a.Uid != 1000 || a.Gid != 100 {
		t.Errorf("owner %d:%d", a.Uid, a.Gid)
	}
	f, err := v.Openat(vfs.Cred{}, nil, "/d/f", abi.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	now.Sec = 3000
	f.Write([]byte("y"))
	times("/d/f", 2000, 3000, 3000)
	now.Sec = 4000
	if _, err := f.Write(nil); err != nil {
		t.Fatal(err)
	}
	times("/d/f", 2000, 3000, 3000)
	d := mustWalk(t, v, nil, "/d/f", 0)
	defer v.Put(d)
	v.Chmod(d, 0o600)
	times("/d/f", 2000, 3000, 4000)
	now.Sec = 5000
	omit := abi.Timespec{Nsec: abi.UTIME_OMIT}
	v.Utimens(d, &[2]abi.Timespec{omit, {Sec: 7, Nsec: 8}})
	times("/d/f", 2000, 7, 5000)
	now.Sec = 6000
	v.Utimens(d, &[2]abi.Timespec{{Nsec: abi.UTIME_NOW}, omit})
	times("/d/f", 6000, 7, 6000)
	now.Sec = 7000
	v.Utimens(d, nil)
	times("/d/f", 7000, 7000, 7000)
	now.Sec = 8000
	f.Truncate(1)
	times("/d/f", 7000, 8000, 8000)
	now.Sec = 9000
	v.Truncate(d, 1)
	times("/d/f", 7000, 8000, 9000)
	now.Sec = 10000
	v.Setxattr(d, "user.x", []byte("1"), 0)
	times("/d/f", 7000, 8000, 10000)
	now.Sec = 11000
	v.Renameat2(vfs.Cred{}, nil, "/d/f", nil, "/d/g", 0)
	times("/d/g", 7000, 8000, 11000)
	times("/d", 1000, 11000, 11000)
	f.DecRef()
}

// TestConcurrentAppends checks that O_APPEND writers on several files
// never overwrite each other's records.
func TestConcurrentAppends(t *testing.T) {
	v, err := vfs.New(vfs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	create(t, v, "/log", "")
	const writers, records = 4, 200
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			f, err := v.Openat(vfs.Cred{}, nil, "/log", abi.O_WRONLY|abi.O_APPEND, 0)
			if err != nil {
				t.Error(err)
				return
			}
			defer f.DecRef()
			for i := 0; i < records; i++ {
				if _, err := f.Write([]byte(fmt.Sprintf("w%d-%04d\n", w, i))); err != nil {
					t.Error(err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	f, err := v.Openat(vfs.Cred{}, nil, "/log", abi.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.DecRef()
	buf := make([]byte, writers*records*8+1)
	n, _ := f.Pread(buf, 0)
	lines := bytes.Split(bytes.TrimSuffix(buf[:n], []byte("\n")), []byte("\n"))
	seen := map[string]bool{}
	for _, l := range lines {
		if len(l) != 7 || seen[string(l)] {
			t.Fatalf("bad or repeated record %q", l)
		}
		seen[string(l)] = true
	}
	if len(seen) != writers*records {
		t.Errorf("%d records, want %d", len(seen), writers*records)
	}
}

// TestConcurrentNamespace renames, creates and unlinks in two directories
// from several goroutines while others walk: the driver and the cache must
// agree at the end, and every handout is evicted at umount.
func TestConcurrentNamespace(t *testing.T) {
	v, err := vfs.New(vfs.Options{MaxUnusedDentries: 8})
	if err != nil {
		t.Fatal(err)
	}
	m := mountRamfs(t, v, "/mnt/r", 0)
	for _, d := range []string{"/mnt/r/x", "/mnt/r/y"} {
		if err := v.Mkdirat(vfs.Cred{}, nil, d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				name := fmt.Sprintf("f%d", (g*7+i)%10)
				src, dst := "/mnt/r/x/"+name, "/mnt/r/y/"+name
				if i%2 == 1 {
					src, dst = dst, src
				}
				switch i % 5 {
				case 0:
					if f, err := v.Openat(vfs.Cred{}, nil, src, abi.O_CREAT|abi.O_WRONLY, 0o644); err == nil {
						f.DecRef()
					}
				case 1, 2:
					v.Renameat2(vfs.Cred{}, nil, src, nil, dst, 0)
				case 3:
					v.Unlinkat(nil, src, 0)
				case 4:
					if d, err := v.Walk(nil, dst, 0); err == nil {
						v.Put(d)
					}
				}
			}
		}(g)
	}
	wg.Wait()
	// What the cache finds agrees with what the driver lists.
	for _, dir := range []string{"/mnt/r/x", "/mnt/r/y"} {
		f, err := v.Openat(vfs.Cred{}, nil, dir, abi.O_RDONLY|abi.O_DIRECTORY, 0)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 8192)
		n, err := f.Getdents64(buf)
		f.DecRef()
		if err != nil {
			t.Fatal(err)
		}
		listed := map[string]bool{}
		for _, e := range abi.ParseDirents(buf[:n], nil) {
			listed[e.Name] = true
		}
		for i := 0; i < 10; i++ {
			name := fmt.Sprintf("f%d", i)
			d, err := v.Walk(nil, dir+"/"+name, 0)
			if (err == nil) != listed[name] {
				t.Errorf("%s/%s: walk %v, listed %v", dir, name, err, listed[name])
			}
			if err == nil {
				v.Put(d)
			}
		}
	}
	wantErr(t, "umount", umount(t, v, "/mnt/r"), 0)
	if _, handouts, _, bad := vfs.RamfsCounts(m); handouts != 0 || bad != 0 {
		t.Errorf("after umount: %d handouts, %d bad evicts", handouts, bad)
	}
}

// TestRamfsData checks the ramfs's pages: holes, SEEK_DATA/SEEK_HOLE,
// truncation zeroing the tail, punch hole.
func TestRamfsData(t *testing.T) {
	v, err := vfs.New(vfs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := v.Openat(vfs.Cred{}, nil, "/f", abi.O_CREAT|abi.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.DecRef()
	f.Pwrite([]byte("abc"), 3*4096+10)
	f.Pwrite([]byte("xyz"), 10)
	for _, c := range []struct {
		whence   int
		off, pos int64
		err      abi.Errno
	}{
		{abi.SEEK_DATA, 0, 0, 0},
		{abi.SEEK_HOLE, 0, 4096, 0},
		{abi.SEEK_DATA, 4096, 3 * 4096, 0},
		{abi.SEEK_HOLE, 3 * 4096, 3*4096 + 13, 0},
		{abi.SEEK_DATA, 3*4096 + 13, 0, abi.ENXIO},
	} {
		pos, err := f.Seek(c.off, c.whence)
		if pos != c.pos && c.err == 0 || c.err != 0 && !errors.Is(err, c.err) || c.err == 0 && err != nil {
			t.Errorf("seek %d from %d: %d %v", c.whence, c.off, pos, err)
		}
	}
	if err := f.Truncate(11); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(20); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 32)
	n, _ := f.Pread(buf, 0)
	if want := "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00x\x00\x00\x00\x00\x00\x00\x00\x00\x00"; string(buf[:n]) != want {
		t.Errorf("after truncate and extend: %q", buf[:n])
	}
	f.Pwrite(bytes.Repeat([]byte("a"), 3*4096), 0)
	if err := f.Fallocate(abi.FALLOC_FL_PUNCH_HOLE|abi.FALLOC_FL_KEEP_SIZE, 100, 2*4096); err != nil {
		t.Fatal(err)
	}
	if pos, err := f.Seek(0, abi.SEEK_HOLE); pos != 4096 || err != nil {
		t.Errorf("hole after punch: %d %v", pos, err)
	}
	big := make([]byte, 3*4096)
	f.Pread(big, 0)
	if !bytes.Equal(big[:100], bytes.Repeat([]byte("a"), 100)) || !bytes.Equal(big[100:100+2*4096], make([]byte, 2*4096)) || big[100+2*4096] != 'a' {
		t.Errorf("punched data wrong")
	}
	a, _ := v.Getattr(f.Dentry())
	if a.Blocks != 2*8 || a.Size != 3*4096 {
		t.Errorf("after punch: %d blocks, size %d", a.Blocks, a.Size)
	}
}
