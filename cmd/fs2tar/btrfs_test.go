//go:build linux

package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

// btrfsCompare leaves out sockets, which tar cannot carry.
var btrfsCompare = testutil.CompareOptions{SkipTypes: []string{testutil.TypeSocket}}

// mkfsBtrfs makes a btrfs image of 256 MiB (sparse) with mkfs.btrfs ARGS.
func mkfsBtrfs(t *testing.T, args ...string) string {
	t.Helper()
	testutil.Need(t, "mkfs.btrfs")
	img := filepath.Join(t.TempDir(), "btrfs.img")
	testutil.Run(t, "truncate", "-s", "256M", img)
	testutil.Run(t, "mkfs.btrfs", append(append([]string{"-q", "-f"}, args...), img)...)
	return img
}

// exportTree runs fs2tar with args and reads the archive back.
func exportTree(t *testing.T, args ...string) testutil.Tree {
	t.Helper()
	got, err := testutil.ScanTar(bytes.NewReader(mustExport(t, args...)))
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestBtrfs exports an image mkfs.btrfs makes of the test tree, with the
// type probed and given: the archive must hold exactly what the host
// kernel shows of the image mounted loop,ro, entry by entry, and the
// image must not change.
func TestBtrfs(t *testing.T) {
	src, _ := testutil.NewTree(t)
	img := mkfsBtrfs(t, "--rootdir", src)
	before := testutil.FileSum(t, img)
	want := testutil.LoopView(t, img)
	for _, args := range [][]string{{img}, {"-t", "btrfs", img}} {
		testutil.ExpectSame(t, "loop mount vs fs2tar", want, exportTree(t, args...), btrfsCompare)
		t.Logf("fs2tar %q: %d entries compared", args, len(want))
	}
	if testutil.FileSum(t, img) != before {
		t.Error("the image changed")
	}
}

// TestBtrfsFedoraLayout is a disk as Fedora's installer lays it out: a
// GPT with an EFI partition and a btrfs one holding the subvolumes
// "root" and "home", compressed with zstd. fs2tar -P 2 exports the top
// level (the default subvolume), and with --mount-options subvol=root
// the root subvolume, each as the host shows the same filesystem.
func TestBtrfsFedoraLayout(t *testing.T) {
	testutil.Need(t, "btrfs", "sfdisk")
	testutil.NeedLoop(t)
	src, _ := testutil.NewTree(t)
	fs := mkfsBtrfs(t, "-L", "fedora")
	mnt, umount := testutil.HostMount(t, fs, "compress=zstd:1")
	testutil.Run(t, "btrfs", "-q", "subvolume", "create", filepath.Join(mnt, "root"))
	testutil.Run(t, "btrfs", "-q", "subvolume", "create", filepath.Join(mnt, "home"))
	testutil.Run(t, "cp", "-a", src+"/.", filepath.Join(mnt, "root"))
	if err := os.MkdirAll(filepath.Join(mnt, "home", "user"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mnt, "home", "user", ".bashrc"), bytes.Repeat([]byte("# a compressible line\n"), 500), 0o644); err != nil {
		t.Fatal(err)
	}
	umount()

	disk := filepath.Join(t.TempDir(), "disk.img")
	testutil.Run(t, "truncate", "-s", "270M", disk)
	testutil.Sfdisk(t, disk, "label: gpt\nstart=2048, size=4096, type=uefi\nstart=8192, size=524288, type=linux\n")
	testutil.Run(t, "dd", "if="+fs, "of="+disk, "bs=1M", "seek=4", "conv=notrunc,sparse", "status=none")
	for _, c := range []struct{ name, opts string }{{"default", ""}, {"subvol=root", "subvol=root"}, {"subvol=home", "subvol=/home"}} {
		t.Run(c.name, func(t *testing.T) {
			var want testutil.Tree
			if c.opts == "" {
				want = testutil.LoopView(t, fs)
			} else {
				m, u := testutil.HostMount(t, fs, "ro,"+c.opts)
				want = testutil.MustScanDir(t, m)
				u()
			}
			args := []string{"-P", "2", disk}
			if c.opts != "" {
				args = append([]string{"--mount-options", c.opts}, args...)
			}
			testutil.ExpectSame(t, "loop mount vs fs2tar "+c.name, want, exportTree(t, args...), btrfsCompare)
			t.Logf("fs2tar %q: %d entries compared", args, len(want))
		})
	}
}

// TestBtrfsDevices exports a btrfs over four devices (raid10, made by
// btrfs-progs 6.19, committed in kernel/fs/btrfs/testdata): the first
// image with the others named by --device holds what the host kernel
// showed of it (the tree recorded beside the images, without its
// modification times' made-up directories: it has none); the first
// alone fails, its other devices missing.
func TestBtrfsDevices(t *testing.T) {
	dir := filepath.Join("..", "..", "kernel", "fs", "btrfs", "testdata")
	var imgs []string
	for i := range 4 {
		img := filepath.Join(t.TempDir(), fmt.Sprintf("raid10-%d.img", i))
		testutil.Unzstd(t, filepath.Join(dir, fmt.Sprintf("progs-raid10-%d.img.zst", i)), img)
		imgs = append(imgs, img)
	}
	var want struct{ Tree testutil.Tree }
	testutil.ReadJSONGz(t, filepath.Join(dir, "progs-raid10.json.gz"), &want)
	args := []string{"--device", imgs[1], "--device", imgs[2], "--device", imgs[3], imgs[0]}
	testutil.ExpectSame(t, "recorded host view vs fs2tar --device", want.Tree, exportTree(t, args...), btrfsCompare)
	r := fs2tar(t, imgs[0])
	if r.code == 0 || !strings.Contains(r.stderr, "ENOENT") || !strings.Contains(r.stderr, "missing") {
		t.Errorf("fs2tar of one of four devices: exit %d, %s", r.code, r.stderr)
	}
}
