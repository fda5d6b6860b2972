package vfs

import (
	"io"
	"math"

	"github.com/lklimg/lklimg/kernel/abi"
)

// This file holds what a File does when it is an open block device node
// (Linux's def_blk_fops in block/fops.c, reached through the special
// inode's i_fop): the VFS finds the device by the node's number
// (Options.OpenDevice) and hands reads, writes, lseek, fallocate and
// fsync to the DeviceFile, which knows the device's size and rules.

// openDevice opens the device of the block device node d (blkdev_open).
// Errors: ENXIO if the kernel has no device of that number; what the
// opener returns (EBUSY for O_EXCL on a held device).
func (v *VFS) openDevice(d *Dentry, flags int) (DeviceFile, error) {
	attr, err := d.inode.Getattr()
	if err != nil {
		return nil, err
	}
	if v.openDev == nil {
		return nil, abi.Errorf(abi.ENXIO, "no device %d:%d", abi.Major(attr.Rdev), abi.Minor(attr.Rdev))
	}
	return v.openDev(attr.Rdev, flags)
}

// devPread is read(2) and pread64(2) on a device: 0 at or past the end
// (blkdev_read_iter); a short read ends at the end or before a failing
// sector.
func (f *File) devPread(p []byte, off int64) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if len(p) > maxRWCount {
		p = p[:maxRWCount]
	}
	n, err := f.dev.ReadAt(p, off)
	if n < 0 || n > len(p) {
		return 0, abi.Errorf(abi.EIO, "device read returned %d of %d bytes", n, len(p))
	}
	if err == io.EOF || (err != nil && n > 0) {
		err = nil
	}
	return n, err
}

// devPwrite is write(2) and pwrite64(2) on a device (blkdev_write_iter:
// O_APPEND changes nothing, a device having no end to append at). A write
// that moved bytes stamps the node's mtime and ctime, as file_update_time
// does; on a read-only mount they stay.
func (f *File) devPwrite(p []byte, off int64) (int, error) {
	if len(p) > maxRWCount {
		p = p[:maxRWCount]
	}
	if off > math.MaxInt64-int64(len(p)) {
		return 0, abi.EINVAL
	}
	n, err := f.dev.WriteAt(p, off)
	if n < 0 || n > len(p) {
		return 0, abi.Errorf(abi.EIO, "device write returned %d of %d bytes", n, len(p))
	}
	if n > 0 {
		err = nil
		if !f.d.mnt.ReadOnly() {
			// The time is the node's, on the ramfs: its failure
			// would not undo the write, which is what counts.
			_ = f.v.setattr(f.d, SetAttr{Valid: SetMtime})
		}
	}
	return n, err
}

// DeviceSeeker is a device file that answers SEEK_DATA and SEEK_HOLE
// itself (a kernel/block File: the holes of a read-only disk's image).
// Both return ENXIO at or past the end; SeekData also when no data
// follows.
type DeviceSeeker interface {
	SeekData(off int64) (int64, error)
	SeekHole(off int64) (int64, error)
}

// devSeek is lseek(2) on a device (blkdev_llseek, fixed_size_llseek):
// SEEK_SET, SEEK_CUR and SEEK_END, the end being the device's size, and
// no position past it; SEEK_DATA and SEEK_HOLE as Linux's generic ones
// (all data, the end a hole) or, for a DeviceSeeker, as it says. The
// caller holds f.mu.
//
// Errors: EINVAL for another whence, and for a result below 0 or past
// the end; ENXIO for SEEK_DATA or SEEK_HOLE at or past the end, and
// SEEK_DATA with no data after off.
func (f *File) devSeek(off int64, whence int) (int64, error) {
	size := f.dev.Size()
	var pos int64
	switch whence {
	case abi.SEEK_DATA, abi.SEEK_HOLE:
		if off < 0 || off >= size {
			return 0, abi.ENXIO
		}
		pos, data := off, whence == abi.SEEK_DATA
		if s, ok := f.dev.(DeviceSeeker); ok {
			var err error
			if data {
				pos, err = s.SeekData(off)
			} else {
				pos, err = s.SeekHole(off)
			}
			if err != nil {
				return 0, err
			}
		} else if !data {
			pos = size
		}
		f.pos = pos
		return pos, nil
	case abi.SEEK_SET:
		pos = off
	case abi.SEEK_CUR:
		if off == 0 {
			return f.pos, nil
		}
		pos = f.pos + off
	case abi.SEEK_END:
		pos = size + off
	default:
		return 0, abi.EINVAL
	}
	if pos < 0 || pos > size { // a sum that overflowed is below 0 too
		return 0, abi.EINVAL
	}
	f.pos = pos
	return pos, nil
}

// Device returns the open device of a block device node's file, nil for
// any other file: what the block device ioctls act on.
func (f *File) Device() DeviceFile { return f.dev }
