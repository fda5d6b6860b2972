package erofs_test

import (
	"errors"
	"os/exec"
	"testing"

	"github.com/lklimg/lklimg/internal/kerneltest"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
)

// Mount options: what nouser_xattr and noacl hide, and the options the
// other accepted ones leave alone, as the host kernel's mount with the
// same options shows the image; an unknown option fails both mounts.
func TestMountOptions(t *testing.T) {
	img := mkfsErofs(t, erofsTree(t), "-x1")
	for _, opts := range []string{"nouser_xattr", "noacl", "nouser_xattr,noacl", "user_xattr,acl,cache_strategy=readaround,dax=never"} {
		t.Run(opts, func(t *testing.T) {
			mnt, umount := testutil.HostMount(t, img, "ro,"+opts)
			want := testutil.MustScanDir(t, mnt)
			umount()
			got := kerneltest.ExportTree(t, img, "erofs", abi.MS_RDONLY, opts)
			testutil.ExpectSame(t, opts, want, got, compareOptions())
		})
	}
	t.Run("unknown", func(t *testing.T) {
		testutil.NeedLoop(t)
		mnt := t.TempDir()
		if err := exec.Command("mount", "-o", "loop,ro,nosuchoption", img, mnt).Run(); err == nil {
			exec.Command("umount", mnt).Run()
			t.Fatal("the host kernel took an unknown option")
		}
		k, err := kernel.Boot(kernel.Config{})
		if err != nil {
			t.Fatal(err)
		}
		defer k.Halt()
		if _, err := k.AddDisk(img, kernel.DiskOptions{ReadOnly: true}); err != nil {
			t.Fatal(err)
		}
		if err := k.Mkdirat(abi.AT_FDCWD, "/mnt", 0o755); err != nil && !errors.Is(err, abi.EEXIST) {
			t.Fatal(err)
		}
		if err := k.Mount("/dev/vda", "/mnt", "erofs", abi.MS_RDONLY, "nosuchoption"); !errors.Is(err, abi.EINVAL) {
			t.Errorf("mount with an unknown option: %v, want EINVAL", err)
		}
	})
}
