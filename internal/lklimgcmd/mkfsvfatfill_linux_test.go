package lklimgcmd

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel"
)

// fatSource makes a tree a FAT volume can hold all of: long, short,
// mixed-case and non-ASCII names, nested directories, a directory of
// many entries, files from empty to several MiB (random bytes), mtimes
// at odd seconds from 1980 to 2099, a file without write permission.
func fatSource(t *testing.T, dir string) {
	t.Helper()
	r := rand.New(rand.NewPCG(15, 1))
	write := func(rel string, size int) {
		p := filepath.Join(dir, rel)
		b := make([]byte, size)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		mt := time.Date(1980+r.IntN(120), time.Month(1+r.IntN(12)), 1+r.IntN(28), r.IntN(24), r.IntN(60), 1+2*r.IntN(29), 0, time.UTC)
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"README.TXT", "lower.txt", "Mixed.Case", "a long name with spaces.text", "räksmörgås.bin",
		"日本語のファイル", "x.y.z", "NOEXT", "EFI/BOOT/BOOTX64.EFI", "loader/entries/linux.conf"} {
		write(n, r.IntN(20000))
		write(filepath.Join("deep/er/and/deeper", n), r.IntN(100))
	}
	for i := range 200 {
		write(fmt.Sprintf("Many Entries/entry number %03d of many", i), r.IntN(3000))
	}
	write("empty", 0)
	write("big.bin", 5<<20+123)
	write("read only", 10)
	if err := os.Chmod(filepath.Join(dir, "read only"), 0o444); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "empty dir"), 0o755); err != nil {
		t.Fatal(err)
	}
}

// mtoolsCmd runs an mtools command with the time zone pinned to UTC (the
// volume's times are UTC, mtools reads them as local) and its geometry
// check off, and returns its output.
func mtoolsCmd(t *testing.T, tool string, args ...string) string {
	t.Helper()
	cmd := exec.Command(testutil.Need(t, tool)[0], args...)
	cmd.Env = append(os.Environ(), "TZ=UTC", "MTOOLS_SKIP_CHECK=1", "LANG=C.UTF-8", "LC_ALL=C.UTF-8")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", tool, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// mtoolsTree extracts the volume's files with mcopy -s -m and scans them.
func mtoolsTree(t *testing.T, img string) testutil.Tree {
	t.Helper()
	out := t.TempDir()
	mtoolsCmd(t, "mcopy", "-s", "-m", "-n", "-i", img, "::/*", out)
	return testutil.MustScanDir(t, out)
}

// fsckFATClean runs fsck.fat -n and fails on anything it reports.
func fsckFATClean(t *testing.T, img string) {
	t.Helper()
	out, err := exec.Command(testutil.Need(t, "fsck.fat")[0], "-n", "-V", img).CombinedOutput()
	if err != nil || strings.Contains(string(out), "\n  ") || strings.Contains(string(out), "Dirty bit") {
		t.Fatalf("fsck.fat -n -V: %v\n%s", err, out)
	}
}

// fatCompare is what a FAT volume keeps of a tree: names, sizes,
// contents, mtimes to 2 s; not modes, owners, xattrs or hard links.
var fatCompare = testutil.CompareOptions{
	Ignore:    []string{"mode", "uid", "gid", "xattrs", "links"},
	SkipPaths: []string{"."},
	MtimeUnit: 2 * time.Second,
}

// TestMkfsVfatFill: mkfs -t vfat -d DIR and -d TAR (plain, gzip, zstd)
// make volumes fsck.fat finds clean, whose files mcopy -s -m extracts as
// the source has them (names, sizes, contents, mtimes to 2 s); a file
// without write permission is read-only (mattrib's R).
func TestMkfsVfatFill(t *testing.T) {
	testutil.Need(t, "mcopy", "fsck.fat", "tar")
	src := t.TempDir()
	fatSource(t, src)
	want := testutil.MustScanDir(t, src)
	tarFile := filepath.Join(t.TempDir(), "src.tar")
	testutil.Run(t, "tar", "-C", src, "--numeric-owner", "-cf", tarFile, ".")
	dir := t.TempDir()
	for _, c := range []struct{ name, source, size string }{
		{"dir-fat16", src, "64M"},
		{"dir-fat32", src, "600M"},
		{"dir-fat12", filepath.Join(src, "deep"), "2M"},
		{"dir-msdos", src, "64M"}, // -t msdos: the same
		{"tar", tarFile, "64M"},
		{"tar.gz", testutil.Compressed(t, tarFile, "gzip"), "64M"},
		{"tar.zst", testutil.Compressed(t, tarFile, "zstd"), "64M"},
	} {
		t.Run(c.name, func(t *testing.T) {
			img := filepath.Join(dir, c.name+".img")
			defer os.Remove(img)
			typ := "vfat"
			if c.name == "dir-msdos" {
				typ = "msdos"
			}
			code, _, stderr := runLklimg(t, "mkfs", "-q", "-t", typ, "-n", "ESP", "-d", c.source, img, c.size)
			if code != 0 || stderr != "" {
				t.Fatalf("status %d\n%s", code, stderr)
			}
			fsckFATClean(t, img)
			if c.name == "dir-fat12" {
				testutil.ExpectSame(t, "the source and mcopy's extraction", testutil.MustScanDir(t, c.source), mtoolsTree(t, img), fatCompare)
				return
			}
			testutil.ExpectSame(t, "the source and mcopy's extraction", want, mtoolsTree(t, img), fatCompare)
			attrs := mtoolsCmd(t, "mattrib", "-i", img, "::/read only", "::/empty")
			if got := strings.Fields(attrs); strings.Join(got, " ") != "A R ::/read only A ::/empty" {
				t.Errorf("mattrib: want read only R, empty not:\n%s", attrs)
			}
		})
	}
}

// TestMkfsVfatFillReproducible: with SOURCE_DATE_EPOCH the same tree
// makes the same bytes at another time, with another umask and other
// access times on the sources, and so does its tar; times past the epoch
// are clamped to it.
func TestMkfsVfatFillReproducible(t *testing.T) {
	testutil.Need(t, "mcopy", "tar")
	src := t.TempDir()
	fatSource(t, src)
	const epoch = 1700000001
	future := time.Unix(epoch+1000, 0)
	if err := os.Chtimes(filepath.Join(src, "lower.txt"), future, future); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOURCE_DATE_EPOCH", fmt.Sprint(epoch))
	dir := t.TempDir()
	build := func(name string) string {
		img := filepath.Join(dir, name)
		if code, _, stderr := runLklimg(t, "mkfs", "-q", "-t", "vfat", "-d", src, img, "100M"); code != 0 {
			t.Fatalf("status %d\n%s", code, stderr)
		}
		return img
	}
	a := build("a.img")
	// Another second (FAT's times are 2 s and 10 ms), umask, and the
	// sources' access times changed.
	time.Sleep(2100 * time.Millisecond)
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	atime := time.Unix(1600000000, 0)
	filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err == nil {
			os.Chtimes(p, atime, fi.ModTime())
		}
		return nil
	})
	b := build("b.img")
	if !testutil.SameFiles(t, a, b) {
		t.Error("two builds with SOURCE_DATE_EPOCH differ")
	}
	// From its tar (in the same order: --sort=name), whose entries carry
	// their own access times: the same bytes.
	tarFile := filepath.Join(dir, "src.tar")
	testutil.Run(t, "tar", "--format=posix", "--sort=name", "-C", src, "-cf", tarFile, ".")
	if code, _, stderr := runLklimg(t, "mkfs", "-q", "-t", "vfat", "-d", tarFile, filepath.Join(dir, "t.img"), "100M"); code != 0 {
		t.Fatalf("status %d\n%s", code, stderr)
	}
	if !testutil.SameFiles(t, a, filepath.Join(dir, "t.img")) {
		t.Error("the build from the tree's tar differs from the tree's")
	}
	got := mtoolsTree(t, a)
	if e := got["lower.txt"]; e == nil || e.Mtime != epoch*1e9-1e9 {
		// 2 s steps: an odd epoch is stored one second earlier.
		t.Errorf("lower.txt, modified after the epoch: %+v, want mtime %d", e, epoch-1)
	}
	// Without it, the kernel's clock stamps the creation times: another
	// build differs.
	os.Unsetenv("SOURCE_DATE_EPOCH")
	if c := build("c.img"); testutil.SameFiles(t, a, c) {
		t.Error("a build without SOURCE_DATE_EPOCH is the same as one with it")
	}
}

// TestMkfsVfatFillUnholdable: what FAT cannot hold. Owners, modes and
// xattrs are left out silently; hard links become copies; symlinks,
// FIFOs, sockets and device nodes are said one by one, the rest is
// copied, the status is 1 and the volume clean.
func TestMkfsVfatFillUnholdable(t *testing.T) {
	testutil.Need(t, "mcopy", "fsck.fat")
	src := t.TempDir()
	p := func(rel string) string { return filepath.Join(src, rel) }
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(p("file"), []byte("data"), 0o4755))
	must(os.Chmod(p("file"), 0o4755))
	must(os.Mkdir(p("dir"), 0o700))
	must(os.WriteFile(p("dir/linked"), bytes.Repeat([]byte("link"), 300000), 0o444))
	must(os.Link(p("dir/linked"), p("second link")))
	must(os.Symlink("file", p("symlink")))
	must(syscall.Mkfifo(p("dir/fifo"), 0o644))
	if os.Geteuid() == 0 {
		must(os.Lchown(p("file"), 1234, 5678))
		must(syscall.Mknod(p("null"), syscall.S_IFCHR|0o666, 1<<8|3))
		exec.Command("setfattr", "-n", "user.x", "-v", "y", p("file")).Run()
	}
	img := filepath.Join(t.TempDir(), "x.img")
	code, _, stderr := runLklimg(t, "mkfs", "-q", "-t", "vfat", "-d", src, img, "8M")
	if code != exitFail {
		t.Errorf("status %d, want 1", code)
	}
	for _, want := range []string{"symlink: create: EPERM (vfat: FAT holds no symbolic links)",
		"dir/fifo: create: EPERM (vfat: FAT holds no device nodes, FIFOs or sockets)"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if n := strings.Count(stderr, "\n"); os.Geteuid() == 0 && n != 3 || os.Geteuid() != 0 && n != 2 {
		t.Errorf("want one line per symlink, FIFO and device:\n%s", stderr)
	}
	fsckFATClean(t, img)
	want := testutil.MustScanDir(t, src)
	for _, rel := range []string{"symlink", "dir/fifo", "null"} {
		delete(want, rel)
	}
	got := mtoolsTree(t, img)
	testutil.ExpectSame(t, "the source and mcopy's extraction", want, got, fatCompare)
	attrs := mtoolsCmd(t, "mattrib", "-i", img, "::/second link", "::/dir/linked", "::/file")
	if strings.Count(attrs, " R ") != 2 {
		t.Errorf("mattrib: want both copies of the read-only file read-only, file not:\n%s", attrs)
	}
}

// TestMkfsVfatFillErrors: a source that is not there or not a directory
// or file leaves no image; a source larger than the volume fills it and
// stops there, saying so (status 2, as every error that stops mkfs).
func TestMkfsVfatFillErrors(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "x.img")
	for _, c := range []struct{ source, want string }{
		{filepath.Join(dir, "missing"), "-d " + filepath.Join(dir, "missing") + ": no such file or directory"},
		{"/dev/null", "-d /dev/null: not a directory or a tar archive"},
	} {
		code, _, stderr := runLklimg(t, "mkfs", "-q", "-t", "vfat", "-d", c.source, img, "8M")
		if code != exitImage || !strings.Contains(stderr, c.want) {
			t.Errorf("-d %s: status %d, stderr %q; want 2 and %q", c.source, code, stderr, c.want)
		}
		if _, err := os.Stat(img); err == nil {
			t.Errorf("-d %s: left %s", c.source, img)
			os.Remove(img)
		}
	}
	src := t.TempDir()
	for i := range 3 {
		if err := os.WriteFile(filepath.Join(src, fmt.Sprint(i)), make([]byte, 1<<20), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The second file fills the volume's last 502 clusters; the rest of
	// it finds none.
	code, _, stderr := runLklimg(t, "mkfs", "-q", "-t", "vfat", "-d", src, img, "2M")
	if code != exitImage || !strings.Contains(stderr, "ENOSPC (vfat: 10 clusters wanted, 0 free)") {
		t.Errorf("a source larger than the volume: status %d, stderr %q", code, stderr)
	}
	fsckFATClean(t, img)
}

// TestFillDevice: fillDevice as disk build calls it, on a volume made
// before: several sources, each to its target directory (made with its
// parents, or merged into), a directory and a tar; a target that is a
// file is an error naming it.
func TestFillDevice(t *testing.T) {
	testutil.Need(t, "mcopy", "fsck.fat", "tar")
	dir := t.TempDir()
	boot, loader := filepath.Join(dir, "boot"), filepath.Join(dir, "loader")
	for p, data := range map[string]string{
		boot + "/BOOTX64.EFI":           "MZ efi",
		loader + "/entries/linux.conf":  "title Linux\n",
		loader + "/loader.conf":         "timeout 3\n",
		dir + "/root/startup.nsh":       "fs0:\\EFI\\BOOT\\BOOTX64.EFI\n",
		dir + "/root/EFI/BOOT/grub.cfg": "set timeout=1\n",
	} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tarFile := filepath.Join(dir, "loader.tar")
	testutil.Run(t, "tar", "-C", loader, "-cf", tarFile, ".")
	img := filepath.Join(dir, "esp.img")
	if code, _, stderr := runLklimg(t, "mkfs", "-q", "-t", "vfat", img, "32M"); code != 0 {
		t.Fatalf("mkfs: status %d\n%s", code, stderr)
	}
	d, err := bootDisk(img, 32, nil, nil, 0, kernel.DiskOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	o := fillOptions{who: "disk build", image: img, stderr: &stderr}
	status, err := fillDevice(d.k, d.dev, "vfat", []fillSource{
		{Path: boot, Target: "/EFI/BOOT"}, {Path: tarFile, Target: "loader"}, {Path: filepath.Join(dir, "root")},
	}, o)
	if err != nil || status != exitOK || stderr.Len() > 0 {
		t.Errorf("fillDevice: %d, %v\n%s", status, err, stderr.String())
	}
	status, err = fillDevice(d.k, d.dev, "vfat", []fillSource{{Path: boot, Target: "/startup.nsh/x"}}, o)
	if err == nil || !strings.Contains(err.Error(), "/startup.nsh/x: mkdir /startup.nsh: ENOTDIR") {
		t.Errorf("a target under a file: %d, %v", status, err)
	}
	if err := d.halt(); err != nil {
		t.Fatal(err)
	}
	fsckFATClean(t, img)
	got := mtoolsTree(t, img)
	var paths []string
	for _, p := range got.Paths() {
		if got[p].Type == testutil.TypeFile {
			paths = append(paths, p)
		}
	}
	want := "EFI/BOOT/BOOTX64.EFI EFI/BOOT/grub.cfg loader/entries/linux.conf loader/loader.conf startup.nsh"
	if strings.Join(paths, " ") != want {
		t.Errorf("files %v, want %s", paths, want)
	}
}

// TestMkfsVfatFillPartition: -P N -d fills the volume made on partition
// N; nothing outside it changes.
func TestMkfsVfatFillPartition(t *testing.T) {
	testutil.Need(t, "mcopy", "fsck.fat", "sfdisk")
	src := filepath.Join(t.TempDir(), "src")
	fatSource(t, src)
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.img")
	testutil.Run(t, "truncate", "-s", "100M", img)
	testutil.Sfdisk(t, img, "label: gpt\nstart=2048, size=60M, type=uefi\nsize=20M\n")
	head, tail := testutil.ReadAt(t, img, 0, 1<<20), testutil.ReadAt(t, img, 61<<20, 39<<20)
	if code, _, stderr := runLklimg(t, "mkfs", "-q", "-t", "vfat", "-P", "1", "-d", src, img); code != 0 {
		t.Fatalf("mkfs -P 1 -d: status %d\n%s", code, stderr)
	}
	if !bytes.Equal(head, testutil.ReadAt(t, img, 0, 1<<20)) || !bytes.Equal(tail, testutil.ReadAt(t, img, 61<<20, 39<<20)) {
		t.Error("bytes outside the partition changed")
	}
	part := filepath.Join(dir, "part.img")
	if err := os.WriteFile(part, testutil.ReadAt(t, img, 1<<20, 60<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	fsckFATClean(t, part)
	testutil.ExpectSame(t, "the source and mcopy's extraction", testutil.MustScanDir(t, src), mtoolsTree(t, img+"@@1M"), fatCompare)
}
