package virtioblk

import (
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/mm"
	"github.com/lklimg/lklimg/virtio"
)

// Read implements block.Disk.
func (d *Disk) Read(off int64, segs []mm.Seg) error { return d.rw(off, segs, false) }

// Write implements block.Disk. A read-only disk refuses with EROFS before
// anything reaches the device.
func (d *Disk) Write(off int64, segs []mm.Seg) error { return d.rw(off, segs, true) }

// rw checks a transfer and issues it as chains of at most maxSegs segments
// and maxTransfer bytes, in order. Errors: EROFS (write to a read-only
// disk), EINVAL (offset or a segment length not a multiple of 512), EFAULT
// (a segment outside the arena), EIO (beyond the end of the disk, or the
// device failed), ENXIO (disk closed).
func (d *Disk) rw(off int64, segs []mm.Seg, write bool) error {
	if write && d.ro {
		return abi.Errorf(abi.EROFS, "virtioblk: write to read-only disk")
	}
	if off < 0 || off%virtio.SectorSize != 0 {
		return abi.Errorf(abi.EINVAL, "virtioblk: offset %d not sector aligned", off)
	}
	var total uint64
	for _, s := range segs {
		if s.Len%virtio.SectorSize != 0 {
			return abi.Errorf(abi.EINVAL, "virtioblk: segment of %d bytes not a multiple of 512", s.Len)
		}
		if d.arena.Slice(s) == nil {
			return abi.Errorf(abi.EFAULT, "virtioblk: segment %#x+%d outside the arena", s.Addr, s.Len)
		}
		total += uint64(s.Len)
	}
	sector := uint64(off) / virtio.SectorSize
	if capacity := d.capacity.Load(); sector > capacity || total/virtio.SectorSize > capacity-sector {
		return abi.Errorf(abi.EIO, "virtioblk: %d bytes at %d beyond the end of the disk (%d bytes)", total, off, d.Size())
	}
	typ := virtio.BlkTIn
	if write {
		typ = virtio.BlkTOut
	}
	limit := uint64(d.maxTransfer)
	for i, inner := 0, uint32(0); i < len(segs); {
		s := segs[i]
		if s.Len == 0 {
			i++
			continue
		}
		if inner == 0 && uint64(s.Len) <= limit {
			// Whole segments, as many as fit.
			j, n := i, uint64(0)
			for j < len(segs) && j-i < d.maxSegs && n+uint64(segs[j].Len) <= limit {
				n += uint64(segs[j].Len)
				j++
			}
			if err := d.transfer(typ, sector, segs[i:j], !write); err != nil {
				return err
			}
			sector += n / virtio.SectorSize
			i = j
			continue
		}
		// A segment larger than a chain may carry: a piece at a time.
		var piece [1]mm.Seg
		piece[0] = mm.Seg{Addr: s.Addr + mm.Addr(inner), Len: uint32(min(uint64(s.Len-inner), limit))}
		if err := d.transfer(typ, sector, piece[:], !write); err != nil {
			return err
		}
		sector += uint64(piece[0].Len) / virtio.SectorSize
		inner += piece[0].Len
		if inner == s.Len {
			i, inner = i+1, 0
		}
	}
	return nil
}

func (d *Disk) transfer(typ uint32, sector uint64, segs []mm.Seg, deviceWrites bool) error {
	st, err := d.submit(typ, sector, segs, deviceWrites, inlineNone, [3]uint64{}, nil)
	return statusErr(err, st, typ, sector)
}

// Flush implements block.Disk (VIRTIO_BLK_T_FLUSH). Without
// VIRTIO_BLK_F_FLUSH the device has no volatile cache and there is nothing
// to do (§5.2.6.2). Errors: EIO (the device failed), ENXIO (disk closed).
func (d *Disk) Flush() error {
	if !d.feat.Has(virtio.BlkFFlush) {
		return nil
	}
	st, err := d.submit(virtio.BlkTFlush, 0, nil, false, inlineNone, [3]uint64{}, nil)
	return statusErr(err, st, virtio.BlkTFlush, 0)
}

// Discard implements block.Disk (VIRTIO_BLK_T_DISCARD). Errors: EROFS,
// EOPNOTSUPP without VIRTIO_BLK_F_DISCARD, EINVAL for unaligned ranges,
// EIO beyond the end.
func (d *Disk) Discard(off, n int64) error {
	return d.dwz(virtio.BlkTDiscard, virtio.BlkFDiscard, d.maxDiscard, 0, off, n)
}

// WriteZeroes implements block.Disk (VIRTIO_BLK_T_WRITE_ZEROES), letting
// the device deallocate the range when it says it may
// (write_zeroes_may_unmap), which keeps images sparse. Errors as Discard.
func (d *Disk) WriteZeroes(off, n int64) error {
	var flags uint32
	if d.zeroUnmap {
		flags = virtio.BlkDWZFUnmap
	}
	return d.dwz(virtio.BlkTWriteZeroes, virtio.BlkFWriteZeroes, d.maxZeroes, flags, off, n)
}

func (d *Disk) dwz(typ uint32, feature virtio.Features, maxSectors, flags uint32, off, n int64) error {
	if d.ro {
		return abi.Errorf(abi.EROFS, "virtioblk: discard on read-only disk")
	}
	if !d.feat.Has(feature) {
		return abi.Errorf(abi.EOPNOTSUPP, "virtioblk: device lacks feature %#x", uint64(feature))
	}
	if off < 0 || n < 0 || off%virtio.SectorSize != 0 || n%virtio.SectorSize != 0 {
		return abi.Errorf(abi.EINVAL, "virtioblk: range %d+%d not sector aligned", off, n)
	}
	sector, count := uint64(off)/virtio.SectorSize, uint64(n)/virtio.SectorSize
	if capacity := d.capacity.Load(); sector > capacity || count > capacity-sector {
		return abi.Errorf(abi.EIO, "virtioblk: range %d+%d beyond the end of the disk", off, n)
	}
	for count > 0 {
		k := min(count, uint64(maxSectors))
		st, err := d.submit(typ, 0, nil, false, inlineDWZ, [3]uint64{sector, k, uint64(flags)}, nil)
		if err := statusErr(err, st, typ, sector); err != nil {
			return err
		}
		sector += k
		count -= k
	}
	return nil
}

// getID issues VIRTIO_BLK_T_GET_ID into id (20 bytes).
func (d *Disk) getID(id []byte) error {
	st, err := d.submit(virtio.BlkTGetID, 0, nil, true, inlineID, [3]uint64{}, id)
	return statusErr(err, st, virtio.BlkTGetID, 0)
}

// statusErr maps a request's status to an errno (§5.2.6): IOERR is EIO,
// UNSUPP is EOPNOTSUPP.
func statusErr(err error, st uint8, typ uint32, sector uint64) error {
	if err != nil {
		return err
	}
	switch st {
	case virtio.BlkSOK:
		return nil
	case virtio.BlkSUnsupp:
		return abi.Errorf(abi.EOPNOTSUPP, "virtio-blk: request type %d unsupported", typ)
	case virtio.BlkSIOErr:
		return abi.Errorf(abi.EIO, "virtio-blk: request type %d at sector %d: I/O error", typ, sector)
	}
	return abi.Errorf(abi.EIO, "virtio-blk: request type %d at sector %d: status %d", typ, sector, st)
}

// WriteZeroesUnmap reports whether the disk's write-zeroes may deallocate
// the range (VIRTIO_BLK_F_WRITE_ZEROES with write_zeroes_may_unmap), as
// Linux's virtio_blk sets max_hw_wzeroes_unmap_sectors from it: what
// fallocate's FALLOC_FL_WRITE_ZEROES on the block device requires.
func (d *Disk) WriteZeroesUnmap() bool {
	return d.feat.Has(virtio.BlkFWriteZeroes) && d.zeroUnmap
}
