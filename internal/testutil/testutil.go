// Package testutil holds what tests across the project share: finding the
// oracle tools (mkfs.ext4, e2fsck, debugfs, sfdisk, ...), and the rule that a
// test missing one skips locally but fails under CI=true.
package testutil

import (
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// InCI reports whether the tests run under CI (CI=true), where every test
// must run: a skip is a failure.
func InCI() bool { return os.Getenv("CI") == "true" }

// Skip skips the test with its reason, or fails it under CI.
func Skip(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf("CI=true and the test cannot run: "+format, args...)
	}
	t.Skipf(format, args...)
}

// Need returns the path of each named tool, skipping the test (failing it
// under CI) if one is not installed. sbin directories are searched too,
// since e2fsprogs installs there.
func Need(t testing.TB, tools ...string) []string {
	t.Helper()
	paths := make([]string, len(tools))
	for i, tool := range tools {
		p, err := exec.LookPath(tool)
		if err != nil {
			for _, dir := range []string{"/usr/sbin/", "/sbin/"} {
				if _, err2 := os.Stat(dir + tool); err2 == nil {
					p, err = dir+tool, nil
					break
				}
			}
		}
		if err != nil {
			Skip(t, "%s is not installed", tool)
		}
		paths[i] = p
	}
	return paths
}

// CanLoop reports whether the test may loop-mount images: it runs as
// root, with loop devices.
func CanLoop() bool {
	if os.Geteuid() != 0 {
		return false
	}
	_, err := os.Stat("/dev/loop-control")
	return err == nil
}

// NeedLoop skips the test (fails it under CI) unless it runs as root with
// loop devices, as a test that mounts an image with the host kernel needs.
func NeedLoop(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Skip(t, "not root: cannot loop-mount images")
	}
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		Skip(t, "no loop devices: %v", err)
	}
}

// NeedCorpus returns the directory of the realistic corpus that
// bench/corpus.sh makes (a Debian root filesystem as rootfs/
// and rootfs.ext4), named by LKLIMG_CORPUS, and skips the test (fails it
// under CI) when that is not set.
func NeedCorpus(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("LKLIMG_CORPUS")
	if dir == "" {
		Skip(t, "LKLIMG_CORPUS is not set (see bench/corpus.sh; .ci/run sets it)")
	}
	return dir
}

// Run runs a command and fails the test with its output if it fails.
func Run(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return out
}

// UTF8Locale makes the tools a test runs (bsdtar above all, which refuses
// to extract names it cannot convert to the locale's charset) see a UTF-8
// locale even when the test's environment has none, as under env -i or a
// bare CI shell. Call it from TestMain, before tests start.
func UTF8Locale() {
	os.Setenv("LC_ALL", "C.UTF-8")
}

// Sfdisk partitions the disk image img (an existing file of the disk's
// size) with sfdisk's script ("label: gpt\nstart=2048, size=16384\n"),
// leaving the kernel alone (the image is a file). It skips the test
// without sfdisk (fails under CI).
func Sfdisk(t testing.TB, img, script string) {
	t.Helper()
	sfdisk := Need(t, "sfdisk")[0]
	cmd := exec.Command(sfdisk, "-q", "--no-reread", "--no-tell-kernel", img)
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v\n%s", err, out)
	}
}

// NeedFUSE skips the test (fails it under CI) unless it can mount FUSE
// filesystems directly: root, and /dev/fuse.
func NeedFUSE(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Skip(t, "not root: cannot mount FUSE filesystems directly")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		Skip(t, "no /dev/fuse: %v", err)
	}
}

// NeedUserFUSE skips t unless users other than root can mount FUSE
// filesystems here: NeedFUSE, fusermount3 installed setuid, and /dev/fuse
// open to everyone (mode 0666, as the fuse package's udev rule makes it;
// a machine without udev leaves it 0600, and .ci/run sets it).
func NeedUserFUSE(t testing.TB) {
	t.Helper()
	NeedFUSE(t)
	Need(t, "fusermount3")
	if st, err := os.Stat("/dev/fuse"); err != nil || st.Mode().Perm()&0o006 != 0o006 {
		Skip(t, "/dev/fuse is not open to every user (mode %v): chmod 0666 /dev/fuse", st.Mode().Perm())
	}
	if p, err := exec.LookPath("fusermount3"); err == nil {
		if st, err := os.Stat(p); err != nil || st.Mode()&os.ModeSetuid == 0 {
			Skip(t, "%s is not setuid: users cannot mount", p)
		}
	}
}

// Gunzip writes the gzip file src (a committed test image) decompressed
// to a file of the test's temporary directory and returns its path.
func Gunzip(t testing.TB, src string) string {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	z, err := gzip.NewReader(in)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "image")
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, z); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return dst
}
