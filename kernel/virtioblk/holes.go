package virtioblk

import (
	"errors"

	"github.com/lklimg/lklimg/kernel/abi"
)

// holeFinder is the host extension of a device that knows its disk's
// holes (virtio.Device.SeekData, virtio/holes.go).
type holeFinder interface {
	SeekData(off int64) (int64, error)
	SeekHole(off int64) (int64, error)
}

// SeekData returns the first offset at or after off holding data, or the
// disk's size when none does (block.HoleFinder). Errors: EOPNOTSUPP when
// the device cannot say, EIO when it failed.
func (d *Disk) SeekData(off int64) (int64, error) { return d.seek(off, true) }

// SeekHole returns the first offset at or after off in a hole, the end of
// the disk counting as one.
func (d *Disk) SeekHole(off int64) (int64, error) { return d.seek(off, false) }

func (d *Disk) seek(off int64, data bool) (int64, error) {
	h, ok := d.dev.(holeFinder)
	if !ok {
		return 0, abi.Errorf(abi.EOPNOTSUPP, "virtio-blk: the device cannot tell its holes")
	}
	if d.broken.Load() {
		return 0, abi.Errorf(abi.EIO, "virtio-blk: device needs reset")
	}
	var at int64
	var err error
	if data {
		at, err = h.SeekData(off)
	} else {
		at, err = h.SeekHole(off)
	}
	switch {
	case err == nil:
		return at, nil
	case errors.Is(err, errors.ErrUnsupported):
		return 0, abi.Errorf(abi.EOPNOTSUPP, "virtio-blk: %v", err)
	default:
		return 0, abi.Errorf(abi.EIO, "virtio-blk: seek at %d: %v", off, err)
	}
}
