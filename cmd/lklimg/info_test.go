//go:build linux

package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

// TestInfo puts an ext4 filesystem in partition 2 of a GPT disk, with an
// empty partition 1, and checks that info shows the table, "none found"
// for partition 1 and, for partition 2, the figures GNU `stat -f` shows
// for the filesystem loop-mounted; that -P 2 shows only it; that ls with
// -P 2 reads it and without -P says to choose.
func TestInfo(t *testing.T) {
	testutil.NeedLoop(t)
	tools := testutil.Need(t, "mkfs.ext4", "sfdisk", "stat")
	dir := t.TempDir()
	src, fsImg, disk, mnt := filepath.Join(dir, "src"), filepath.Join(dir, "fs.img"), filepath.Join(dir, "vda"), filepath.Join(dir, "mnt")
	for _, d := range []string{src + "/sub", mnt} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Run(t, "truncate", "-s", "8M", fsImg)
	testutil.Run(t, tools[0], "-q", "-F", "-E", "root_owner=0:0", "-d", src, fsImg)
	testutil.Run(t, "truncate", "-s", "12M", disk)
	sfdisk := exec.Command(tools[1], "-q", disk)
	sfdisk.Stdin = strings.NewReader("label: gpt\nstart=2048, size=2048\nstart=4096, size=16384\n")
	if out, err := sfdisk.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v\n%s", err, out)
	}
	testutil.Run(t, "dd", "if="+fsImg, "of="+disk, "bs=512", "seek=4096", "conv=notrunc,sparse", "status=none")

	testutil.Run(t, "mount", "-o", "loop,ro", fsImg, mnt)
	var bs, blocks, bfree, bavail, files, ffree uint64
	out := string(testutil.Run(t, tools[2], "-f", "-c", "%S %b %f %a %c %d", mnt))
	exec.Command("umount", mnt).Run()
	if _, err := fmt.Sscan(out, &bs, &blocks, &bfree, &bavail, &files, &ffree); err != nil {
		t.Fatalf("stat -f: %q: %v", out, err)
	}
	fsLines := fmt.Sprintf("  Filesystem: ext4\n  Block size: %d\n  Size:       %d bytes (%d blocks)\n"+
		"  Free:       %d bytes (%d blocks; %d available to users)\n  Inodes:     %d (%d free)\n",
		bs, blocks*bs, blocks, bfree*bs, bfree, bavail, files, ffree)
	// The partition table, as sfdisk -l shows it (see compareSfdiskList),
	// then each partition's filesystem.
	// (The disk is called vda, and info runs in its directory, for
	// sfdisk to name it and its partitions as info does.)
	inDir := func(args ...string) *exec.Cmd {
		cmd := exec.Command(lklimgBin, args...)
		cmd.Dir = dir
		return cmd
	}
	r := runCmd(t, inDir("info", "vda"))
	head, rest := splitInfo(t, r.stdout)
	compareSfdiskList(t, tools[1], dir, "vda", head)
	want := "\nPartition 1 (vda1)\n  Filesystem: none found\n\nPartition 2 (vda2)\n" + fsLines
	if r.code != 0 || r.stderr != "" || rest != want {
		t.Errorf("info: exit %d, stderr %q, stdout:\n%s\nwant:\n%s", r.code, r.stderr, r.stdout, want)
	}
	r = runCmd(t, inDir("info", "-P", "2", "vda"))
	if want := head + "\nPartition 2 (vda2)\n" + fsLines; r.code != 0 || r.stdout != want {
		t.Errorf("info -P 2: exit %d, stderr %q, stdout:\n%s\nwant:\n%s", r.code, r.stderr, r.stdout, want)
	}
	// A disk without a table: sfdisk -l's lines about the disk only.
	r = runCmd(t, inDir("info", "fs.img"))
	head, rest = splitInfo(t, r.stdout)
	compareSfdiskList(t, tools[1], dir, "fs.img", head)
	if want := "\nWhole disk (vda)\n" + fsLines; r.code != 0 || rest != want {
		t.Errorf("info on a bare filesystem: exit %d, stderr %q, stdout:\n%s\nwant:\n%s", r.code, r.stderr, r.stdout, want)
	}
	r = runCmd(t, exec.Command(lklimgBin, "ls", "-P", "2", disk))
	if r.code != 0 || r.stdout != "lost+found\nsub\n" {
		t.Errorf("ls -P 2: exit %d, stderr %q, stdout %q", r.code, r.stderr, r.stdout)
	}
	r = runCmd(t, exec.Command(lklimgBin, "ls", disk))
	if r.code != 2 || !strings.Contains(r.stderr, "choose one with -P N") || r.stdout != "" {
		t.Errorf("ls without -P: exit %d, stderr %q, stdout %q", r.code, r.stderr, r.stdout)
	}
}

// TestUsage checks the exit status and message of a command line that
// cannot work.
func TestUsage(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.img")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"ls", missing}, "lklimg: " + missing + ": no such file or directory\n"},
		{[]string{"info", missing}, "lklimg: " + missing + ": no such file or directory\n"},
		{[]string{"cat", missing}, "lklimg: usage: lklimg cat [options] IMAGE PATH...\n"},
		{[]string{"df", missing, "x"}, "lklimg: usage: lklimg df [options] IMAGE\n"},
		{[]string{"ls"}, "lklimg: usage: lklimg ls [options] IMAGE [PATH...]\n"},
	} {
		r := runCmd(t, exec.Command(lklimgBin, c.args...))
		if r.code != 2 || r.stderr != c.want || r.stdout != "" {
			t.Errorf("lklimg %v: exit %d, stderr %q, stdout %q; want exit 2, stderr %q", c.args, r.code, r.stderr, r.stdout, c.want)
		}
	}
}

// TestWriteReadOnlyImage: a changing command on an image the driver will
// not write (a feature it cannot keep valid) says why, before anything,
// exits 2 and leaves the image as it was.
func TestWriteReadOnlyImage(t *testing.T) {
	mke2fs := testutil.Need(t, "mkfs.ext4")[0]
	img := filepath.Join(t.TempDir(), "fc.img")
	testutil.Run(t, mke2fs, "-q", "-F", "-O", "fast_commit", img, "8M")
	before, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	r := runCmd(t, exec.Command(lklimgBin, "mkdir", img, "/x"))
	want := "lklimg: " + img + ": the filesystem cannot be written: EXT4-fs (vda): write support for feature(s) fast_commit not available: mounting read-only\n"
	if r.code != 2 || r.stderr != want {
		t.Errorf("mkdir on a fast_commit image: exit %d, stderr %q; want exit 2, %q", r.code, r.stderr, want)
	}
	after, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("the image changed")
	}
}
