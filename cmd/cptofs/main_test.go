//go:build linux

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

// cptofsBin and cpfromfsBin are the command built for the tests, as `make`
// builds it (CGO_ENABLED=0), and its cpfromfs name (a symlink), so that
// exit statuses, streams and the choice by argv[0] are the real ones.
var cptofsBin, cpfromfsBin string

// shared is the source tree the tests copy, made by the first one that asks.
var shared testutil.SharedTree

func TestMain(m *testing.M) {
	testutil.UTF8Locale()
	var dir string
	var err error
	if cptofsBin, dir, err = testutil.BuildCommand("cptofs"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cpfromfsBin = filepath.Join(dir, "cpfromfs")
	if err := os.Symlink("cptofs", cpfromfsBin); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	shared.Remove()
	testutil.RemoveWine()
	os.Exit(code)
}

// result is one run of the command.
type result struct {
	stdout, stderr string
	code           int
}

func runBin(t *testing.T, bin string, args ...string) result {
	t.Helper()
	return runCmd(t, exec.Command(bin, args...))
}

// runCmd runs a prepared command and returns its streams and status.
func runCmd(t *testing.T, cmd *exec.Cmd) result {
	t.Helper()
	r := testutil.RunCommand(t, cmd)
	return result{string(r.Stdout), string(r.Stderr), r.Code}
}

func cptofs(t *testing.T, args ...string) result { t.Helper(); return runBin(t, cptofsBin, args...) }

// cptofsCmd prepares a run of cptofs (to set its directory or environment).
func cptofsCmd(args ...string) *exec.Cmd { return exec.Command(cptofsBin, args...) }
func cpfromfs(t *testing.T, args ...string) result {
	t.Helper()
	return runBin(t, cpfromfsBin, args...)
}

// mustRun fails the test unless the run succeeded without a message.
func mustRun(t *testing.T, r result, what string) {
	t.Helper()
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("%s: exit %d, stderr:\n%s", what, r.code, r.stderr)
	}
}

// smallTree makes a few files for the tests that are not about content.
func smallTree(t *testing.T) string {
	t.Helper()
	src := filepath.Join(t.TempDir(), "small")
	for _, d := range []string{"etc", "usr/bin", "usr/lib"} {
		if err := os.MkdirAll(filepath.Join(src, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range map[string]string{
		"etc/hostname": "box\n", "etc/hosts": "127.0.0.1 localhost\n", "etc/passwd": "root:x:0:0::/root:/bin/sh\n",
		"usr/bin/tool": "#!/bin/sh\n", "usr/lib/libc.so": "ELF",
	} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("usr/bin", filepath.Join(src, "bin")); err != nil {
		t.Fatal(err)
	}
	return src
}

// writeFile writes a host file, failing the test on an error.
func writeFile(t *testing.T, p, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// lines returns the non-empty lines of s.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

// TestErrors checks the exit status and message of what cannot work, for
// both names: each says what is wrong with which file, and what to do when
// there is something to do.
func TestErrors(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "fs.img")
	testutil.MkfsExt4(t, img, smallTree(t), "4M")
	junk := filepath.Join(dir, "junk.img")
	writeFile(t, junk, strings.Repeat("not a filesystem ", 100000))
	missing := filepath.Join(dir, "missing.img")
	out := t.TempDir()
	for _, tc := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"-i", missing, "/etc", out}, 2, ": " + missing + ": no such file or directory\n"},
		{[]string{"-i", junk, "/etc", out}, 2, ": " + junk + ": not a filesystem this kernel reads (ext4, vfat, msdos, squashfs, erofs, iso9660, btrfs, xfs): no filesystem or partition table found"},
		{[]string{"-i", dir, "/etc", out}, 2, "is a directory, not a disk image"},
		{[]string{"-P", "2", "-i", img, "/etc", out}, 2, "-P 2: the disk has no partition table"},
		{[]string{"-t", "nosuchfs", "-i", img, "/etc", out}, 2, ": -t nosuchfs: unknown filesystem type (this kernel reads ext4, vfat, msdos, squashfs, erofs, iso9660, btrfs, xfs)\n"},
		{[]string{"/etc", out}, 2, ": -i IMAGE is required\n"},
		{[]string{"-i", img, out}, 2, "usage: "},
		{[]string{"--no-such-flag", "-i", img, "/etc", out}, 2, "flag provided but not defined"},
		{[]string{"-o", "root", "-i", img, "/etc", out}, 2, ": -o root: want a number"},
	} {
		for _, cmd := range []struct {
			name string
			run  func(*testing.T, ...string) result
		}{{"cptofs", cptofs}, {"cpfromfs", cpfromfs}} {
			r := cmd.run(t, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.stderr) || !strings.HasPrefix(r.stderr, cmd.name+": ") {
				t.Errorf("%s %q: exit %d, stderr %q; want %d and %q", cmd.name, tc.args, r.code, r.stderr, tc.code, tc.stderr)
			}
		}
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("failed runs created %v", entries)
	}
	// A filesystem the kernel mounts only read-only is refused before
	// anything is copied, with the kernel's reason.
	r := cptofs(t, "--no-journal", "-i", img, out, "/")
	if r.code != 2 || r.stderr != "cptofs: "+img+": the filesystem cannot be written: EXT4-fs (vda): noload: mounting read-only\n" {
		t.Errorf("--no-journal: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestPartitions: -P picks the partition of a GPT disk; without it the
// error says to choose.
func TestPartitions(t *testing.T) {
	sfdisk := testutil.Need(t, "sfdisk")[0]
	dir := t.TempDir()
	fsImg := filepath.Join(dir, "fs.img")
	testutil.MkfsExt4(t, fsImg, smallTree(t), "4M")
	disk := filepath.Join(dir, "disk.img")
	testutil.Run(t, "truncate", "-s", "16M", disk)
	cmd := exec.Command(sfdisk, "-q", disk)
	cmd.Stdin = strings.NewReader("label: gpt\nstart=2048, size=2048\nstart=4096, size=8192\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v\n%s", err, out)
	}
	testutil.Run(t, "dd", "if="+fsImg, "of="+disk, "bs=512", "seek=4096", "conv=notrunc,sparse", "status=none")
	out := t.TempDir()
	r := cpfromfs(t, "-i", disk, "/etc", out)
	if r.code != 2 || !strings.Contains(r.stderr, ": a GPT disk with 2 partitions (1 and 2): choose one with -P N") {
		t.Errorf("no -P: exit %d, stderr %q", r.code, r.stderr)
	}
	mustRun(t, cpfromfs(t, "-P", "2", "-i", disk, "/etc/hostname", out), "-P 2")
	if readFile(t, filepath.Join(out, "hostname")) != "box\n" {
		t.Error("-P 2: hostname not copied")
	}

	// cptofs writes into partition 2 only: the filesystem there stays
	// clean, partition 1 and the table are untouched.
	t.Run("cptofs", func(t *testing.T) {
		before := readFile(t, disk)
		writeFile(t, filepath.Join(dir, "new/motd"), "hello\n")
		mustRun(t, cptofs(t, "-P", "2", "-i", disk, filepath.Join(dir, "new/motd"), "/etc"), "cptofs -P 2")
		after := readFile(t, disk)
		if after[:4096*512] != before[:4096*512] || after[12288*512:] != before[12288*512:] {
			t.Error("cptofs -P 2 wrote outside partition 2")
		}
		part := filepath.Join(dir, "part2.img")
		if err := os.WriteFile(part, []byte(after[4096*512:12288*512]), 0o644); err != nil {
			t.Fatal(err)
		}
		testutil.E2fsckClean(t, part)
		out := t.TempDir()
		mustRun(t, cpfromfs(t, "-P", "2", "-i", disk, "/etc/motd", out), "cpfromfs -P 2")
		if readFile(t, filepath.Join(out, "motd")) != "hello\n" {
			t.Error("/etc/motd not in partition 2")
		}
	})
}
