//go:build linux

package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
	"golang.org/x/sys/unix"
)

// TestToDefaultACL: cptofs into a directory of the image with a default
// ACL ends as cp -a does on the host kernel into the same directory of a
// twin image: the copies have exactly the sources' ACLs (none inherited
// where the source has none, the source's own where it has one), and new
// entries made in the image there without cptofs inherit. With 128-byte
// inodes the ACLs live in (shared) attribute blocks.
func TestToDefaultACL(t *testing.T) {
	testutil.NeedLoop(t)
	for _, inodeSize := range []string{"256", "128"} {
		t.Run(inodeSize, func(t *testing.T) { testToDefaultACL(t, inodeSize) })
	}
}

func testToDefaultACL(t *testing.T, inodeSize string) {
	dir := t.TempDir()
	base := filepath.Join(dir, "base")
	// u::rwx u:1000:r-x g::r-x m::rwx o::---, as setfacl -d would set it.
	def := aclXattr(0x01, 7, 0x02, 5, 1000, 0x04, 5, 0x10, 7, 0x20, 0)
	if err := os.MkdirAll(filepath.Join(base, "dst"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(filepath.Join(base, "dst"), "system.posix_acl_default", def, 0); err != nil {
		testutil.Skip(t, "setxattr default ACL: %v", err)
	}
	src := smallTree(t)
	if err := os.Mkdir(filepath.Join(src, "shared"), 0o2770); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(filepath.Join(src, "shared"), "system.posix_acl_default",
		aclXattr(0x01, 7, 0x04, 7, 0x08, 5, 2000, 0x10, 7, 0x20, 0), 0); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(filepath.Join(src, "etc/passwd"), "system.posix_acl_access",
		aclXattr(0x01, 6, 0x02, 4, 33, 0x04, 4, 0x10, 4, 0x20, 4), 0); err != nil {
		t.Fatal(err)
	}
	kimg, himg := filepath.Join(dir, "k.img"), filepath.Join(dir, "h.img")
	for _, img := range []string{kimg, himg} {
		testutil.MkfsExt4(t, img, base, "16M", "-I", inodeSize, "-U", "0b3f4c1e-9c5a-4a8e-8f1d-2a6b7c8d9e0f")
	}
	mustRun(t, cptofs(t, "-i", kimg, src+"/.", "/dst"), "cptofs SRC/. /dst")
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "mount", "-o", "loop", himg, mnt)
	testutil.Run(t, "cp", "-a", src+"/.", mnt+"/dst")
	testutil.Run(t, "umount", mnt)
	testutil.E2fsckClean(t, kimg)
	opts := testutil.CompareOptions{SkipPaths: []string{"lost+found"}, HoleUnit: 4096}
	testutil.ExpectSame(t, "cp -a on the host vs cptofs", testutil.LoopView(t, himg), testutil.LoopView(t, kimg), opts)
}

// aclXattr builds the xattr form of an ACL from tag, perm pairs, USER
// (0x02) and GROUP (0x08) ones followed by their id.
func aclXattr(fields ...int) []byte {
	b := []byte{2, 0, 0, 0}
	for i := 0; i < len(fields); {
		tag, perm, id := fields[i], fields[i+1], -1
		i += 2
		if tag == 0x02 || tag == 0x08 {
			id = fields[i]
			i++
		}
		b = append(b, byte(tag), byte(tag>>8), byte(perm), byte(perm>>8),
			byte(id), byte(id>>8), byte(id>>16), byte(id>>24))
	}
	return b
}
