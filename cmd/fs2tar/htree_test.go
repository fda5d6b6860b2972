//go:build linux

package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
	"golang.org/x/sys/unix"
)

// TestHashCollisions is the report of issue 11: an indexed directory with
// the legacy hash (an ext3-era default) whose names share hash values;
// legacy's minor hash is always 0, so they share a getdents64 position.
// The host kernel makes it; fs2tar must archive every name, as the host
// kernel lists them.
func TestHashCollisions(t *testing.T) {
	testutil.NeedLoop(t)
	tools := testutil.Need(t, "tune2fs", "e2fsck")
	img := filepath.Join(t.TempDir(), "fs.img")
	testutil.MkfsExt4(t, img, t.TempDir(), "64M")
	testutil.Run(t, tools[0], "-E", "hash_alg=legacy", img)
	names := testutil.LegacyCollisions("", 1<<20)
	for i := range 3000 {
		names = append(names, fmt.Sprintf("file-%05d", i))
	}
	mnt, umount := testutil.HostMount(t, img, "rw")
	dir := filepath.Join(mnt, "test2")
	must(t, os.Mkdir(dir, 0o755))
	target := filepath.Join(mnt, "target")
	must(t, os.WriteFile(target, []byte("one file, many names\n"), 0o644))
	for _, name := range names {
		must(t, unix.Link(target, filepath.Join(dir, name)))
	}
	umount()
	testutil.Run(t, tools[1], "-fn", img)

	r := fs2tar(t, img)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d; stderr:\n%s", r.code, r.stderr)
	}
	got, err := testutil.ScanTar(bytes.NewReader(r.stdout))
	if err != nil {
		t.Fatal(err)
	}
	if n := countUnder(got, "test2"); n != len(names) {
		t.Errorf("test2: %d entries archived, want %d", n, len(names))
	}
	mnt, umount = testutil.HostMount(t, img, "ro")
	kernelView, err := testutil.ScanDir(mnt)
	umount()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range testutil.Compare(kernelView, got, testutil.CompareOptions{}) {
		t.Errorf("mount -o loop vs fs2tar: %s", d)
	}
}
