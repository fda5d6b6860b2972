//go:build linux

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

// TestXFS exports XFS images of the test tree (v5 with its defaults,
// 1 KiB blocks with 8 KiB directory blocks, nrext64 with rmapbt), with
// the type probed and given: the archive must hold exactly what the host
// kernel shows of the image mounted loop,ro, entry by entry, and the
// image must not change.
func TestXFS(t *testing.T) {
	testutil.Need(t, "mkfs.xfs")
	src, _ := testutil.NewTree(t)
	for _, c := range []struct {
		name string
		args []string
	}{
		{"default", nil},
		{"1k-blocks-8k-dirs", []string{"-b", "size=1024", "-n", "size=8192"}},
		{"nrext64-rmapbt", []string{"-i", "nrext64=1", "-m", "rmapbt=1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			img := testutil.MkfsXFS(t, 300<<20, c.args...)
			testutil.FillLoop(t, img, testutil.CopyInto(t, src))
			exportMatchesLoop(t, img, "xfs")
		})
	}
}

// exportMatchesLoop exports img with fs2tar, the type probed and then
// given: each archive must hold exactly what the host kernel shows of
// the image mounted loop,ro, entry by entry, and the image must not
// change.
func exportMatchesLoop(t *testing.T, img, fstype string) {
	t.Helper()
	before := testutil.FileSum(t, img)
	want := testutil.LoopView(t, img)
	for _, args := range [][]string{{img}, {"-t", fstype, img}} {
		got, err := testutil.ScanTar(bytes.NewReader(mustExport(t, args...)))
		if err != nil {
			t.Fatal(err)
		}
		testutil.ExpectSame(t, "loop mount vs fs2tar", want, got,
			testutil.CompareOptions{SkipTypes: []string{testutil.TypeSocket}})
		t.Logf("fs2tar %q: %d entries compared", args, len(want))
	}
	if testutil.FileSum(t, img) != before {
		t.Error("the image changed")
	}
}

// TestXFSRHELLayout is a disk as RHEL's cloud images lay it out: a GPT
// with a BIOS boot partition, an EFI partition, an XFS /boot and an XFS
// root. fs2tar -P 3 and -P 4 export each XFS as the host shows it, the
// disk unchanged.
func TestXFSRHELLayout(t *testing.T) {
	testutil.Need(t, "sfdisk", "dd", "truncate")
	testutil.NeedLoop(t)
	src, _ := testutil.NewTree(t)
	boot := testutil.MkfsXFS(t, 300<<20, "-L", "boot")
	testutil.FillLoop(t, boot, func(mnt string) {
		if err := os.WriteFile(filepath.Join(mnt, "vmlinuz-5.14.0"), bytes.Repeat([]byte("kernel "), 30000), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(mnt, "grub2"), 0o700); err != nil {
			t.Fatal(err)
		}
	})
	root := testutil.MkfsXFS(t, 300<<20, "-L", "root")
	testutil.FillLoop(t, root, testutil.CopyInto(t, src))
	disk := filepath.Join(t.TempDir(), "disk.img")
	testutil.Run(t, "truncate", "-s", "620M", disk)
	// 1 MiB BIOS boot, 8 MiB EFI, then the two XFS of 300 MiB each.
	testutil.Sfdisk(t, disk, "label: gpt\nstart=2048, size=2048, type=21686148-6449-6E6F-744E-656564454649\n"+
		"start=4096, size=16384, type=uefi\nstart=20480, size=614400, type=linux\nstart=634880, size=614400, type=linux\n")
	testutil.Run(t, "dd", "if="+boot, "of="+disk, "bs=512", "seek=20480", "conv=notrunc,sparse", "status=none")
	testutil.Run(t, "dd", "if="+root, "of="+disk, "bs=512", "seek=634880", "conv=notrunc,sparse", "status=none")
	before := testutil.FileSum(t, disk)
	for _, p := range []struct {
		part string
		fs   string
	}{{"3", boot}, {"4", root}} {
		want := testutil.LoopView(t, p.fs)
		got := exportTree(t, "-P", p.part, disk)
		testutil.ExpectSame(t, "loop mount vs fs2tar -P "+p.part, want, got, testutil.CompareOptions{SkipTypes: []string{testutil.TypeSocket}})
		t.Logf("fs2tar -P %s: %d entries compared", p.part, len(want))
	}
	if testutil.FileSum(t, disk) != before {
		t.Error("the disk changed")
	}
}
