package block

import "github.com/lklimg/lklimg/kernel/abi"

// RereadPartitions reads the partition table of the whole disk d again
// and makes its partition devices anew from it, as ioctl BLKRRPART does
// (disk_scan_partitions, bdev_disk_changed): after a partitioner wrote a
// new table through the disk. The old partition devices are dropped (a
// caller that holds one keeps a device no name finds); the table is read
// through the page cache, where the partitioner's writes are.
//
// As Linux, it refuses while any partition of the disk is open or held
// (mounted), and while another holder than holder (the file asking, when
// it was opened O_EXCL) holds the whole disk exclusively; opens of the
// whole disk itself do not count, the partitioner's among them.
//
// Errors: EINVAL for a partition; EBUSY as above. A table that cannot be
// read leaves the disk without partitions and is logged, not returned.
// It returns the names of the partitions dropped and of those made.
func (mg *Manager) RereadPartitions(d *Device, holder any) (dropped, made []string, err error) {
	if d.parent != nil {
		return nil, nil, abi.Errorf(abi.EINVAL, "%s: BLKRRPART on a partition", d.name)
	}
	d.claimMu.Lock()
	defer d.claimMu.Unlock()
	if d.pOpens > 0 || d.parts > 0 {
		return nil, nil, abi.Errorf(abi.EBUSY, "%s: a partition is open or mounted", d.name)
	}
	if d.holder != nil && d.holder != holder {
		return nil, nil, abi.Errorf(abi.EBUSY, "%s: the disk is held exclusively", d.name)
	}
	mg.mu.Lock()
	var e *diskEntry
	for _, x := range mg.disks {
		if x.dev == d {
			e = x
		}
	}
	mg.mu.Unlock()
	if e == nil {
		return nil, nil, abi.Errorf(abi.ENOENT, "block: no disk %q", d.name)
	}
	t, rerr := ReadTable(d, d.size, mg.logf)
	var parts []*Device
	if rerr != nil {
		mg.logf(" %s: unable to read partition table: %v", d.name, rerr)
		t = nil
	} else if t != nil {
		parts = mg.partitions(d, t)
	}
	mg.mu.Lock()
	defer mg.mu.Unlock()
	for _, p := range e.parts {
		delete(mg.byName, p.name)
		dropped = append(dropped, p.name)
	}
	e.table, e.parts = t, parts
	for _, p := range parts {
		mg.byName[p.name] = p
		made = append(made, p.name)
	}
	return dropped, made, nil
}
