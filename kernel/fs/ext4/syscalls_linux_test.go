package ext4_test

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/lklimg/lklimg/internal/kerneltest"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
)

// TestNamespaceSyscalls drives the namespace writes the way programs do,
// through the kernel's syscalls and the VFS (its dentry cache and the
// Evict protocol): many files in one directory, a file unlinked while open
// (orphan until closed), renames, links, a symlink, a FIFO, an xattr, a
// removed directory; then e2fsck and the host kernel check the image.
func TestNamespaceSyscalls(t *testing.T) {
	testutil.Need(t, "mkfs.ext4", "e2fsck")
	img := filepath.Join(t.TempDir(), "img")
	testutil.Run(t, "mkfs.ext4", "-q", "-F", img, "64M")
	kerneltest.WithKernel(t, img, "", func(k *kernel.Kernel, must func(string, error)) {
		must("mkdir d", k.Mkdirat(abi.AT_FDCWD, "/mnt/d", 0o755))
		held := -1
		for i := range 3000 {
			fd, err := k.Openat(abi.AT_FDCWD, fmt.Sprintf("/mnt/d/f%d", i), abi.O_CREAT|abi.O_RDWR, 0o644)
			must("create", err)
			_, err = k.Write(fd, []byte("hello"))
			must("write", err)
			if i == 7 {
				held = fd
				continue
			}
			must("close", k.Close(fd))
		}
		must("unlink open file", k.Unlinkat(abi.AT_FDCWD, "/mnt/d/f7", 0))
		var st abi.Stat
		must("fstat", k.Fstat(held, &st))
		if st.Nlink != 0 {
			t.Errorf("unlinked open file: nlink %d", st.Nlink)
		}
		must("rename", k.Renameat2(abi.AT_FDCWD, "/mnt/d/f1", abi.AT_FDCWD, "/mnt/g", 0))
		must("symlink", k.Symlinkat("target/of/link", abi.AT_FDCWD, "/mnt/sl"))
		must("link", k.Linkat(abi.AT_FDCWD, "/mnt/g", abi.AT_FDCWD, "/mnt/d/hard", 0))
		must("mknod", k.Mknodat(abi.AT_FDCWD, "/mnt/fifo", abi.S_IFIFO|0o644, 0))
		must("setxattr", k.Setxattr("/mnt/g", "user.x", []byte("val"), 0))
		must("mkdir e", k.Mkdirat(abi.AT_FDCWD, "/mnt/e", 0o755))
		must("rmdir e", k.Unlinkat(abi.AT_FDCWD, "/mnt/e", abi.AT_REMOVEDIR))
		must("rename dir", k.Renameat2(abi.AT_FDCWD, "/mnt/d", abi.AT_FDCWD, "/mnt/lost+found/d", 0))
		must("close held", k.Close(held))
	})
	testutil.E2fsckClean(t, img)

	mnt, umount := testutil.HostMount(t, img, "ro")
	defer umount()
	ents, err := os.ReadDir(filepath.Join(mnt, "lost+found/d"))
	if err != nil {
		t.Fatalf("host readdir: %v", err)
	}
	if len(ents) != 3000-2+1 { // f1 and f7 gone, hard added
		t.Errorf("host: %d entries, want %d", len(ents), 2999)
	}
	if tg, err := os.Readlink(filepath.Join(mnt, "sl")); err != nil || tg != "target/of/link" {
		t.Errorf("host: symlink %q, %v", tg, err)
	}
	var hst os.FileInfo
	if hst, err = os.Lstat(filepath.Join(mnt, "g")); err != nil || hst.Size() != 5 || hst.Sys().(*syscall.Stat_t).Nlink != 2 {
		t.Errorf("host: g %v, %v", hst, err)
	}
}
