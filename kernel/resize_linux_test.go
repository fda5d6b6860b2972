package kernel

import (
	"errors"
	"os"
	"testing"

	"github.com/lklimg/lklimg/kernel/abi"
)

// TestResizePartitionedDisk: ResizeDisk refuses a partition, and a disk
// one of whose partitions is held; a cut through a partition leaves it
// ending at the new end, the one before it whole.
func TestResizePartitionedDisk(t *testing.T) {
	img := gptDisk(t)
	k := bootDisk(t, img, DiskOptions{})
	if err := k.ResizeDisk("vda1", 1<<20); !errors.Is(err, abi.EINVAL) {
		t.Errorf("ResizeDisk(vda1): %v, want EINVAL", err)
	}
	fd := openDev(t, k, "/dev/vda1", abi.O_RDWR|abi.O_EXCL)
	if err := k.ResizeDisk("vda", 8<<20); !errors.Is(err, abi.EBUSY) {
		t.Errorf("ResizeDisk with vda1 held: %v, want EBUSY", err)
	}
	k.Close(fd)
	if err := k.ResizeDisk("/dev/vda", 8<<20); err != nil {
		t.Fatalf("ResizeDisk: %v", err)
	}
	if fi, err := os.Stat(img); err != nil || fi.Size() != 8<<20 {
		t.Errorf("image after the cut: %v %v", fi, err)
	}
	for _, c := range []struct {
		dev  string
		size uint64
	}{{"/dev/vda", 8 << 20}, {"/dev/vda1", p1Size}, {"/dev/vda2", 8<<20 - p2Start}} {
		fd := openDev(t, k, c.dev, abi.O_RDONLY)
		if n, err := k.BlkGetSize64(fd); err != nil || n != c.size {
			t.Errorf("%s after the cut: %d bytes (%v), want %d", c.dev, n, err, c.size)
		}
		k.Close(fd)
	}
}
