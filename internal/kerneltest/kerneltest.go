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
	k, err := kernel.Boot(kernel.Config{Now: func() abi.Timespec { return abi.Timespec{Sec: Now} }})
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
	_, err = k.AddDisk(img, disk)
	must("add disk", err)
	if err := k.Mkdirat(abi.AT_FDCWD, "/mnt", 0o755); err != nil && !errors.Is(err, abi.EEXIST) {
		t.Fatal(err)
	}
	must("mount", k.Mount("/dev/vda", "/mnt", fstype, flags, opts))
	fill(k, must)
	must("umount", k.Umount("/mnt", 0))
	must("halt", k.Halt())
}

// ExportTree mounts img (fstype "": probed) with the mount flags and
// data opts and returns the tree the kernel shows, as fs2tar's export
// makes it (archive.Export, strict) read back by testutil.ScanTar: what
// a driver's test compares with an oracle's view.
func ExportTree(t testing.TB, img, fstype string, flags uint64, opts string) testutil.Tree {
	t.Helper()
	var tree testutil.Tree
	WithMount(t, img, fstype, flags, opts, func(k *kernel.Kernel, must func(string, error)) {
		var buf bytes.Buffer
		must("export", archive.Export(k, "/mnt", &buf, archive.Options{Strict: true}))
		var err error
		tree, err = testutil.ScanTar(&buf)
		must("scan", err)
	})
	return tree
}

// ExportDamaged boots a kernel over img, mounts it read-only (fstype "":
// probed) and exports everything to nowhere: what a damage test runs on
// each mutated image. It returns the first error, from the mount or the
// export (strict), for the test to judge; it never fails the test itself.
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

// ErrName is err's errno as a damage test counts outcomes: "exported"
// for nil.
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
