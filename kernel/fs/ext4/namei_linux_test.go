package ext4

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	disk "github.com/lklimg/lklimg/format/ext4"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
	"golang.org/x/sys/unix"
)

// Tests of the namespace writes: operations through the driver's
// DirWriter and XattrWriter on a read-write mount, then e2fsck -fn on the
// image and the host kernel's view of it (loop mount) as the oracles.

var nowCtx = vfs.Ctx{Uid: 0, Gid: 0, Now: abi.Timespec{Sec: 1700000000, Nsec: 123456789}}

// nameiVariant is a filesystem layout the namespace tests run on.
type nameiVariant struct {
	name string
	args []string
}

var nameiVariants = []nameiVariant{
	{"ext4", nil},
	{"ext4-1k", []string{"-b", "1024"}},
	{"nocsum", []string{"-O", "^metadata_csum"}},
	{"ext3", []string{"-t", "ext3"}},
	{"ext2", []string{"-t", "ext2", "-I", "128"}},
}

// mkfsTree makes an image of size with mkfs.ext4 -d from a tree that
// populate builds, and checks it.
func mkfsTree(t *testing.T, size string, args []string, populate func(dir string)) string {
	t.Helper()
	testutil.Need(t, "mkfs.ext4", "e2fsck")
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	if populate != nil {
		populate(src)
	}
	img := filepath.Join(dir, "img")
	a := append([]string{"-q", "-F", "-E", "root_owner=0:0"}, args...)
	testutil.Run(t, "mkfs.ext4", append(a, "-d", src, img, size)...)
	e2fsckClean(t, img)
	return img
}

// mustWrite creates a file with content under dir.
func mustWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// rwDir looks up a directory of a read-write mount.
func rwDir(t *testing.T, f *fsys, path string) dirInode {
	t.Helper()
	vi, err := lookupPath(f, path)
	if err != nil {
		t.Fatalf("lookup %s: %v", path, err)
	}
	d, ok := vi.(dirInode)
	if !ok {
		t.Fatalf("%s: not a directory", path)
	}
	return d
}

// wantErrno fails unless err is errno want (or nil when want is 0).
func wantErrno(t *testing.T, what string, err error, want abi.Errno) {
	t.Helper()
	if want == 0 {
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("%s: got %v, want %v", what, err, want)
	}
}

// loopMount mounts an image read-only with the host kernel and returns
// the mount point; the test skips (fails under CI) without loop devices.
func loopMount(t *testing.T, img string) string {
	t.Helper()
	testutil.NeedLoop(t)
	mnt := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "mount", "-o", "loop,ro", img, mnt)
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	return mnt
}

// hostEnt is what the tests compare of a file seen by the host kernel.
type hostEnt struct {
	mode   uint32
	nlink  uint64
	rdev   uint64
	target string
	size   int64
}

func hostStat(t *testing.T, path string) (hostEnt, bool) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return hostEnt{}, false
		}
		t.Fatalf("lstat %s: %v", path, err)
	}
	e := hostEnt{mode: st.Mode, nlink: uint64(st.Nlink), rdev: st.Rdev, size: st.Size}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		tg, err := os.Readlink(path)
		if err != nil {
			t.Fatal(err)
		}
		e.target = tg
	}
	return e, true
}

// TestNamespaceOps runs every DirWriter operation on images of each
// layout and checks the result with e2fsck and the host kernel: names,
// types, link counts, device numbers, symlink targets, what is gone.
func TestNamespaceOps(t *testing.T) {
	for _, v := range nameiVariants {
		t.Run(v.name, func(t *testing.T) { testNamespaceOps(t, v) })
	}
}

func testNamespaceOps(t *testing.T, v nameiVariant) {
	img := mkfsTree(t, "32M", v.args, func(src string) {
		for _, p := range []string{"a/f1", "a/f2", "a/f3", "a/sub/x", "b/g1", "d/nonempty/y", "e/keep"} {
			mustWrite(t, filepath.Join(src, p), "data of "+p)
		}
		os.Mkdir(filepath.Join(src, "c"), 0o755)
	})
	f, _ := mountImageRW(t, img)
	a, b := rwDir(t, f, "a"), rwDir(t, f, "b")
	root := rwDir(t, f, "")

	_, err := a.Create(nowCtx, "new", 0o640)
	wantErrno(t, "create", err, 0)
	_, err = a.Create(nowCtx, "new", 0o640)
	wantErrno(t, "create existing", err, abi.EEXIST)
	nd, err := a.Mkdir(nowCtx, "newdir", 0o755)
	wantErrno(t, "mkdir", err, 0)
	_, err = nd.(dirInode).Mkdir(nowCtx, "deeper", 0o700)
	wantErrno(t, "mkdir deeper", err, 0)
	for _, m := range []struct {
		name string
		mode uint32
		rdev uint64
	}{
		{"null", abi.S_IFCHR | 0o666, abi.Makedev(1, 3)},
		{"bigdev", abi.S_IFBLK | 0o600, abi.Makedev(259, 300000)},
		{"fifo", abi.S_IFIFO | 0o644, 0},
		{"sock", abi.S_IFSOCK | 0o644, 0},
	} {
		in, err := a.Mknod(nowCtx, m.name, m.mode, m.rdev)
		wantErrno(t, "mknod "+m.name, err, 0)
		wantErrno(t, "evict "+m.name, in.(vfs.Evicter).Evict(), 0) // the VFS lets it go
	}
	slow := strings.Repeat("s/", 100) + "end"
	longest := strings.Repeat("L", int(f.BlockSize)-1)
	for name, target := range map[string]string{"fast": "short/target", "fast59": strings.Repeat("x", 59),
		"slow60": strings.Repeat("y", 60), "slow": slow, "longest": longest} {
		_, err := a.Symlink(nowCtx, name, target)
		wantErrno(t, "symlink "+name, err, 0)
	}
	_, err = a.Symlink(nowCtx, "toolong", longest+"x")
	wantErrno(t, "symlink too long", err, abi.ENAMETOOLONG)

	// Links and unlinks.
	f1, err := lookupPath(f, "a/f1")
	wantErrno(t, "lookup f1", err, 0)
	wantErrno(t, "link", b.Link(nowCtx, "f1link", f1), 0)
	wantErrno(t, "link existing", b.Link(nowCtx, "f1link", f1), abi.EEXIST)
	wantErrno(t, "link dir", b.Link(nowCtx, "dirlink", a), abi.EPERM)
	wantErrno(t, "unlink f2", a.Unlink(nowCtx, "f2"), 0)
	wantErrno(t, "unlink missing", a.Unlink(nowCtx, "f2"), abi.ENOENT)
	wantErrno(t, "unlink dir", a.Unlink(nowCtx, "sub"), abi.EISDIR)
	wantErrno(t, "link again", a.Link(nowCtx, "f1b", f1), 0)
	wantErrno(t, "unlink one of three links", b.Unlink(nowCtx, "f1link"), 0)
	if a, _ := f1.Getattr(); a.Nlink != 2 || a.Ctime != nowCtx.Now {
		t.Errorf("f1 after link, link, unlink: nlink %d ctime %v", a.Nlink, a.Ctime)
	}

	// Renames.
	wantErrno(t, "rename file across", a.Rename(nowCtx, "f3", b, "f3moved", 0), 0)
	wantErrno(t, "rename dir across", a.Rename(nowCtx, "sub", b, "sub", 0), 0)
	wantErrno(t, "rename same dir", b.Rename(nowCtx, "sub", b, "sub2", 0), 0)
	wantErrno(t, "rename noreplace", b.Rename(nowCtx, "g1", a, "f1", abi.RENAME_NOREPLACE), abi.EEXIST)
	wantErrno(t, "rename replace", b.Rename(nowCtx, "g1", a, "f1b", 0), 0) // f1 loses a link
	wantErrno(t, "exchange dir and file across", a.Rename(nowCtx, "newdir", b, "f3moved", abi.RENAME_EXCHANGE), 0)
	d := rwDir(t, f, "d")
	wantErrno(t, "rename over non-empty dir", root.Rename(nowCtx, "c", d, "nonempty", 0), abi.ENOTEMPTY)
	wantErrno(t, "rename dir over file", root.Rename(nowCtx, "c", a, "f1", 0), abi.ENOTDIR)
	wantErrno(t, "mkdir e/empty", func() error { _, err := rwDir(t, f, "e").Mkdir(nowCtx, "empty", 0o755); return err }(), 0)
	wantErrno(t, "rename dir over empty dir", root.Rename(nowCtx, "c", rwDir(t, f, "e"), "empty", 0), 0)
	wantErrno(t, "rmdir non-empty", root.Rmdir(nowCtx, "d"), abi.ENOTEMPTY)
	wantErrno(t, "empty sub2", rwDir(t, f, "b/sub2").Rename(nowCtx, "x", d, "x", 0), 0)
	wantErrno(t, "rmdir", b.Rmdir(nowCtx, "sub2"), 0)
	wantErrno(t, "rmdir missing", b.Rmdir(nowCtx, "sub2"), abi.ENOENT)

	// Unlinked while held: on the orphan list until evicted; one stays
	// held until unmount.
	held := map[string]vfs.Inode{}
	for _, n := range []string{"fifo", "sock", "null"} {
		held[n], err = lookupPath(f, "a/"+n)
		wantErrno(t, "lookup "+n, err, 0)
		wantErrno(t, "unlink held "+n, a.Unlink(nowCtx, n), 0)
	}
	if f.journaled() {
		if o, _ := f.lastOrphan(); o != uint32(held["null"].Ino()) {
			t.Errorf("s_last_orphan %d, want %d", o, held["null"].Ino())
		}
	}
	wantErrno(t, "evict sock", held["sock"].(vfs.Evicter).Evict(), 0)
	wantErrno(t, "evict null", held["null"].(vfs.Evicter).Evict(), 0)
	if f.journaled() {
		if o, _ := f.lastOrphan(); o != uint32(held["fifo"].Ino()) {
			t.Errorf("s_last_orphan %d, want %d", o, held["fifo"].Ino())
		}
	}
	// fifo stays held: unmount frees it.
	if a, _ := root.Getattr(); a.Mtime != nowCtx.Now {
		t.Errorf("root mtime %v, want %v", a.Mtime, nowCtx.Now)
	}
	umountRW(t, f)
	e2fsckClean(t, img)

	mnt := loopMount(t, img)
	want := map[string]*hostEnt{
		"a/new":            {mode: unix.S_IFREG | 0o640, nlink: 1},
		"a/f1":             {mode: unix.S_IFREG | 0o644, nlink: 1, size: int64(len("data of a/f1"))},
		"a/f1b":            {mode: unix.S_IFREG | 0o644, nlink: 1, size: int64(len("data of b/g1"))},
		"a/f2":             nil,
		"a/newdir":         {mode: unix.S_IFREG | 0o644, nlink: 1, size: int64(len("data of a/f3"))}, // exchanged
		"a/f3moved":        nil,
		"a/bigdev":         {mode: unix.S_IFBLK | 0o600, nlink: 1, rdev: unix.Mkdev(259, 300000)},
		"a/null":           nil,
		"a/fifo":           nil,
		"a/sock":           nil,
		"a/fast":           {mode: unix.S_IFLNK | 0o777, nlink: 1, target: "short/target", size: 12},
		"a/fast59":         {mode: unix.S_IFLNK | 0o777, nlink: 1, target: strings.Repeat("x", 59), size: 59},
		"a/slow60":         {mode: unix.S_IFLNK | 0o777, nlink: 1, target: strings.Repeat("y", 60), size: 60},
		"a/slow":           {mode: unix.S_IFLNK | 0o777, nlink: 1, target: slow, size: int64(len(slow))},
		"a/longest":        {mode: unix.S_IFLNK | 0o777, nlink: 1, target: longest, size: int64(len(longest))},
		"a/sub":            nil,
		"a":                {mode: unix.S_IFDIR | 0o755, nlink: 2},
		"b":                {mode: unix.S_IFDIR | 0o755, nlink: 3},
		"b/f3moved":        {mode: unix.S_IFDIR | 0o755, nlink: 3}, // newdir, exchanged
		"b/f3moved/deeper": {mode: unix.S_IFDIR | 0o700, nlink: 2},
		"b/newdir":         nil,
		"b/g1":             nil,
		"b/f1link":         nil,
		"b/sub":            nil,
		"b/sub2":           nil,
		"c":                nil,
		"d":                {mode: unix.S_IFDIR | 0o755, nlink: 3},
		"d/x":              {mode: unix.S_IFREG | 0o644, nlink: 1, size: int64(len("data of a/sub/x"))},
		"e":                {mode: unix.S_IFDIR | 0o755, nlink: 3},
		"e/empty":          {mode: unix.S_IFDIR | 0o755, nlink: 2},
		"e/keep":           {mode: unix.S_IFREG | 0o644, nlink: 1, size: int64(len("data of e/keep"))},
	}
	for p, w := range want {
		got, ok := hostStat(t, filepath.Join(mnt, p))
		switch {
		case w == nil && ok:
			t.Errorf("%s: exists (%+v), want gone", p, got)
		case w == nil:
		case !ok:
			t.Errorf("%s: missing", p)
		default:
			if w.size == 0 && got.mode&unix.S_IFMT == unix.S_IFDIR {
				w.size = got.size
			}
			if got != *w {
				t.Errorf("%s: %+v, want %+v", p, got, *w)
			}
		}
	}
	// ".." of the moved directories names their new parents.
	for dir, parent := range map[string]string{"b/f3moved": "b", "e/empty": "e", "b/f3moved/deeper": "b/f3moved"} {
		var sd, sp unix.Stat_t
		if unix.Stat(filepath.Join(mnt, dir, ".."), &sd) != nil || unix.Stat(filepath.Join(mnt, parent), &sp) != nil || sd.Ino != sp.Ino {
			t.Errorf("%s/..: inode %d, want %s's %d", dir, sd.Ino, parent, sp.Ino)
		}
	}
}

// TestSymlinkFlags checks that fast symlinks are made without the
// extents flag and slow ones with it on an extent filesystem, as ext4 does.
func TestSymlinkFlags(t *testing.T) {
	img := mkfsTree(t, "8M", nil, nil)
	f, _ := mountImageRW(t, img)
	root := rwDir(t, f, "")
	fast, err := root.Symlink(nowCtx, "fast", "abc")
	wantErrno(t, "symlink", err, 0)
	slow, err := root.Symlink(nowCtx, "slow", strings.Repeat("z", 100))
	wantErrno(t, "symlink", err, 0)
	if fl := fast.(symlinkInode).flags; fl&disk.InodeExtentsFl != 0 {
		t.Errorf("fast symlink flags %#x", fl)
	}
	if fl := slow.(symlinkInode).flags; fl&disk.InodeExtentsFl == 0 {
		t.Errorf("slow symlink flags %#x", fl)
	}
	for _, c := range []struct {
		in   vfs.Inode
		want string
	}{{fast, "abc"}, {slow, strings.Repeat("z", 100)}} {
		if got, err := c.in.(symlinkInode).Readlink(); err != nil || got != c.want {
			t.Errorf("readlink: %q, %v", got, err)
		}
	}
	umountRW(t, f)
	e2fsckClean(t, img)
}

// TestLinkMax checks EMLINK at EXT4_LINK_MAX links.
func TestLinkMax(t *testing.T) {
	img := mkfsTree(t, "8M", nil, func(src string) { mustWrite(t, filepath.Join(src, "f"), "x") })
	f, _ := mountImageRW(t, img)
	root := rwDir(t, f, "")
	vi, err := lookupPath(f, "f")
	wantErrno(t, "lookup", err, 0)
	ip := vi.(fileInode).inode
	ip.links = linkMax - 1 // as if it had the links already
	wantErrno(t, "link to the max", root.Link(nowCtx, "g", vi), 0)
	wantErrno(t, "link past the max", root.Link(nowCtx, "h", vi), abi.EMLINK)
	ip.links = 2
	wantErrno(t, "unlink", root.Unlink(nowCtx, "g"), 0)
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	umountRW(t, f)
	e2fsckClean(t, img)
}

// TestDirNlink makes more than EXT4_LINK_MAX subdirectories in one
// directory: with dir_nlink its link count becomes 1 ("many") and stays
// so, as ext4_inc_count and ext4_dec_count keep it; e2fsck and the host
// kernel accept it. Without dir_nlink the next mkdir is EMLINK.
func TestDirNlink(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	img := mkfsTree(t, "128M", []string{"-b", "1024", "-N", "70000"}, func(src string) {
		os.Mkdir(filepath.Join(src, "p"), 0o755)
	})
	f, _ := mountImageRW(t, img)
	p := rwDir(t, f, "p")
	for i := range linkMax - 2 {
		in, err := p.Mkdir(nowCtx, fmt.Sprint(i), 0o755)
		if err != nil {
			t.Fatalf("mkdir %d: %v", i, err)
		}
		in.(vfs.Evicter).Evict()
	}
	if a, _ := p.Getattr(); a.Nlink != linkMax {
		t.Fatalf("nlink %d after %d subdirectories, want %d", a.Nlink, linkMax-2, linkMax)
	}
	_, err := p.Mkdir(nowCtx, "one-more", 0o755)
	wantErrno(t, "mkdir past EXT4_LINK_MAX", err, 0)
	if a, _ := p.Getattr(); a.Nlink != 1 {
		t.Errorf("nlink %d past EXT4_LINK_MAX, want 1", a.Nlink)
	}
	wantErrno(t, "rmdir", p.Rmdir(nowCtx, "7"), 0)
	if a, _ := p.Getattr(); a.Nlink != 1 {
		t.Errorf("nlink %d after rmdir, want 1", a.Nlink)
	}
	umountRW(t, f)
	e2fsckClean(t, img)
	if st, ok := hostStat(t, filepath.Join(loopMount(t, img), "p")); !ok || st.nlink != 1 {
		t.Errorf("host: nlink %d, want 1", st.nlink)
	}
}

// TestDirNlinkOff checks EMLINK at EXT4_LINK_MAX without dir_nlink.
func TestDirNlinkOff(t *testing.T) {
	img := mkfsTree(t, "8M", []string{"-O", "^dir_nlink"}, func(src string) {
		os.Mkdir(filepath.Join(src, "p"), 0o755)
		os.Mkdir(filepath.Join(src, "q"), 0o755)
	})
	f, _ := mountImageRW(t, img)
	p := rwDir(t, f, "p")
	p.links = linkMax // as if it had the subdirectories
	_, err := p.Mkdir(nowCtx, "x", 0o755)
	wantErrno(t, "mkdir", err, abi.EMLINK)
	wantErrno(t, "rename a directory in", rwDir(t, f, "").Rename(nowCtx, "q", p, "q", 0), abi.EMLINK)
	p.links = 2
	_, err = p.Mkdir(nowCtx, "x", 0o755)
	wantErrno(t, "mkdir", err, 0)
	umountRW(t, f)
	e2fsckClean(t, img)
}

// TestOrphanCleanup leaves an unlinked, still held file on the orphan
// list as a crash would (the transaction committed, no unmount), checks
// that e2fsck sees the orphan, and that the next read-write mount deletes
// it (ext4_orphan_cleanup), leaving the image clean.
func TestOrphanCleanup(t *testing.T) {
	for _, v := range []nameiVariant{{"ext4", nil}, {"ext3", []string{"-t", "ext3"}}, {"1k", []string{"-b", "1024"}}} {
		t.Run(v.name, func(t *testing.T) { testOrphanCleanup(t, v) })
	}
}

func testOrphanCleanup(t *testing.T, v nameiVariant) {
	img := mkfsTree(t, "16M", v.args, func(src string) {
		mustWrite(t, filepath.Join(src, "f"), strings.Repeat("data", 30000))
		mustWrite(t, filepath.Join(src, "g"), "g")
	})
	f, _ := mountImageRW(t, img)
	held, err := lookupPath(f, "f")
	wantErrno(t, "lookup", err, 0)
	wantErrno(t, "unlink", rwDir(t, f, "").Unlink(nowCtx, "f"), 0)
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if o, _ := f.lastOrphan(); o != uint32(held.Ino()) {
		t.Fatalf("s_last_orphan %d, want %d", o, held.Ino())
	}
	// The "crash": the mount is dropped without unmounting.
	if out, err := exec.Command("e2fsck", "-fn", img).CombinedOutput(); err == nil {
		t.Fatalf("e2fsck finds nothing with an orphan on the list:\n%s", out)
	}
	f2, log := mountImageRW(t, img)
	if !strings.Contains(log.String(), "1 orphan inodes deleted") {
		t.Errorf("log:\n%s", log)
	}
	if o, _ := f2.lastOrphan(); o != 0 {
		t.Errorf("s_last_orphan %d after cleanup", o)
	}
	umountRW(t, f2)
	e2fsckClean(t, img)
}

// TestConcurrentReadWrite reads a directory (lookups, readdir, xattrs)
// while another goroutine adds and removes names in it: readers take the
// mount's read lock, so they see each operation whole (run with -race).
func TestConcurrentReadWrite(t *testing.T) {
	img := mkfsTree(t, "32M", nil, func(src string) {
		for i := range 50 {
			mustWrite(t, filepath.Join(src, "d", fmt.Sprint("keep", i)), "k")
		}
	})
	f, _ := mountImageRW(t, img)
	d := rwDir(t, f, "d")
	done := make(chan struct{})
	errs := make(chan error, 4)
	for range 3 {
		go func() {
			for {
				select {
				case <-done:
					errs <- nil
					return
				default:
				}
				for i := range 50 {
					in, err := d.Lookup(fmt.Sprint("keep", i))
					if err != nil {
						errs <- err
						return
					}
					in.(vfs.Evicter).Evict()
				}
				n := 0
				if err := d.ReadDir(0, func(vfs.DirEntry) bool { n++; return true }); err != nil || n < 50 {
					errs <- fmt.Errorf("readdir: %d entries, %v", n, err)
					return
				}
				if _, err := d.Listxattr(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := range 400 {
		name := fmt.Sprint("tmp", i)
		in, err := d.Create(nowCtx, name, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		in.(vfs.Evicter).Evict()
		wantErrno(t, "setxattr", d.Setxattr(nowCtx, "user.n", []byte(name), 0), 0)
		if i%2 == 0 {
			wantErrno(t, "unlink", d.Unlink(nowCtx, name), 0)
		}
	}
	close(done)
	for range 3 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	umountRW(t, f)
	e2fsckClean(t, img)
}

// TestReadOnlyRefuses checks that a read-only mount refuses every
// namespace and xattr write with EROFS and leaves the image unchanged.
func TestReadOnlyRefuses(t *testing.T) {
	img := mkfsTree(t, "8M", nil, func(src string) { mustWrite(t, filepath.Join(src, "f"), "f") })
	before, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	sb, _ := mountImage(t, img)
	rv, err := sb.Root()
	wantErrno(t, "root", err, 0)
	root := rv.(dirInode)
	fv, err := root.Lookup("f")
	wantErrno(t, "lookup", err, 0)
	for what, err := range map[string]error{
		"create":   func() error { _, err := root.Create(nowCtx, "x", 0o644); return err }(),
		"mkdir":    func() error { _, err := root.Mkdir(nowCtx, "x", 0o755); return err }(),
		"mknod":    func() error { _, err := root.Mknod(nowCtx, "x", abi.S_IFIFO|0o644, 0); return err }(),
		"symlink":  func() error { _, err := root.Symlink(nowCtx, "x", "y"); return err }(),
		"link":     root.Link(nowCtx, "x", fv),
		"unlink":   root.Unlink(nowCtx, "f"),
		"rmdir":    root.Rmdir(nowCtx, "lost+found"),
		"rename":   root.Rename(nowCtx, "f", root, "g", 0),
		"setxattr": fv.(vfs.XattrWriter).Setxattr(nowCtx, "user.x", []byte("y"), 0),
		"remove":   fv.(vfs.XattrWriter).Removexattr(nowCtx, "user.x"),
	} {
		wantErrno(t, what, err, abi.EROFS)
	}
	wantErrno(t, "evict", fv.(vfs.Evicter).Evict(), 0)
	sb.Unmount()
	if after, _ := os.ReadFile(img); !bytes.Equal(before, after) {
		t.Error("a read-only mount changed the image")
	}
}
