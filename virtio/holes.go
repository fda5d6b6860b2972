package virtio

import (
	"errors"
	"fmt"
)

// The holes of a disk: a host extension beside SendTo (outside the virtio
// spec, which has no request for a disk's allocation; SCSI has GET LBA
// STATUS, NBD block status). The kernel's lseek SEEK_DATA and SEEK_HOLE
// on a read-only block device ask it, so that a tool reading a whole
// disk (lklimg convert) reads only what the image holds, as qemu-img
// convert does with its block status. What a hole is, is the backend's
// (Backend.SeekData): a hole of the image file, a cluster or grain the
// format does not allocate.

// SeekData returns the first offset at or after off that holds data, or
// the disk's size when none does (Backend.SeekData).
func (d *Device) SeekData(off int64) (int64, error) { return d.seek(off, true) }

// SeekHole returns the first offset at or after off in a hole, the end
// of the disk counting as one (Backend.SeekHole).
func (d *Device) SeekHole(off int64) (int64, error) { return d.seek(off, false) }

func (d *Device) seek(off int64, data bool) (int64, error) {
	b, ok := d.fn.(*blk)
	if !ok {
		return 0, errors.ErrUnsupported
	}
	if off < 0 || off > b.be.Size() {
		return 0, fmt.Errorf("virtio: seek at %d past the device's end %d", off, b.be.Size())
	}
	d.mu.Lock()
	broken := d.broken
	d.mu.Unlock()
	if broken {
		return 0, errors.New("virtio: device needs reset")
	}
	if data {
		return b.be.SeekData(off)
	}
	return b.be.SeekHole(off)
}
