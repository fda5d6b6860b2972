package block

import "github.com/lklimg/lklimg/kernel/abi"

// Exclusive claims on devices, as Linux's block/bdev.c keeps them
// (bd_may_claim, bd_prepare_to_claim, bd_finish_claiming, bd_end_claim).
// A mounted filesystem holds its device, and so does a file opened with
// O_EXCL: mke2fs opens the device O_EXCL so that it fails with EBUSY on a
// mounted one, and a mount fails with EBUSY while mke2fs holds it. A held
// partition keeps its whole disk from being claimed, and a held whole disk
// keeps every partition from being claimed; two partitions of one disk may
// be held by two holders. Claims do not stop plain opens: a device held by
// a mount may still be opened and written without O_EXCL, as Linux allows
// with CONFIG_BLK_DEV_WRITE_MOUNTED.

// whole returns the whole disk of d (bdev_whole).
func (d *Device) whole() *Device {
	if d.parent != nil {
		return d.parent
	}
	return d
}

// Claim makes holder an exclusive holder of d. The same holder may claim
// d again; every Claim takes an Unclaim.
//
// Errors: EBUSY if another holder has d, if d is a partition whose whole
// disk is held, or if d is a whole disk one of whose partitions is held.
func (d *Device) Claim(holder any) error {
	w := d.whole()
	w.claimMu.Lock()
	defer w.claimMu.Unlock()
	if !d.mayClaimLocked(holder) {
		return abi.Errorf(abi.EBUSY, "%s: device or resource busy (held exclusively)", d.name)
	}
	d.holder = holder
	d.holders++
	if d != w {
		w.parts++
	}
	return nil
}

// mayClaimLocked is bd_may_claim: the same holder may always claim again;
// else nobody may hold d, and nobody its whole disk (for a partition) or
// any of its partitions (for a whole disk, whose bd_holder Linux then sets
// to bd_may_claim itself).
func (d *Device) mayClaimLocked(holder any) bool {
	w := d.whole()
	if d.holder != nil {
		return d.holder == holder
	}
	if d == w {
		return w.parts == 0
	}
	return w.holder == nil
}

// Unclaim ends one claim of holder on d (bd_end_claim); the device is free
// when its holder has ended every claim. An Unclaim by another holder
// does nothing.
func (d *Device) Unclaim(holder any) {
	w := d.whole()
	w.claimMu.Lock()
	defer w.claimMu.Unlock()
	if d.holder != holder || d.holders == 0 {
		return
	}
	d.holders--
	if d != w {
		w.parts--
	}
	if d.holders == 0 {
		d.holder = nil
	}
}
