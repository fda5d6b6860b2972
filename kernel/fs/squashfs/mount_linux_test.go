package squashfs_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/lklimg/lklimg/internal/kerneltest"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
	"golang.org/x/sys/unix"
)

// TestMountAsLinux: a read-write mount is served read-only (EROFS for a
// change, as squashfs_fill_super's SB_RDONLY makes it); statfs reports
// what the host's squashfs_statfs does; every inode's number, link
// count, size, mode, block count and times are the host's, and so are
// file handles (with an export table) or their absence (without); large
// directories read with getdents64 buffers of a few entries list the
// host's names in the host's order.
func TestMountAsLinux(t *testing.T) {
	testutil.NeedLoop(t)
	src := tree.get(t)
	for _, c := range []struct {
		name string
		args []string
	}{
		{"xz-exports", []string{"-comp", "xz"}},
		{"gzip-4k-no-exports", []string{"-no-exports", "-b", "4K"}},
	} {
		t.Run(c.name, func(t *testing.T) { mountAsLinux(t, mksquashfs(t, src, c.args...)) })
	}
}

// mountAsLinux is TestMountAsLinux on one image.
func mountAsLinux(t *testing.T, img string) {
	mnt := t.TempDir()
	testutil.Run(t, "mount", "-o", "loop,ro", img, mnt)
	defer testutil.Run(t, "umount", mnt)

	var host unix.Statfs_t
	if err := unix.Statfs(mnt, &host); err != nil {
		t.Fatal(err)
	}
	hostNames := func(dir string) []string {
		f, err := os.Open(filepath.Join(mnt, dir))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		names, err := f.Readdirnames(-1) // getdents64's order
		if err != nil {
			t.Fatal(err)
		}
		return names
	}
	kerneltest.WithMount(t, img, "squashfs", 0, "", func(k *kernel.Kernel, must func(string, error)) {
		var st abi.Statfs
		must("statfs", k.Statfs("/mnt", &st))
		if st.Type != int64(host.Type) || st.Bsize != host.Bsize || st.Blocks != host.Blocks || st.Files != host.Files ||
			st.Bfree != host.Bfree || st.Ffree != host.Ffree || st.Namelen != host.Namelen {
			t.Errorf("statfs: %+v, host %+v", st, host)
		}
		if _, err := k.Openat(abi.AT_FDCWD, "/mnt/new", abi.O_CREAT|abi.O_WRONLY, 0o644); !errors.Is(err, abi.EROFS) {
			t.Errorf("create on a read-write mount request: %v, want EROFS", err)
		}
		if err := k.Mkdirat(abi.AT_FDCWD, "/mnt/squashfs/d", 0o755); !errors.Is(err, abi.EROFS) {
			t.Errorf("mkdir: %v, want EROFS", err)
		}

		// Inode numbers, entry by entry.
		n := 0
		err := filepath.Walk(mnt, func(p string, fi os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(mnt, p)
			var s abi.Stat
			if err := k.Fstatat(abi.AT_FDCWD, filepath.Join("/mnt", rel), &s, abi.AT_SYMLINK_NOFOLLOW); err != nil {
				return err
			}
			hs := fi.Sys().(*syscall.Stat_t)
			if rel != "." && (s.Ino != hs.Ino || s.Nlink != uint64(hs.Nlink)) || s.Size != hs.Size || s.Mode != hs.Mode {
				t.Errorf("%s: ino %d nlink %d size %d mode %o, host %d %d %d %o", rel, s.Ino, s.Nlink, s.Size, s.Mode, hs.Ino, hs.Nlink, hs.Size, hs.Mode)
			}
			if s.Atim.Sec != hs.Atim.Sec || s.Ctim.Sec != hs.Ctim.Sec || s.Atim.Nsec != hs.Atim.Nsec || s.Ctim.Nsec != hs.Ctim.Nsec {
				t.Errorf("%s: atime %v ctime %v, host %v %v", rel, s.Atim, s.Ctim, hs.Atim, hs.Ctim)
			}
			if fi.Mode().IsRegular() || fi.IsDir() {
				checkHandle(t, k, p, filepath.Join("/mnt", rel))
				checkNoACL(t, k, p, filepath.Join("/mnt", rel))
			}
			if s.Blocks != hs.Blocks || s.Blksize != int64(hs.Blksize) {
				t.Errorf("%s: %d blocks of %d, host %d of %d", rel, s.Blocks, s.Blksize, hs.Blocks, hs.Blksize)
			}
			n++
			return nil
		})
		must("walk", err)
		t.Logf("%d inode numbers compared", n)

		// A large directory read a few entries at a time.
		for _, dir := range []string{"squashfs/many", "many", "."} {
			want := hostNames(dir)
			fd, err := k.Openat(abi.AT_FDCWD, filepath.Join("/mnt", dir), abi.O_RDONLY|abi.O_DIRECTORY, 0)
			if err != nil {
				t.Logf("%s: %v", dir, err)
				continue
			}
			var got []string
			buf := make([]byte, 400)
			for {
				m, err := k.Getdents64(fd, buf)
				must("getdents64", err)
				if m == 0 {
					break
				}
				for _, d := range abi.ParseDirents(buf[:m], nil) {
					if d.Name != "." && d.Name != ".." {
						got = append(got, d.Name)
					}
				}
			}
			k.Close(fd)
			if len(got) != len(want) {
				t.Errorf("%s: %d names, host %d", dir, len(got), len(want))
				continue
			}
			for i := range got {
				if got[i] != want[i] {
					t.Errorf("%s: name %d: %q, host %q", dir, i, got[i], want[i])
					break
				}
			}
			t.Logf("%s: %d names in order", dir, len(got))
		}
	})
}

// checkHandle compares name_to_handle_at(2) of a path on the host with
// the library kernel's: both fail with EOPNOTSUPP, or give the same
// handle.
func checkHandle(t *testing.T, k *kernel.Kernel, hostPath, path string) {
	t.Helper()
	h, _, herr := unix.NameToHandleAt(unix.AT_FDCWD, hostPath, 0)
	fh, _, err := k.NameToHandleAt(abi.AT_FDCWD, path, 0)
	switch {
	case herr != nil || err != nil:
		if !errors.Is(herr, unix.EOPNOTSUPP) || !errors.Is(err, abi.EOPNOTSUPP) {
			t.Errorf("%s: name_to_handle_at: %v, host %v", path, err, herr)
		}
	case fh.Type != h.Type() || !bytes.Equal(fh.Bytes, h.Bytes()):
		t.Errorf("%s: handle %d %x, host %d %x", path, fh.Type, fh.Bytes, h.Type(), h.Bytes())
	}
}

// checkNoACL compares getxattr(2) of an ACL (a namespace SquashFS has no
// handler for) on the host with the library kernel's.
func checkNoACL(t *testing.T, k *kernel.Kernel, hostPath, path string) {
	t.Helper()
	buf := make([]byte, 256)
	_, herr := unix.Lgetxattr(hostPath, "system.posix_acl_access", buf)
	_, err := k.Lgetxattr(path, "system.posix_acl_access", buf)
	if !errors.Is(herr, unix.EOPNOTSUPP) || !errors.Is(err, abi.EOPNOTSUPP) {
		t.Errorf("%s: getxattr system.posix_acl_access: %v, host %v", path, err, herr)
	}
}

// TestMountOptions: the mount options the host's squashfs takes are
// taken, the others refused with EINVAL, as the host does.
func TestMountOptions(t *testing.T) {
	testutil.NeedLoop(t)
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "f"), []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	img := mksquashfs(t, src)
	for _, o := range []string{"errors=continue", "errors=panic", "errors=bad", "threads=single", "foo", "errors=continue,foo"} {
		mnt := t.TempDir()
		host := exec.Command("mount", "-o", "loop,ro,"+o, img, mnt).Run() == nil
		if host {
			testutil.Run(t, "umount", mnt)
		}
		k, err := kernel.Boot(kernel.Config{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := k.AddDisk(img, kernel.DiskOptions{}); err != nil {
			t.Fatal(err)
		}
		k.Mkdirat(abi.AT_FDCWD, "/mnt", 0o755)
		err = k.Mount("/dev/vda", "/mnt", "squashfs", abi.MS_RDONLY, o)
		if (err == nil) != host || err != nil && !errors.Is(err, abi.EINVAL) {
			t.Errorf("-o %s: %v, host mounts: %v", o, err, host)
		}
		k.Halt()
	}
}
