package kernel

import (
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/block"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// Block device files: Openat on a block device node (/dev/vda,
// /dev/vda1) opens the device itself, as Linux's blkdev_open does, and
// Read, Pread, Write, Pwrite, Lseek, Fallocate, Fsync and Fdatasync act
// on the device through the page cache every filesystem of the disk
// reads through (kernel/block's File). The ioctls a program such as
// mke2fs uses on it are the typed methods below, one for each request of
// Linux's block/ioctl.c: the kernel has no generic ioctl(2).

// deviceOf returns the block device of the device number rdev, or nil
// for a number no device has.
func (k *Kernel) deviceOf(rdev uint64) *block.Device {
	k.devMu.RLock()
	name, ok := k.devNames[rdev]
	k.devMu.RUnlock()
	if !ok {
		return nil
	}
	bd, err := k.devs.device(name)
	if err != nil {
		return nil
	}
	d, _ := bd.(*block.Device)
	return d
}

// openDevice opens the block device of number rdev for the VFS
// (blkdev_open): for writing when open(2)'s access mode says so, and
// holding the device with O_EXCL.
// Errors: ENXIO for a number no device has; EBUSY for O_EXCL on a device
// held by a mount or another O_EXCL open (see block.Device.Claim).
func (k *Kernel) openDevice(rdev uint64, flags int) (vfs.DeviceFile, error) {
	d := k.deviceOf(rdev)
	if d == nil {
		return nil, abi.Errorf(abi.ENXIO, "no such device %d:%d", abi.Major(rdev), abi.Minor(rdev))
	}
	f, err := d.Open(flags&abi.O_ACCMODE != abi.O_RDONLY, flags&abi.O_EXCL != 0)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// withBlockFile calls fn on the open block device of fd.
// Errors: EBADF for a descriptor not open or O_PATH; ENOTTY if fd is not
// a block device, as Linux's ioctl answers a request its file does not
// know.
func (k *Kernel) withBlockFile(fd int, fn func(f *block.File) error) error {
	return k.withFd(fd, func(f *vfs.File) error {
		bf, ok := f.Device().(*block.File)
		if !ok {
			return abi.ENOTTY
		}
		return fn(bf)
	})
}

// BlkGetSize64 is ioctl(fd, BLKGETSIZE64): the device's size in bytes.
// Errors: as withBlockFile (EBADF, ENOTTY).
func (k *Kernel) BlkGetSize64(fd int) (uint64, error) {
	var n uint64
	err := k.withBlockFile(fd, func(f *block.File) error {
		n = uint64(f.Size())
		return nil
	})
	return n, err
}

// BlkSszGet is ioctl(fd, BLKSSZGET): the logical block size, 512.
// Errors: EBADF, ENOTTY.
func (k *Kernel) BlkSszGet(fd int) (int, error) {
	var n int
	err := k.withBlockFile(fd, func(f *block.File) error {
		n = f.LogicalBlockSize()
		return nil
	})
	return n, err
}

// BlkPbszGet is ioctl(fd, BLKPBSZGET): the physical block size, 512 on a
// virtio disk without topology. Errors: EBADF, ENOTTY.
func (k *Kernel) BlkPbszGet(fd int) (uint32, error) {
	var n uint32
	err := k.withBlockFile(fd, func(f *block.File) error {
		n = uint32(f.PhysicalBlockSize())
		return nil
	})
	return n, err
}

// BlkRoGet is ioctl(fd, BLKROGET): whether the device is read-only (a
// disk added with DiskOptions.ReadOnly). Errors: EBADF, ENOTTY.
func (k *Kernel) BlkRoGet(fd int) (bool, error) {
	var ro bool
	err := k.withBlockFile(fd, func(f *block.File) error {
		ro = f.ReadOnly()
		return nil
	})
	return ro, err
}

// BlkDiscard is ioctl(fd, BLKDISCARD, {off, n}): the range is discarded
// and reads as zeros afterwards; the image file gets a hole.
// Errors: EBADF (also for fd not open for writing), ENOTTY; EPERM on a
// read-only disk; EINVAL for an empty range, one not of whole 512-byte
// sectors, or one past the end; EOPNOTSUPP; EIO.
func (k *Kernel) BlkDiscard(fd int, off, n uint64) error {
	return k.withBlockFile(fd, func(f *block.File) error { return f.Discard(off, n) })
}

// BlkZeroout is ioctl(fd, BLKZEROOUT, {off, n}): the range reads as
// zeros afterwards (the disk's write-zeroes, or zeros written).
// Errors: EBADF (also for fd not open for writing), ENOTTY; EINVAL as
// BlkDiscard; EPERM on a read-only disk; EIO.
func (k *Kernel) BlkZeroout(fd int, off, n uint64) error {
	return k.withBlockFile(fd, func(f *block.File) error { return f.Zeroout(off, n) })
}

// BlkFlsBuf is ioctl(fd, BLKFLSBUF): the disk's dirty pages are written
// back (not flushed) and the device's clean pages dropped from the cache.
// Errors: EBADF, ENOTTY; EIO.
func (k *Kernel) BlkFlsBuf(fd int) error {
	return k.withBlockFile(fd, func(f *block.File) error { return f.FlushBuf() })
}

// BlkRrpart is ioctl(fd, BLKRRPART): the disk's partition table is read
// again, as a partitioner asks after writing one (sfdisk, then `lklimg
// part`): the old partition devices and their /dev nodes go, the new
// table's are made (block.Manager.RereadPartitions).
// Errors: EBADF, ENOTTY; EINVAL on a partition; EBUSY while a partition
// of the disk is open or mounted, or another holder has the disk
// exclusively; EIO after Halt.
func (k *Kernel) BlkRrpart(fd int) error {
	k.mountMu.Lock()
	defer k.mountMu.Unlock()
	if k.halted {
		return abi.Errorf(abi.EIO, "kernel halted")
	}
	var dropped, made []string
	err := k.withBlockFile(fd, func(f *block.File) error {
		var err error
		dropped, made, err = k.devs.rereadPartitions(f.Device(), f.Holder())
		return err
	})
	if err != nil {
		return err
	}
	if err := k.removeDevNodes(dropped); err != nil {
		return err
	}
	return k.addDevNodes(made)
}
