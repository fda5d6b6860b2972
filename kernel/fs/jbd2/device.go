package jbd2

import (
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// Device returns dev as it would read after the replay: each block the
// overlay holds reads from the journal, every other byte from dev. This is
// how a read-only mount sees a filesystem whose journal needs recovery,
// without writing to dev. The result is read-only; it forwards Readahead
// when dev supports it. o may be nil (dev reads unchanged).
//
// Errors are dev's, or the Journal's for replayed blocks.
func (o *Overlay) Device(dev vfs.BlockDevice) vfs.BlockDevice {
	return &overlayDevice{BlockDevice: dev, o: o}
}

// overlayDevice is the Device of an Overlay.
type overlayDevice struct {
	vfs.BlockDevice
	o *Overlay
}

func (d *overlayDevice) ReadOnly() bool { return true }

func (d *overlayDevice) Readahead(off, n int64) {
	if ra, ok := d.BlockDevice.(vfs.Readaheader); ok {
		ra.Readahead(off, n)
	}
}

// ReadAt reads from the device, then replaces the parts of p that fall in
// replayed blocks with the journal's copies.
func (d *overlayDevice) ReadAt(p []byte, off int64) (int, error) {
	n, err := d.BlockDevice.ReadAt(p, off)
	if d.o.Len() == 0 || n <= 0 {
		return n, err
	}
	if off < 0 {
		return 0, abi.Errorf(abi.EINVAL, "jbd2: negative offset %d", off)
	}
	bs := int64(d.o.blockSize)
	var blk []byte
	end := off + int64(n)
	for b := off / bs; b*bs < end; b++ {
		if _, _, ok := d.o.Lookup(uint64(b)); !ok {
			continue
		}
		if blk == nil {
			blk = make([]byte, bs)
		}
		if _, rerr := d.o.Read(uint64(b), blk); rerr != nil {
			return 0, rerr
		}
		// The overlap of block b, [b*bs, (b+1)*bs), with [off, end).
		lo, hi := max(b*bs, off), min((b+1)*bs, end)
		copy(p[lo-off:hi-off], blk[lo-b*bs:hi-b*bs])
	}
	return n, err
}
