package kernel

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/lklimg/lklimg/kernel/abi"
)

// The syscall checks below run on any filesystem holding testTree: the
// fake one (kernel_test.go) and a real ext4 image made by mkfs.ext4
// (boot_test.go).

// bigData is the content of "big".
func bigData() []byte {
	b := make([]byte, 100000)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}

const helloData = "hello, world\n"

// env is a mounted testTree.
type env struct {
	k      *Kernel
	mnt    string // where it is mounted: "/mnt/vda1"
	clean  string // where testTree without "loop" is mounted, for fstest
	dev    uint64 // its st_dev
	btime  bool   // the filesystem reports birth times
	xattrs bool   // hello.txt has user.a=alpha and user.long=100*"x"
}

func (e *env) p(name string) string { return e.mnt + "/" + name }

func wantErr(t *testing.T, what string, err error, want abi.Errno) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: got %v, want %v", what, err, want)
	}
}

func (e *env) open(t *testing.T, name string, flags int) int {
	t.Helper()
	fd, err := e.k.Openat(abi.AT_FDCWD, e.p(name), flags, 0)
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	return fd
}

func (e *env) readAll(t *testing.T, fd int, chunk int) []byte {
	t.Helper()
	var out []byte
	buf := make([]byte, chunk)
	for {
		n, err := e.k.Read(fd, buf)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if n == 0 {
			return out
		}
		out = append(out, buf[:n]...)
	}
}

func checkOpenRead(t *testing.T, e *env) {
	k := e.k
	fd := e.open(t, "hello.txt", abi.O_RDONLY)
	if got := e.readAll(t, fd, 5); string(got) != helloData {
		t.Errorf("hello.txt: %q", got)
	}
	buf := make([]byte, 64)
	if n, err := k.Read(fd, buf); n != 0 || err != nil {
		t.Errorf("read at EOF: %d %v", n, err)
	}
	if n, err := k.Pread(fd, buf, 7); err != nil || string(buf[:n]) != "world\n" {
		t.Errorf("pread: %q %v", buf[:n], err)
	}
	if n, err := k.Pread(fd, buf, 1000); n != 0 || err != nil {
		t.Errorf("pread past EOF: %d %v", n, err)
	}
	_, err := k.Pread(fd, buf, -1)
	wantErr(t, "pread at -1", err, abi.EINVAL)
	if err := k.Close(fd); err != nil {
		t.Fatal(err)
	}
	_, err = k.Read(fd, buf)
	wantErr(t, "read of a closed fd", err, abi.EBADF)
	wantErr(t, "second close", k.Close(fd), abi.EBADF)
	wantErr(t, "close(-1)", k.Close(-1), abi.EBADF)

	// Through a symlink, and dirfd-relative.
	dfd := e.open(t, "", abi.O_RDONLY|abi.O_DIRECTORY)
	fd, err = k.Openat(dfd, "link", abi.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.readAll(t, fd, 100); string(got) != helloData {
		t.Errorf("via link: %q", got)
	}
	k.Close(fd)
	fd, err = k.Openat(dfd, "dirlink/../abslink", abi.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.readAll(t, fd, 100); string(got) != "A" {
		t.Errorf("via abslink: %q", got)
	}
	_, err = k.Openat(fd, "x", abi.O_RDONLY, 0)
	wantErr(t, "openat relative to a file", err, abi.ENOTDIR)
	k.Close(fd)
	if pfd, err := k.Openat(dfd, "..", abi.O_RDONLY, 0); err != nil {
		t.Errorf("openat ..: %v", err)
	} else {
		k.Close(pfd)
	}
	_, err = k.Read(dfd, buf)
	wantErr(t, "read of a directory", err, abi.EISDIR)
	k.Close(dfd)
	_, err = k.Openat(dfd, "link", abi.O_RDONLY, 0)
	wantErr(t, "openat on a closed dirfd", err, abi.EBADF)

	// The big file, in odd chunks and at random offsets.
	big := bigData()
	fd = e.open(t, "big", abi.O_RDONLY)
	if got := e.readAll(t, fd, 4099); !bytes.Equal(got, big) {
		t.Errorf("big: %d bytes, differ", len(got))
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 50; i++ {
		off := r.IntN(len(big) + 10)
		n := r.IntN(9000)
		b := make([]byte, n)
		got, err := k.Pread(fd, b, int64(off))
		if err != nil || !bytes.Equal(b[:got], big[min(off, len(big)):min(off+n, len(big))]) {
			t.Fatalf("pread %d@%d: %d %v", n, off, got, err)
		}
	}
	k.Close(fd)

	// Errors of openat.
	cases := []struct {
		name  string
		flags int
		want  abi.Errno
	}{
		{"nope", abi.O_RDONLY, abi.ENOENT},
		{"nope/x", abi.O_RDONLY, abi.ENOENT},
		{"hello.txt/x", abi.O_RDONLY, abi.ENOTDIR},
		{"hello.txt/", abi.O_RDONLY, abi.ENOTDIR},
		{"hello.txt", abi.O_RDONLY | abi.O_DIRECTORY, abi.ENOTDIR},
		{"link", abi.O_RDONLY | abi.O_DIRECTORY, abi.ENOTDIR},
		{"loop", abi.O_RDONLY, abi.ELOOP},
		{"loop/x", abi.O_RDONLY, abi.ELOOP},
		{"link", abi.O_RDONLY | abi.O_NOFOLLOW, abi.ELOOP},
		{"hello.txt", abi.O_WRONLY, abi.EROFS},
		{"hello.txt", abi.O_RDWR, abi.EROFS},
		{"hello.txt", abi.O_RDONLY | abi.O_TRUNC, abi.EROFS},
		{"newfile", abi.O_WRONLY | abi.O_CREAT, abi.EROFS},
		{"hello.txt", abi.O_RDONLY | abi.O_CREAT | abi.O_EXCL, abi.EEXIST},
		{"dir", abi.O_WRONLY, abi.EISDIR},
		{"dir", abi.O_RDONLY | abi.O_CREAT, abi.EISDIR},
		{"nope/new", abi.O_RDONLY | abi.O_CREAT, abi.ENOENT},
		{strings.Repeat("n", 256), abi.O_RDONLY, abi.ENAMETOOLONG},
	}
	for _, c := range cases {
		fd, err := k.Openat(abi.AT_FDCWD, e.p(c.name), c.flags, 0o644)
		if err == nil {
			k.Close(fd)
		}
		wantErr(t, fmt.Sprintf("open %.20s flags %#o", c.name, c.flags), err, c.want)
	}
	_, err = k.Openat(abi.AT_FDCWD, "", abi.O_RDONLY, 0)
	wantErr(t, "open of an empty path", err, abi.ENOENT)
	_, err = k.Openat(abi.AT_FDCWD, "/"+strings.Repeat("a/", 2048), abi.O_RDONLY, 0)
	wantErr(t, "open of a long path", err, abi.ENAMETOOLONG)

	// O_PATH opens the link itself with O_NOFOLLOW, and cannot be read.
	fd = e.open(t, "link", abi.O_PATH|abi.O_NOFOLLOW)
	_, err = k.Read(fd, buf)
	wantErr(t, "read of O_PATH", err, abi.EBADF)
	_, err = k.Getdents64(fd, buf)
	wantErr(t, "getdents of O_PATH", err, abi.EBADF)
	var st abi.Stat
	if err := k.Fstat(fd, &st); err != nil || st.Mode&abi.S_IFMT != abi.S_IFLNK {
		t.Errorf("fstat of O_PATH link: %o %v", st.Mode, err)
	}
	if n, err := k.Readlinkat(fd, "", buf); err != nil || string(buf[:n]) != "hello.txt" {
		t.Errorf("readlinkat(fd, \"\"): %q %v", buf[:n], err)
	}
	k.Close(fd)
}

func checkLseek(t *testing.T, e *env) {
	k := e.k
	fd := e.open(t, "hello.txt", abi.O_RDONLY)
	defer k.Close(fd)
	seek := func(off int64, whence int, want int64) {
		t.Helper()
		got, err := k.Lseek(fd, off, whence)
		if err != nil || got != want {
			t.Errorf("lseek(%d, %d) = %d, %v; want %d", off, whence, got, err, want)
		}
	}
	seek(7, abi.SEEK_SET, 7)
	buf := make([]byte, 5)
	if n, _ := k.Read(fd, buf); string(buf[:n]) != "world" {
		t.Errorf("read after seek: %q", buf[:n])
	}
	seek(-5, abi.SEEK_CUR, 7)
	seek(-1, abi.SEEK_END, int64(len(helloData)-1))
	seek(100, abi.SEEK_END, int64(len(helloData)+100))
	seek(0, abi.SEEK_DATA, 0)
	seek(3, abi.SEEK_HOLE, int64(len(helloData)))
	for _, c := range []struct {
		off    int64
		whence int
		want   abi.Errno
	}{
		{-1, abi.SEEK_SET, abi.EINVAL},
		{-100, abi.SEEK_END, abi.EINVAL},
		{0, 7, abi.EINVAL},
		{int64(len(helloData)), abi.SEEK_DATA, abi.ENXIO},
		{1 << 40, abi.SEEK_DATA, abi.ENXIO},
		{int64(len(helloData)), abi.SEEK_HOLE, abi.ENXIO},
		{-1, abi.SEEK_DATA, abi.ENXIO},
	} {
		_, err := k.Lseek(fd, c.off, c.whence)
		wantErr(t, fmt.Sprintf("lseek(%d, %d)", c.off, c.whence), err, c.want)
	}
	_, err := k.Lseek(99, 0, abi.SEEK_SET)
	wantErr(t, "lseek of a bad fd", err, abi.EBADF)

	// The sparse file: 5 blocks, data only in the third.
	sfd := e.open(t, "sparse", abi.O_RDONLY)
	defer k.Close(sfd)
	for _, c := range []struct {
		off    int64
		whence int
		want   int64
	}{
		{0, abi.SEEK_DATA, 2 * 4096},
		{2*4096 + 10, abi.SEEK_DATA, 2*4096 + 10},
		{0, abi.SEEK_HOLE, 0},
		{2 * 4096, abi.SEEK_HOLE, 3 * 4096},
	} {
		got, err := k.Lseek(sfd, c.off, c.whence)
		if err != nil || got != c.want {
			t.Errorf("sparse: lseek(%d, %d) = %d, %v; want %d", c.off, c.whence, got, err, c.want)
		}
	}
	_, err = k.Lseek(sfd, 3*4096, abi.SEEK_DATA)
	wantErr(t, "SEEK_DATA in the final hole", err, abi.ENXIO)
	b := make([]byte, 5*4096)
	n, err := k.Pread(sfd, b, 0)
	if err != nil || n != len(b) || string(b[2*4096:2*4096+4]) != "data" || b[0] != 0 {
		t.Errorf("sparse read: %d %v", n, err)
	}
}

// dirents reads the directory at name whole, with a buffer of size bytes.
func (e *env) dirents(t *testing.T, name string, size int) []abi.Dirent {
	t.Helper()
	fd := e.open(t, name, abi.O_RDONLY|abi.O_DIRECTORY)
	defer e.k.Close(fd)
	var ds []abi.Dirent
	buf := make([]byte, size)
	for {
		n, err := e.k.Getdents64(fd, buf)
		if err != nil {
			t.Fatalf("getdents64 %s: %v", name, err)
		}
		if n == 0 {
			return ds
		}
		ds = abi.ParseDirents(buf[:n], ds)
	}
}

func checkGetdents(t *testing.T, e *env) {
	k := e.k
	var mntSt, parentSt, dirSt abi.Stat
	if err := k.Fstatat(abi.AT_FDCWD, e.mnt, &mntSt, 0); err != nil {
		t.Fatal(err)
	}
	if err := k.Fstatat(abi.AT_FDCWD, e.mnt+"/..", &parentSt, 0); err != nil {
		t.Fatal(err)
	}
	if err := k.Fstatat(abi.AT_FDCWD, e.p("dir"), &dirSt, 0); err != nil {
		t.Fatal(err)
	}
	ds := e.dirents(t, "", 4096)
	// "." and ".." are where the filesystem lists them (by their
	// hashes in a directory read in hash order, as Linux lists them).
	dot := slices.IndexFunc(ds, func(d abi.Dirent) bool { return d.Name == "." })
	dotdot := slices.IndexFunc(ds, func(d abi.Dirent) bool { return d.Name == ".." })
	if dot < 0 || dotdot < 0 {
		t.Fatalf("root entries: %v", ds)
	}
	if ds[dot].Ino != mntSt.Ino || ds[dotdot].Ino != parentSt.Ino {
		t.Errorf(". is %d (want %d), .. is %d (want %d, the mountpoint's parent)", ds[dot].Ino, mntSt.Ino, ds[dotdot].Ino, parentSt.Ino)
	}
	types := map[string]uint8{}
	for _, d := range ds {
		types[d.Name] = d.Type
	}
	for name, want := range map[string]uint8{
		"hello.txt": abi.DT_REG, "big": abi.DT_REG, "dir": abi.DT_DIR, "link": abi.DT_LNK,
		"loop": abi.DT_LNK, "many": abi.DT_DIR, "empty": abi.DT_DIR,
	} {
		if got, ok := types[name]; !ok || got != want {
			t.Errorf("entry %s: type %d, present %v; want %d", name, got, ok, want)
		}
	}
	sub := e.dirents(t, "dir", 4096)
	if i := slices.IndexFunc(sub, func(d abi.Dirent) bool { return d.Name == ".." }); len(sub) != 4 || i < 0 || sub[i].Ino != mntSt.Ino {
		t.Errorf("dir entries: %v", sub)
	}
	empty := e.dirents(t, "empty", 4096)
	if len(empty) != 2 {
		t.Errorf("empty entries: %v", empty)
	}

	// The big directory with a buffer for about one record: every entry
	// once, in the same order as with a big buffer.
	all := e.dirents(t, "many", 1<<16)
	small := e.dirents(t, "many", 64)
	if len(all) != 302 || !slices.Equal(all, small) {
		t.Errorf("many: %d entries with a big buffer, %d with a small one", len(all), len(small))
	}
	seen := map[string]bool{}
	for _, d := range small {
		if seen[d.Name] {
			t.Errorf("entry %s twice", d.Name)
		}
		seen[d.Name] = true
	}

	fd := e.open(t, "many", abi.O_RDONLY)
	defer k.Close(fd)
	_, err := k.Getdents64(fd, make([]byte, 20))
	wantErr(t, "getdents64 with a tiny buffer", err, abi.EINVAL)
	buf := make([]byte, 1000)
	n, err := k.Getdents64(fd, buf)
	if err != nil || n == 0 {
		t.Fatalf("getdents64: %d %v", n, err)
	}
	first := abi.ParseDirents(buf[:n], nil)
	// Resume from a d_off: the entries after it.
	if _, err := k.Lseek(fd, first[3].Off, abi.SEEK_SET); err != nil {
		t.Fatal(err)
	}
	n, _ = k.Getdents64(fd, buf)
	if again := abi.ParseDirents(buf[:n], nil); len(again) == 0 || again[0].Name != first[4].Name {
		t.Errorf("after lseek to d_off of %s: %v", first[3].Name, again[:1])
	}
	// Rewind.
	if _, err := k.Lseek(fd, 0, abi.SEEK_SET); err != nil {
		t.Fatal(err)
	}
	n, _ = k.Getdents64(fd, buf)
	if again := abi.ParseDirents(buf[:n], nil); !slices.Equal(again, first) {
		t.Errorf("after rewind: %v", again[:2])
	}
	ffd := e.open(t, "hello.txt", abi.O_RDONLY)
	_, err = k.Getdents64(ffd, buf)
	wantErr(t, "getdents64 of a file", err, abi.ENOTDIR)
	k.Close(ffd)
}

func checkStat(t *testing.T, e *env) {
	k := e.k
	var st abi.Stat
	if err := k.Fstatat(abi.AT_FDCWD, e.p("hello.txt"), &st, 0); err != nil {
		t.Fatal(err)
	}
	if st.Mode&abi.S_IFMT != abi.S_IFREG || st.Size != int64(len(helloData)) || st.Dev != e.dev || st.Nlink != 1 || st.Blksize == 0 {
		t.Errorf("hello.txt: %+v", st)
	}
	helloIno := st.Ino
	if err := k.Fstatat(abi.AT_FDCWD, e.p("link"), &st, 0); err != nil || st.Ino != helloIno {
		t.Errorf("stat link: %d %v", st.Ino, err)
	}
	if err := k.Fstatat(abi.AT_FDCWD, e.p("link"), &st, abi.AT_SYMLINK_NOFOLLOW); err != nil || st.Mode&abi.S_IFMT != abi.S_IFLNK || st.Size != int64(len("hello.txt")) {
		t.Errorf("lstat link: %+v %v", st, err)
	}
	if err := k.Fstatat(abi.AT_FDCWD, e.p("dir/"), &st, 0); err != nil || st.Mode&abi.S_IFMT != abi.S_IFDIR {
		t.Errorf("stat dir/: %+v %v", st, err)
	}
	fd := e.open(t, "hello.txt", abi.O_RDONLY)
	if err := k.Fstatat(fd, "", &st, abi.AT_EMPTY_PATH); err != nil || st.Ino != helloIno {
		t.Errorf("fstatat AT_EMPTY_PATH: %v", err)
	}
	wantErr(t, "fstatat(fd, \"\") without AT_EMPTY_PATH", k.Fstatat(fd, "", &st, 0), abi.ENOENT)
	wantErr(t, "fstatat relative to a file", k.Fstatat(fd, "x", &st, 0), abi.ENOTDIR)
	k.Close(fd)
	wantErr(t, "fstatat on a closed fd", k.Fstatat(fd, "", &st, abi.AT_EMPTY_PATH), abi.EBADF)
	wantErr(t, "stat loop", k.Fstatat(abi.AT_FDCWD, e.p("loop"), &st, 0), abi.ELOOP)
	if err := k.Fstatat(abi.AT_FDCWD, e.p("loop"), &st, abi.AT_SYMLINK_NOFOLLOW); err != nil {
		t.Errorf("lstat loop: %v", err)
	}
	wantErr(t, "stat nope", k.Fstatat(abi.AT_FDCWD, e.p("nope"), &st, 0), abi.ENOENT)
	wantErr(t, "stat hello.txt/", k.Fstatat(abi.AT_FDCWD, e.p("hello.txt/"), &st, 0), abi.ENOTDIR)
	wantErr(t, "stat bad flags", k.Fstatat(abi.AT_FDCWD, e.p("hello.txt"), &st, 0x1), abi.EINVAL)

	var stx abi.Statx
	if err := k.Statx(abi.AT_FDCWD, e.p("hello.txt"), 0, abi.STATX_ALL, &stx); err != nil {
		t.Fatal(err)
	}
	if stx.Mask&abi.STATX_BASIC_STATS != abi.STATX_BASIC_STATS || stx.Ino != helloIno ||
		stx.Size != uint64(len(helloData)) || uint64(abi.Makedev(stx.DevMajor, stx.DevMinor)) != e.dev {
		t.Errorf("statx: %+v", stx)
	}
	if got := stx.Mask&abi.STATX_BTIME != 0; got != e.btime {
		t.Errorf("statx: STATX_BTIME %v, want %v", got, e.btime)
	}
	if e.btime && stx.Btime.Sec == 0 {
		t.Errorf("statx: zero btime")
	}
	if err := k.Statx(abi.AT_FDCWD, e.p("link"), abi.AT_SYMLINK_NOFOLLOW, abi.STATX_BASIC_STATS, &stx); err != nil || stx.Mode&abi.S_IFMT != abi.S_IFLNK {
		t.Errorf("statx nofollow: %o %v", stx.Mode, err)
	}
	wantErr(t, "statx reserved mask", k.Statx(abi.AT_FDCWD, e.p("link"), 0, 0x80000000, &stx), abi.EINVAL)
}

func checkReadlink(t *testing.T, e *env) {
	k := e.k
	buf := make([]byte, 100)
	n, err := k.Readlinkat(abi.AT_FDCWD, e.p("link"), buf)
	if err != nil || string(buf[:n]) != "hello.txt" {
		t.Errorf("readlink: %q %v", buf[:n], err)
	}
	n, err = k.Readlinkat(abi.AT_FDCWD, e.p("link"), buf[:4])
	if err != nil || string(buf[:n]) != "hell" {
		t.Errorf("readlink truncated: %q %v", buf[:n], err)
	}
	_, err = k.Readlinkat(abi.AT_FDCWD, e.p("hello.txt"), buf)
	wantErr(t, "readlink of a file", err, abi.EINVAL)
	_, err = k.Readlinkat(abi.AT_FDCWD, e.p("dir"), buf)
	wantErr(t, "readlink of a directory", err, abi.EINVAL)
	_, err = k.Readlinkat(abi.AT_FDCWD, e.p("nope"), buf)
	wantErr(t, "readlink of nothing", err, abi.ENOENT)
	_, err = k.Readlinkat(abi.AT_FDCWD, e.p("link"), nil)
	wantErr(t, "readlink with no buffer", err, abi.EINVAL)
	ffd := e.open(t, "hello.txt", abi.O_RDONLY)
	_, err = k.Readlinkat(ffd, "", buf)
	wantErr(t, "readlinkat(file fd, \"\")", err, abi.ENOENT)
	k.Close(ffd)
	dfd := e.open(t, "dir", abi.O_RDONLY)
	n, err = k.Readlinkat(dfd, "../abslink", buf)
	if err != nil || string(buf[:n]) != e.p("dir/a") {
		t.Errorf("readlinkat(dirfd): %q %v", buf[:n], err)
	}
	k.Close(dfd)
}

func checkXattrs(t *testing.T, e *env) {
	if !e.xattrs {
		return
	}
	k := e.k
	hello := e.p("hello.txt")
	if n, err := k.Getxattr(hello, "user.a", nil); err != nil || n != 5 {
		t.Errorf("getxattr size: %d %v", n, err)
	}
	buf := make([]byte, 200)
	if n, err := k.Getxattr(hello, "user.a", buf); err != nil || string(buf[:n]) != "alpha" {
		t.Errorf("getxattr: %q %v", buf[:n], err)
	}
	if n, err := k.Getxattr(e.p("link"), "user.a", buf); err != nil || string(buf[:n]) != "alpha" {
		t.Errorf("getxattr via link: %q %v", buf[:n], err)
	}
	_, err := k.Lgetxattr(e.p("link"), "user.a", buf)
	wantErr(t, "lgetxattr on the link", err, abi.ENODATA)
	_, err = k.Getxattr(hello, "user.long", buf[:99])
	wantErr(t, "getxattr with a short buffer", err, abi.ERANGE)
	_, err = k.Getxattr(hello, "user.nope", buf)
	wantErr(t, "getxattr of a missing name", err, abi.ENODATA)
	_, err = k.Getxattr(hello, "", buf)
	wantErr(t, "getxattr of an empty name", err, abi.ERANGE)
	_, err = k.Getxattr(e.p("nope"), "user.a", buf)
	wantErr(t, "getxattr of a missing file", err, abi.ENOENT)

	want := "user.a\x00user.long\x00"
	n, err := k.Listxattr(hello, nil)
	if err != nil || n != len(want) {
		t.Errorf("listxattr size: %d %v", n, err)
	}
	n, err = k.Listxattr(hello, buf)
	names := strings.Split(strings.TrimSuffix(string(buf[:n]), "\x00"), "\x00")
	slices.Sort(names)
	if err != nil || strings.Join(names, "\x00")+"\x00" != want {
		t.Errorf("listxattr: %q %v", buf[:n], err)
	}
	_, err = k.Listxattr(hello, buf[:3])
	wantErr(t, "listxattr with a short buffer", err, abi.ERANGE)
	if n, err := k.Llistxattr(e.p("link"), buf); err != nil || n != 0 {
		t.Errorf("llistxattr of the link: %q %v", buf[:n], err)
	}
	fd := e.open(t, "hello.txt", abi.O_RDONLY)
	if n, err := k.Fgetxattr(fd, "user.a", buf); err != nil || string(buf[:n]) != "alpha" {
		t.Errorf("fgetxattr: %q %v", buf[:n], err)
	}
	if n, err := k.Flistxattr(fd, nil); err != nil || n != len(want) {
		t.Errorf("flistxattr: %d %v", n, err)
	}
	k.Close(fd)
}

func checkIOFS(t *testing.T, e *env) {
	if err := fstest.TestFS(e.k.FS(e.clean), "hello.txt", "big", "dir/a", "dir/b", "many/entry-with-a-longish-name-299", "empty"); err != nil {
		t.Error(err)
	}
	fsys := e.k.FS(e.mnt)
	b, err := fs.ReadFile(fsys, "link")
	if err != nil || string(b) != helloData {
		t.Errorf("ReadFile(link): %q %v", b, err)
	}
	_, err = fs.ReadFile(fsys, "loop")
	var pe *fs.PathError
	if !errors.As(err, &pe) || !errors.Is(err, abi.ELOOP) {
		t.Errorf("ReadFile(loop): %v", err)
	}
	_, err = fs.Stat(fsys, "nope")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat(nope): %v", err)
	}
	if target, err := fsys.(fs.ReadLinkFS).ReadLink("dirlink"); err != nil || target != "dir" {
		t.Errorf("ReadLink: %q %v", target, err)
	}
	if fds := e.k.fds.Len(); fds != 0 {
		t.Errorf("%d fds left open by the io/fs view", fds)
	}
}

func checkConcurrent(t *testing.T, e *env) {
	want := map[string][]byte{
		"hello.txt": []byte(helloData), "big": bigData(), "dir/a": []byte("A"), "dir/b": []byte("B"),
		"link": []byte(helloData), "abslink": []byte("A"),
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range want {
			if !yield(n) {
				return
			}
		}
	})
	var wg sync.WaitGroup
	// A shared fd read by many goroutines with pread.
	shared := e.open(t, "big", abi.O_RDONLY)
	defer e.k.Close(shared)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				name := names[(g+i)%len(names)]
				fd, err := e.k.Openat(abi.AT_FDCWD, e.p(name), abi.O_RDONLY, 0)
				if err != nil {
					t.Errorf("open %s: %v", name, err)
					return
				}
				got, err := io.ReadAll(readerFunc(func(p []byte) (int, error) {
					n, err := e.k.Read(fd, p)
					if n == 0 && err == nil {
						return 0, io.EOF
					}
					return n, err
				}))
				e.k.Close(fd)
				if err != nil || !bytes.Equal(got, want[name]) {
					t.Errorf("%s: %d bytes, %v", name, len(got), err)
					return
				}
				b := make([]byte, 1000)
				off := int64((g*977 + i*131) % 99000)
				if n, err := e.k.Pread(shared, b, off); err != nil || !bytes.Equal(b[:n], want["big"][off:off+int64(n)]) || n != 1000 {
					t.Errorf("shared pread: %d %v", n, err)
					return
				}
				var st abi.Stat
				if err := e.k.Fstatat(abi.AT_FDCWD, e.p("many/entry-with-a-longish-name-"+fmt.Sprintf("%03d", (g*20+i)%300)), &st, 0); err != nil {
					t.Errorf("stat: %v", err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// checkAll runs every check on e, each as a subtest.
func checkAll(t *testing.T, e *env) {
	t.Run("OpenRead", func(t *testing.T) { checkOpenRead(t, e) })
	t.Run("Lseek", func(t *testing.T) { checkLseek(t, e) })
	t.Run("Getdents64", func(t *testing.T) { checkGetdents(t, e) })
	t.Run("Stat", func(t *testing.T) { checkStat(t, e) })
	t.Run("Readlink", func(t *testing.T) { checkReadlink(t, e) })
	t.Run("Xattrs", func(t *testing.T) { checkXattrs(t, e) })
	t.Run("IOFS", func(t *testing.T) { checkIOFS(t, e) })
	t.Run("Concurrent", func(t *testing.T) { checkConcurrent(t, e) })
	if n := e.k.fds.Len(); n != 0 {
		t.Errorf("%d fds left open", n)
	}
}
