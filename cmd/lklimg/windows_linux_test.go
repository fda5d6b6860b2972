package main

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lklimg/lklimg/internal/testutil"
)

// windowsDir fills dir with what a Windows directory holds and Wine shows
// as Linux does: files 0644 and directories 0755 (the modes the Windows
// build gives them), a hard link, empty and random files, a zero-filled
// one, nested directories, names with spaces and UTF-8, times on whole
// seconds (Wine's precision). Symlinks, owners, xattrs and devices, which
// the Windows side has no room for, are left out.
func windowsDir(t *testing.T, dir string) {
	t.Helper()
	r := rand.New(rand.NewSource(19))
	stamp := time.Unix(1_600_000_000, 0)
	write := func(name string, data []byte) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	random := func(n int) []byte { b := make([]byte, n); r.Read(b); return b }
	write("empty", nil)
	write("small.txt", []byte("hello\n"))
	write("big.bin", random(1<<20+4097))
	write("zeros.bin", make([]byte, 300_000))
	write("héllo wörld/日本語.txt", []byte("utf-8\n"))
	for i := range 200 {
		write(fmt.Sprintf("many/d%d/f%03d", i%7, i), random(i*37))
	}
	write("a/b/c/d/leaf", []byte("leaf\n"))
	if err := os.Link(filepath.Join(dir, "small.txt"), filepath.Join(dir, "a/hard")); err != nil {
		t.Fatal(err)
	}
	if err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil {
			err = os.Chtimes(p, stamp, stamp.Add(time.Duration(len(p))*time.Second))
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// TestWindowsMkfsDir: `lklimg.exe mkfs -t squashfs|erofs -d DIR` under
// Wine (issue 19: DirSource walked through the Windows host layer) makes
// the image the Linux build makes of the same directory, byte for byte,
// with -all-root and a fixed time (the owners Windows cannot tell).
func TestWindowsMkfsDir(t *testing.T) {
	w := testutil.NeedWine(t)
	exe := w.Build(t, "github.com/lklimg/lklimg/cmd/lklimg")
	src := filepath.Join(t.TempDir(), "src")
	windowsDir(t, src)
	for _, args := range [][]string{
		{"-t", "squashfs", "-comp", "zstd", "-all-root"},
		{"-t", "squashfs", "-comp", "xz", "-b", "64K", "-all-root", "-no-duplicates"},
		{"-t", "erofs", "-zlz4hc", "--all-root", "-T0", "-U", "00000000-0000-0000-0000-000000000019"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			dir := t.TempDir()
			linux, windows := filepath.Join(dir, "linux.img"), filepath.Join(dir, "windows.img")
			full := func(img string) []string {
				return append(append([]string{"mkfs"}, args...), "--timestamp", "@1700000000", "-d", src, img)
			}
			if r := runCmd(t, exec.Command(lklimgBin, full(linux)...)); r.code != 0 {
				t.Fatalf("lklimg %q: exit %d\n%s", full(linux), r.code, r.stderr)
			}
			if r := runCmd(t, w.Command(exe, full(windows)...)); r.code != 0 {
				t.Fatalf("lklimg.exe %q under Wine: exit %d\n%s", full(windows), r.code, r.stderr)
			}
			a, _ := os.ReadFile(linux)
			b, _ := os.ReadFile(windows)
			if len(a) == 0 || !bytes.Equal(a, b) {
				t.Errorf("lklimg.exe's image (%d bytes) differs from lklimg's (%d)", len(b), len(a))
			}
		})
	}
}

// ownerName is an owner in stat's output: "(  1000/ alice)".
var ownerName = regexp.MustCompile(`\(\s*(\d+)/\s*[^)]*\)`)

// TestWindowsToolbox: the reading commands of lklimg.exe under Wine print
// what the Linux build prints on the quick start's image (stdout, stderr
// and exit status alike; errors in Linux's words, not the host's text
// for the same number), and the editing commands,
// run in the same order on two copies, leave images whose archives are
// the same byte for byte (times clamped: each run stamps its own now).
func TestWindowsToolbox(t *testing.T) {
	w := testutil.NeedWine(t)
	exe := w.Build(t, "github.com/lklimg/lklimg/cmd/lklimg")
	img := filepath.Join("..", "..", "testdata", "small.ext4")
	for _, args := range [][]string{
		{"ls", "-lR", img, "/"},
		{"ls", "-la", img, "/etc", "/home/user"},
		{"cat", img, "/etc/passwd", "/usr/bin/hello"},
		{"stat", img, "/etc/passwd", "/bin", "/home/user/README.link"},
		{"df", img},
		{"getfattr", img, "/etc/passwd"},
		{"info", img},
		{"cat", img, "/missing"},
		{"ls", img, "/etc/passwd/x"},
	} {
		linux := runCmd(t, exec.Command(lklimgBin, args...))
		windows := runCmd(t, w.Command(exe, args...))
		// stat names owners from the host's user database, as GNU
		// stat does: this host's names, "UNKNOWN" on Windows.
		linux.stdout = ownerName.ReplaceAllString(linux.stdout, "($1/)")
		windows.stdout = ownerName.ReplaceAllString(windows.stdout, "($1/)")
		if linux != windows {
			t.Errorf("lklimg %q:\nLinux exit %d, stdout %q, stderr %q\nWine  exit %d, stdout %q, stderr %q",
				args, linux.code, linux.stdout, linux.stderr, windows.code, windows.stdout, windows.stderr)
		}
	}

	edits := [][]string{
		{"mkdir", "-p", "IMG", "/a/b"},
		{"chmod", "0750", "IMG", "/a"},
		{"chown", "1000:100", "IMG", "/a/b"},
		{"ln", "-s", "IMG", "/etc/passwd", "/a/link"},
		{"touch", "-d", "2020-01-02 03:04:05", "IMG", "/a/b/new"},
		{"setfattr", "-n", "user.k", "-v", "v", "IMG", "/a/b/new"},
		{"mv", "IMG", "/a/b/new", "/a/moved"},
		{"rm", "IMG", "/etc/hostname"},
	}
	dir := t.TempDir()
	archive := func(run func(args ...string) result, name string) []byte {
		cp := filepath.Join(dir, name)
		testutil.Run(t, "cp", img, cp)
		for _, e := range edits {
			args := append([]string(nil), e...)
			for i, a := range args {
				if a == "IMG" {
					args[i] = cp
				}
			}
			if r := run(args...); r.code != 0 || r.stderr != "" {
				t.Fatalf("%s: lklimg %q: exit %d, stderr %q", name, args, r.code, r.stderr)
			}
		}
		bin, err := fs2tarBin()
		if err != nil {
			t.Fatal(err)
		}
		return testutil.Run(t, bin, "--mtime-clamp", "@1000000000", cp)
	}
	linux := archive(func(args ...string) result { return runCmd(t, exec.Command(lklimgBin, args...)) }, "linux.img")
	windows := archive(func(args ...string) result { return runCmd(t, w.Command(exe, args...)) }, "windows.img")
	if len(linux) == 0 || !bytes.Equal(linux, windows) {
		t.Errorf("the image lklimg.exe edited archives to %d bytes, differing from the Linux build's %d", len(windows), len(linux))
	}
}
