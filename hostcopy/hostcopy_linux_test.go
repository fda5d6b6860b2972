package hostcopy

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel/abi"
	"golang.org/x/sys/unix"
)

// shared is the source tree the tests copy, made by the first one that asks.
var shared testutil.SharedTree

func TestMain(m *testing.M) {
	code := m.Run()
	shared.Remove()
	testutil.RemoveWine()
	os.Exit(code)
}

// collect returns Options that keep every reported error.
func collect(errs *[]string) Options {
	return Options{Owners: os.Geteuid() == 0, Report: func(err error) { *errs = append(*errs, err.Error()) }}
}

// treeOpts is what the comparisons leave out as a user: owners are the
// user's own.
func treeOpts() testutil.CompareOptions {
	var o testutil.CompareOptions
	if os.Geteuid() != 0 {
		o.Ignore = []string{"uid", "gid"}
	}
	return o
}

// TestToFromHost runs both directions on the host's kernel (hostKernel):
// the full test tree copied with To, then back with From, equals the
// source entry by entry, holes included (SEEK_DATA on both sides), the
// roots' metadata too ("src/." and "/" merge into the destination).
func TestToFromHost(t *testing.T) {
	base := t.TempDir()
	src, want := shared.Get(t)

	img := filepath.Join(base, "img")
	if err := os.Mkdir(img, 0o700); err != nil {
		t.Fatal(err)
	}
	var errs []string
	var bytes int64
	var entries int
	opts := collect(&errs)
	opts.OnBytes = func(n int64) { bytes += n }
	opts.OnEntry = func(string, string) { entries++ }
	if err := To(hostKernel{}, img, []string{src + "/."}, "/", opts); err != nil || len(errs) > 0 {
		t.Fatalf("To: %v %q", err, errs)
	}
	o := treeOpts()
	o.HoleUnit = 1
	testutil.ExpectSame(t, "source vs To", want, testutil.MustScanDir(t, img), o)
	if entries != len(want) {
		t.Errorf("OnEntry: %d entries, want %d", entries, len(want))
	}
	var data int64
	seen := map[uint64]bool{} // a hard-linked file is copied once
	for _, e := range want {
		if seen[e.Ino] {
			continue
		}
		seen[e.Ino] = true
		for _, r := range e.Data {
			data += r.End - r.Start
		}
	}
	if bytes != data {
		t.Errorf("OnBytes: %d bytes, the data regions hold %d: holes written?", bytes, data)
	}
	// The progress bar's estimate: allocated bytes, near the data.
	if est := SourceBytes([]string{src + "/."}); est < data*99/100 || est > data*101/100+64<<10 {
		t.Errorf("SourceBytes: %d, the data regions hold %d", est, data)
	}

	out := filepath.Join(base, "out")
	if err := From(hostKernel{}, img, []string{"/"}, out, collect(&errs)); err != nil || len(errs) > 0 {
		t.Fatalf("From: %v %q", err, errs)
	}
	testutil.ExpectSame(t, "source vs To+From", want, testutil.MustScanDir(t, out), o)

	// Access times too (testutil compares mtimes only), on entries no
	// scan reads (readlink, getdents and read set atimes): a FIFO, a
	// socket.
	for _, p := range []string{"special/fifo", "special/socket"} {
		var a, b unix.Stat_t
		if err := unix.Lstat(filepath.Join(src, p), &a); err != nil {
			t.Fatal(err)
		}
		if err := unix.Lstat(filepath.Join(out, p), &b); err != nil {
			t.Fatal(err)
		}
		if a.Atim != b.Atim {
			t.Errorf("%s: atime %v, want %v", p, b.Atim, a.Atim)
		}
	}
}

// TestToMerge: To into an existing tree replaces files (a hard link to
// the old one keeps its content), merges directories, reports clashes,
// and a link between two separate sources stays a link.
func TestToMerge(t *testing.T) {
	base := t.TempDir()
	img := filepath.Join(base, "img")
	write := func(p, s string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(img, "etc/hostname"), "old and longer\n")
	if err := os.Link(filepath.Join(img, "etc/hostname"), filepath.Join(img, "old-link")); err != nil {
		t.Fatal(err)
	}
	write(filepath.Join(img, "etc/mine"), "mine\n")
	write(filepath.Join(img, "lib"), "a file\n")
	src := filepath.Join(base, "src")
	write(filepath.Join(src, "etc/hostname"), "new\n")
	write(filepath.Join(src, "lib/x"), "x\n")
	write(filepath.Join(src, "one/a"), "shared\n")
	if err := os.MkdirAll(filepath.Join(src, "two"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(src, "one/a"), filepath.Join(src, "two/b")); err != nil {
		t.Fatal(err)
	}
	var errs []string
	err := To(hostKernel{}, img, []string{src + "/etc", src + "/lib", src + "/one/a", src + "/two/b"}, "/", collect(&errs))
	if !errors.Is(err, ErrIncomplete) || len(errs) != 1 || errs[0] != src+"/lib: cannot overwrite non-directory /lib with a directory" {
		t.Errorf("To: %v, reported %q", err, errs)
	}
	for p, want := range map[string]string{"etc/hostname": "new\n", "old-link": "old and longer\n", "etc/mine": "mine\n", "lib": "a file\n"} {
		if b, err := os.ReadFile(filepath.Join(img, p)); err != nil || string(b) != want {
			t.Errorf("%s: %q %v, want %q", p, b, err, want)
		}
	}
	tree := testutil.MustScanDir(t, img)
	if tree["a"].Ino != tree["b"].Ino {
		t.Error("a and b (two sources, one file) are not linked")
	}

	// "link/." is the contents of the directory a symlink names, as cp's.
	if err := os.Symlink("one", filepath.Join(src, "link")); err != nil {
		t.Fatal(err)
	}
	if err := To(hostKernel{}, img, []string{src + "/link/."}, "/etc", collect(&errs)); err != nil {
		t.Errorf("link/.: %v %q", err, errs)
	}
	if b, err := os.ReadFile(filepath.Join(img, "etc/a")); err != nil || string(b) != "shared\n" {
		t.Errorf("link/.: etc/a: %q %v", b, err)
	}
}

// TestFatal: ENOSPC stops To at the file that did not fit, ENOSYS at the
// first creation; both as a *FatalError naming the source.
func TestFatal(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "src")
	if err := os.MkdirAll(filepath.Join(src, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a", "b", "c"} {
		if err := os.WriteFile(filepath.Join(src, "d", n), make([]byte, 100<<10), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	img := filepath.Join(base, "img")
	if err := os.Mkdir(img, 0o755); err != nil {
		t.Fatal(err)
	}
	var errs []string
	err := To(&failing{budget: 150 << 10}, img, []string{src}, "/", collect(&errs))
	var fe *FatalError
	if !errors.As(err, &fe) || !errors.Is(err, abi.ENOSPC) || fe.Path != src+"/d/b" || len(errs) != 0 {
		t.Errorf("ENOSPC: %v, reported %q", err, errs)
	}
	if _, err := os.Stat(filepath.Join(img, "src/d/c")); err == nil {
		t.Error("the copy went on after ENOSPC")
	}
	err = To(&failing{budget: 1 << 30, noWrite: true}, img, []string{src}, "/new", collect(&errs))
	if !errors.As(err, &fe) || !errors.Is(err, abi.ENOSYS) || fe.Path != src || len(errs) != 0 {
		t.Errorf("ENOSYS: %v, reported %q", err, errs)
	}
}

// TestDryRun: both directions list every entry and change nothing.
func TestDryRun(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "src")
	if err := os.MkdirAll(filepath.Join(src, "d/e"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "d/f"), []byte("f"), 0o644); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(base, "img")
	if err := os.Mkdir(img, 0o755); err != nil {
		t.Fatal(err)
	}
	var listed []string
	opts := Options{DryRun: true, OnEntry: func(s, d string) { listed = append(listed, s+" "+d) }}
	if err := To(hostKernel{}, img, []string{src + "/d"}, "/", opts); err != nil {
		t.Fatal(err)
	}
	want := []string{src + "/d " + img + "/d", src + "/d/e " + img + "/d/e", src + "/d/f " + img + "/d/f"}
	if !slices.Equal(listed, want) {
		t.Errorf("To listed %q, want %q", listed, want)
	}
	listed = nil
	out := filepath.Join(base, "out")
	if err := From(hostKernel{}, src, []string{"/d"}, out, opts); err != nil {
		t.Fatal(err)
	}
	want = []string{src + "/d " + out, src + "/d/e " + out + "/e", src + "/d/f " + out + "/f"}
	if !slices.Equal(listed, want) {
		t.Errorf("From listed %q, want %q", listed, want)
	}
	for _, d := range []string{img, out} {
		if entries, _ := os.ReadDir(d); len(entries) != 0 {
			t.Errorf("%s: dry run made %v", d, entries)
		}
	}
}

// TestOpenBeneath: a symlink or ".." on the way is refused.
func TestOpenBeneath(t *testing.T) {
	base := t.TempDir()
	if err := os.MkdirAll(filepath.Join(base, "a/b"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/tmp", filepath.Join(base, "a/link")); err != nil {
		t.Fatal(err)
	}
	top, err := unix.Open(base, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(top)
	for rel, want := range map[string]error{"a/b/": nil, "": nil, "a/link/": unix.ELOOP, "a/../..": unix.EXDEV, "a/missing": unix.ENOENT} {
		fd, err := openBeneath(top, rel)
		if err == nil {
			unix.Close(fd)
		}
		if !errors.Is(err, want) && !(want == unix.ELOOP && errors.Is(err, unix.ENOTDIR)) {
			t.Errorf("openBeneath(%q): %v, want %v", rel, err, want)
		}
	}
}

func TestNames(t *testing.T) {
	for name, ok := range map[string]bool{"a": true, "a b": true, "": false, ".": false, "..": false, "a/b": false, "a\x00": false, "...": true} {
		if plainName(name) != ok {
			t.Errorf("plainName(%q) = %v", name, !ok)
		}
	}
	got, err := match("*.c", []string{"b.c", "a.c", ".x.c", "c.h"})
	if err != nil || strings.Join(got, " ") != ".x.c a.c b.c" {
		t.Errorf("match: %q %v", got, err)
	}
	if _, err := match("[", nil); err == nil {
		t.Error("a bad pattern matched")
	}
}
