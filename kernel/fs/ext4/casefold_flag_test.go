//go:build linux

package ext4_test

import (
	"errors"
	"strconv"
	"testing"

	"github.com/lklimg/lklimg/internal/kerneltest"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
)

// TestCasefoldSetflags casefolds an empty directory through
// FS_IOC_SETFLAGS (chattr +F), as Linux allows (ext4_ioctl_setflags):
// names then match regardless of case, in an inline directory and once
// it grows into an indexed one (e2fsck -fn checks the casefolded
// hashes). A directory with entries refuses the change (ENOTEMPTY), a
// file refuses the flag and so does a filesystem without the feature
// (EOPNOTSUPP); chattr -F on the emptied directory is allowed.
func TestCasefoldSetflags(t *testing.T) {
	testutil.Need(t, "mke2fs", "e2fsck")
	for _, args := range [][]string{
		{"-b", "1024", "-O", "casefold,inline_data"},
		{"-b", "4096", "-O", "casefold,^inline_data"},
	} {
		t.Run(args[1]+"-"+args[3], func(t *testing.T) {
			img := testutil.Mke2fsImage(t, "32M", args...)
			kerneltest.WithKernel(t, img, "", func(k *kernel.Kernel, must func(string, error)) {
				// chattr +F or -F: the flags shown, FS_CASEFOLD_FL
				// set or cleared.
				setflags := func(p string, fl uint32) error {
					fd, err := k.Openat(abi.AT_FDCWD, p, abi.O_RDONLY, 0)
					must("open "+p, err)
					defer k.Close(fd)
					old, err := k.Getflags(fd)
					must("getflags "+p, err)
					return k.Setflags(fd, old&^abi.FS_CASEFOLD_FL|fl)
				}
				want := func(what string, err, want error) {
					t.Helper()
					if !errors.Is(err, want) {
						t.Errorf("%s: %v, want %v", what, err, want)
					}
				}
				must("mkdir cf", k.Mkdirat(abi.AT_FDCWD, "/mnt/cf", 0o755))
				must("mkdir full", k.Mkdirat(abi.AT_FDCWD, "/mnt/full", 0o755))
				must("mknod full/x", k.Mknodat(abi.AT_FDCWD, "/mnt/full/x", abi.S_IFREG|0o644, 0))
				must("mknod file", k.Mknodat(abi.AT_FDCWD, "/mnt/file", abi.S_IFREG|0o644, 0))
				var st abi.Stat
				// A negative dentry from before the change.
				want("stat cf/README", k.Fstatat(abi.AT_FDCWD, "/mnt/cf/README", &st, 0), abi.ENOENT)
				must("chattr +F cf", setflags("/mnt/cf", abi.FS_CASEFOLD_FL))
				want("chattr +F full", setflags("/mnt/full", abi.FS_CASEFOLD_FL), abi.ENOTEMPTY)
				want("chattr +F file", setflags("/mnt/file", abi.FS_CASEFOLD_FL), abi.EOPNOTSUPP)
				fd, err := k.Openat(abi.AT_FDCWD, "/mnt/cf", abi.O_RDONLY, 0)
				must("open cf", err)
				fl, err := k.Getflags(fd)
				must("getflags cf", err)
				k.Close(fd)
				if fl&abi.FS_CASEFOLD_FL == 0 {
					t.Errorf("cf flags %#x: no FS_CASEFOLD_FL", fl)
				}
				must("mknod cf/readme", k.Mknodat(abi.AT_FDCWD, "/mnt/cf/readme", abi.S_IFREG|0o644, 0))
				must("stat cf/README", k.Fstatat(abi.AT_FDCWD, "/mnt/cf/README", &st, 0))
				want("mknod cf/ReadMe", k.Mknodat(abi.AT_FDCWD, "/mnt/cf/ReadMe", abi.S_IFREG|0o644, 0), abi.EEXIST)
				// Enough names for blocks and an index.
				for i := range 300 {
					must("mknod", k.Mknodat(abi.AT_FDCWD, "/mnt/cf/Name-"+strconv.Itoa(i), abi.S_IFREG|0o644, 0))
				}
				must("stat cf/NAME-299", k.Fstatat(abi.AT_FDCWD, "/mnt/cf/NAME-299", &st, 0))
				want("chattr -F cf", setflags("/mnt/cf", 0), abi.ENOTEMPTY)
				must("mkdir cf/sub", k.Mkdirat(abi.AT_FDCWD, "/mnt/cf/sub", 0o755))
				must("mknod cf/SUB/Inner", k.Mknodat(abi.AT_FDCWD, "/mnt/cf/SUB/Inner", abi.S_IFREG|0o644, 0))
				must("stat cf/sub/INNER", k.Fstatat(abi.AT_FDCWD, "/mnt/cf/sub/INNER", &st, 0))
				must("chattr -F cf/sub", func() error {
					must("unlink", k.Unlinkat(abi.AT_FDCWD, "/mnt/cf/sub/inner", 0))
					return setflags("/mnt/cf/sub", 0)
				}())
				must("mknod cf/sub/a", k.Mknodat(abi.AT_FDCWD, "/mnt/cf/sub/a", abi.S_IFREG|0o644, 0))
				must("mknod cf/sub/A", k.Mknodat(abi.AT_FDCWD, "/mnt/cf/sub/A", abi.S_IFREG|0o644, 0))
			})
			testutil.E2fsckClean(t, img)
		})
	}
	t.Run("nofeature", func(t *testing.T) {
		img := testutil.Mke2fsImage(t, "32M", "-b", "1024")
		kerneltest.WithKernel(t, img, "", func(k *kernel.Kernel, must func(string, error)) {
			must("mkdir d", k.Mkdirat(abi.AT_FDCWD, "/mnt/d", 0o755))
			fd, err := k.Openat(abi.AT_FDCWD, "/mnt/d", abi.O_RDONLY, 0)
			must("open d", err)
			defer k.Close(fd)
			if err := k.Setflags(fd, abi.FS_CASEFOLD_FL); !errors.Is(err, abi.EOPNOTSUPP) {
				t.Errorf("chattr +F without the feature: %v, want EOPNOTSUPP", err)
			}
		})
	})
}
