package lklimgcmd

import (
	"errors"
	"fmt"
	"io"

	"github.com/lklimg/lklimg/internal/cliflags"
	"github.com/lklimg/lklimg/internal/devfile"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
)

// newDisk is an image attached to a booted kernel for a command that
// makes a filesystem on it (mkfs, tar2fs): the disk, and the device the
// filesystem goes on, the disk or its partition -P N. The commands reach
// the image only through it, as mke2fs reaches a Linux block device: the
// kernel's virtio backend is what opens, creates, extends and cuts the
// file.
type newDisk struct {
	k     *kernel.Kernel
	image string
	disk  string // "vda"
	dev   string // "vda" or "vda2"
}

// bootDisk boots a kernel of memoryMB (its log to printk, its clock at
// epoch when set), attaches image as opts say and chooses partition part
// (0: the whole disk). The kernel is halted on an error.
func bootDisk(image string, memoryMB int, printk io.Writer, epoch *int64, part int, opts kernel.DiskOptions) (*newDisk, error) {
	if memoryMB <= 0 {
		return nil, fmt.Errorf("-m %d: the kernel needs some memory", memoryMB)
	}
	cfg := kernel.Config{Memory: int64(memoryMB) << 20, Printk: printk}
	if epoch != nil {
		now := abi.Timespec{Sec: *epoch}
		cfg.Now = func() abi.Timespec { return now }
	}
	k, err := kernel.Boot(cfg)
	if err != nil {
		return nil, fmt.Errorf("boot: %w", err)
	}
	disk, err := k.AddDisk(image, opts)
	if err != nil {
		k.Halt()
		return nil, cliflags.AddDiskError(image, opts.ReadOnly, err)
	}
	dev, err := cliflags.PartitionDevice(k, image, disk, part)
	if err != nil {
		k.Halt()
		return nil, err
	}
	return &newDisk{k: k, image: image, disk: disk, dev: dev}, nil
}

// open opens the device for writing, held as mke2fs holds it (O_EXCL:
// EBUSY while it is mounted).
func (d *newDisk) open() (*devfile.File, error) {
	f, err := devfile.Open(d.k, d.dev, abi.O_RDWR|abi.O_EXCL)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.image, err)
	}
	return f, nil
}

// size returns the device's size in bytes (BLKGETSIZE64).
func (d *newDisk) size() (int64, error) {
	f, err := devfile.Open(d.k, d.dev, abi.O_RDONLY)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", d.image, err)
	}
	defer f.Close()
	return f.Size(), nil
}

// sync flushes what was written to the image to the host's disk (fsync of
// the device), as mke2fs does before it exits.
func (d *newDisk) sync() error {
	f, err := devfile.Open(d.k, d.dev, abi.O_RDWR)
	if err != nil {
		return fmt.Errorf("%s: %w", d.image, err)
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", d.image, err)
	}
	return nil
}

// halt halts the kernel, which writes what it still caches to the image.
func (d *newDisk) halt() error {
	if err := d.k.Halt(); err != nil {
		return fmt.Errorf("%s: %w", d.image, err)
	}
	return nil
}

// clearDevice makes the device's first n bytes read as zeros if it can
// by deallocating them (FALLOC_FL_WRITE_ZEROES: a raw image file gets
// holes, at no cost), and reports whether it did: MkfsParams.Zeroed, which
// lets mkfs leave the inode tables unwritten. That is what mke2fs gets
// from a regular file, whose discard punches holes (unix_io's
// CHANNEL_FLAGS_DISCARD_ZEROES). A device that cannot (a host block
// device) is discarded instead, as mke2fs_discard_device does, without
// counting on zeros: mke2fs goes on whatever the discard did.
func clearDevice(f *devfile.File, n int64) (bool, error) {
	n &^= 511
	if n <= 0 {
		return false, nil
	}
	err := f.ZeroUnmap(0, n)
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, abi.EOPNOTSUPP) {
		return false, err
	}
	_ = f.Discard(0, n) // advisory, as mke2fs's
	return false, nil
}
