//go:build linux

package ext4_test

import (
	"bytes"
	"errors"
	"os/exec"
	"strconv"
	"testing"

	"github.com/lklimg/lklimg/internal/kerneltest"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
)

// TestEAInodeHashSmallInode sets values in ea_inodes of 128-byte inodes,
// whose i_atime, holding the value's hash, has no extra field: hashes
// from 2^31 on must be kept as they are (ext4_xattr_inode_set_hash), not
// clamped as a time, or e2fsck finds the entries' hashes wrong. The
// fixed UUID makes the hashes fixed; among eight values some are above
// 2^31.
func TestEAInodeHashSmallInode(t *testing.T) {
	testutil.Need(t, "mke2fs", "e2fsck")
	img := testutil.Mke2fsImage(t, "32M", "-b", "1024", "-I", "128", "-O", "ea_inode", "-U", "6b33f586-a7ab-4b2e-a3a4-5b8e4c3f2a11")
	kerneltest.WithKernel(t, img, "", func(k *kernel.Kernel, must func(string, error)) {
		for i := range 8 {
			n := "/mnt/f" + strconv.Itoa(i)
			fd, err := k.Openat(abi.AT_FDCWD, n, abi.O_RDWR|abi.O_CREAT, 0o644)
			must("create "+n, err)
			must("close", k.Close(fd))
			must("setxattr "+n, k.Setxattr(n, "user.big", pattern(1500+i*111, byte(i*53)), 0))
		}
	})
	testutil.E2fsckClean(t, img)
}

// TestQuotaEAInodeRefs checks the quota charge of values in ea_inodes:
// as Linux (ext4_xattr_inode_alloc_quota, ext4_get_inode_usage) and
// e2fsck (check_ext_attr, check_large_ea_inode) count them, every entry
// naming an ea_inode counts one inode more for the owners of the inode
// whose entry it is, or of every inode sharing the attribute block that
// holds it, while the ea_inode itself counts for nobody. Equal values
// share one ea_inode; a chown moves the entries' inodes with the file's.
// With 128-byte inodes every entry is in the block, which equal
// attribute sets share.
func TestQuotaEAInodeRefs(t *testing.T) {
	testutil.Need(t, "mke2fs", "e2fsck")
	big := pattern(9000, 1)
	steps := []struct {
		name string
		do   func(k *kernel.Kernel, must func(string, error))
	}{
		{"two files share an ea_inode", func(k *kernel.Kernel, must func(string, error)) {
			for _, n := range []string{"/mnt/a", "/mnt/b", "/mnt/c"} {
				fd, err := k.Openat(abi.AT_FDCWD, n, abi.O_RDWR|abi.O_CREAT, 0o644)
				must("create "+n, err)
				must("close", k.Close(fd))
				must("setxattr "+n, k.Setxattr(n, "user.big", big, 0))
			}
		}},
		{"chown", func(k *kernel.Kernel, must func(string, error)) {
			must("chown", k.Fchownat(abi.AT_FDCWD, "/mnt/b", 1000, 1000, 0))
			if err := k.FileSetattr(abi.AT_FDCWD, "/mnt/c", abi.Fsxattr{Projid: 7}, 0); !errors.Is(err, abi.EOPNOTSUPP) {
				must("project", err) // without the project feature, none
			}
		}},
		{"removexattr and unlink", func(k *kernel.Kernel, must func(string, error)) {
			must("removexattr", k.Removexattr("/mnt/a", "user.big"))
			must("unlink", k.Unlinkat(abi.AT_FDCWD, "/mnt/b", 0))
		}},
		{"unlink the last", func(k *kernel.Kernel, must func(string, error)) {
			must("unlink", k.Unlinkat(abi.AT_FDCWD, "/mnt/c", 0))
		}},
	}
	for _, args := range [][]string{
		{"-b", "4096", "-I", "256", "-O", "quota,project,ea_inode"},
		{"-b", "1024", "-I", "128", "-O", "quota,ea_inode,^metadata_csum"},
		{"-b", "4096", "-I", "128", "-O", "quota,ea_inode,bigalloc", "-C", "16384"},
	} {
		t.Run(args[1]+"-"+args[3], func(t *testing.T) {
			img := testutil.Mke2fsImage(t, "64M", args...)
			for _, s := range steps {
				kerneltest.WithKernel(t, img, "", s.do)
				if out, err := exec.Command("e2fsck", "-fn", img).CombinedOutput(); err != nil {
					t.Fatalf("after %s: e2fsck -fn: %v\n%s", s.name, err, out)
				}
			}
		})
	}
}

// TestEAInodeMovesToInode sets again a value in an ea_inode whose entry
// is in the attribute block while the inode has room for it now: the
// entry moves to the inode with the same ea_inode, which must outlive the
// block's reference dropped first (it was freed, and the set failed with
// ESTALE on the freed inode).
func TestEAInodeMovesToInode(t *testing.T) {
	testutil.Need(t, "mke2fs", "e2fsck")
	img := testutil.Mke2fsImage(t, "32M", "-b", "4096", "-I", "256", "-O", "ea_inode,^inline_data")
	big := pattern(9000, 5)
	kerneltest.WithKernel(t, img, "", func(k *kernel.Kernel, must func(string, error)) {
		fd, err := k.Openat(abi.AT_FDCWD, "/mnt/a", abi.O_RDWR|abi.O_CREAT, 0o644)
		must("create", err)
		must("close", k.Close(fd))
		must("setxattr pad", k.Setxattr("/mnt/a", "user.pad", pattern(60, 1), 0))
		must("setxattr big", k.Setxattr("/mnt/a", "user.big", big, 0)) // into the block
		must("removexattr pad", k.Removexattr("/mnt/a", "user.pad"))
		must("setxattr big again", k.Setxattr("/mnt/a", "user.big", big, 0)) // into the inode
		got := make([]byte, len(big))
		n, err := k.Getxattr("/mnt/a", "user.big", got)
		must("getxattr", err)
		if !bytes.Equal(got[:n], big) {
			t.Errorf("user.big reads %d bytes, not the value set", n)
		}
	})
	testutil.E2fsckClean(t, img)
}
