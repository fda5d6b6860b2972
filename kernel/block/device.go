package block

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/mm"
)

// Device is a block device (struct block_device): a whole disk ("vda") or
// a partition of it ("vda1"). A partition is a window of the disk, which
// may start at any sector, so its bytes are read byte-granular through the
// disk's pages; it never reads or writes outside its window. Every device
// of a disk shares the disk's pages in the cache.
//
// Device implements vfs.BlockDevice and vfs.Readaheader. It is safe for
// concurrent use.
type Device struct {
	name   string
	m      *mapping
	start  int64 // bytes from the start of the disk
	size   int64
	ro     bool
	parent *Device    // the whole disk; nil for a disk
	part   *Partition // the table entry; nil for a disk

	// Exclusive claims (claim.go), guarded by the whole disk's claimMu.
	claimMu sync.Mutex // used on the whole disk only
	holder  any        // who holds the device exclusively; nil if nobody
	holders int        // claims of holder not yet ended
	parts   int        // on a whole disk: claims on its partitions
	opens   int        // on a whole disk: open files of it and its partitions
	pOpens  int        // on a whole disk: open files of its partitions
}

// Name returns the device's name without /dev/: "vda", "vda1".
func (d *Device) Name() string { return d.name }

// Size returns the device's size in bytes.
func (d *Device) Size() int64 { return d.size }

// ReadOnly reports whether the disk refuses writes.
func (d *Device) ReadOnly() bool { return d.ro }

// Start returns where the device starts on its disk, in bytes.
func (d *Device) Start() int64 { return d.start }

// Parent returns the whole disk of a partition, or nil for a disk.
func (d *Device) Parent() *Device { return d.parent }

// Disk returns the driver of the device's disk.
func (d *Device) Disk() Disk { return d.m.disk }

// Partition returns the partition table entry of a partition, or nil for a
// whole disk.
func (d *Device) Partition() *Partition { return d.part }

// ReadAt reads len(p) bytes from off, as io.ReaderAt: a read that reaches
// the end of the device returns the bytes before it and io.EOF. A negative
// off is EINVAL; a failed disk read is EIO, with the device, place and the
// disk's error.
func (d *Device) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, abi.Errorf(abi.EINVAL, "%s: read at negative offset %d", d.name, off)
	}
	if off >= d.size {
		return 0, io.EOF
	}
	var eof error
	if int64(len(p)) > d.size-off {
		p, eof = p[:d.size-off], io.EOF
	}
	n, err := d.m.readAt(p, d.start+off)
	if err != nil {
		return n, fmt.Errorf("%s: %w", d.name, err)
	}
	return n, eof
}

// ReadFresh reads as ReadAt, from the disk: the range's clean pages are
// dropped from the cache first (a dirty one stays, newer than the disk),
// as read_mmp_block clears the buffer's uptodate bit, so that what
// another host wrote to the image since is seen (vfs.FreshReader).
func (d *Device) ReadFresh(p []byte, off int64) (int, error) {
	if off >= 0 && off < d.size && len(p) > 0 {
		end := min(off+int64(len(p)), d.size)
		d.m.dropClean((d.start+off)/mm.PageSize, (d.start+end-1)/mm.PageSize)
	}
	return d.ReadAt(p, off)
}

// WriteAt writes p at off through the cache, as io.WriterAt; the data
// reaches the disk at Sync (or earlier, when the cache holds too many dirty
// pages). A read-only device is EROFS; a negative off EINVAL; the part of
// p beyond the end of the device is not written and gives ENOSPC, as a
// write past the end of a Linux block device does.
func (d *Device) WriteAt(p []byte, off int64) (int, error) {
	if d.ro {
		return 0, abi.Errorf(abi.EROFS, "%s: write to a read-only device", d.name)
	}
	if off < 0 {
		return 0, abi.Errorf(abi.EINVAL, "%s: write at negative offset %d", d.name, off)
	}
	if off >= d.size {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, abi.Errorf(abi.ENOSPC, "%s: write at %d beyond the end (%d bytes)", d.name, off, d.size)
	}
	var short error
	if int64(len(p)) > d.size-off {
		p = p[:d.size-off]
		short = abi.Errorf(abi.ENOSPC, "%s: write beyond the end (%d bytes)", d.name, d.size)
	}
	n, err := d.m.writeAt(p, d.start+off)
	if err != nil {
		return n, fmt.Errorf("%s: %w", d.name, err)
	}
	return n, short
}

// CacheBytes returns the bound of the disk's page cache in bytes
// (vfs.CacheSizer).
func (d *Device) CacheBytes() int64 { return int64(d.m.c.MaxPages()) * mm.PageSize }

// Readahead starts reading n bytes from off in the background, so that
// later reads find them in the cache. It returns at once; the part outside
// the device is ignored, and so is all of it when memory is short.
func (d *Device) Readahead(off, n int64) {
	if off < 0 || n <= 0 || off >= d.size {
		return
	}
	d.m.readaheadRange(d.start+off, min(n, d.size-off))
}

// Sync writes the disk's dirty pages back and flushes the disk (fsync of
// a block device: every partition of the disk is synced). A read-only
// device has nothing to sync.
func (d *Device) Sync() error {
	if d.ro {
		return nil
	}
	if err := d.m.sync(); err != nil {
		return fmt.Errorf("%s: %w", d.name, err)
	}
	return nil
}

// Writeback writes the disk's dirty pages back without flushing the disk's
// cache: what a filesystem mounted with nobarrier does where it would
// otherwise flush (the writes reach the host, not necessarily its disk).
func (d *Device) Writeback() error {
	if d.ro {
		return nil
	}
	if err := d.m.writeback(true); err != nil {
		return fmt.Errorf("%s: %w", d.name, err)
	}
	return nil
}

// checkRange checks the device bytes [off, off+n) for an operation that
// changes them: writable, whole sectors, inside the device.
func (d *Device) checkRange(op string, off, n int64) error {
	if d.ro {
		return abi.Errorf(abi.EROFS, "%s: %s on a read-only device", d.name, op)
	}
	if off < 0 || n < 0 || off > d.size || n > d.size-off || off%SectorSize != 0 || n%SectorSize != 0 {
		return abi.Errorf(abi.EINVAL, "%s: %s of %d bytes at %d: not whole sectors inside the device (%d bytes)",
			d.name, op, n, off, d.size)
	}
	return nil
}

// wholePages returns the disk byte range [a, b) of the pages entirely
// inside the disk bytes [start, end); a >= b if there are none.
func wholePages(start, end int64) (a, b int64) {
	a = (start + mm.PageSize - 1) / mm.PageSize * mm.PageSize
	b = end / mm.PageSize * mm.PageSize
	return a, b
}

// WriteZeroes makes n bytes from off read as zeros (BLKZEROOUT): the pages
// inside the range are dropped from the cache and zeroed by the disk
// (VIRTIO_BLK_T_WRITE_ZEROES), the partial pages at its ends are zeroed
// through the cache; a disk without write-zeroes gets zero pages written,
// as blkdev_issue_zeroout falls back to. off and n are whole sectors:
// EINVAL otherwise. Errors from the disk keep their errno (EIO).
func (d *Device) WriteZeroes(off, n int64) error {
	return d.zeroRange("write zeroes", off, n, d.m.disk.WriteZeroes, true)
}

// Discard tells the disk that n bytes from off are unused (BLKDISCARD):
// the pages inside the range leave the cache and are discarded on the
// disk; the partial pages at its ends are zeroed in the cache, as
// truncating the block device's page cache does, so that the range reads
// as zeros (as a raw image with holes punched does). off and n are whole
// sectors: EINVAL otherwise. Errors from the disk keep their errno:
// EOPNOTSUPP when it cannot discard, and then nothing changed.
func (d *Device) Discard(off, n int64) error {
	return d.zeroRange("discard", off, n, d.m.disk.Discard, false)
}

// PunchZeroes makes n bytes from off read as zeros by the disk's
// write-zeroes alone, which may deallocate them: what fallocate's
// FALLOC_FL_PUNCH_HOLE does on a block device (blkdev_issue_zeroout with
// BLKDEV_ZERO_NOFALLBACK). Errors as WriteZeroes, and EOPNOTSUPP when the
// disk cannot write zeroes.
func (d *Device) PunchZeroes(off, n int64) error {
	return d.zeroRange("punch hole", off, n, d.m.disk.WriteZeroes, false)
}

// WriteZeroesUnmap reports whether the disk's write-zeroes may deallocate
// what it zeroes (VIRTIO_BLK_F_WRITE_ZEROES with write_zeroes_may_unmap).
func (d *Device) WriteZeroesUnmap() bool {
	u, ok := d.m.disk.(interface{ WriteZeroesUnmap() bool })
	return ok && u.WriteZeroesUnmap()
}

// zeroRange is WriteZeroes, PunchZeroes and Discard: diskOp on the whole pages of the
// range, with the cache's copies dropped before and after (a reader may
// bring one back in meanwhile), then zeros written through the cache at
// the partial pages. fallback writes zero pages when the disk does not
// support diskOp.
func (d *Device) zeroRange(op string, off, n int64, diskOp func(off, n int64) error, fallback bool) error {
	if err := d.checkRange(op, off, n); err != nil || n == 0 {
		return err
	}
	start, end := d.start+off, d.start+off+n
	a, b := wholePages(start, end)
	if a >= b {
		a, b = end, end // no whole page: all of it goes through the cache
	} else {
		d.m.invalidate(a/mm.PageSize, (b-1)/mm.PageSize)
		err := diskOp(a, b-a)
		d.m.invalidate(a/mm.PageSize, (b-1)/mm.PageSize)
		if errors.Is(err, abi.EOPNOTSUPP) && fallback {
			err = d.writeZeroPages(a, b)
		}
		if err != nil {
			return abi.Errorf(abi.ErrnoOf(err), "%s: %s of %d bytes at %d: %v", d.name, op, b-a, a, err)
		}
	}
	if err := d.writeZeroPages(start, a); err != nil {
		return err
	}
	return d.writeZeroPages(b, end)
}

// writeZeroPages writes zeros to the disk bytes [a, b) through the cache.
func (d *Device) writeZeroPages(a, b int64) error {
	if a >= b {
		return nil
	}
	zeros := make([]byte, min(b-a, 256<<10))
	for a < b {
		n, err := d.m.writeAt(zeros[:min(int64(len(zeros)), b-a)], a)
		if err != nil {
			return fmt.Errorf("%s: %w", d.name, err)
		}
		a += int64(n)
	}
	return nil
}
