package main

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
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
