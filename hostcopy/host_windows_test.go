package hostcopy

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/lklimg/lklimg/kernel/abi"
	"golang.org/x/sys/windows"
)

// The Windows host layer's own tests, run on Windows or, from a Linux
// test (windows_linux_test.go), under Wine. They make their own
// directories (os.MkdirTemp, removed by hand): Wine 8 cannot remove a
// tree the way Go 1.26's t.TempDir does.

func tempDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "hostcopy")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestWindowsFiletime: FILETIME and Unix times convert both ways at 100
// ns; a time before 1601 is FILETIME's first tick.
func TestWindowsFiletime(t *testing.T) {
	for _, ts := range []abi.Timespec{{Sec: 0}, {Sec: 1700000000, Nsec: 123456700}, {Sec: -1, Nsec: 999999900}, {Sec: -11644473600, Nsec: 100}, {Sec: -9000000000}} {
		ft := filetime(ts)
		back := fromFiletime(windows.Filetime{LowDateTime: uint32(ft), HighDateTime: uint32(ft >> 32)})
		if back != ts {
			t.Errorf("%+v -> %d -> %+v", ts, ft, back)
		}
	}
	if ft := filetime(abi.Timespec{Sec: -20000000000}); ft != 1 {
		t.Errorf("before 1601: %d, want 1", ft)
	}
	if ft := filetime(abi.Timespec{Sec: 1 << 62}); ft != 1<<63-1 {
		t.Errorf("after 30828: %d, want the last", ft)
	}
	if octal(0o4755) != "4755" || octal(0o644) != "0644" {
		t.Errorf("octal: %s %s", octal(0o4755), octal(0o644))
	}
}

// TestWindowsLayer: a directory opened beneath another, a file made in
// it, written at offsets, made read-only (chmod without write bits),
// timed, linked beneath top, then unlinked (unlinkAt clears read-only,
// which the other name keeps); a name already there is EEXIST, a
// missing one ENOENT.
func TestWindowsLayer(t *testing.T) {
	base := tempDir(t)
	defer os.RemoveAll(base)
	top, err := openTop(base)
	if err != nil {
		t.Fatal(err)
	}
	defer closeDir(top)
	if err := mkdirAt(top, "d"); err != nil {
		t.Fatal(err)
	}
	d, err := openDirAt(top, "d")
	if err != nil {
		t.Fatal(err)
	}
	defer closeDir(d)
	fd, err := createAt(d, "f")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pwriteFD(fd, []byte("world"), 6); err != nil {
		t.Fatal(err)
	}
	if _, err := pwriteFD(fd, []byte("hello "), 0); err != nil {
		t.Fatal(err)
	}
	if err := truncateFD(fd, 16); err != nil {
		t.Fatal(err)
	}
	e := hostEntry{fd: fd, dir: d, name: "f", mode: abi.S_IFREG | 0o444}
	if err := e.chmod(0o444); err != nil {
		t.Errorf("chmod 0444: %v", err)
	}
	var nh *errNotHeld
	if err := e.chmod(0o640); !errors.As(err, &nh) || nh.what != "mode 0640" {
		t.Errorf("chmod 0640: %v, want mode 0640 not held", err)
	}
	if err := e.chmod(0o444); err != nil {
		t.Fatal(err)
	}
	if err := e.setTimes(abi.Timespec{Sec: 1600000000}, abi.Timespec{Sec: 1500000000}); err != nil {
		t.Fatal(err)
	}
	closeFD(fd)
	p := filepath.Join(base, "d", "f")
	data, err := os.ReadFile(p)
	if err != nil || string(data) != "hello world\x00\x00\x00\x00\x00" {
		t.Errorf("content %q %v", data, err)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm()&0o222 != 0 || fi.ModTime().Unix() != 1500000000 {
		t.Errorf("mode %v, mtime %v (%v): want read-only, 1500000000", fi.Mode(), fi.ModTime().Unix(), err)
	}
	if err := linkBeneath(top, filepath.Join("d", "f"), top, "link"); err != nil {
		t.Errorf("link: %v", err)
	}
	if _, err := createAt(d, "f"); !errors.Is(err, abi.EEXIST) {
		t.Errorf("create over f: %v, want EEXIST", err)
	}
	if isDir, err := statAt(d, "f"); err != nil || isDir {
		t.Errorf("statAt f: %v %v", isDir, err)
	}
	if err := unlinkAt(d, "f"); err != nil {
		t.Errorf("unlink of a read-only file: %v", err)
	}
	if _, err := statAt(d, "f"); !errors.Is(err, abi.ENOENT) {
		t.Errorf("statAt after unlink: %v, want ENOENT", err)
	}
	if _, err := openDirAt(top, "link"); !errors.Is(err, abi.ENOTDIR) {
		t.Errorf("openDirAt of a file: %v, want ENOTDIR", err)
	}
	if err := mknodAt(hostEntry{dir: d, name: "fifo"}, abi.S_IFIFO|0o644, 0); !errors.Is(err, abi.EOPNOTSUPP) {
		t.Errorf("mknod: %v", err)
	}

	// To's side of the same: lstat, the data, the default modes.
	st, err := lstat(filepath.Join(base, "link"))
	if err != nil || st.mode != abi.S_IFREG|0o444 || st.size != 16 || st.nlink != 1 || st.mtime.Sec != 1500000000 {
		t.Errorf("lstat: %+v %v", st, err)
	}
	if st, err := lstat(filepath.Join(base, "d")); err != nil || st.mode != abi.S_IFDIR|0o755 {
		t.Errorf("lstat of a directory: %+v %v", st, err)
	}
	src, err := openSource(filepath.Join(base, "link"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.close()
	buf := make([]byte, 32)
	if n, err := src.pread(buf, 6); err != nil || string(buf[:n]) != "world\x00\x00\x00\x00\x00" {
		t.Errorf("pread: %q %v", buf[:n], err)
	}
	if n, err := src.pread(buf, 16); n != 0 || err != nil {
		t.Errorf("pread at the end: %d %v", n, err)
	}
	var total int64
	if err := src.regions(16, func(start, end int64) error { total += end - start; return nil }); err != nil || total != 16 {
		t.Errorf("regions: %d bytes %v", total, err)
	}
	os.Chmod(filepath.Join(base, "link"), 0o644) // so that RemoveAll can
}
