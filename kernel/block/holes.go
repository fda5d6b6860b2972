package block

import (
	"errors"
	"fmt"

	"github.com/lklimg/lklimg/kernel/abi"
)

// HoleFinder is implemented by disks that know which of their bytes the
// image holds (virtioblk.Disk: the device's host side asks its backend,
// virtio/holes.go): the rest reads as zeros.
type HoleFinder interface {
	// SeekData returns the first offset at or after off holding data,
	// or the disk's size when none does; SeekHole the first offset at
	// or after off in a hole, the end counting as one. Errors:
	// EOPNOTSUPP (the disk cannot tell), EIO.
	SeekData(off int64) (int64, error)
	SeekHole(off int64) (int64, error)
}

// SeekData is lseek(2)'s SEEK_DATA on the device: the first offset at or
// after off (inside the device) holding data. Linux's block devices say
// every byte is data (fixed_size_llseek); so does this one unless its
// disk is read-only and a HoleFinder, whose holes it then reports (the
// page cache of a writable disk may hold data its image does not yet).
// Errors: ENXIO at or past the end, or when no data follows off.
func (d *Device) SeekData(off int64) (int64, error) { return d.seek(off, true) }

// SeekHole is lseek(2)'s SEEK_HOLE: see SeekData; the end is a hole.
func (d *Device) SeekHole(off int64) (int64, error) { return d.seek(off, false) }

func (d *Device) seek(off int64, data bool) (int64, error) {
	if off < 0 || off >= d.size {
		return 0, abi.ENXIO
	}
	h, ok := d.m.disk.(HoleFinder)
	if !ok || !d.m.disk.ReadOnly() {
		if data {
			return off, nil
		}
		return d.size, nil
	}
	var at int64
	var err error
	if data {
		at, err = h.SeekData(d.start + off)
	} else {
		at, err = h.SeekHole(d.start + off)
	}
	if errors.Is(err, abi.EOPNOTSUPP) {
		if data {
			return off, nil
		}
		return d.size, nil
	}
	if err != nil {
		return 0, fmt.Errorf("%s: %w", d.name, err)
	}
	at -= d.start
	switch {
	case at < off:
		return 0, abi.Errorf(abi.EIO, "%s: the disk's seek from %d gave %d", d.name, off, at)
	case at >= d.size && data:
		return 0, abi.ENXIO
	}
	return min(at, d.size), nil
}
