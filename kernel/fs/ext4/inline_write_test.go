//go:build linux

package ext4_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/hostcopy"
	"github.com/lklimg/lklimg/internal/kerneltest"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
	"golang.org/x/sys/unix"
)

// The tests of inline_data writing (inline_write.go). Their oracles:
// e2fsck -fn after every step, the host kernel's view of the image (a
// loop mount compared entry by entry with a host directory that went
// through the same operations), and debugfs, which says which files are
// inline and with how much inline data, where the host kernel (6.x) puts
// them: a file inline while its data fit the in-inode area, a directory
// inline while its entries do.

// inlineStat is what debugfs says of a file: EXT4_INLINE_DATA_FL, i_size
// and the inline size (60 plus system.data's length).
type inlineStat struct {
	inline           bool
	size, inlineSize int64
}

var (
	debugfsFlags  = regexp.MustCompile(`Flags: (0x[0-9a-f]+)`)
	debugfsSize   = regexp.MustCompile(`Size: (\d+)`)
	debugfsInline = regexp.MustCompile(`Size of inline data: (\d+)`)
)

func statInline(t *testing.T, img, path string) inlineStat {
	t.Helper()
	out := string(testutil.Run(t, "debugfs", "-R", "stat "+path, img))
	num := func(re *regexp.Regexp) int64 {
		m := re.FindStringSubmatch(out)
		if m == nil {
			return -1
		}
		n, _ := strconv.ParseInt(m[1], 0, 64)
		return n
	}
	fl := num(debugfsFlags)
	if fl < 0 {
		t.Fatalf("debugfs stat %s: no flags in\n%s", path, out)
	}
	return inlineStat{inline: fl&0x10000000 != 0, size: num(debugfsSize), inlineSize: num(debugfsInline)}
}

// wantInline fails unless path is inline with the given inline size (or
// not inline, for inlineSize 0).
func wantInline(t *testing.T, img, path string, inlineSize int64) {
	t.Helper()
	st := statInline(t, img, path)
	switch {
	case inlineSize == 0 && st.inline:
		t.Errorf("%s: inline (size %d, inline size %d), want blocks", path, st.size, st.inlineSize)
	case inlineSize > 0 && (!st.inline || st.inlineSize != inlineSize):
		t.Errorf("%s: inline %v, inline size %d, want inline size %d", path, st.inline, st.inlineSize, inlineSize)
	}
}

// inlineImage makes an ext4 with inline_data of 64 MiB with extra mkfs
// arguments.
func inlineImage(t *testing.T, args ...string) string {
	t.Helper()
	testutil.Need(t, "mke2fs", "e2fsck", "debugfs")
	img := filepath.Join(t.TempDir(), "img")
	a := append([]string{"-q", "-F", "-t", "ext4", "-O", "inline_data"}, args...)
	testutil.Run(t, "mke2fs", append(a, img, "64M")...)
	// mke2fs refuses inline_data with 128-byte inodes; debugfs sets it.
	testutil.Run(t, "debugfs", "-w", "-R", "feature inline_data", img)
	return img
}

// inlineLayouts are the layouts of the tests, with the largest inline
// size a new inode gets (60 plus what the in-inode area leaves for
// system.data after i_extra_isize 32).
var inlineLayouts = []struct {
	name string
	args []string
	max  int64
}{
	{"inode-256", []string{"-b", "4096"}, 128},
	{"inode-1024", []string{"-b", "4096", "-I", "1024"}, 896},
	{"blocksize-1024", []string{"-b", "1024"}, 128},
	{"no-metadata_csum", []string{"-b", "4096", "-O", "^metadata_csum"}, 128},
	{"no-extents", []string{"-b", "4096", "-O", "^extent,^64bit"}, 128},
	// No in-inode xattr area: nothing is ever inline.
	{"inode-128", []string{"-b", "4096", "-I", "128", "-O", "^inline_data"}, 0},
}

// inlineSizes are the file sizes around the inline limits.
func inlineSizes(max int64) []int64 {
	return []int64{0, 1, 59, 60, 61, max - 1, max, max + 1, 5000}
}

// makeInlineTree writes a tree of files, directories and links around the
// inline limits under dir.
func makeInlineTree(t *testing.T, dir string, max int64) {
	t.Helper()
	w := func(name string, data []byte) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range inlineSizes(max) {
		w(fmt.Sprintf("f%d", n), patterned(n))
	}
	w("small/a", []byte("a"))
	w("small/b", []byte("bb"))
	w("small/c", nil)
	for i := 1; i <= 6; i++ {
		w(fmt.Sprintf("six/n%d", i), []byte{byte(i)})
	}
	for i := range 60 {
		w(fmt.Sprintf("grow/entry%02d", i), nil)
	}
	for i := range 400 {
		w(fmt.Sprintf("htree/a-longer-name-for-the-index-%03d", i), []byte("x"))
	}
	for i := range 30 {
		w(fmt.Sprintf("dirs/d%02d/f", i), patterned(int64(i*7)))
	}
	for _, n := range []int{10, 59, 60, 100} {
		if err := os.Symlink(strings.Repeat("t", n), filepath.Join(dir, fmt.Sprintf("l%d", n))); err != nil {
			t.Fatal(err)
		}
	}
	w("xa", []byte("0123456789"))
	w("xb", patterned(100))
	for name, v := range map[string]string{"xa": "hello", "xb": strings.Repeat("v", 200)} {
		if err := unix.Lsetxattr(filepath.Join(dir, name), "user.a", []byte(v), 0); err != nil {
			testutil.Skip(t, "user xattrs on the host: %v", err)
		}
	}
}

// patterned returns n bytes that differ from block to block.
func patterned(n int64) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

// compareHost compares the host kernel's view of img with the tree want,
// entry by entry.
func compareHost(t *testing.T, img string, want testutil.Tree, skip []string, ignore ...string) {
	t.Helper()
	got := testutil.LoopView(t, img)
	o := testutil.CompareOptions{SkipPaths: append([]string{"lost+found"}, skip...), Ignore: ignore}
	if os.Geteuid() != 0 {
		o.Ignore = append(o.Ignore, "uid", "gid")
	}
	testutil.ExpectSame(t, "host view", want, got, o)
}

// linuxTwin copies img and makes the host kernel apply edit to the copy
// (mounted loop, read-write): the image Linux makes of the same steps.
func linuxTwin(t *testing.T, img string, edit func(o fsOps)) string {
	t.Helper()
	testutil.NeedLoop(t)
	twin := filepath.Join(t.TempDir(), "twin")
	testutil.Run(t, "cp", "--sparse=always", img, twin)
	mnt := t.TempDir()
	testutil.Run(t, "mount", "-o", "loop", twin, mnt)
	edit(hostOps{t, mnt})
	testutil.Run(t, "umount", mnt)
	testutil.E2fsckClean(t, twin)
	return twin
}

// sameInline fails for each path that is inline in one image and not in
// the other, or with another inline size or i_size.
func sameInline(t *testing.T, img, twin string, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if a, b := statInline(t, img, p), statInline(t, twin, p); a != b {
			t.Errorf("%s: inline %v, size %d, inline size %d; Linux made inline %v, size %d, inline size %d",
				p, a.inline, a.size, a.inlineSize, b.inline, b.size, b.inlineSize)
		}
	}
}

// TestInlineCopyTree copies trees into inline_data filesystems as cptofs
// does: small files and directories must be inline exactly where Linux
// makes them so, larger ones in blocks, a directory past its inline room
// a block directory, and past one block an htree.
func TestInlineCopyTree(t *testing.T) {
	for i, l := range inlineLayouts {
		if l.max == 0 {
			continue // TestInlineEdits has it
		}
		t.Run(l.name, func(t *testing.T) {
			src := filepath.Join(t.TempDir(), "src")
			makeInlineTree(t, src, l.max)
			if i == 0 {
				testutil.MakeTree(t, filepath.Join(src, "rich"))
			}
			img := inlineImage(t, l.args...)
			kerneltest.WithKernel(t, img, "", func(k *kernel.Kernel, must func(string, error)) {
				var errs []string
				opts := hostcopy.Options{Owners: os.Geteuid() == 0, Report: func(err error) { errs = append(errs, err.Error()) }}
				if err := hostcopy.To(k, "/mnt", []string{src + "/."}, "/", opts); err != nil || len(errs) > 0 {
					t.Fatalf("hostcopy.To: %v %q", err, errs)
				}
			})
			testutil.E2fsckClean(t, img)
			compareHost(t, img, testutil.MustScanDir(t, src), nil)
			for _, n := range inlineSizes(l.max) {
				want := int64(0)
				if n > 0 && n <= l.max {
					want = max(n, 60)
				}
				wantInline(t, img, fmt.Sprintf("f%d", n), want)
			}
			wantInline(t, img, "small", 60)
			wantInline(t, img, "six", l.max)
			wantInline(t, img, "dirs/d03", 60)
			wantInline(t, img, "dirs/d03/f", 60)
			wantInline(t, img, "xa", 60)
			wantInline(t, img, "xb", 100)
			wantInline(t, img, "htree", 0)
			if l.max < 60*16 {
				wantInline(t, img, "grow", 0)
			}
			if fl := statInline(t, img, "htree"); fl.size <= 4096 {
				t.Errorf("htree: size %d, want several blocks", fl.size)
			}
		})
	}
}

// fsOps is one set of file operations, done on the image through the
// kernel or on a host directory, so that both can be compared.
type fsOps interface {
	write(path string, off int64, p []byte)
	truncate(path string, size int64)
	fallocate(path string, mode uint32, off, n int64)
	mkdir(path string)
	unlink(path string)
	rmdir(path string)
	rename(from, to string)
	exchange(a, b string) // renameat2 RENAME_EXCHANGE
	link(from, to string)
	symlink(target, path string)
	setxattr(path, name string, value []byte)
	sync()
}

type kernelOps struct {
	k    *kernel.Kernel
	must func(string, error)
}

func (o kernelOps) p(path string) string { return "/mnt/" + path }

func (o kernelOps) withFd(path string, flags int, do func(fd int) error) {
	fd, err := o.k.Openat(abi.AT_FDCWD, o.p(path), flags, 0o644)
	o.must("open "+path, err)
	o.must(path, do(fd))
	o.must("close "+path, o.k.Close(fd))
}

func (o kernelOps) write(path string, off int64, p []byte) {
	o.withFd(path, abi.O_CREAT|abi.O_WRONLY, func(fd int) error {
		_, err := o.k.Pwrite(fd, p, off)
		return err
	})
}

func (o kernelOps) truncate(path string, size int64) {
	o.must("truncate", o.k.Truncate(o.p(path), size))
}

// fallocate takes EOPNOTSUPP, which a block-mapped file gives (after its
// inline data moved to a block), for done.
func (o kernelOps) fallocate(path string, mode uint32, off, n int64) {
	o.withFd(path, abi.O_WRONLY, func(fd int) error {
		if err := o.k.Fallocate(fd, mode, off, n); !errors.Is(err, abi.EOPNOTSUPP) {
			return err
		}
		return nil
	})
}

func (o kernelOps) mkdir(path string) { o.must("mkdir", o.k.Mkdirat(abi.AT_FDCWD, o.p(path), 0o755)) }
func (o kernelOps) unlink(path string) {
	o.must("unlink "+path, o.k.Unlinkat(abi.AT_FDCWD, o.p(path), 0))
}
func (o kernelOps) rmdir(path string) {
	o.must("rmdir "+path, o.k.Unlinkat(abi.AT_FDCWD, o.p(path), abi.AT_REMOVEDIR))
}
func (o kernelOps) rename(from, to string) {
	o.must("rename "+from, o.k.Renameat2(abi.AT_FDCWD, o.p(from), abi.AT_FDCWD, o.p(to), 0))
}
func (o kernelOps) exchange(a, b string) {
	o.must("exchange "+a, o.k.Renameat2(abi.AT_FDCWD, o.p(a), abi.AT_FDCWD, o.p(b), abi.RENAME_EXCHANGE))
}
func (o kernelOps) link(from, to string) {
	o.must("link "+from, o.k.Linkat(abi.AT_FDCWD, o.p(from), abi.AT_FDCWD, o.p(to), 0))
}
func (o kernelOps) symlink(target, path string) {
	o.must("symlink "+path, o.k.Symlinkat(target, abi.AT_FDCWD, o.p(path)))
}
func (o kernelOps) sync() { o.must("sync", o.k.Sync()) }
func (o kernelOps) setxattr(path, name string, value []byte) {
	o.must("setxattr "+path, o.k.Setxattr(o.p(path), name, value, 0))
}

type hostOps struct {
	t   *testing.T
	dir string
}

func (o hostOps) p(path string) string { return filepath.Join(o.dir, path) }
func (o hostOps) must(err error) {
	o.t.Helper()
	if err != nil {
		o.t.Fatal(err)
	}
}

func (o hostOps) write(path string, off int64, p []byte) {
	f, err := os.OpenFile(o.p(path), os.O_CREATE|os.O_WRONLY, 0o644)
	o.must(err)
	_, err = f.WriteAt(p, off)
	o.must(err)
	o.must(f.Close())
}
func (o hostOps) truncate(path string, size int64) { o.must(os.Truncate(o.p(path), size)) }
func (o hostOps) fallocate(path string, mode uint32, off, n int64) {
	f, err := os.OpenFile(o.p(path), os.O_WRONLY, 0)
	o.must(err)
	if err := unix.Fallocate(int(f.Fd()), mode, off, n); err != unix.EOPNOTSUPP {
		o.must(err)
	}
	o.must(f.Close())
}
func (o hostOps) mkdir(path string)      { o.must(os.Mkdir(o.p(path), 0o755)) }
func (o hostOps) unlink(path string)     { o.must(os.Remove(o.p(path))) }
func (o hostOps) rmdir(path string)      { o.must(os.Remove(o.p(path))) }
func (o hostOps) rename(from, to string) { o.must(os.Rename(o.p(from), o.p(to))) }
func (o hostOps) link(from, to string)   { o.must(os.Link(o.p(from), o.p(to))) }
func (o hostOps) exchange(a, b string) {
	o.must(unix.Renameat2(unix.AT_FDCWD, o.p(a), unix.AT_FDCWD, o.p(b), unix.RENAME_EXCHANGE))
}
func (o hostOps) symlink(target, path string) {
	o.must(os.Symlink(target, o.p(path)))
}
func (o hostOps) sync() { unix.Sync() }
func (o hostOps) setxattr(path, name string, value []byte) {
	o.must(unix.Lsetxattr(o.p(path), name, value, 0))
}

// inlineEdits are the edits of TestInlineEdits: files grown by appends
// past the inline limit, truncated down and up, fallocated and punched;
// inline directories filled past their room (into a block, then an
// htree), emptied, renamed across parents, linked into, given xattrs.
func inlineEdits(o fsOps) {
	for i := range 100 {
		o.write("grown", int64(i*10), patterned(10))
	}
	o.write("shrunk70", 0, patterned(100))
	o.truncate("shrunk70", 70)
	o.write("shrunk20", 0, patterned(100))
	o.truncate("shrunk20", 20)
	o.write("up100", 0, patterned(10))
	o.truncate("up100", 100)
	o.write("up50", 0, patterned(10))
	o.truncate("up50", 50)
	o.write("falloc", 0, []byte("abc"))
	o.fallocate("falloc", unix.FALLOC_FL_KEEP_SIZE, 0, 10)
	o.write("punched", 0, []byte("abc"))
	o.fallocate("punched", unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, 0, 2)
	o.write("gap", 100, patterned(10))
	// An empty inline file extended past its inline size gets a block
	// that reads as zeros, whatever the block held before.
	for i := range 8 {
		o.write(fmt.Sprintf("junk%d", i), 0, bytes.Repeat([]byte{0xa5}, 8192))
	}
	o.sync()
	for i := range 8 {
		o.unlink(fmt.Sprintf("junk%d", i))
	}
	o.sync()
	o.write("emptied", 0, patterned(10))
	o.truncate("emptied", 0)
	o.truncate("emptied", 3000)

	o.mkdir("dd")
	for i := range 12 {
		o.write(fmt.Sprintf("dd/x%d", i), 0, nil)
	}
	o.unlink("dd/x2")
	o.mkdir("p1")
	o.mkdir("p2")
	o.mkdir("p1/sub")
	o.write("p1/sub/f", 0, []byte("in sub"))
	o.rename("p1/sub", "p2/sub")
	o.rmdir("p1")
	o.link("grown", "p2/hard")
	o.rename("p2/hard", "p2/hard2")
	o.symlink("../grown", "p2/soft")
	o.mkdir("x1")
	o.mkdir("x1/d")
	o.write("x1/f", 0, []byte("f"))
	o.mkdir("x2")
	o.write("x2/g", 0, []byte("g"))
	o.exchange("x1/d", "x2/g") // a directory and a file across inline parents
	o.exchange("x1/f", "x1/d") // within one
	o.setxattr("p2", "user.small", []byte("v"))
	o.setxattr("p2", "user.big", bytes.Repeat([]byte("w"), 200))
	o.setxattr("up50", "user.k", []byte("value"))
	o.write("up50", 50, patterned(60))
	o.mkdir("full")
	for i := range 300 {
		o.write(fmt.Sprintf("full/name-%03d", i), 0, []byte("y"))
	}
	o.rename("shrunk20", "full/shrunk20")
	o.mkdir("gone")
	o.write("gone/f", 0, []byte("z"))
	o.unlink("gone/f")
	o.rmdir("gone")
}

// TestInlineEdits makes the edits of inlineEdits through the kernel's
// syscalls on inline_data filesystems, and the host kernel on a copy of
// each: the host kernel must show both the same, and each file must be
// inline where Linux left it inline, with the inline size it gave it.
func TestInlineEdits(t *testing.T) {
	for _, l := range []int{0, 1, len(inlineLayouts) - 2, len(inlineLayouts) - 1} {
		l := inlineLayouts[l]
		t.Run(l.name, func(t *testing.T) {
			img := inlineImage(t, l.args...)
			twin := linuxTwin(t, img, inlineEdits)
			kerneltest.WithKernel(t, img, "", func(k *kernel.Kernel, must func(string, error)) {
				inlineEdits(kernelOps{k, must})
			})
			testutil.E2fsckClean(t, img)
			// Linux 6.18 loses on disk the zeros of a hole punched
			// into a file it just converted from inline (the block
			// goes through the journal, the zeros through the page
			// cache): it shows "\0\0c" until unmounted, "abc" after.
			compareHost(t, img, testutil.LoopView(t, twin), []string{"punched"}, "mtime")
			mnt, umount := testutil.HostMount(t, img, "ro")
			if b, err := os.ReadFile(filepath.Join(mnt, "punched")); err != nil || string(b) != "\x00\x00c" {
				t.Errorf("punched: %q, %v; want \"\\0\\0c\"", b, err)
			}
			umount()
			sameInline(t, img, twin, "grown", "shrunk70", "full/shrunk20", "up100", "up50", "falloc",
				"punched", "gap", "emptied", "dd", "p2", "p2/sub", "p2/sub/f", "full", "full/name-007", "x1", "x2", "x2/g")
			// What the edits are there for, lest both images agree on
			// something else.
			if l.max == 0 {
				wantInline(t, img, "shrunk70", 0)
				wantInline(t, img, "p2/sub", 0)
				return
			}
			wantInline(t, img, "grown", 0)
			wantInline(t, img, "shrunk70", 70)
			wantInline(t, img, "full/shrunk20", 60)
			wantInline(t, img, "up100", 0)
			wantInline(t, img, "falloc", 0)
			wantInline(t, img, "gap", 110)
			wantInline(t, img, "p2/sub", 60)
			wantInline(t, img, "full", 0)
		})
	}
}

// TestInlineHostImage edits, through the kernel, inline files and
// directories the host kernel wrote: some stay inline, some move to
// blocks; the host kernel must read the result back as it reads the same
// edits made by itself.
func TestInlineHostImage(t *testing.T) {
	img := inlineImage(t, "-b", "4096")
	img = linuxTwin(t, img, func(o fsOps) {
		o.write("s", 0, patterned(10))
		o.write("m", 0, patterned(100))
		o.mkdir("hd")
		o.mkdir("hd6")
		for i := range 3 {
			o.write(fmt.Sprintf("hd/e%d", i), 0, nil)
		}
		for i := range 6 {
			o.write(fmt.Sprintf("hd6/n%d", i), 0, nil)
		}
	})
	wantInline(t, img, "m", 100)
	wantInline(t, img, "hd6", 128)
	edits := func(o fsOps) {
		o.write("s", 10, patterned(10))
		o.write("m", 100, patterned(100))
		o.write("hd/e9", 0, []byte("new"))
		o.unlink("hd/e0")
		o.mkdir("hd/sub")
		for i := range 20 {
			o.write(fmt.Sprintf("hd6/more%d", i), 0, nil)
		}
		o.rename("hd6/n3", "hd/n3")
	}
	twin := linuxTwin(t, img, edits)
	kerneltest.WithKernel(t, img, "", func(k *kernel.Kernel, must func(string, error)) { edits(kernelOps{k, must}) })
	testutil.E2fsckClean(t, img)
	compareHost(t, img, testutil.LoopView(t, twin), nil, "mtime")
	sameInline(t, img, twin, "s", "m", "hd", "hd6", "hd/sub")
	wantInline(t, img, "s", 60)
	wantInline(t, img, "m", 0)
	wantInline(t, img, "hd6", 0)
}
