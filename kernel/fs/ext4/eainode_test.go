//go:build linux

package ext4_test

import (
	"strconv"
	"testing"

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
	img := sparseImage(t, "32M", "-b", "1024", "-I", "128", "-O", "ea_inode", "-U", "6b33f586-a7ab-4b2e-a3a4-5b8e4c3f2a11")
	withKernel(t, img, "", func(k *kernel.Kernel, must func(string, error)) {
		for i := range 8 {
			n := "/mnt/f" + strconv.Itoa(i)
			fd, err := k.Openat(abi.AT_FDCWD, n, abi.O_RDWR|abi.O_CREAT, 0o644)
			must("create "+n, err)
			must("close", k.Close(fd))
			must("setxattr "+n, k.Setxattr(n, "user.big", pattern(1500+i*111, byte(i*53)), 0))
		}
	})
	e2fsck(t, img)
}
