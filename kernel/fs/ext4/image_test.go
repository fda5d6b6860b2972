//go:build linux

package ext4

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
	"golang.org/x/sys/unix"
)

const (
	bigDirEntries = 3000
	gib           = int64(1) << 30
	sparseDataOff = 4*gib + gib/2
	sparseSize    = 5 * gib
)

// symlinkTarget returns a relative target of exactly n bytes.
func symlinkTarget(n int) string {
	var b strings.Builder
	for b.Len() < n {
		if b.Len()%100 == 99 {
			b.WriteByte('/')
		} else {
			b.WriteByte('a' + byte(b.Len()%26))
		}
	}
	s := b.String()
	return strings.TrimRight(s[:n-1], "/") + strings.Repeat("z", n-len(strings.TrimRight(s[:n-1], "/")))
}

func writeAt(t *testing.T, path string, size int64, chunks map[int64][]byte) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for off, b := range chunks {
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
}

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	r.Read(b)
	return b
}

// buildTree makes the source tree every image variant is built from. It
// returns whether device nodes were made (only as root).
func buildTree(t *testing.T, dir string) (devices bool) {
	t.Helper()
	r := rand.New(rand.NewSource(1))
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	p := func(name string) string { return filepath.Join(dir, name) }
	must(os.WriteFile(p("empty"), nil, 0o644))
	must(os.WriteFile(p("small"), []byte("hello, world\n"), 0o644))
	must(os.WriteFile(p("multi"), randBytes(r, 200<<10+17), 0o600))
	writeAt(t, p("holes"), 3<<20, map[int64][]byte{0: randBytes(r, 64<<10), 1 << 20: randBytes(r, 64<<10)})
	frag := map[int64][]byte{}
	for i := int64(0); i < 40; i++ {
		frag[i*(64<<10)] = randBytes(r, 4<<10)
	}
	writeAt(t, p("frag"), 40*(64<<10), frag)
	writeAt(t, p("sparse5g"), sparseSize, map[int64][]byte{sparseDataOff: randBytes(r, 64<<10)})
	must(os.WriteFile(p("suid"), []byte("#!/bin/sh\n"), 0o755))
	must(os.Chmod(p("suid"), 0o4755|os.ModeSetuid))
	must(syscall.Chmod(p("suid"), 0o4755))
	must(os.Lchown(p("suid"), 70000, 80000))
	must(os.Lchown(p("small"), 1000, 2000))
	must(os.MkdirAll(p("dir/sub"), 0o755))
	must(os.WriteFile(p("dir/sub/file"), []byte("nested"), 0o644))
	must(syscall.Chmod(p("dir"), 0o1777))
	must(os.Mkdir(p("big"), 0o755))
	for i := 0; i < bigDirEntries; i++ {
		must(os.WriteFile(p(fmt.Sprintf("big/entry-%04d-%s", i, strings.Repeat("q", i%40))), nil, 0o644))
	}
	for _, n := range []int{1, 59, 60, 61, 200, 1000} {
		must(os.Symlink(symlinkTarget(n), p(fmt.Sprintf("sym%d", n))))
	}
	must(os.Symlink("/etc/passwd", p("symabs")))
	must(os.WriteFile(p("hl1"), []byte("linked"), 0o644))
	must(os.Link(p("hl1"), p("hl2")))
	must(os.Link(p("hl1"), p("dir/hl3")))
	must(os.WriteFile(p(strings.Repeat("n", 255)), []byte("long name"), 0o644))
	must(syscall.Mkfifo(p("fifo"), 0o600))
	if os.Geteuid() == 0 {
		must(syscall.Mknod(p("null"), syscall.S_IFCHR|0o666, int(abi.Makedev(1, 3))))
		must(syscall.Mknod(p("sda1"), syscall.S_IFBLK|0o660, int(abi.Makedev(8, 1))))
		must(syscall.Mknod(p("chrbig"), syscall.S_IFCHR|0o600, int(abi.Makedev(300, 70000))))
		devices = true
	}
	must(os.WriteFile(p("xattrs"), []byte("x"), 0o644))
	for name, v := range map[string]string{
		"user.foo": "bar", "user.empty": "", "trusted.t": "1", "security.s": "sec",
		"user.big": strings.Repeat("B", 500), "user.big2": strings.Repeat("C", 100),
	} {
		must(syscall.Setxattr(p("xattrs"), name, []byte(v), 0))
	}
	must(os.WriteFile(p("acl"), []byte("acl"), 0o640))
	must(os.Mkdir(p("acldir"), 0o750))
	if setfacl, err := exec.LookPath("setfacl"); err == nil {
		testutil.Run(t, setfacl, "-m", "u:1234:rwx,g:55:r-x", p("acl"))
		testutil.Run(t, setfacl, "-d", "-m", "u:1234:r-x,g:66:rwx", p("acldir"))
		testutil.Run(t, setfacl, "-m", "u:4321:r--", p("acldir"))
	}
	// Times: nanoseconds, before 1970, after 2038.
	for name, tm := range map[string]time.Time{
		"small":  time.Date(2020, 1, 2, 3, 4, 5, 123456789, time.UTC),
		"multi":  time.Date(1965, 6, 7, 8, 9, 10, 0, time.UTC),
		"hl1":    time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC),
		"dir":    time.Date(2001, 2, 3, 4, 5, 6, 700, time.UTC),
		"sym200": time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		ts := []syscall.Timespec{syscall.NsecToTimespec(tm.UnixNano()), syscall.NsecToTimespec(tm.UnixNano())}
		if tm.Year() >= 2100 || tm.Year() < 1970 {
			ts = []syscall.Timespec{{Sec: tm.Unix()}, {Sec: tm.Unix()}}
		}
		must(utimensat(p(name), ts))
	}
	return devices
}

// utimensat sets times without following a symlink.
func utimensat(path string, ts []syscall.Timespec) error {
	uts := []unix.Timespec{{Sec: ts[0].Sec, Nsec: ts[0].Nsec}, {Sec: ts[1].Sec, Nsec: ts[1].Nsec}}
	return unix.UtimesNanoAt(unix.AT_FDCWD, path, uts, unix.AT_SYMLINK_NOFOLLOW)
}

type variant struct {
	name  string
	args  []string
	index bool   // run e2fsck -fyD to build htree indexes
	tune  string // tune2fs -E option before indexing
}

var variants = []variant{
	{name: "ext4"},
	{name: "ext2", args: []string{"-t", "ext2"}, index: true},
	{name: "ext3", args: []string{"-t", "ext3"}},
	{name: "1k", args: []string{"-b", "1024"}},
	{name: "2k", args: []string{"-b", "2048"}},
	{name: "i128", args: []string{"-I", "128"}},
	{name: "no64bit", args: []string{"-O", "^64bit"}},
	{name: "nocsum", args: []string{"-O", "^metadata_csum"}, index: true},
	{name: "metabg", args: []string{"-O", "meta_bg,^resize_inode"}},
	{name: "htree", index: true},
	{name: "htree-tea", index: true, tune: "hash_alg=tea"},
	{name: "htree-legacy-1k", args: []string{"-b", "1024"}, index: true, tune: "hash_alg=legacy"},
	{name: "64k", args: []string{"-b", "65536"}},
	{name: "bigalloc", args: []string{"-O", "bigalloc", "-C", "16384"}},
	{name: "sparse_super2", args: []string{"-O", "sparse_super2"}},
	{name: "i1024", args: []string{"-I", "1024"}},
	{name: "nofiletype", args: []string{"-t", "ext2", "-O", "^filetype"}},
	// No inline_data variant: mkfs.ext4 1.47.0 -d loses trailing holes
	// of files when inline_data is on (i_size 1024 for a 3 MiB file);
	// TestLoopOracle/inline and TestSmallImageVariants cover inline data.
	{name: "csum_seed", args: []string{"-O", "metadata_csum_seed", "-U", "6b33f586-a183-4383-921d-30da7f8f1a0c"}},
}

// makeImage builds an image of src with mkfs.ext4 -d and the variant's
// options, checks it with e2fsck and returns its path.
func makeImage(t *testing.T, src string, v variant) string {
	t.Helper()
	tools := testutil.Need(t, "mkfs.ext4", "debugfs", "e2fsck", "tune2fs")
	img := filepath.Join(t.TempDir(), v.name+".img")
	args := append([]string{"-q", "-F", "-N", "8192", "-E", "root_owner=0:0"}, v.args...)
	args = append(args, "-d", src, img, "1G")
	testutil.Run(t, tools[0], args...)
	if v.tune != "" {
		testutil.Run(t, tools[3], "-E", v.tune, img)
	}
	if v.index {
		// e2fsck -D indexes directories; exit status 1 means it changed
		// the filesystem, which is what is asked.
		out, err := exec.Command(tools[2], "-fyD", img).CombinedOutput()
		var ee *exec.ExitError
		if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 1) {
			t.Fatalf("e2fsck -fyD: %v\n%s", err, out)
		}
	}
	if out, err := exec.Command(tools[2], "-fn", img).CombinedOutput(); err != nil {
		t.Fatalf("e2fsck -fn %s: %v\n%s", img, err, out)
	}
	return img
}

// hostXattrs lists a source file's attributes.
func hostXattrs(t *testing.T, path string) map[string][]byte {
	t.Helper()
	buf := make([]byte, 64<<10)
	n, err := unix.Llistxattr(path, buf)
	if err != nil {
		if errors.Is(err, syscall.ENOTSUP) {
			return nil
		}
		t.Fatalf("listxattr %s: %v", path, err)
	}
	m := map[string][]byte{}
	for _, name := range strings.Split(string(buf[:n]), "\x00") {
		if name == "" {
			continue
		}
		v := make([]byte, 64<<10)
		k, err := unix.Lgetxattr(path, name, v)
		if err != nil {
			t.Fatalf("getxattr %s %s: %v", path, name, err)
		}
		m[name] = v[:k]
	}
	return m
}

// treeChecker compares a mounted image with its source tree.
type treeChecker struct {
	t        *testing.T
	v        variant
	sb       vfs.Superblock
	small    bool              // 128-byte inodes: no extra time fields
	links    map[uint64]uint64 // source ino -> image ino
	nfiles   int
	xattrsOK bool
}

func (c *treeChecker) check(src string, ip vfs.Inode, rel string) {
	t := c.t
	var st syscall.Stat_t
	if err := syscall.Lstat(src, &st); err != nil {
		t.Fatal(err)
	}
	a, err := ip.Getattr()
	if err != nil {
		t.Fatalf("%s: getattr: %v", rel, err)
	}
	c.nfiles++
	if a.Ino != ip.Ino() {
		t.Errorf("%s: Attr.Ino %d != Ino() %d", rel, a.Ino, ip.Ino())
	}
	if rel != "/" {
		if a.Mode != st.Mode || a.Uid != st.Uid || a.Gid != st.Gid {
			t.Errorf("%s: mode/uid/gid %o/%d/%d, want %o/%d/%d", rel, a.Mode, a.Uid, a.Gid, st.Mode, st.Uid, st.Gid)
		}
		// mkfs.ext4 -d (e2fsprogs 1.47.0) stores seconds only, in 32 bits;
		// later versions keep nanoseconds and the epoch bits.
		wantSec := st.Mtim.Sec
		okSec := a.Mtime.Sec == wantSec || a.Mtime.Sec == int64(int32(wantSec))
		okNsec := a.Mtime.Nsec == st.Mtim.Nsec || a.Mtime.Nsec == 0
		if !okSec || !okNsec {
			t.Errorf("%s: mtime %v, want %d.%09d", rel, a.Mtime, st.Mtim.Sec, st.Mtim.Nsec)
		}
		if !c.small && c.v.name != "ext2" && c.v.name != "ext3" && !a.HasBtime {
			t.Errorf("%s: no btime", rel)
		}
	}
	if a.Blksize == 0 || a.Nlink == 0 {
		t.Errorf("%s: blksize %d nlink %d", rel, a.Blksize, a.Nlink)
	}
	if c.xattrsOK && rel != "/" {
		c.checkXattrs(src, ip, rel)
	}
	switch st.Mode & syscall.S_IFMT {
	case syscall.S_IFDIR:
		c.checkDir(src, ip, rel)
	case syscall.S_IFREG:
		if int64(a.Nlink) != int64(st.Nlink) {
			t.Errorf("%s: nlink %d, want %d", rel, a.Nlink, st.Nlink)
		}
		if prev, ok := c.links[st.Ino]; ok && prev != a.Ino {
			t.Errorf("%s: hard link has ino %d, its sibling %d", rel, a.Ino, prev)
		}
		c.links[st.Ino] = a.Ino
		if a.Size != st.Size {
			t.Errorf("%s: size %d, want %d", rel, a.Size, st.Size)
		}
		if st.Size > 64<<20 {
			return // checked by TestHoles
		}
		got, err := readAll(ip, 12345)
		if err != nil {
			t.Errorf("%s: read: %v", rel, err)
			return
		}
		want, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if sha256.Sum256(got) != sha256.Sum256(want) {
			t.Errorf("%s: content differs (%d bytes, want %d)", rel, len(got), len(want))
		}
	case syscall.S_IFLNK:
		want, _ := os.Readlink(src)
		l, ok := ip.(vfs.Readlinker)
		if !ok {
			t.Errorf("%s: not a Readlinker", rel)
			return
		}
		got, err := l.Readlink()
		if err != nil || got != want {
			t.Errorf("%s: readlink %q (%v), want %q", rel, got, err, want)
		}
		if a.Size != int64(len(want)) {
			t.Errorf("%s: size %d, want %d", rel, a.Size, len(want))
		}
	case syscall.S_IFCHR, syscall.S_IFBLK:
		if a.Rdev != st.Rdev {
			t.Errorf("%s: rdev %d:%d, want %d:%d", rel, abi.Major(a.Rdev), abi.Minor(a.Rdev), abi.Major(st.Rdev), abi.Minor(st.Rdev))
		}
	}
}

func (c *treeChecker) checkXattrs(src string, ip vfs.Inode, rel string) {
	t := c.t
	want := hostXattrs(t, src)
	x, ok := ip.(vfs.Xattrer)
	if !ok {
		t.Errorf("%s: not an Xattrer", rel)
		return
	}
	names, err := x.Listxattr()
	if err != nil {
		t.Errorf("%s: listxattr: %v", rel, err)
		return
	}
	var wantNames []string
	for n := range want {
		wantNames = append(wantNames, n)
	}
	sort.Strings(names)
	sort.Strings(wantNames)
	if !slices.Equal(names, wantNames) {
		t.Errorf("%s: xattrs %q, want %q", rel, names, wantNames)
	}
	for n, v := range want {
		got, err := x.Getxattr(n)
		if err != nil || !bytes.Equal(got, v) {
			t.Errorf("%s: getxattr %s = %q (%v), want %q", rel, n, got, err, v)
		}
	}
	if _, err := x.Getxattr("user.nonexistent"); !errors.Is(err, abi.ENODATA) {
		t.Errorf("%s: getxattr of a missing name: %v, want ENODATA", rel, err)
	}
}

func (c *treeChecker) checkDir(src string, ip vfs.Inode, rel string) {
	t := c.t
	ents, err := readDirAll(ip)
	if err != nil {
		t.Errorf("%s: readdir: %v", rel, err)
		return
	}
	hostEnts, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	var want, got []string
	for _, e := range hostEnts {
		want = append(want, e.Name())
	}
	byName := map[string]vfs.DirEntry{}
	for _, e := range ents {
		if rel == "/" && e.Name == "lost+found" {
			continue
		}
		got = append(got, e.Name)
		byName[e.Name] = e
	}
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Errorf("%s: %d entries, want %d; first difference in %q vs %q", rel, len(got), len(want), head(got), head(want))
		return
	}
	d := ip.(vfs.Lookuper)
	for _, name := range want {
		child, err := d.Lookup(name)
		if err != nil {
			t.Errorf("%s: lookup %q: %v", rel, name, err)
			continue
		}
		e := byName[name]
		a, _ := child.Getattr()
		wantType := abi.DTFromMode(a.Mode)
		if c.v.name == "nofiletype" {
			wantType = abi.DT_UNKNOWN // no file_type in the entries
		}
		if e.Ino != child.Ino() || e.Type != wantType {
			t.Errorf("%s/%s: dirent ino %d type %d, inode %d type %d", rel, name, e.Ino, e.Type, child.Ino(), abi.DTFromMode(a.Mode))
		}
		c.check(filepath.Join(src, name), child, filepath.Join(rel, name))
	}
	if _, err := d.Lookup("no-such-name"); !errors.Is(err, abi.ENOENT) {
		t.Errorf("%s: lookup of a missing name: %v, want ENOENT", rel, err)
	}
}

func head(s []string) []string {
	if len(s) > 5 {
		return s[:5]
	}
	return s
}

// sourceTree builds the shared source tree once per test binary run.
var sourceTree struct {
	once    sync.Once
	dir     string
	devices bool
}

func getSource(t *testing.T) string {
	sourceTree.once.Do(func() {
		dir, err := os.MkdirTemp("", "ext4-src-")
		if err != nil {
			t.Fatal(err)
		}
		sourceTree.dir = dir
		sourceTree.devices = buildTree(t, dir)
	})
	if sourceTree.dir == "" {
		t.Fatal("source tree not built")
	}
	return sourceTree.dir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if sourceTree.dir != "" {
		os.RemoveAll(sourceTree.dir)
	}
	os.Exit(code)
}

func TestImages(t *testing.T) {
	testutil.Need(t, "mkfs.ext4", "debugfs", "e2fsck", "tune2fs")
	src := getSource(t)
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			img := makeImage(t, src, v)
			sb, log := mountImage(t, img)
			t.Logf("log:\n%s", log)
			c := &treeChecker{t: t, v: v, sb: sb, links: map[uint64]uint64{}, xattrsOK: true}
			c.small = v.name == "i128"
			root, err := sb.Root()
			if err != nil {
				t.Fatal(err)
			}
			c.check(src, root, "/")
			if c.nfiles < bigDirEntries {
				t.Errorf("walked %d files", c.nfiles)
			}
			checkHoles(t, sb)
			checkStatfs(t, sb, img)
			checkReadDirResume(t, sb)
			if v.index {
				checkIndexed(t, sb, img)
			}
		})
	}
}

// checkHoles checks the files with known holes: SeekData, SeekHole and the
// zeros in between.
func checkHoles(t *testing.T, sb vfs.Superblock) {
	t.Helper()
	type seek struct {
		fn   string
		off  int64
		want int64 // -1: ENXIO
	}
	k := int64(64 << 10)
	cases := map[string][]seek{
		"holes": {
			{"data", 0, 0}, {"hole", 0, k}, {"data", k, 1 << 20}, {"data", 100, 100},
			{"hole", 1 << 20, 1<<20 + k}, {"data", 1<<20 + k, -1}, {"hole", 2 << 20, 2 << 20}, {"data", 3 << 20, -1},
		},
		"sparse5g": {
			{"data", 0, sparseDataOff}, {"hole", 0, 0}, {"hole", sparseDataOff, sparseDataOff + k},
			{"data", sparseDataOff + k, -1}, {"hole", sparseSize - 1, sparseSize - 1},
		},
		"frag": {{"data", 4 << 10, k}, {"hole", k, k + 4<<10}, {"data", 39 * k, 39 * k}},
	}
	if st, _ := sb.Statfs(); st.Bsize > 4096 {
		delete(cases, "frag") // its 4 KiB pieces share blocks
	}
	for name, seeks := range cases {
		ip, err := lookupPath(sb, name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		s := ip.(vfs.Seeker)
		for _, c := range seeks {
			var got int64
			if c.fn == "data" {
				got, err = s.SeekData(c.off)
			} else {
				got, err = s.SeekHole(c.off)
			}
			if c.want == -1 {
				if !errors.Is(err, abi.ENXIO) {
					t.Errorf("%s: seek %s %d = %d, %v; want ENXIO", name, c.fn, c.off, got, err)
				}
			} else if err != nil || got != c.want {
				t.Errorf("%s: seek %s %d = %d, %v; want %d", name, c.fn, c.off, got, err, c.want)
			}
		}
	}
	ip, err := lookupPath(sb, "sparse5g")
	if err != nil {
		t.Fatal(err)
	}
	r := ip.(vfs.FileReader)
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = 0xAA
	}
	if n, err := r.ReadAt(buf, gib); n != len(buf) || err != nil || !bytes.Equal(buf, make([]byte, len(buf))) {
		t.Errorf("sparse5g: hole read %d, %v, zeros %v", n, err, bytes.Equal(buf, make([]byte, len(buf))))
	}
	data := make([]byte, k+100)
	n, err := r.ReadAt(data, sparseDataOff-50)
	if n != len(data) || err != nil || !bytes.Equal(data[:50], make([]byte, 50)) || bytes.Equal(data[50:150], make([]byte, 100)) {
		t.Errorf("sparse5g: read across data start: %d, %v", n, err)
	}
	src, _ := os.Open(filepath.Join(sourceTree.dir, "sparse5g"))
	defer src.Close()
	srcData := make([]byte, len(data))
	src.ReadAt(srcData, sparseDataOff-50)
	if !bytes.Equal(srcData, data) {
		t.Errorf("sparse5g: data differs")
	}
	tail := make([]byte, 100)
	if n, err := r.ReadAt(tail, sparseSize-10); n != 10 || err == nil {
		t.Errorf("sparse5g: read at end: %d, %v; want 10, EOF", n, err)
	}
}

// dumpe2fs returns the superblock fields dumpe2fs -h prints.
func dumpe2fs(t *testing.T, img string) map[string]string {
	t.Helper()
	out := testutil.Run(t, "dumpe2fs", "-h", img)
	m := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return m
}

func checkStatfs(t *testing.T, sb vfs.Superblock, img string) {
	t.Helper()
	st, err := sb.Statfs()
	if err != nil {
		t.Fatal(err)
	}
	d := dumpe2fs(t, img)
	want := fmt.Sprintf("%s %s %s %s", d["Block size"], d["Free blocks"], d["Inode count"], d["Free inodes"])
	got := fmt.Sprintf("%d %d %d %d", st.Bsize, st.Bfree, st.Files, st.Ffree)
	if got != want || st.Type != 0xEF53 || st.Namelen != 255 || st.Blocks == 0 || st.Bavail > st.Bfree {
		t.Errorf("statfs %+v; want bsize/bfree/files/ffree %s", st, want)
	}
}

// checkReadDirResume reads the big directory a few entries at a time,
// resuming from each entry's Next.
func checkReadDirResume(t *testing.T, sb vfs.Superblock) {
	t.Helper()
	ip, err := lookupPath(sb, "big")
	if err != nil {
		t.Fatal(err)
	}
	all, err := readDirAll(ip)
	if err != nil {
		t.Fatal(err)
	}
	var got []vfs.DirEntry
	pos := int64(0)
	for {
		k := 0
		err := ip.(vfs.DirReader).ReadDir(pos, func(e vfs.DirEntry) bool {
			if k == 7 {
				return false
			}
			k++
			got = append(got, e)
			pos = e.Next
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
		if k == 0 {
			break
		}
	}
	if !slices.Equal(got, all) || len(all) != bigDirEntries {
		t.Errorf("resumed readdir: %d entries, want %d (%d)", len(got), len(all), bigDirEntries)
	}
}

// checkIndexed checks that the big directory is indexed and that lookups
// go through the hash tree.
func checkIndexed(t *testing.T, sb vfs.Superblock, img string) {
	t.Helper()
	ip, err := lookupPath(sb, "big")
	if err != nil {
		t.Fatal(err)
	}
	in := ip.(dirInode).inode
	if !in.isIndexed() {
		t.Fatalf("big is not indexed")
	}
	for i := 0; i < bigDirEntries; i += 7 {
		name := fmt.Sprintf("entry-%04d-%s", i, strings.Repeat("q", i%40))
		if _, err := in.dxLookup(name); err != nil {
			t.Fatalf("dxLookup(%s): %v", name, err)
		}
	}
}

// TestTimestamps sets nanoseconds, epoch bits and crtime with debugfs and
// checks the decoding (Documentation/filesystems/ext4/inodes.rst).
func TestTimestamps(t *testing.T) {
	tools := testutil.Need(t, "mkfs.ext4", "debugfs", "e2fsck")
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "a"), []byte("a"), 0o644)
	img := filepath.Join(t.TempDir(), "ts.img")
	testutil.Run(t, tools[0], "-q", "-F", "-d", src, img, "8M")
	// 2100-01-01: the low 32 bits read as a negative int32; epoch 1.
	sec2100 := time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	cmds := []string{
		fmt.Sprintf("sif /a mtime @%d", sec2100),
		fmt.Sprintf("sif /a mtime_extra %d", 123456789<<2|1),
		fmt.Sprintf("sif /a atime @%d", -1<<31), // 1901 with epoch 0
		"sif /a atime_extra 0",
		fmt.Sprintf("sif /a ctime @%d", 1000),
		fmt.Sprintf("sif /a ctime_extra %d", 999999999<<2|3),
		fmt.Sprintf("sif /a crtime @%d", 5),
		fmt.Sprintf("sif /a crtime_extra %d", 1<<2),
	}
	for _, c := range cmds {
		testutil.Run(t, tools[1], "-w", "-R", c, img)
	}
	sb, _ := mountImage(t, img)
	ip, err := lookupPath(sb, "a")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := ip.Getattr()
	for _, c := range []struct {
		name      string
		got, want abi.Timespec
	}{
		{"mtime", a.Mtime, abi.Timespec{Sec: sec2100, Nsec: 123456789}},
		{"atime", a.Atime, abi.Timespec{Sec: -1 << 31}},
		{"ctime", a.Ctime, abi.Timespec{Sec: 1000 + 3<<32, Nsec: 999999999}},
		{"btime", a.Btime, abi.Timespec{Sec: 5, Nsec: 1}},
	} {
		if c.got != c.want {
			t.Errorf("%s = %+v, want %+v", c.name, c.got, c.want)
		}
	}
	if !a.HasBtime {
		t.Errorf("no btime")
	}
}

// TestConcurrent walks and reads one mount from many goroutines.
func TestConcurrent(t *testing.T) {
	testutil.Need(t, "mkfs.ext4", "debugfs", "e2fsck", "tune2fs")
	src := getSource(t)
	img := makeImage(t, src, variant{name: "conc", index: true})
	sb, _ := mountImage(t, img)
	want, _ := os.ReadFile(filepath.Join(src, "multi"))
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				ip, err := lookupPath(sb, "multi")
				if err != nil {
					t.Error(err)
					return
				}
				got, err := readAll(ip, 4096+g*1000)
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("goroutine %d: read: %v", g, err)
					return
				}
				name := fmt.Sprintf("big/entry-%04d-%s", (g*131+i*17)%bigDirEntries, strings.Repeat("q", ((g*131+i*17)%bigDirEntries)%40))
				if _, err := lookupPath(sb, name); err != nil {
					t.Errorf("lookup %s: %v", name, err)
				}
			}
		}(g)
	}
	wg.Wait()
}

func TestReadahead(t *testing.T) {
	testutil.Need(t, "mkfs.ext4", "debugfs", "e2fsck", "tune2fs")
	src := getSource(t)
	img := makeImage(t, src, variant{name: "ra"})
	dev := openDev(t, img)
	sb, err := NewType().Mount(dev, abi.MS_RDONLY, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	ip, err := lookupPath(sb, "multi")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readAll(ip, 16<<10); err != nil {
		t.Fatal(err)
	}
	if dev.ra == 0 {
		t.Errorf("no readahead issued")
	}
}
