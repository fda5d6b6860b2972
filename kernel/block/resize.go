package block

import (
	"errors"

	"github.com/lklimg/lklimg/kernel/abi"
)

// Resizer is a Disk whose size the host can change (virtioblk.Disk over
// a raw image file): Resize makes it n bytes long and reads the new
// capacity back, as a driver does on a capacity change.
type Resizer interface {
	Resize(n int64) error
}

// ResizeDisk makes the disk called name n bytes long: the host resizes
// its image (a raw file is cut or extended as a sparse file, to n bytes
// exactly) and the disk's capacity becomes n rounded down to whole
// sectors, as Linux's set_capacity_and_notify follows a virtio-blk config
// change. The disk's dirty pages are written back and its pages dropped
// first, so nothing cached outlives the cut. Its partitions keep their
// places, one past the new end cut there (the table is not read again:
// it is the partitioner's business).
//
// Unlike Linux, which lets a disk change under its users, a disk in use
// is refused: Resize is for the tools that make an image (the cut to size
// at the end of tar2fs), not for a running system.
//
// Errors: ENOENT for an unknown name; EINVAL for a partition, or an n not
// positive; EOPNOTSUPP for a disk that cannot be resized (a host block
// device, a read-only image); EBUSY while the disk or one of its
// partitions is open or mounted; EIO from the host or the writeback.
func (mg *Manager) ResizeDisk(name string, n int64) error {
	dev, err := mg.Device(name)
	if err != nil {
		return err
	}
	if dev.parent != nil {
		return abi.Errorf(abi.EINVAL, "%s: a partition cannot be resized this way: resize its disk %s", dev.name, dev.parent.name)
	}
	if n <= 0 {
		return abi.Errorf(abi.EINVAL, "%s: new size %d", dev.name, n)
	}
	r, ok := dev.m.disk.(Resizer)
	if !ok || dev.ro {
		return abi.Errorf(abi.EOPNOTSUPP, "%s: the disk cannot be resized", dev.name)
	}
	// Opens and claims take claimMu: none can start until the disk has
	// its new size.
	dev.claimMu.Lock()
	defer dev.claimMu.Unlock()
	if dev.opens > 0 || dev.holder != nil || dev.parts > 0 {
		return abi.Errorf(abi.EBUSY, "%s: the disk is open or mounted", dev.name)
	}
	parts := mg.Partitions(dev.name)
	old := dev.m
	werr := old.detach()
	rerr := r.Resize(n)
	// The disk reads through a new mapping of its new size, whether
	// the resize happened or not (the old one is closed).
	m := mg.cache.attach(old.disk)
	dev.m, dev.size = m, m.size
	for _, p := range parts {
		// A partition past the new end is cut there, as
		// blk_add_partitions cuts one past the end of the disk.
		p.m = m
		if end := p.start + p.size; end > m.size {
			p.size = max(0, m.size-p.start)
			mg.logf("%s: %s size extends beyond EOD, truncated", dev.name, p.name)
		}
	}
	if rerr == nil {
		mg.logf("%s: detected capacity change from %d to %d", dev.name, old.size/SectorSize, m.size/SectorSize)
	}
	if err := errors.Join(werr, rerr); err != nil {
		return abi.Errorf(abi.ErrnoOf(err), "%s: resize to %d bytes: %v", dev.name, n, err)
	}
	return nil
}
