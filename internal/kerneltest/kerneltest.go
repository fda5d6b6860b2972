// Package kerneltest holds the test helpers that drive a library kernel
// over an image: for the tests of packages the kernel does not import
// (the drivers' external tests, the userspace tools, the commands). It is
// apart from internal/testutil because the kernel's own tests import
// testutil, and testutil may therefore not import the kernel.
package kerneltest

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/lklimg/lklimg/archive"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
)

// Now is the clock of the kernels WithKernel boots: every time stamp
// they write.
const Now = 1700000000

// WithKernel boots a kernel, mounts img read-write on /mnt with the mount
// data opts, runs fill, unmounts and halts. fill's must fails the test
// with the kernel's log when its error is not nil.
func WithKernel(t testing.TB, img, opts string, fill func(k *kernel.Kernel, must func(string, error))) {
	t.Helper()
	WithKernelFlags(t, img, 0, opts, fill)
}

// WithKernelFlags is WithKernel with mount flags.
func WithKernelFlags(t testing.TB, img string, flags uint64, opts string, fill func(k *kernel.Kernel, must func(string, error))) {
	t.Helper()
	WithMount(t, img, "ext4", flags, opts, fill)
}

// WithMount is WithKernelFlags for a filesystem type of any driver ("":
// probed).
func WithMount(t testing.TB, img, fstype string, flags uint64, opts string, fill func(k *kernel.Kernel, must func(string, error))) {
	t.Helper()
	WithDiskMount(t, img, kernel.DiskOptions{}, fstype, flags, opts, fill)
}

// WithDiskMount is WithMount with the disk attached with disk's options
// (ReadOnly: a disk whose device sends data by sendfile).
func WithDiskMount(t testing.TB, img string, disk kernel.DiskOptions, fstype string, flags uint64, opts string, fill func(k *kernel.Kernel, must func(string, error))) {
	t.Helper()
	withDisksMount(t, disk, fstype, flags, opts, fill, img)
}

// WithDevicesMount is WithMount over several images: the first is
// /dev/vda, mounted; the others vdb, vdc, ..., the further devices of a
// filesystem over several (btrfs).
func WithDevicesMount(t testing.TB, imgs []string, fstype string, flags uint64, opts string, fill func(k *kernel.Kernel, must func(string, error))) {
	t.Helper()
	withDisksMount(t, kernel.DiskOptions{}, fstype, flags, opts, fill, imgs...)
}

func withDisksMount(t testing.TB, disk kernel.DiskOptions, fstype string, flags uint64, opts string, fill func(k *kernel.Kernel, must func(string, error)), imgs ...string) {
	t.Helper()
	k := bootWithDisk(t, imgs[0], disk, imgs[1:]...)
	defer k.Halt()
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v\n%s", what, err, k.Dmesg())
		}
	}
	must("mount", k.Mount("/dev/vda", "/mnt", fstype, flags, opts))
	fill(k, must)
	must("umount", k.Umount("/mnt", 0))
	must("halt", k.Halt())
}

// bootWithDisk boots a kernel with img as /dev/vda (more as vdb, ...)
// and a /mnt.
func bootWithDisk(t testing.TB, img string, disk kernel.DiskOptions, more ...string) *kernel.Kernel {
	t.Helper()
	k, err := kernel.Boot(kernel.Config{Now: func() abi.Timespec { return abi.Timespec{Sec: Now} }})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range append([]string{img}, more...) {
		if _, err := k.AddDisk(p, disk); err != nil {
			k.Halt()
			t.Fatalf("add disk %s: %v", p, err)
		}
	}
	if err := k.Mkdirat(abi.AT_FDCWD, "/mnt", 0o755); err != nil && !errors.Is(err, abi.EEXIST) {
		k.Halt()
		t.Fatal(err)
	}
	return k
}

// MountErr boots a kernel over img and returns what mounting it on
// /mnt (fstype "": probed) with flags and opts returns: for the tests
// of what a driver refuses.
func MountErr(t testing.TB, img, fstype string, flags uint64, opts string) error {
	t.Helper()
	k := bootWithDisk(t, img, kernel.DiskOptions{})
	defer k.Halt()
	err := k.Mount("/dev/vda", "/mnt", fstype, flags, opts)
	if err == nil {
		k.Umount("/mnt", 0)
	}
	return err
}

// ExportTree mounts img (fstype "": probed) with the mount flags and
// data opts and returns the tree the kernel shows, as fs2tar's export
// makes it (archive.Export, strict) read back by testutil.ScanTar: what
// a driver's test compares with an oracle's view.
func ExportTree(t testing.TB, img, fstype string, flags uint64, opts string) testutil.Tree {
	t.Helper()
	return ExportTreeDevices(t, []string{img}, fstype, flags, opts)
}

// ExportTreeDevices is ExportTree over several images
// (WithDevicesMount).
func ExportTreeDevices(t testing.TB, imgs []string, fstype string, flags uint64, opts string) testutil.Tree {
	t.Helper()
	var tree testutil.Tree
	WithDevicesMount(t, imgs, fstype, flags, opts, func(k *kernel.Kernel, must func(string, error)) {
		var buf bytes.Buffer
		must("export", archive.Export(k, "/mnt", &buf, archive.Options{Strict: true}))
		var err error
		tree, err = testutil.ScanTar(&buf)
		must("scan", err)
	})
	return tree
}

// Dirents lists dir as the kernel's getdents64 gives it, "." and ".."
// included, in its order (testutil.HostDirents is the host's).
func Dirents(t testing.TB, k *kernel.Kernel, dir string) []abi.Dirent {
	t.Helper()
	fd, err := k.Openat(abi.AT_FDCWD, dir, abi.O_RDONLY|abi.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close(fd)
	var ds []abi.Dirent
	buf := make([]byte, 8192)
	for {
		n, err := k.Getdents64(fd, buf)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return ds
		}
		ds = abi.ParseDirents(buf[:n], ds)
	}
}

// ExportErr boots a kernel over img, mounts it read-only with the type
// probed and exports it whole as fs2tar does, and returns the first
// error: what the damage tests judge (DamageErr).
func ExportErr(img string) error { return ExportDamaged(img, "") }

// ExportDamaged is ExportErr with the filesystem type given (fstype ""
// probes it): it never fails the test itself.
func ExportDamaged(img, fstype string) error {
	k, err := kernel.Boot(kernel.Config{})
	if err != nil {
		return err
	}
	defer k.Halt()
	if _, err := k.AddDisk(img, kernel.DiskOptions{}); err != nil {
		return err
	}
	if err := k.Mkdirat(abi.AT_FDCWD, "/mnt", 0o755); err != nil && !errors.Is(err, abi.EEXIST) {
		return err
	}
	if err := k.Mount("/dev/vda", "/mnt", fstype, abi.MS_RDONLY, ""); err != nil {
		return err
	}
	return archive.Export(k, "/mnt", io.Discard, archive.Options{Strict: true})
}

// DamageErr reports whether err carries an errno a damaged image may
// rightly give: EUCLEAN for damage, EBADMSG for a bad checksum, EIO,
// EINVAL, EOPNOTSUPP or ENODEV for a superblock Linux refuses too,
// ENOENT, ENOTDIR, ELOOP, ENXIO for names and offsets that lead nowhere.
func DamageErr(err error) bool {
	for _, e := range []abi.Errno{abi.EUCLEAN, abi.EBADMSG, abi.EIO, abi.EINVAL, abi.EOPNOTSUPP, abi.ENOENT, abi.ENOTDIR, abi.ELOOP, abi.ENODEV, abi.ENXIO} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// ErrName names err's errno for a count of outcomes ("exported" for nil).
func ErrName(err error) string {
	if err == nil {
		return "exported"
	}
	return abi.ErrnoOf(err).Error()
}

// SendfileAll copies the open file fd to out with Kernel.Sendfile, 1 MiB
// at a time, reading with read(2) wherever the file sends nothing
// (EOPNOTSUPP: a hole, data not on the device), as a caller of
// sendfile(2) falls back to read. It returns the bytes sent.
func SendfileAll(k *kernel.Kernel, fd int, out *os.File) (int64, error) {
	sent := int64(0)
	buf := make([]byte, 4096)
	for {
		n, err := k.Sendfile(out, fd, 1<<20)
		if errors.Is(err, abi.EOPNOTSUPP) {
			n, err := k.Read(fd, buf)
			if err != nil {
				return sent, err
			}
			if _, err := out.Write(buf[:n]); err != nil {
				return sent, err
			}
			continue
		}
		if err != nil {
			return sent, err
		}
		sent += n
		if n == 0 {
			return sent, nil
		}
	}
}
