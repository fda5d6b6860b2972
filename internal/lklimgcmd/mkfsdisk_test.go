//go:build linux

package lklimgcmd

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
)

// TestMkfsDeviceMounted: the device mkfs opens is held (O_EXCL): while
// its filesystem is mounted, the open fails with EBUSY, as mke2fs's does
// on a mounted device; and a disk in use cannot be cut.
func TestMkfsDeviceMounted(t *testing.T) {
	img := filepath.Join(t.TempDir(), "gpt.img")
	testutil.Run(t, "truncate", "-s", "64M", img)
	testutil.Sfdisk(t, img, "label: gpt\nstart=2048, size=16384\nstart=22528, size=81920\n")
	var stdout, stderr bytes.Buffer
	if code := Run([]string{"lklimg", "mkfs", "-q", "-P", "2", img}, &stdout, &stderr); code != exitOK {
		t.Fatalf("mkfs -P 2: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	d, err := bootDisk(img, 32, nil, nil, 2, kernel.DiskOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.k.Halt()
	dir, err := d.k.MountDev(d.dev, "ext4", 0, "")
	if err != nil {
		t.Fatal(err)
	}
	if f, err := d.open(); !errors.Is(err, abi.EBUSY) {
		t.Errorf("open of the mounted vda2 O_EXCL: %v, want EBUSY", err)
		if f != nil {
			f.Close()
		}
	}
	if err := d.k.ResizeDisk(d.disk, 32<<20); !errors.Is(err, abi.EBUSY) {
		t.Errorf("ResizeDisk of a disk with a mounted partition: %v, want EBUSY", err)
	}
	if err := d.k.Umount(dir, 0); err != nil {
		t.Fatal(err)
	}
	if err := d.k.ResizeDisk(d.dev, 32<<20); !errors.Is(err, abi.EINVAL) {
		t.Errorf("ResizeDisk of partition %s: %v, want EINVAL", d.dev, err)
	}
	f, err := d.open()
	if err != nil {
		t.Fatalf("open after the unmount: %v", err)
	}
	f.Close()
}
