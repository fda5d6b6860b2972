package fusefs_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/lklimg/lklimg/fusefs"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
	"golang.org/x/sys/unix"
)

var shared testutil.SharedTree

func TestMain(m *testing.M) {
	code := m.Run()
	shared.Remove()
	os.Exit(code)
}

// served is an image's filesystem served over FUSE by this process.
type served struct {
	t    *testing.T
	k    *kernel.Kernel
	srv  *fuse.Server
	mnt  string
	dir  string           // the kernel's mount point
	root fs.InodeEmbedder // the served root, for fusefs.Nodes
}

// serve boots a kernel on img, mounts it (read-only if ro) and serves it
// on a new mount point, with the options lklfuse uses.
func serve(t *testing.T, img string, ro bool) *served {
	t.Helper()
	// Read-only, files are served without FUSE_OPEN, as lklfuse -o ro
	// serves them.
	return serveOpts(t, img, ro, fusefs.Options{NoOpen: ro})
}

// serveOpts is serve with o's settings (Kernel and Dir are the served
// image's).
func serveOpts(t *testing.T, img string, ro bool, o fusefs.Options) *served {
	t.Helper()
	testutil.NeedFUSE(t)
	k, err := kernel.Boot(kernel.Config{})
	if err != nil {
		t.Fatal(err)
	}
	disk, err := k.AddDisk(img, kernel.DiskOptions{ReadOnly: ro})
	if err != nil {
		t.Fatal(err)
	}
	var flags uint64
	if ro {
		flags = abi.MS_RDONLY
	}
	dir, err := k.MountDev(disk, "", flags, "") // the type probed
	if err != nil {
		t.Fatal(err)
	}
	o.Kernel, o.Dir = k, dir
	root, opts, err := fusefs.Root(o)
	if err != nil {
		t.Fatal(err)
	}
	mnt := t.TempDir()
	// Other users reach the mount (TestServeOwners).
	if err := os.Chmod(filepath.Dir(mnt), 0o755); err != nil {
		t.Fatal(err)
	}
	opts.MountOptions.DirectMount = true
	opts.MountOptions.AllowOther = true
	opts.MountOptions.FsName = img
	opts.MountOptions.Name = "lklfuse-test"
	if ro {
		opts.MountOptions.Options = append(opts.MountOptions.Options, "ro")
	}
	srv, err := fuse.NewServer(fusefs.NewRawFS(root, opts), mnt, &opts.MountOptions)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve()
	if err := srv.WaitMount(); err != nil {
		t.Fatal(err)
	}
	s := &served{t: t, k: k, srv: srv, mnt: mnt, dir: dir, root: root}
	t.Cleanup(func() {
		if s.srv != nil {
			s.srv.Unmount()
			s.k.Halt()
		}
	})
	return s
}

// stop unmounts the host's mount, then the kernel's (committing the
// journal), and halts the kernel.
func (s *served) stop() {
	s.t.Helper()
	if err := s.srv.Unmount(); err != nil {
		s.t.Fatalf("unmount %s: %v", s.mnt, err)
	}
	s.srv.Wait()
	fusefs.CloseAll(s.root)
	s.srv = nil
	if err := s.k.Chdir("/"); err != nil {
		s.t.Fatal(err)
	}
	if err := s.k.Umount(s.dir, 0); err != nil {
		s.t.Fatalf("umount %s in the kernel: %v", s.dir, err)
	}
	if err := s.k.Halt(); err != nil {
		s.t.Fatalf("halt: %v", err)
	}
}

// TestServeView: an image mkfs.ext4 -d filled with every kind of entry
// (hard links, symlinks, devices, fifos, sockets, xattrs, ACLs, holes)
// looks through the FUSE mount as through the host kernel's loop mount,
// entry by entry, inode numbers, birth times and statx attributes
// included.
func TestServeView(t *testing.T) {
	src, _ := shared.Get(t)
	img := filepath.Join(t.TempDir(), "img")
	testutil.MkfsExt4(t, img, src, "64M")
	want := testutil.LoopView(t, img)
	s := serve(t, img, true)
	got := testutil.MustScanDir(t, s.mnt)
	testutil.ExpectSame(t, "fuse vs loop", want, got, testutil.CompareOptions{})
	for p, want := range loopStatx(t, img) {
		var got unix.Statx_t
		if err := unix.Statx(unix.AT_FDCWD, filepath.Join(s.mnt, p), unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BASIC_STATS|unix.STATX_BTIME, &got); err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if got.Ino != want.Ino || got.Btime != want.Btime || got.Attributes&want.Attributes_mask != want.Attributes {
			t.Errorf("%s: inode %d, born %v, attributes %#x through FUSE; %d, %v, %#x in the image",
				p, got.Ino, got.Btime, got.Attributes, want.Ino, want.Btime, want.Attributes)
		}
	}
	s.stop()
}

// loopStatx returns the statx (inode number, birth time, attributes) of
// each path of img, as the host's loop mount shows them.
func loopStatx(t *testing.T, img string) map[string]unix.Statx_t {
	t.Helper()
	mnt, done := testutil.HostMount(t, img, "ro")
	defer done()
	stx := map[string]unix.Statx_t{}
	err := filepath.Walk(mnt, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(mnt, p)
		var x unix.Statx_t
		if err := unix.Statx(unix.AT_FDCWD, p, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BASIC_STATS|unix.STATX_BTIME, &x); err != nil {
			return err
		}
		stx[rel] = x
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return stx
}

// TestServeWrites: a tree made through the FUSE mount (every kind of
// entry, owners, xattrs, holes) is, after the unmount, in an image
// e2fsck -fn finds clean, as the host kernel shows it.
func TestServeWrites(t *testing.T) {
	img := filepath.Join(t.TempDir(), "img")
	testutil.MkfsExt4(t, img, "", "64M")
	s := serve(t, img, false)
	src := filepath.Join(s.mnt, "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	testutil.MakeTree(t, src)
	want := testutil.MustScanDir(t, src)
	s.stop()
	testutil.E2fsckClean(t, img)
	got := testutil.LoopView(t, img).Sub("src")
	testutil.ExpectSame(t, "written through fuse vs loop", want, got, testutil.CompareOptions{})
}

// TestServeOwners: what a user makes through the mount is owned by that
// user, with its umask, or by the group of a set-group-ID directory
// (which a new directory inherits), or with the mode a default ACL gives
// in place of the umask, as on a local filesystem; e2fsck -fn finds the
// image clean after.
func TestServeOwners(t *testing.T) {
	testutil.Need(t, "setfacl")
	img := filepath.Join(t.TempDir(), "img")
	testutil.MkfsExt4(t, img, "", "32M")
	s := serve(t, img, false)
	for _, d := range []string{"pub", "sgid", "acl"} {
		if err := os.Mkdir(filepath.Join(s.mnt, d), 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(s.mnt, d), 0o777); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(filepath.Join(s.mnt, "sgid"), 0, 50); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Chmod(filepath.Join(s.mnt, "sgid"), 0o2777); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "setfacl", "-d", "-m", "u::rwx,g::rwx,o::rwx", filepath.Join(s.mnt, "acl"))
	cmd := exec.Command("sh", "-c", "umask 027 && mkdir pub/d sgid/d acl/d && : >pub/f && : >sgid/f && : >acl/f && mkfifo pub/p && ln -s f pub/l")
	cmd.Dir = s.mnt
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 1000, Gid: 1000}}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("as uid 1000: %v\n%s", err, out)
	}
	for _, c := range []struct {
		path     string
		mode     uint32
		uid, gid uint32
	}{
		{"pub/d", syscall.S_IFDIR | 0o750, 1000, 1000},
		{"pub/f", syscall.S_IFREG | 0o640, 1000, 1000},
		{"pub/p", syscall.S_IFIFO | 0o640, 1000, 1000},
		{"pub/l", syscall.S_IFLNK | 0o777, 1000, 1000},
		{"sgid/d", syscall.S_IFDIR | syscall.S_ISGID | 0o750, 1000, 50},
		{"sgid/f", syscall.S_IFREG | 0o640, 1000, 50},
		{"acl/d", syscall.S_IFDIR | 0o777, 1000, 1000},
		{"acl/f", syscall.S_IFREG | 0o666, 1000, 1000},
	} {
		var st syscall.Stat_t
		if err := syscall.Lstat(filepath.Join(s.mnt, c.path), &st); err != nil {
			t.Errorf("%s: %v", c.path, err)
			continue
		}
		if st.Mode != c.mode || st.Uid != c.uid || st.Gid != c.gid {
			t.Errorf("%s: mode %o owner %d:%d, want %o %d:%d", c.path, st.Mode, st.Uid, st.Gid, c.mode, c.uid, c.gid)
		}
	}
	s.stop()
	testutil.E2fsckClean(t, img)
}

// TestServeStress: eight processes' worth of goroutines create, write,
// truncate, rename (onto each other's names), link, unlink, make and
// remove directories in a shared directory at once, through the mount;
// the tree they leave, seen through FUSE, is what the host kernel shows
// of the image after the unmount, entry by entry (contents, sizes,
// hard-link groups), and e2fsck -fn finds the image clean.
func TestServeStress(t *testing.T) {
	img := filepath.Join(t.TempDir(), "img")
	testutil.MkfsExt4(t, img, "", "128M")
	s := serve(t, img, false)
	shared := filepath.Join(s.mnt, "shared")
	if err := os.Mkdir(shared, 0o755); err != nil {
		t.Fatal(err)
	}
	const workers, ops = 8, 400
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- stress(shared, rand.New(rand.NewPCG(uint64(w), 42)), ops)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	want := testutil.MustScanDir(t, shared)
	s.stop()
	testutil.E2fsckClean(t, img)
	got := testutil.LoopView(t, img).Sub("shared")
	if len(want) < 20 {
		t.Errorf("only %d entries left: the stress did little", len(want))
	}
	testutil.ExpectSame(t, "through fuse vs loop after the stress", want, got, testutil.CompareOptions{})
}

// stress runs n random operations in dir. Errors the races between
// workers make (a name another worker just removed or renamed: ENOENT,
// EEXIST, ENOTEMPTY, ENOTDIR, EISDIR) are expected; others are not.
func stress(dir string, r *rand.Rand, n int) error {
	name := func() string { return filepath.Join(dir, fmt.Sprintf("n%02d", r.IntN(40))) }
	buf := make([]byte, 256<<10)
	for i := range n {
		var err error
		switch r.IntN(10) {
		case 0, 1:
			var f *os.File
			if f, err = os.OpenFile(name(), os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
				data := buf[:r.IntN(len(buf))]
				for j := range data {
					data[j] = byte(i + j)
				}
				_, err = f.WriteAt(data, int64(r.IntN(1<<20)))
				f.Close()
			}
		case 2:
			err = os.Truncate(name(), int64(r.IntN(1<<20)))
		case 3, 4:
			err = os.Rename(name(), name())
		case 5:
			err = os.Link(name(), name())
		case 6:
			err = os.Remove(name())
		case 7:
			err = os.Mkdir(name(), 0o755)
		case 8:
			err = os.Symlink(fmt.Sprintf("target-%d", i), name())
		case 9:
			var f *os.File
			if f, err = os.Open(name()); err == nil {
				_, err = f.ReadAt(buf[:4096], int64(r.IntN(1<<20)))
				f.Close()
				if errors.Is(err, io.EOF) {
					err = nil
				}
			}
		}
		if err != nil && !racy(err) {
			return err
		}
	}
	return nil
}

func racy(err error) bool {
	for _, e := range []error{syscall.ENOENT, syscall.EEXIST, syscall.ENOTEMPTY, syscall.ENOTDIR, syscall.EISDIR, syscall.EINVAL, syscall.EPERM} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// TestServeBoundedNodes: a walk of 3,000 entries through a mount that
// keeps at most 300 nodes leaves the server with about that many, not
// one per entry, and the view stays right: the tree equals the loop
// mount's, a file read after its name was dropped reads as it should,
// and a second walk finds the same.
func TestServeBoundedNodes(t *testing.T) {
	src := t.TempDir()
	for d := 0; d < 20; d++ {
		dir := filepath.Join(src, fmt.Sprintf("d%02d", d))
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for f := 0; f < 150; f++ {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%03d", f)), []byte(fmt.Sprint(d, f)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	img := filepath.Join(t.TempDir(), "img")
	testutil.MkfsExt4(t, img, src, "64M")
	want := testutil.LoopView(t, img)
	const max = 300
	s := serveOpts(t, img, true, fusefs.Options{MaxNodes: max})
	for walk := 0; walk < 2; walk++ {
		got := testutil.MustScanDir(t, s.mnt)
		testutil.ExpectSame(t, fmt.Sprintf("walk %d: fuse vs loop", walk), want, got, testutil.CompareOptions{})
		// The host's FORGETs come in batches after the walk.
		var n int
		for i := 0; i < 150; i++ {
			if n = fusefs.Nodes(s.root); n <= max+pruneSlack {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if n > max+pruneSlack {
			t.Errorf("walk %d: the server keeps %d nodes; want at most about %d", walk, n, max)
		}
	}
	if b, err := os.ReadFile(filepath.Join(s.mnt, "d00", "f000")); err != nil || string(b) != "0 0" {
		t.Errorf("d00/f000 after its name was dropped: %q, %v", b, err)
	}
}

// pruneSlack is how far past its bound the node count may be after a
// walk: the names of the directory being walked, which the host holds.
const pruneSlack = 200

// TestServeRenameRace: stats of a file through a descriptor of its
// directory, while another thread renames the directory back and forth,
// always find the file: the server never walks a path of go-fuse's tree
// between the kernel's rename and the tree's (which gave ENOENT).
func TestServeRenameRace(t *testing.T) {
	img := filepath.Join(t.TempDir(), "img")
	testutil.MkfsExt4(t, img, "", "32M")
	s := serve(t, img, false)
	if err := os.MkdirAll(filepath.Join(s.mnt, "a", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.mnt, "a", "sub", "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir, err := os.Open(filepath.Join(s.mnt, "a", "sub"))
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	fusefs.SetRenameDelay(time.Millisecond)
	defer fusefs.SetRenameDelay(0)
	done := make(chan struct{})
	go func() {
		defer close(done)
		names := []string{"a", "b"}
		for i := 0; i < 200; i++ {
			if err := os.Rename(filepath.Join(s.mnt, names[i%2]), filepath.Join(s.mnt, names[(i+1)%2])); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	misses := 0
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		var st unix.Stat_t
		if err := unix.Fstatat(int(dir.Fd()), "f", &st, 0); err != nil {
			misses++
		}
	}
	if misses > 0 {
		t.Errorf("%d stats of a file under a directory being renamed failed", misses)
	}
}

// TestServeCopyFileRange: copy_file_range(2) between two files of the
// mount is served by the kernel's (FUSE_COPY_FILE_RANGE), and after the
// unmount the copy is what the host kernel reads.
func TestServeCopyFileRange(t *testing.T) {
	img := filepath.Join(t.TempDir(), "img")
	testutil.MkfsExt4(t, img, "", "32M")
	s := serve(t, img, false)
	data := make([]byte, 3<<20+123)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	if err := os.WriteFile(filepath.Join(s.mnt, "src"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(filepath.Join(s.mnt, "src"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(filepath.Join(s.mnt, "dst"))
	if err != nil {
		t.Fatal(err)
	}
	offIn, offOut := int64(1000), int64(0)
	for offIn < int64(len(data)) {
		n, err := unix.CopyFileRange(int(in.Fd()), &offIn, int(out.Fd()), &offOut, 1<<20, 0)
		if err != nil || n == 0 {
			t.Fatalf("copy_file_range at %d: %d, %v", offIn, n, err)
		}
	}
	in.Close()
	out.Close()
	s.stop()
	mnt, done := testutil.HostMount(t, img, "ro")
	defer done()
	if got, err := os.ReadFile(filepath.Join(mnt, "dst")); err != nil || !bytes.Equal(got, data[1000:]) {
		t.Errorf("the copy read by the host kernel: %d bytes, %v; want the source from 1000", len(got), err)
	}
}
