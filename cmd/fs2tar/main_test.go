//go:build linux

package main

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lklimg/lklimg/internal/testutil"
)

// bin is the fs2tar binary built for the tests, as `make` builds it
// (CGO_ENABLED=0), so that exit statuses and streams are the real ones.
var bin string

func TestMain(m *testing.M) {
	testutil.UTF8Locale() // the test trees hold UTF-8 names for bsdtar to extract
	var dir string
	var err error
	if bin, dir, err = testutil.BuildCommand("fs2tar"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	testutil.RemoveWine()
	os.Exit(code)
}

// result is one run of fs2tar.
type result struct {
	stdout []byte
	stderr string
	code   int
}

func fs2tar(t *testing.T, args ...string) result {
	t.Helper()
	return fs2tarEnv(t, nil, args...)
}

// fs2tarEnv runs fs2tar with extra environment variables.
func fs2tarEnv(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	r := testutil.RunCommand(t, cmd)
	return result{r.Stdout, string(r.Stderr), r.Code}
}

// mustExport runs fs2tar and fails the test unless it succeeds with no
// message but the warning for a socket (mkfs.ext4 -d 1.47 copies them).
func mustExport(t *testing.T, args ...string) []byte {
	t.Helper()
	r := fs2tar(t, args...)
	for _, line := range strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n") {
		if line != "" && !(strings.HasPrefix(line, "fs2tar: /") && strings.HasSuffix(line, ": socket ignored")) {
			t.Errorf("fs2tar %q: %s", args, line)
		}
	}
	if r.code != 0 {
		t.Fatalf("fs2tar %q: exit %d", args, r.code)
	}
	return r.stdout
}

// TestExt4Variants is the acceptance test: the full test tree goes into
// an image with mkfs.ext4 -d, in every layout; fs2tar's archive must hold
// the source tree (less what mkfs or the layout cannot keep) and exactly
// what the host kernel shows of the image when it mounts it; GNU tar
// extracting the archive must restore the holes the host kernel shows.
func TestExt4Variants(t *testing.T) {
	src, want := testutil.NewTree(t)
	for _, v := range testutil.Ext4Layouts() {
		t.Run(v.Name, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "fs.img")
			testutil.MkfsExt4(t, img, src, "64M", v.Opts...)
			retimed := testutil.Retime(t, img, want)
			before := testutil.FileSum(t, img)
			start := time.Now()
			out := mustExport(t, img)
			t.Logf("fs2tar: %d bytes in %v", len(out), time.Since(start))
			if testutil.FileSum(t, img) != before {
				t.Fatal("the image changed")
			}
			got, err := testutil.ScanTar(bytes.NewReader(out))
			if err != nil {
				t.Fatal(err)
			}

			// Against the source: mkfs.ext4 -d leaves sockets out and
			// adds lost+found; the root is the image's own.
			opts := testutil.CompareOptions{
				SkipPaths: []string{"lost+found", "."},
				SkipTypes: []string{testutil.TypeSocket},
			}
			if v.NoNS || !retimed {
				opts.Ignore = append(opts.Ignore, "mtime")
			}
			for _, d := range testutil.Compare(want, got, opts) {
				t.Errorf("source vs fs2tar: %s", d)
			}

			t.Run("loop", func(t *testing.T) {
				kernelView := testutil.LoopView(t, img)
				noSockets := testutil.CompareOptions{SkipTypes: []string{testutil.TypeSocket}}
				for _, d := range testutil.Compare(kernelView, got, noSockets) {
					t.Errorf("mount -o loop vs fs2tar: %s", d)
				}
				tarPath := testutil.Need(t, "tar")[0]
				dst := t.TempDir()
				tarFile := filepath.Join(t.TempDir(), "out.tar")
				if err := os.WriteFile(tarFile, out, 0o644); err != nil {
					t.Fatal(err)
				}
				testutil.Run(t, tarPath, "--xattrs", "--xattrs-include=*", "--numeric-owner", "-xpf", tarFile, "-C", dst)
				extracted, err := testutil.ScanDir(dst)
				if err != nil {
					t.Fatal(err)
				}
				noSockets.HoleUnit = 4096
				for _, d := range testutil.Compare(kernelView, extracted, noSockets) {
					t.Errorf("mount -o loop vs GNU tar -x of fs2tar: %s", d)
				}
			})
			if testutil.FileSum(t, img) != before {
				t.Fatal("the image changed")
			}
		})
	}
}

// smallTree makes a few files for the tests that are not about content.
func smallTree(t *testing.T) string {
	t.Helper()
	src := filepath.Join(t.TempDir(), "small")
	for _, d := range []string{"etc", "usr/bin"} {
		if err := os.MkdirAll(filepath.Join(src, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range map[string]string{"etc/hostname": "box\n", "usr/bin/tool": "#!/bin/sh\n"} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("usr/bin", filepath.Join(src, "bin")); err != nil {
		t.Fatal(err)
	}
	return src
}

// TestPartitions puts the same filesystem in partition 2 of a GPT and of
// an MBR disk: -P 2 gives the same archive as the bare image; without -P
// the error says to choose; a missing partition is an error.
func TestPartitions(t *testing.T) {
	sfdisk := testutil.Need(t, "sfdisk")[0]
	dir := t.TempDir()
	fsImg := filepath.Join(dir, "fs.img")
	testutil.MkfsExt4(t, fsImg, smallTree(t), "4M")
	bare := mustExport(t, fsImg)
	for _, label := range []string{"gpt", "dos"} {
		t.Run(label, func(t *testing.T) {
			disk := filepath.Join(t.TempDir(), "disk.img")
			testutil.Run(t, "truncate", "-s", "16M", disk)
			table := "label: " + label + "\nstart=2048, size=2048\nstart=4096, size=8192\nstart=12288, size=2048\n"
			cmd := exec.Command(sfdisk, "-q", disk)
			cmd.Stdin = strings.NewReader(table)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("sfdisk: %v\n%s", err, out)
			}
			testutil.Run(t, "dd", "if="+fsImg, "of="+disk, "bs=512", "seek=4096", "conv=notrunc,sparse", "status=none")

			if got := mustExport(t, "-P", "2", disk); !bytes.Equal(got, bare) {
				t.Error("-P 2: the archive differs from the bare filesystem's")
			}
			r := fs2tar(t, disk)
			name := map[string]string{"gpt": "a GPT", "dos": "an MBR (dos)"}[label]
			if r.code != 2 || !strings.Contains(r.stderr, ": "+name+" disk with 3 partitions (1, 2 and 3): choose one with -P N") || len(r.stdout) != 0 {
				t.Errorf("no -P: exit %d, stderr %q, %d bytes out", r.code, r.stderr, len(r.stdout))
			}
			r = fs2tar(t, "-P", "7", disk)
			if r.code != 2 || !strings.Contains(r.stderr, "-P 7: no such partition") {
				t.Errorf("-P 7: exit %d, stderr %q", r.code, r.stderr)
			}
			r = fs2tar(t, "-P", "1", disk)
			if r.code != 2 || !strings.Contains(r.stderr, "no filesystem found on vda1") {
				t.Errorf("-P 1 (empty partition): exit %d, stderr %q", r.code, r.stderr)
			}
		})
	}
}

// TestErrors checks the exit status and message of what cannot work: each
// says what is wrong with which file, and what to do when there is
// something to do.
func TestErrors(t *testing.T) {
	dir := t.TempDir()
	fsImg := filepath.Join(dir, "fs.img")
	testutil.MkfsExt4(t, fsImg, smallTree(t), "4M")
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	junk := write("junk.img", bytes.Repeat([]byte("not a filesystem "), 100000))
	zeros := write("zeros.img", make([]byte, 1<<20))
	gz := filepath.Join(dir, "fs.img.gz")
	testutil.Run(t, "sh", "-c", "gzip -c < "+fsImg+" > "+gz)
	missing := filepath.Join(dir, "missing.img")
	for _, tc := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{missing}, 2, "fs2tar: " + missing + ": no such file or directory\n"},
		{[]string{junk}, 2, "fs2tar: " + junk + `: not a filesystem this kernel reads (ext4, vfat, msdos, squashfs, erofs, iso9660, btrfs, xfs): no filesystem or partition table found (first bytes: 6e 6f 74 20 61 20 66 69 6c 65 73 79 73 74 65 6d "not a filesystem")` + "\n"},
		{[]string{zeros}, 2, ": not a filesystem this kernel reads (ext4, vfat, msdos, squashfs, erofs, iso9660, btrfs, xfs): only zeros in its first 69632 bytes (a blank image?)"},
		{[]string{gz}, 2, ": not a filesystem this kernel reads (ext4, vfat, msdos, squashfs, erofs, iso9660, btrfs, xfs): gzip-compressed data, not a disk image: decompress it first"},
		{[]string{"-P", "2", fsImg}, 2, "-P 2: the disk has no partition table"},
		{[]string{"-P", "-1", fsImg}, 2, "-P -1"},
		{[]string{"-t", "nosuchfs", fsImg}, 2, "fs2tar: -t nosuchfs: unknown filesystem type (this kernel reads ext4, vfat, msdos, squashfs, erofs, iso9660, btrfs, xfs)\n"},
		{[]string{}, 2, "usage: fs2tar"},
		{[]string{"a", "b", "c"}, 2, "usage: fs2tar"},
		{[]string{"--no-such-flag", fsImg}, 2, "flag provided but not defined"},
		{[]string{dir}, 2, "is a directory"},
	} {
		r := fs2tar(t, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.stderr) || !strings.HasPrefix(r.stderr, "fs2tar: ") {
			t.Errorf("fs2tar %q: exit %d, stderr %q; want %d and %q", tc.args, r.code, r.stderr, tc.code, tc.stderr)
		}
		if len(r.stdout) != 0 {
			t.Errorf("fs2tar %q: %d bytes on stdout", tc.args, len(r.stdout))
		}
	}
}

// TestUnreadableImage: an image the user may not read is EACCES, said so.
// As root, permission bits do not stop a read, so fs2tar runs as nobody
// on a mode-000 image; otherwise as the user.
func TestUnreadableImage(t *testing.T) {
	dir, err := os.MkdirTemp("", "fs2tar-eacces")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "fs.img")
	if err := os.WriteFile(img, make([]byte, 1<<20), 0o000); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, img)
	if os.Geteuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 2 || stderr.String() != "fs2tar: "+img+": cannot read the image: permission denied\n" || stdout.Len() != 0 {
		t.Errorf("%v, stderr %q, %d bytes out", err, stderr.String(), stdout.Len())
	}
}

// TestUnwritableOutput: an output that cannot be created is an error
// naming it, exit 1, and the image is not left half-read.
func TestUnwritableOutput(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "fs.img")
	testutil.MkfsExt4(t, img, smallTree(t), "4M")
	out := filepath.Join(dir, "no-such-dir", "out.tar")
	r := fs2tar(t, img, out)
	if r.code != 1 || r.stderr != "fs2tar: "+out+": cannot create the output: no such file or directory\n" {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
	r = fs2tar(t, img, dir) // a directory
	if r.code != 1 || r.stderr != "fs2tar: "+dir+": cannot create the output: is a directory\n" {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
	r = fs2tar(t, img, "/dev/full")
	if r.code != 1 || !strings.Contains(r.stderr, "no space left on device") {
		t.Errorf("/dev/full: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestOutputs: the archive is the same on stdout, with "-" and in a file,
// run after run; -t and -m change nothing of it; the SELinux contexts
// file lists each labelled entry.
func TestOutputs(t *testing.T) {
	dir := t.TempDir()
	src := smallTree(t)
	if err := exec.Command("setfattr", "-n", "security.selinux", "-v", "system_u:object_r:etc_t:s0", filepath.Join(src, "etc/hostname")).Run(); err != nil {
		testutil.Skip(t, "setfattr security.selinux: %v", err)
	}
	img := filepath.Join(dir, "fs.img")
	testutil.MkfsExt4(t, img, src, "4M")
	before := testutil.FileSum(t, img)
	first := mustExport(t, img)
	for _, args := range [][]string{{img, "-"}, {"-t", "ext4", img}, {"-m", "8", img}, {"--mb", "64", "-p", img}} {
		r := fs2tar(t, args...)
		if r.code != 0 || !bytes.Equal(r.stdout, first) {
			t.Errorf("fs2tar %q: exit %d, archive equal: %v\n%s", args, r.code, bytes.Equal(r.stdout, first), r.stderr)
		}
	}
	out := filepath.Join(dir, "out.tar")
	contexts := filepath.Join(dir, "contexts")
	if r := fs2tar(t, "-s", contexts, img, out); r.code != 0 || len(r.stdout) != 0 {
		t.Fatalf("fs2tar IMAGE FILE: exit %d, %d bytes on stdout\n%s", r.code, len(r.stdout), r.stderr)
	}
	if b, _ := os.ReadFile(out); !bytes.Equal(b, first) {
		t.Error("the archive written to a file differs from stdout's")
	}
	if b, _ := os.ReadFile(contexts); string(b) != "/etc/hostname system_u:object_r:etc_t:s0\n" {
		t.Errorf("SELinux contexts file: %q", b)
	}
	if testutil.FileSum(t, img) != before {
		t.Error("the image changed")
	}
}

// TestClosedPipe: a reader that goes away ends fs2tar without a message.
func TestClosedPipe(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGPIPE")
	}
	dir := t.TempDir()
	src := smallTree(t)
	// Incompressible: compressed, it still fills the pipe many times.
	big := make([]byte, 8<<20)
	rnd := rand.New(rand.NewPCG(7, 7))
	for i := range big {
		big[i] = byte(rnd.Uint32())
	}
	if err := os.WriteFile(filepath.Join(src, "big"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "fs.img")
	testutil.MkfsExt4(t, img, src, "32M")
	// Compressed, the writes come from the compressors' goroutines.
	for _, args := range [][]string{{img}, {"-z", img}, {"--zstd", img}, {"-J", img}} {
		cmd := exec.Command(bin, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		pipe, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		io.ReadFull(pipe, make([]byte, 1024))
		pipe.Close()
		err = cmd.Wait()
		if err == nil {
			t.Errorf("%q: fs2tar succeeded with its reader gone", args)
		}
		if stderr.Len() != 0 {
			t.Errorf("%q: stderr: %q", args, stderr.String())
		}
	}
}

// TestSmallImage checks testdata/small.ext4, the quick start's image:
// testdata/mkimage.sh makes it again bit for bit, and fs2tar shows its
// entries, owners, hard link and SELinux label.
func TestSmallImage(t *testing.T) {
	testutil.Need(t, "mke2fs", "debugfs", "e2fsck")
	img := filepath.Join("..", "..", "testdata", "small.ext4")
	again := filepath.Join(t.TempDir(), "small.ext4")
	testutil.Run(t, "sh", filepath.Join("..", "..", "testdata", "mkimage.sh"), again)
	if testutil.FileSum(t, img) != testutil.FileSum(t, again) {
		t.Error("testdata/mkimage.sh does not make testdata/small.ext4 again: run it and commit the image")
	}
	contexts := filepath.Join(t.TempDir(), "contexts")
	out := mustExport(t, "-s", contexts, img)
	tree, err := testutil.ScanTar(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(tree.Paths(), " "); got != ". bin etc etc/hostname etc/localtime etc/passwd home home/user home/user/README home/user/README.link lost+found usr usr/bin usr/bin/hello" {
		t.Errorf("entries: %s", got)
	}
	readme, link := tree["home/user/README"], tree["home/user/README.link"]
	if readme == nil || link == nil || readme.Ino != link.Ino || readme.Uid != 1000 || readme.Mode != 0o640 ||
		string(readme.Xattrs["user.comment"]) != "hello" {
		t.Errorf("README: %+v, link: %+v", readme, link)
	}
	if b, _ := os.ReadFile(contexts); string(b) != "/usr/bin/hello system_u:object_r:bin_t:s0\n" {
		t.Errorf("SELinux contexts: %q", b)
	}
}

// TestCorruptEntry breaks one file's extent tree: fs2tar reports that file
// by path with the kernel's reason, archives the rest, and exits 1.
func TestCorruptEntry(t *testing.T) {
	debugfs := testutil.Need(t, "debugfs")[0]
	src := smallTree(t)
	if err := os.WriteFile(filepath.Join(src, "etc/broken"), bytes.Repeat([]byte("data"), 5000), 0o644); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(t.TempDir(), "fs.img")
	testutil.MkfsExt4(t, img, src, "4M")
	testutil.Run(t, debugfs, "-w", "-R", "sif /etc/broken block[0] 0", img)
	r := fs2tar(t, img)
	if r.code != 1 || !strings.Contains(r.stderr, "fs2tar: /etc/broken: ") || !strings.Contains(r.stderr, "EUCLEAN") ||
		!strings.Contains(r.stderr, "fs2tar: some entries could not be archived: 1 failed") {
		t.Errorf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
	tree, err := testutil.ScanTar(bytes.NewReader(r.stdout))
	if err != nil {
		t.Fatalf("the archive is not readable: %v", err)
	}
	if tree["etc/hostname"] == nil || tree["usr/bin/tool"] == nil {
		t.Errorf("entries missing: %v", tree.Paths())
	}

	// --strict stops there: exit 1, a valid archive holding what came
	// before /etc/broken and nothing after it.
	r = fs2tar(t, "--strict", img)
	if r.code != 1 || !strings.Contains(r.stderr, "fs2tar: /etc/broken: ") || !strings.Contains(r.stderr, "stopped at the first failure") {
		t.Errorf("--strict: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	strictTree, err := testutil.ScanTar(bytes.NewReader(r.stdout))
	if err != nil {
		t.Fatalf("--strict: the archive is not readable: %v", err)
	}
	if strictTree["etc"] == nil || strictTree["usr/bin/tool"] != nil || len(strictTree) >= len(tree) {
		t.Errorf("--strict: entries %v, want those before /etc/broken only", strictTree.Paths())
	}
}
