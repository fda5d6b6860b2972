package lklimgcmd

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lklimg/lklimg/internal/testutil"
)

// TestMkfsSquashfsDir: `lklimg mkfs -t squashfs -d DIR` with mksquashfs's
// options makes an image that unsquashfs, the host kernel and our
// kernel show as the directory, saying what it could not store.
func TestMkfsSquashfsDir(t *testing.T) {
	src, tree := testutil.NewTree(t)
	want := testutil.SquashfsKept(tree)
	for _, args := range [][]string{
		{"-comp", "xz", "-b", "64K"},
		{"-comp", "lz4", "-Xhc", "-noI", "-always-use-fragments"},
		{"-comp", "zstd", "-Xcompression-level", "3", "-no-duplicates", "-processors", "1"},
	} {
		t.Run(strings.Join(args, ""), func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "img.sqfs")
			code, stdout, stderr := runLklimg(t, append(append([]string{"mkfs", "-t", "squashfs"}, args...), "-d", src, img)...)
			if code != exitFail || !strings.Contains(stderr, "socket") || !strings.Contains(stderr, "system.posix_acl_access") {
				t.Errorf("status %d, stderr %q: want 1, the socket and the ACLs said", code, stderr)
			}
			if !strings.Contains(stdout, "SquashFS 4.0") {
				t.Errorf("stdout %q", stdout)
			}
			if fi, err := os.Stat(img); err != nil || fi.Size()%4096 != 0 {
				t.Fatalf("image: %v", err)
			}
			opts := testutil.SquashfsCompare()
			testutil.ExpectSame(t, "unsquashfs", want, testutil.UnsquashfsView(t, img), opts)
			if testutil.CanLoop() {
				testutil.ExpectSame(t, "host kernel", want, testutil.LoopView(t, img), opts)
			}
		})
	}
}

// TestTar2fsSquashfs: `lklimg tar2fs -t squashfs -` reads a compressed
// tar of a few thousand files and some MiB from stdin; the image is the
// same whatever the number of processors and the host kernel shows the
// tree.
func TestTar2fsSquashfs(t *testing.T) {
	testutil.Need(t, "tar", "zstd")
	src := filepath.Join(t.TempDir(), "src")
	r := rand.New(rand.NewSource(7))
	words := []string{"alpha ", "beta ", "gamma ", "delta ", "\n"}
	for i := range 3000 {
		p := filepath.Join(src, fmt.Sprintf("d%02d/e%d", i%40, i%7), fmt.Sprintf("file-%04d", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		n := r.Intn(4000)
		if i%100 == 0 {
			n = 200000 + r.Intn(300000)
		}
		for b.Len() < n {
			b.WriteString(words[r.Intn(len(words))])
		}
		if i%3 == 0 {
			b.Reset() // duplicates: every third file the same
			b.WriteString("same content\n")
		}
		if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tarPath := filepath.Join(t.TempDir(), "in.tar")
	testutil.Run(t, "tar", "--numeric-owner", "-cf", tarPath, "-C", src, ".")
	tarZst := testutil.Compressed(t, tarPath, "zstd")
	tree := testutil.MustScanDir(t, src)
	getenv := func(k string) string {
		if k == "SOURCE_DATE_EPOCH" {
			return "1700000000"
		}
		return ""
	}
	var sums [][32]byte
	for _, procs := range []int{1, 4} {
		img := filepath.Join(t.TempDir(), "img.sqfs")
		in, err := os.Open(tarZst)
		if err != nil {
			t.Fatal(err)
		}
		sf := &squashfsFlags{processors: procs, memoryMB: 32, quiet: true}
		p, err := squashfsParams(&squashfsFlags{comp: "gzip", processors: procs})
		if err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		if procs == 1 {
			// tar2fs -t squashfs, the default processors.
			code, err := tar2fs(&tar2fsFlags{fsFlags: fsFlags{fsType: "squashfs"}, memoryMB: 32}, "-", img, in, &stdout, &stderr, getenv)
			if code != exitOK || err != nil {
				t.Fatalf("tar2fs: %d %v %s", code, err, stderr.String())
			}
		} else if code, err := mkfsSquashfs(sf, p, "-", img, in, &stdout, &stderr, getenv); code != exitOK || err != nil {
			t.Fatalf("mkfs: %d %v %s", code, err, stderr.String())
		}
		in.Close()
		sums = append(sums, testutil.FileSum(t, img))
		if d := os.Getenv("SQFSW_KEEP"); d != "" {
			b, _ := os.ReadFile(img)
			os.WriteFile(filepath.Join(d, fmt.Sprint(procs)), b, 0o644)
		}
		if procs == 1 {
			opts := testutil.CompareOptions{MtimeUnit: time.Second, Ignore: []string{"mtime"}}
			testutil.ExpectSame(t, "unsquashfs", tree, testutil.UnsquashfsView(t, img), opts)
			if testutil.CanLoop() {
				testutil.ExpectSame(t, "host kernel", tree, testutil.LoopView(t, img), opts)
			}
			if fi, err := os.Stat(img); err == nil {
				t.Logf("%d files, tar %d bytes, image %d bytes", len(tree), fileSize(t, tarPath), fi.Size())
			}
		}
	}
	if sums[0] != sums[1] {
		t.Errorf("tar2fs (all processors) and mkfs -processors 4 differ")
	}
}

func fileSize(t *testing.T, p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestMkfsSquashfsErrors: usage errors and a broken archive are said,
// exit status 2, and leave no image.
func TestMkfsSquashfsErrors(t *testing.T) {
	dir := t.TempDir()
	tarPath := filepath.Join(dir, "t.tar")
	testutil.Run(t, "tar", "-cf", tarPath, "-C", t.TempDir(), ".")
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, bytes.Repeat([]byte("data"), 100000), 0o644); err != nil {
		t.Fatal(err)
	}
	full := filepath.Join(dir, "full.tar")
	testutil.Run(t, "tar", "-cf", full, "-C", dir, "big")
	b, err := os.ReadFile(full)
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated.tar")
	if err := os.WriteFile(truncated, b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-d", filepath.Join(dir, "missing")}, "missing: no such file or directory"},
		{[]string{"-comp", "bzip2", "-d", tarPath}, "-comp bzip2: compressor not known"},
		{[]string{"-b", "3K", "-d", tarPath}, "-b 3K: block size must be a power of two between 4K and 1M"},
		{[]string{"-comp", "xz", "-Xdict-size", "8192", "-d", tarPath}, "smaller than the block size is not supported"},
		{[]string{"-Xhc", "-d", tarPath}, "-Xhc is lz4's option"},
		{[]string{"-no-fragments", "-always-use-fragments", "-d", tarPath}, "cannot go together"},
		{[]string{"-d", truncated}, "unexpected EOF"},
		{[]string{tarPath}, "usage: lklimg mkfs -t squashfs"},
	} {
		img := filepath.Join(t.TempDir(), "img")
		code, _, stderr := runLklimg(t, append(append([]string{"mkfs", "-t", "squashfs"}, c.args...), img)...)
		if code != exitImage || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: status %d, stderr %q; want 2 and %q", c.args, code, stderr, c.want)
		}
		if _, err := os.Stat(img); err == nil {
			t.Errorf("%v: the image was left", c.args)
		}
	}
}
