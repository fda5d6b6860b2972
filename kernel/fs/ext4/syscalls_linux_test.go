package ext4_test

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	disk "github.com/lklimg/lklimg/format/ext4"
	"github.com/lklimg/lklimg/internal/kerneltest"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/fs/ext4"
)

// checkedHostDir checks img with e2fsck -fn, mounts it on the host for
// the rest of the test and returns the mount point and the entries of dir.
func checkedHostDir(t *testing.T, img, dir string) (string, []os.DirEntry) {
	t.Helper()
	testutil.E2fsckClean(t, img)
	mnt, umount := testutil.HostMount(t, img, "ro")
	t.Cleanup(umount)
	ents, err := os.ReadDir(filepath.Join(mnt, dir))
	if err != nil {
		t.Fatalf("host readdir: %v", err)
	}
	return mnt, ents
}

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
	mnt, ents := checkedHostDir(t, img, "lost+found/d")
	if len(ents) != 3000-2+1 { // f1 and f7 gone, hard added
		t.Errorf("host: %d entries, want %d", len(ents), 2999)
	}
	if tg, err := os.Readlink(filepath.Join(mnt, "sl")); err != nil || tg != "target/of/link" {
		t.Errorf("host: symlink %q, %v", tg, err)
	}
	if hst, err := os.Lstat(filepath.Join(mnt, "g")); err != nil || hst.Size() != 5 || hst.Sys().(*syscall.Stat_t).Nlink != 2 {
		t.Errorf("host: g %v, %v", hst, err)
	}
}

// TestHtreeSmallMemory grows an indexed directory through the syscalls in
// a kernel of 512 KiB, less than the directory's blocks, so that its
// index and leaf blocks are evicted from the page cache, written back and
// read again while names are added and removed. The names collide in pairs
// (hashes continued across leaves; see TestHtreeCollisions). Every name
// must be found, and e2fsck and the host kernel must agree.
func TestHtreeSmallMemory(t *testing.T) {
	testutil.Need(t, "mkfs.ext4", "e2fsck")
	img := filepath.Join(t.TempDir(), "img")
	testutil.Run(t, "mkfs.ext4", "-q", "-F", "-b", "1024", "-E", "hash_seed=59e2160b-3211-4cd7-833e-a866ed52ea0e", img, "64M")
	raw := make([]byte, 1024)
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.ReadAt(raw, 1024)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	sb, err := disk.DecodeSuperblock(raw)
	if err != nil {
		t.Fatal(err)
	}
	names := ext4.CollidingNames(sb.SHashSeed, sb.SFlags&disk.FlagUnsignedHash == 0, 1<<21)
	const memory = 512 << 10
	k, err := kernel.Boot(kernel.Config{Memory: memory})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Halt()
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v\n%s", what, err, k.Dmesg())
		}
	}
	_, err = k.AddDisk(img, kernel.DiskOptions{})
	must("add disk", err)
	must("mount", k.Mount("/dev/vda", "/mnt", "ext4", 0, ""))
	must("mkdir d", k.Mkdirat(abi.AT_FDCWD, "/mnt/d", 0o755))
	fd, err := k.Openat(abi.AT_FDCWD, "/mnt/d/f", abi.O_CREAT|abi.O_RDWR, 0o644)
	must("create f", err)
	must("close f", k.Close(fd))
	short := func(nm string) string { return nm[len(nm)-19:] }
	for _, nm := range names {
		must("link "+short(nm), k.Linkat(abi.AT_FDCWD, "/mnt/d/f", abi.AT_FDCWD, "/mnt/d/"+nm, 0))
	}
	var st abi.Stat
	must("stat d", k.Fstatat(abi.AT_FDCWD, "/mnt/d", &st, 0))
	if st.Size <= memory {
		t.Fatalf("directory of %d bytes fits in the kernel's %d", st.Size, memory)
	}
	for _, nm := range names {
		must("stat "+short(nm), k.Fstatat(abi.AT_FDCWD, "/mnt/d/"+nm, &st, abi.AT_SYMLINK_NOFOLLOW))
	}
	want := map[string]bool{"f": true}
	for i, nm := range names {
		if i%2 == 0 {
			want[nm] = true
			continue
		}
		must("unlink "+short(nm), k.Unlinkat(abi.AT_FDCWD, "/mnt/d/"+nm, 0))
	}
	must("umount", k.Umount("/mnt", 0))
	must("halt", k.Halt())
	mnt, ents := checkedHostDir(t, img, "d")
	if len(ents) != len(want) {
		t.Errorf("host: %d entries, want %d", len(ents), len(want))
	}
	for nm := range want {
		if _, err := os.Lstat(filepath.Join(mnt, "d", nm)); err != nil {
			t.Errorf("host: %v", err)
		}
	}
}
