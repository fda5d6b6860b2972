package main

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lklimg/lklimg/internal/testutil"
)

var bin string

func TestMain(m *testing.M) {
	var dir string
	var err error
	if bin, dir, err = testutil.BuildCommand("lklfuse"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// lklfuse runs the command; a mount it made that the test leaves behind
// (a failed test) is detached at the test's end, which ends its server.
func lklfuse(t *testing.T, args ...string) testutil.Result {
	t.Helper()
	r := testutil.RunCommand(t, exec.Command(bin, args...))
	if mnt := args[len(args)-1]; r.Code == 0 {
		t.Cleanup(func() {
			if ok, _ := mounted(t, mnt); ok {
				exec.Command("umount", "-l", mnt).Run()
			}
		})
	}
	return r
}

// mounted reports whether mnt is a mount point of a FUSE filesystem
// (/proc/self/mountinfo), and its options.
func mounted(t *testing.T, mnt string) (bool, string) {
	t.Helper()
	info, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(info), "\n") {
		f := strings.Fields(line)
		if len(f) > 5 && f[4] == mnt {
			return true, f[5]
		}
	}
	return false, ""
}

// serverPid returns the pid of the background server of mnt.
func serverPid(t *testing.T, mnt string) int {
	t.Helper()
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		cmdline, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		if len(args) > 0 && args[0] == bin && args[len(args)-1] == mnt {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			return pid
		}
	}
	t.Fatalf("no server process for %s", mnt)
	return 0
}

// waitGone waits for pid to end and mnt (unless "") to be unmounted.
func waitGone(t *testing.T, pid int, mnt string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		m := false
		if mnt != "" {
			m, _ = mounted(t, mnt)
		}
		if !m && syscall.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	m, _ := mounted(t, mnt)
	t.Fatalf("server %d of %s: process still there: %v, still mounted: %v", pid, mnt, syscall.Kill(pid, 0) == nil, m)
}

func newImage(t *testing.T) string {
	t.Helper()
	img := filepath.Join(t.TempDir(), "img")
	testutil.MkfsExt4(t, img, "", "32M")
	return img
}

// TestBackground: lklfuse returns once the mount is ready; what is
// written through it is in the image after SIGTERM has unmounted it and
// the server has ended, and e2fsck -fn finds the image clean.
func TestBackground(t *testing.T) {
	testutil.NeedFUSE(t)
	for _, stop := range []string{"SIGTERM", "fusermount3 -u"} {
		t.Run(stop, func(t *testing.T) {
			img := newImage(t)
			mnt := t.TempDir()
			r := lklfuse(t, img, mnt)
			if r.Code != 0 {
				t.Fatalf("exit %d: %s", r.Code, r.Stderr)
			}
			ok, opts := mounted(t, mnt)
			if !ok || !strings.HasPrefix(opts, "rw") {
				t.Fatalf("%s not mounted read-write after lklfuse returned (%q)", mnt, opts)
			}
			if err := os.WriteFile(filepath.Join(mnt, "hello"), []byte("world\n"), 0o640); err != nil {
				t.Fatal(err)
			}
			pid := serverPid(t, mnt)
			if stop == "SIGTERM" {
				if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
					t.Fatal(err)
				}
			} else {
				testutil.Run(t, testutil.Need(t, "fusermount3")[0], "-u", mnt)
			}
			waitGone(t, pid, mnt)
			testutil.E2fsckClean(t, img)
			if got := testutil.DebugfsOut(t, img, "cat /hello"); got != "world\n" {
				t.Errorf("/hello in the image: %q", got)
			}
			if st := testutil.DebugfsOut(t, img, "stat /hello"); !strings.Contains(st, "Mode:  0640") {
				t.Errorf("/hello's mode:\n%s", st)
			}
		})
	}
}

// TestReadOnly: -o ro mounts read-only on the host too; a write is EROFS
// and the image file is not changed by a byte.
func TestReadOnly(t *testing.T) {
	testutil.NeedFUSE(t)
	img := newImage(t)
	before := testutil.FileSum(t, img)
	mnt := t.TempDir()
	if r := lklfuse(t, "-o", "ro", img, mnt); r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	if ok, opts := mounted(t, mnt); !ok || !strings.HasPrefix(opts, "ro") {
		t.Fatalf("%s not mounted read-only (%q)", mnt, opts)
	}
	pid := serverPid(t, mnt)
	err := os.WriteFile(filepath.Join(mnt, "x"), nil, 0o644)
	if !errors.Is(err, syscall.EROFS) {
		t.Errorf("write on a read-only mount: %v, want EROFS", err)
	}
	if _, err := os.ReadDir(filepath.Join(mnt, "lost+found")); err != nil {
		t.Error(err)
	}
	syscall.Kill(pid, syscall.SIGINT)
	waitGone(t, pid, mnt)
	if after := testutil.FileSum(t, img); after != before {
		t.Error("the image changed under a read-only mount")
	}
}

// TestErrors: what cannot be mounted says why, naming it, with exit
// status 1 (2 for a wrong command line), and leaves nothing mounted.
func TestErrors(t *testing.T) {
	testutil.NeedFUSE(t)
	img := newImage(t)
	mnt := t.TempDir()
	notDir := filepath.Join(t.TempDir(), "file")
	os.WriteFile(notDir, nil, 0o644)
	junk := filepath.Join(t.TempDir(), "junk")
	os.WriteFile(junk, bytes.Repeat([]byte{0x5a}, 1<<20), 0o644)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{filepath.Join(mnt, "missing.img"), mnt}, 1, "missing.img"},
		{[]string{junk, mnt}, 1, "not a filesystem this kernel reads"},
		{[]string{img, notDir}, 1, notDir + ": not a directory"},
		{[]string{img, notDir + "-missing"}, 1, "no such file or directory"},
		{[]string{"-o", "type=zfs", img, mnt}, 1, "-t zfs: unknown filesystem type"},
		{[]string{"-o", "type=vfat", img, mnt}, 1, "(vfat): EINVAL (fat: bogus number of FAT structures)"},
		{[]string{"-o", "part=2", img, mnt}, 1, "the disk has no partition table"},
		{[]string{"-o", "mb=x", img, mnt}, 2, "-o mb=x"},
		{[]string{img}, 2, "need IMAGE and MOUNTPOINT"},
		{[]string{"-x", img, mnt}, 2, "unknown option -x"},
	} {
		r := lklfuse(t, c.args...)
		if r.Code != c.code || !strings.Contains(string(r.Stderr), c.want) {
			t.Errorf("lklfuse %q: exit %d, %q; want %d and %q", c.args, r.Code, r.Stderr, c.code, c.want)
		}
		if ok, _ := mounted(t, mnt); ok {
			t.Fatalf("lklfuse %q left %s mounted", c.args, mnt)
		}
	}
}

// TestReadOnlyFeature: a filesystem the driver cannot write (here an
// ro_compat feature of a newer kernel) is served read-only, with the
// reason on stderr, as mount(8) says it mounted a write-protected device
// read-only; nothing of the image changes.
func TestReadOnlyFeature(t *testing.T) {
	testutil.NeedFUSE(t)
	img := filepath.Join(t.TempDir(), "img")
	testutil.MkfsExt4(t, img, "", "32M", "-O", "^metadata_csum")
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	// s_feature_ro_compat (superblock offset 0x64): an unknown bit.
	var b [4]byte
	f.ReadAt(b[:], 1024+0x64)
	b[3] |= 0x80
	f.WriteAt(b[:], 1024+0x64)
	f.Close()
	before := testutil.FileSum(t, img)
	mnt := t.TempDir()
	r := lklfuse(t, img, mnt)
	if r.Code != 0 || !strings.Contains(string(r.Stderr), "mounted read-only: EXT4-fs (vda): write support for feature(s) ro_compat_0x80000000 not available") {
		t.Fatalf("exit %d: %q", r.Code, r.Stderr)
	}
	if ok, opts := mounted(t, mnt); !ok || !strings.HasPrefix(opts, "ro") {
		t.Fatalf("%s not mounted read-only (%q)", mnt, opts)
	}
	pid := serverPid(t, mnt)
	if err := os.Mkdir(filepath.Join(mnt, "x"), 0o755); !errors.Is(err, syscall.EROFS) {
		t.Errorf("mkdir: %v, want EROFS", err)
	}
	syscall.Kill(pid, syscall.SIGTERM)
	waitGone(t, pid, mnt)
	if testutil.FileSum(t, img) != before {
		t.Error("the image changed")
	}
}

// TestPartition: -o part=N serves partition N of a GPT disk; what is
// written lands inside that partition (the image outside it unchanged)
// and the partition's filesystem is clean.
func TestPartition(t *testing.T) {
	testutil.NeedFUSE(t)
	dir := t.TempDir()
	part := filepath.Join(dir, "part")
	testutil.MkfsExt4(t, part, "", "16M")
	disk := filepath.Join(dir, "disk")
	testutil.Run(t, "truncate", "-s", "40M", disk)
	testutil.Sfdisk(t, disk, "label: gpt\nstart=2048, size=16384\nstart=18432, size=32768\n")
	p, err := os.ReadFile(part)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(disk, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(p, 18432*512); err != nil {
		t.Fatal(err)
	}
	f.Close()
	outside := func() [32]byte {
		b, err := os.ReadFile(disk)
		if err != nil {
			t.Fatal(err)
		}
		return sha256.Sum256(append(b[:18432*512:18432*512], b[(18432+32768)*512:]...))
	}
	before := outside()
	mnt := t.TempDir()
	if r := lklfuse(t, "-o", "part=2,type=ext4", disk, mnt); r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	pid := serverPid(t, mnt)
	if err := os.WriteFile(filepath.Join(mnt, "in-p2"), []byte("two\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, testutil.Need(t, "fusermount3")[0], "-u", mnt)
	waitGone(t, pid, mnt)
	b, err := os.ReadFile(disk)
	if err != nil {
		t.Fatal(err)
	}
	if outside() != before {
		t.Error("the disk changed outside partition 2")
	}
	out := filepath.Join(dir, "p2")
	if err := os.WriteFile(out, b[18432*512:(18432+32768)*512], 0o644); err != nil {
		t.Fatal(err)
	}
	testutil.E2fsckClean(t, out)
	if got := testutil.DebugfsOut(t, out, "cat /in-p2"); got != "two\n" {
		t.Errorf("/in-p2 in partition 2: %q", got)
	}
}
