package devfile

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
)

const diskSize = 2 << 20

// bootDisk boots a kernel on a raw image of diskSize bytes holding a
// pattern, and returns the kernel and the image's path.
func bootDisk(t *testing.T) (*kernel.Kernel, string) {
	t.Helper()
	img := filepath.Join(t.TempDir(), "disk.img")
	data := make([]byte, diskSize)
	for i := range data {
		data[i] = byte(i*3 + 1)
	}
	if err := os.WriteFile(img, data, 0o644); err != nil {
		t.Fatal(err)
	}
	k, err := kernel.Boot(kernel.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Halt() })
	if _, err := k.AddDisk(img, kernel.DiskOptions{}); err != nil {
		t.Fatal(err)
	}
	return k, img
}

// TestFile writes and reads the disk through a File, as a tool would
// through io.WriterAt and io.ReaderAt, and checks the image file after
// Sync and Close; then the end of the device, discard, and O_EXCL.
func TestFile(t *testing.T) {
	k, img := bootDisk(t)
	f, err := Open(k, "vda", abi.O_RDWR|abi.O_EXCL)
	if err != nil {
		t.Fatal(err)
	}
	if f.Size() != diskSize || f.Path() != "/dev/vda" {
		t.Errorf("size %d path %q", f.Size(), f.Path())
	}
	if _, err := Open(k, "/dev/vda", abi.O_RDONLY|abi.O_EXCL); !errors.Is(err, abi.EBUSY) {
		t.Errorf("second O_EXCL open: %v, want EBUSY", err)
	}
	msg := bytes.Repeat([]byte("lklimg "), 1000)
	if n, err := f.WriteAt(msg, 12345); n != len(msg) || err != nil {
		t.Fatalf("WriteAt: %d %v", n, err)
	}
	got := make([]byte, len(msg))
	if n, err := f.ReadAt(got, 12345); n != len(got) || err != nil || !bytes.Equal(got, msg) {
		t.Errorf("ReadAt: %d %v", n, err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	host, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(host[12345:12345+len(msg)], msg) {
		t.Errorf("after Sync the image does not hold the write")
	}

	// The end: a short read with io.EOF, a write cut with ENOSPC.
	buf := make([]byte, 1000)
	if n, err := f.ReadAt(buf, diskSize-100); n != 100 || err != io.EOF {
		t.Errorf("ReadAt across the end: %d %v, want 100 io.EOF", n, err)
	}
	if n, err := f.WriteAt(buf, diskSize-100); n != 100 || !errors.Is(err, abi.ENOSPC) {
		t.Errorf("WriteAt across the end: %d %v, want 100 ENOSPC", n, err)
	}

	// Discard and zeroout read back as zeros.
	if err := f.Discard(64<<10, 128<<10); err != nil {
		t.Fatal(err)
	}
	if err := f.Zeroout(512, 1024); err != nil {
		t.Fatal(err)
	}
	for _, r := range [][2]int64{{64 << 10, 128 << 10}, {512, 1024}} {
		z := make([]byte, r[1])
		if _, err := f.ReadAt(z, r[0]); err != nil || !bytes.Equal(z, make([]byte, r[1])) {
			t.Errorf("range %d+%d does not read as zeros (%v)", r[0], r[1], err)
		}
	}
	if err := f.Discard(1, 512); !errors.Is(err, abi.EINVAL) {
		t.Errorf("unaligned discard: %v, want EINVAL", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	g, err := Open(k, "vda", abi.O_RDONLY|abi.O_EXCL)
	if err != nil {
		t.Fatalf("O_EXCL open after Close: %v", err)
	}
	g.Close()
	if _, err := Open(k, "vdz", abi.O_RDONLY); !errors.Is(err, abi.ENOENT) {
		t.Errorf("open of a missing device: %v, want ENOENT", err)
	}
	if err := k.Halt(); err != nil {
		t.Fatal(err)
	}
	host, err = os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(host[64<<10:192<<10], make([]byte, 128<<10)) || !bytes.Equal(host[512:1536], make([]byte, 1024)) {
		t.Errorf("the image does not hold the zeroed ranges")
	}
	if host[0] != 1 || host[diskSize-101] != byte(((diskSize-101)*3+1)%256) {
		t.Errorf("bytes around the changes changed")
	}
}

// TestOpenNotBlock opens a regular file: ENOTTY from BLKGETSIZE64, and
// the descriptor is closed.
func TestOpenNotBlock(t *testing.T) {
	k, _ := bootDisk(t)
	fd, err := k.Openat(abi.AT_FDCWD, "/file", abi.O_RDWR|abi.O_CREAT, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	k.Close(fd)
	if _, err := Open(k, "/file", abi.O_RDONLY); !errors.Is(err, abi.ENOTTY) {
		t.Errorf("open of a regular file: %v, want ENOTTY", err)
	}
	// The failed Open closed its descriptor: the next one is fd again.
	if fd2, err := k.Openat(abi.AT_FDCWD, "/file", abi.O_RDONLY, 0); err != nil || fd2 != fd {
		t.Errorf("next descriptor %d %v, want %d", fd2, err, fd)
	}
}

// TestZeroUnmap: on a raw image file the device's write-zeroes unmaps,
// so ZeroUnmap makes the range read as zeros through the device and in
// the file; a range not of whole sectors is EINVAL.
func TestZeroUnmap(t *testing.T) {
	k, img := bootDisk(t)
	f, err := Open(k, "vda", abi.O_RDWR|abi.O_EXCL)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.ZeroUnmap(4096, 1<<20); err != nil {
		t.Fatalf("ZeroUnmap: %v", err)
	}
	if err := f.ZeroUnmap(100, 512); !errors.Is(err, abi.EINVAL) {
		t.Errorf("ZeroUnmap at 100: %v, want EINVAL", err)
	}
	got := make([]byte, 1<<20+2)
	if _, err := f.ReadAt(got, 4095); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	pattern := func(i int) byte { return byte(i*3 + 1) } // bootDisk's
	want := append([]byte{pattern(4095)}, make([]byte, 1<<20)...)
	want = append(want, pattern(4096+1<<20))
	if !bytes.Equal(got, want) || !bytes.Equal(data[4095:4095+len(want)], want) {
		t.Errorf("after ZeroUnmap the range does not read as zeros between its neighbours")
	}
}
