package kernel

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/lklimg/lklimg/kernel/abi"
)

// TestDiskCreateResize: AddDisk creates and extends the image file
// (Create, Size), ResizeDisk cuts and grows it and BLKGETSIZE64 follows,
// what was written before the cut stays, and a disk open or not a disk
// is refused.
func TestDiskCreateResize(t *testing.T) {
	img := filepath.Join(t.TempDir(), "new.img")
	k, err := Boot(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Halt()
	disk, err := k.AddDisk(img, DiskOptions{Create: true, Size: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(img); err != nil || fi.Size() != 1<<20 {
		t.Fatalf("created image: %v %v", fi, err)
	}
	fd, err := k.Openat(abi.AT_FDCWD, "/dev/"+disk, abi.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("lklimg"), 20000) // 120000 bytes, across the cut
	if _, err := k.Pwrite(fd, data, 0); err != nil {
		t.Fatal(err)
	}
	if err := k.ResizeDisk(disk, 64<<10); !errors.Is(err, abi.EBUSY) {
		t.Errorf("ResizeDisk of an open disk: %v, want EBUSY", err)
	}
	// The open file (which writes back at its close) is what held it.
	if err := k.Close(fd); err != nil {
		t.Fatal(err)
	}
	if err := k.ResizeDisk(disk, 64<<10+100); err != nil {
		t.Fatalf("ResizeDisk: %v", err)
	}
	if fi, err := os.Stat(img); err != nil || fi.Size() != 64<<10+100 {
		t.Errorf("cut image: %v %v", fi, err)
	}
	if err := k.ResizeDisk(disk, 128<<10); err != nil {
		t.Fatalf("ResizeDisk (grow): %v", err)
	}
	fd, err = k.Openat(abi.AT_FDCWD, "/dev/"+disk, abi.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close(fd)
	if n, err := k.BlkGetSize64(fd); err != nil || n != 128<<10 {
		t.Errorf("BLKGETSIZE64 after the resize: %d %v", n, err)
	}
	got := make([]byte, 128<<10)
	if _, err := k.Pread(fd, got, 0); err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 128<<10)
	copy(want, data[:64<<10+100])
	if !bytes.Equal(got, want) {
		t.Errorf("after the cut to 64 KiB+100 and the growth: not the bytes before the cut, then zeros")
	}
	if err := k.ResizeDisk(disk+"1", 1<<20); !errors.Is(err, abi.ENOENT) {
		t.Errorf("ResizeDisk of a missing device: %v, want ENOENT", err)
	}

	ro, err := k.AddDisk(img, DiskOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := k.ResizeDisk(ro, 1<<20); !errors.Is(err, abi.EOPNOTSUPP) {
		t.Errorf("ResizeDisk of a read-only disk: %v, want EOPNOTSUPP", err)
	}
	if _, err := k.AddDisk(filepath.Join(t.TempDir(), "missing.img"), DiskOptions{}); !errors.Is(err, abi.ENOENT) {
		t.Errorf("AddDisk of a missing file without Create: %v, want ENOENT", err)
	}
}
