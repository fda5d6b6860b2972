package block

import (
	"fmt"

	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/mm"
)

// File is an open block device: what a struct file of a block special
// file is with Linux's def_blk_fops (block/fops.c) and the ioctls of
// block/ioctl.c. Its reads and writes go through the disk's page cache,
// the one every device of the disk and every filesystem mounted from
// them reads through, so a filesystem mounted afterwards sees what was
// written. It never reads or writes outside its device.
//
// It is safe for concurrent use.
type File struct {
	d     *Device
	write bool // opened for writing (FMODE_WRITE)
	excl  bool // opened with O_EXCL: the file holds d (claim.go)
}

// Open opens d as blkdev_open does: for writing if write says so, and,
// with excl (O_EXCL), holding d exclusively until Release. A read-only
// disk may be opened for writing, as on Linux (virtio_blk has no open
// method to refuse it): its writes then fail with EPERM.
//
// Errors: EBUSY for excl when d cannot be claimed (see Claim).
func (d *Device) Open(write, excl bool) (*File, error) {
	f := &File{d: d, write: write, excl: excl}
	if excl {
		// The file is its own holder, as blkdev_open makes filp the
		// holder.
		if err := d.Claim(f); err != nil {
			return nil, err
		}
	}
	w := d.whole()
	w.claimMu.Lock()
	w.opens++
	if d != w {
		w.pOpens++
	}
	w.claimMu.Unlock()
	return f, nil
}

// Device returns the open device.
func (f *File) Device() *Device { return f.d }

// Size returns the device's size in bytes (bdev_nr_bytes): where lseek's
// SEEK_END counts from.
func (f *File) Size() int64 { return f.d.size }

// Release ends the open (blkdev_release): an O_EXCL file lets go of the
// device, and a file opened for writing writes the disk's dirty pages
// back, as the last close of a block device does (blkdev_flush_mapping),
// without flushing the disk's cache.
func (f *File) Release() error {
	if f.excl {
		f.d.Unclaim(f)
	}
	w := f.d.whole()
	w.claimMu.Lock()
	w.opens--
	if f.d != w {
		w.pOpens--
	}
	w.claimMu.Unlock()
	if f.write && !f.d.ro {
		return f.d.Writeback()
	}
	return nil
}

// ReadAt reads from the device at off, as blkdev_read_iter: a read at or
// past the end returns 0 and io.EOF, one across it stops there (io.EOF
// with the count). Errors: EIO from the disk.
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	return f.d.ReadAt(p, off)
}

// WriteAt writes p at off through the page cache, as blkdev_write_iter:
// a write across the end is cut there and returns the short count, with
// no error.
//
// Errors, in Linux's order: EPERM on a read-only disk (even for an empty
// write); ENOSPC for a write starting at or past the end; EIO from the
// disk.
func (f *File) WriteAt(p []byte, off int64) (int, error) {
	d := f.d
	if d.ro {
		return 0, abi.Errorf(abi.EPERM, "%s: write to a read-only device", d.name)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if off >= d.size {
		return 0, abi.Errorf(abi.ENOSPC, "%s: write at %d, at or past the end (%d bytes)", d.name, off, d.size)
	}
	if int64(len(p)) > d.size-off {
		p = p[:d.size-off]
	}
	n, err := d.m.writeAt(p, d.start+off)
	if err != nil {
		return n, fmt.Errorf("%s: %w", d.name, err)
	}
	return n, nil
}

// Fsync writes the dirty pages back and flushes the disk's cache
// (blkdev_fsync); datasync changes nothing, a block device having no
// metadata of its own. Errors: EIO.
func (f *File) Fsync(datasync bool) error {
	return f.d.Sync()
}

// fallocate mode bits (include/uapi/linux/falloc.h) beyond those in abi.
const fallocWriteZeroes = 0x80

// Fallocate is fallocate(2) on the device, as blkdev_fallocate (Linux
// 6.17 and later) does it once the VFS has checked mode and range:
// FALLOC_FL_ZERO_RANGE (with or without KEEP_SIZE) zeroes the range, by
// the disk's write-zeroes or by writing zeros; PUNCH_HOLE|KEEP_SIZE zeroes
// it by the disk's write-zeroes alone, which deallocates it (a raw image
// gets a hole); FALLOC_FL_WRITE_ZEROES zeroes it on a disk whose
// write-zeroes may deallocate. With KEEP_SIZE a range past the end is cut
// there.
//
// Errors, in Linux's order: EOPNOTSUPP for other modes (allocation, mode
// 0, among them), and for WRITE_ZEROES on a disk that cannot unmap;
// EINVAL for a start at or past the end, a range past the end without
// KEEP_SIZE, or a start or length not a multiple of 512; EPERM on a
// read-only disk; EOPNOTSUPP for a punch the disk cannot do; EIO.
func (f *File) Fallocate(mode uint32, off, n int64) error {
	d := f.d
	const supported = abi.FALLOC_FL_KEEP_SIZE | abi.FALLOC_FL_PUNCH_HOLE | abi.FALLOC_FL_ZERO_RANGE | fallocWriteZeroes
	if mode&^supported != 0 {
		return abi.EOPNOTSUPP
	}
	if mode&fallocWriteZeroes != 0 && !d.WriteZeroesUnmap() {
		return abi.Errorf(abi.EOPNOTSUPP, "%s: the disk's write-zeroes cannot unmap", d.name)
	}
	if off >= d.size {
		return abi.Errorf(abi.EINVAL, "%s: fallocate at %d, at or past the end (%d bytes)", d.name, off, d.size)
	}
	if n > d.size-off {
		if mode&abi.FALLOC_FL_KEEP_SIZE == 0 {
			return abi.Errorf(abi.EINVAL, "%s: fallocate of %d bytes at %d past the end (%d bytes)", d.name, n, off, d.size)
		}
		n = d.size - off
	}
	if (off|n)%SectorSize != 0 {
		return abi.Errorf(abi.EINVAL, "%s: fallocate of %d bytes at %d: not whole sectors", d.name, n, off)
	}
	var zero func(off, n int64) error
	switch mode {
	case abi.FALLOC_FL_ZERO_RANGE, abi.FALLOC_FL_ZERO_RANGE | abi.FALLOC_FL_KEEP_SIZE, fallocWriteZeroes:
		zero = d.WriteZeroes
	case abi.FALLOC_FL_PUNCH_HOLE | abi.FALLOC_FL_KEEP_SIZE:
		zero = d.PunchZeroes
	default:
		return abi.EOPNOTSUPP
	}
	if d.ro {
		// blkdev_issue_zeroout refuses a read-only device.
		return abi.Errorf(abi.EPERM, "%s: fallocate on a read-only device", d.name)
	}
	return zero(off, n)
}

// checkRangeIoctl checks the writable file and the byte range [off,
// off+n) of BLKDISCARD and BLKZEROOUT: both need a file open for writing
// (EBADF) and whole sectors inside the device, not empty (EINVAL, from
// blk_validate_byte_range and blk_ioctl_zeroout's own checks).
func (f *File) checkRangeIoctl(op string, off, n uint64) error {
	if !f.write {
		return abi.Errorf(abi.EBADF, "%s: %s on a file not open for writing", f.d.name, op)
	}
	if (off|n)%SectorSize != 0 || n == 0 || off+n < off || off+n > uint64(f.d.size) {
		return abi.Errorf(abi.EINVAL, "%s: %s of %d bytes at %d: not whole sectors inside the device (%d bytes)",
			f.d.name, op, n, off, f.d.size)
	}
	return nil
}

// Discard is BLKDISCARD (blk_ioctl_discard): n bytes from off are
// discarded on the disk and read as zeros afterwards (Device.Discard); a
// raw image gets a hole.
//
// Errors, in Linux's order: EBADF for a file not open for writing; EPERM
// on a read-only disk; EINVAL for an empty range, one not of whole
// sectors, or one past the end; EOPNOTSUPP if the disk cannot discard;
// EIO.
func (f *File) Discard(off, n uint64) error {
	if !f.write {
		return abi.Errorf(abi.EBADF, "%s: discard on a file not open for writing", f.d.name)
	}
	if f.d.ro {
		return abi.Errorf(abi.EPERM, "%s: discard on a read-only device", f.d.name)
	}
	if err := f.checkRangeIoctl("discard", off, n); err != nil {
		return err
	}
	return f.d.Discard(int64(off), int64(n))
}

// Zeroout is BLKZEROOUT (blk_ioctl_zeroout): n bytes from off read as
// zeros afterwards, by the disk's write-zeroes or by writing zeros
// (Device.WriteZeroes).
//
// Errors, in Linux's order: EBADF for a file not open for writing; EINVAL
// for an empty range, one not of whole sectors, or one past the end;
// EPERM on a read-only disk; EIO.
func (f *File) Zeroout(off, n uint64) error {
	if err := f.checkRangeIoctl("zeroout", off, n); err != nil {
		return err
	}
	if f.d.ro {
		return abi.Errorf(abi.EPERM, "%s: zeroout on a read-only device", f.d.name)
	}
	return f.d.WriteZeroes(int64(off), int64(n))
}

// FlushBuf is BLKFLSBUF (blkdev_flushbuf): the disk's dirty pages are
// written back, without a flush of the disk's cache (sync_blockdev), and
// the device's clean pages leave the cache (invalidate_bdev), so that the
// next reads come from the disk. Errors: EIO.
func (f *File) FlushBuf() error {
	d := f.d
	if !d.ro {
		if err := d.Writeback(); err != nil {
			return err
		}
	}
	if d.size > 0 {
		d.m.dropClean(d.start/mm.PageSize, (d.start+d.size-1)/mm.PageSize)
	}
	return nil
}

// LogicalBlockSize is BLKSSZGET: the disk's logical block size, the
// sector of 512 bytes (virtio-blk's capacity and requests count in it).
func (f *File) LogicalBlockSize() int { return SectorSize }

// PhysicalBlockSize is BLKPBSZGET: the disk's physical block size; a
// virtio disk without VIRTIO_BLK_F_TOPOLOGY has the logical one.
func (f *File) PhysicalBlockSize() int { return SectorSize }

// ReadOnly is BLKROGET: whether the disk refuses writes.
func (f *File) ReadOnly() bool { return f.d.ro }

// Holder returns what holds the device for this file: the file itself
// when it was opened O_EXCL, else nil (an ioctl such as BLKRRPART lets
// the holder through).
func (f *File) Holder() any {
	if f.excl {
		return f
	}
	return nil
}

// SeekData is lseek's SEEK_DATA on the open device (Device.SeekData).
func (f *File) SeekData(off int64) (int64, error) { return f.d.SeekData(off) }

// SeekHole is lseek's SEEK_HOLE on the open device (Device.SeekHole).
func (f *File) SeekHole(off int64) (int64, error) { return f.d.SeekHole(off) }

// SendTo sends n bytes of the open device from off to the host
// descriptor dst (Device.SendTo: a read-only disk's, past the page
// cache), for sendfile(2) on the device.
func (f *File) SendTo(dst abi.HostFile, off, n int64) (int64, error) { return f.d.SendTo(dst, off, n) }
