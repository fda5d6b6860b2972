package btrfs

import (
	"encoding/binary"

	disk "github.com/lklimg/lklimg/format/btrfs"
	"github.com/lklimg/lklimg/kernel/abi"
)

// What Linux's open_ctree reads at mount besides the trees a reader
// needs, and refuses the mount over: the root blocks of the global
// trees (btrfs_read_roots, load_global_roots) and the block group items
// (btrfs_read_block_groups), with the tree-checker run on every block.
// A reader does not need them, but an image Linux will not mount must
// not be shown here either; rescue=ignorebadroots skips both, as in
// Linux.

// globalTrees are the trees whose root blocks open_ctree reads: extent,
// device, checksum, quota, uuid, free space, block group and the data
// relocation tree. A tree the image lacks is left alone.
var globalTrees = []uint64{disk.ExtentTreeObjectid, disk.DevTreeObjectid, disk.CsumTreeObjectid,
	8 /* quota */, 9 /* uuid */, 10 /* free space */, 11 /* block group */, disk.DataRelocObjectid}

// rootTreeOf returns the tree the root tree's ROOT_ITEM for id roots,
// or false when there is none.
func (f *fsys) rootTreeOf(id uint64) (tree, bool, error) {
	var t tree
	found := false
	err := f.rootTree.each(disk.Key{Objectid: id, Type: disk.RootItemKey}, func(it disk.Item) (bool, error) {
		if it.Key.Objectid != id || it.Key.Type != disk.RootItemKey {
			return false, nil
		}
		ri, err := disk.DecodeRootItem(it.Data)
		if err != nil {
			return false, err
		}
		t, found = tree{f: f, id: id, bytenr: ri.Bytenr, level: ri.Level, gen: ri.Generation}, true
		return false, nil
	})
	return t, found, err
}

// readGlobalRoots reads (and so checks) the root block of each global
// tree, as btrfs_read_roots does: a bad one fails the mount (EIO).
func (f *fsys) readGlobalRoots() error {
	for _, id := range globalTrees {
		t, ok, err := f.rootTreeOf(id)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if _, err := f.readNode(t.bytenr, int(t.level), t.gen, disk.Key{}, false); err != nil {
			return abi.Errorf(abi.ErrnoOf(err), "btrfs: failed to read root %d: %v", int64(id), err)
		}
	}
	return nil
}

// readBlockGroups reads the block group items as btrfs_read_block_groups
// does: from the start of the extent tree (or of the block group tree)
// every item in turn up to the last block group, each block checked; each
// block group must match a chunk of the same start, length and type
// (read_one_block_group: ENOENT for none, EUCLEAN for another type), and
// each chunk must have its block group (check_chunk_block_group_mappings,
// EUCLEAN).
func (f *fsys) readBlockGroups() error {
	id := uint64(disk.ExtentTreeObjectid)
	if f.sb.CompatROFlags&disk.CompatROBlockGroupTree != 0 {
		id = 11
	}
	t, ok, err := f.rootTreeOf(id)
	if err != nil || !ok {
		return err
	}
	seen := make(map[uint64]bool, len(f.chunks))
	// Linux's walk ends at the last block group; the items after it are
	// never read.
	last := uint64(0)
	for _, c := range f.chunks {
		last = max(last, c.Logical)
	}
	err = t.each(disk.Key{Type: disk.BlockGroupItemKey}, func(it disk.Item) (bool, error) {
		if it.Key.Type != disk.BlockGroupItemKey {
			return it.Key.Objectid <= last, nil
		}
		c := f.chunks.find(it.Key.Objectid)
		if c == nil || c.Logical != it.Key.Objectid || c.Length != it.Key.Offset {
			return false, abi.Errorf(abi.ENOENT, "btrfs: logical %d len %d found bg but no related chunk", it.Key.Objectid, it.Key.Offset)
		}
		const typeMask = disk.BlockGroupData | disk.BlockGroupSystem | disk.BlockGroupMetadata
		// CheckItems has checked the item's size.
		if flags := binary.LittleEndian.Uint64(it.Data[16:]); flags&typeMask != c.Type&typeMask {
			return false, abi.Errorf(abi.EUCLEAN, "btrfs: block group %d len %d type flags %#x mismatch with chunk type flags %#x", it.Key.Objectid, it.Key.Offset, flags&typeMask, c.Type&typeMask)
		}
		seen[c.Logical] = true
		return it.Key.Objectid < last, nil
	})
	if err != nil {
		return err
	}
	for _, c := range f.chunks {
		if !seen[c.Logical] {
			return abi.Errorf(abi.EUCLEAN, "btrfs: chunk start=%d len=%d doesn't have corresponding block group", c.Logical, c.Length)
		}
	}
	return nil
}

// devExtentSize is sizeof(struct btrfs_dev_extent): chunk_tree,
// chunk_objectid, chunk_offset, length (u64 each), chunk_tree_uuid.
const devExtentSize = 48

// verifyDevExtents checks the device tree's DEV_EXTENTs of every device
// against the chunks, as btrfs_verify_dev_extents does at mount: each
// names a chunk with a stripe there of its length (verify_one_dev_extent),
// inside the device, after the one before on it; every stripe of every
// chunk has its dev extent. EUCLEAN for any difference.
func (f *fsys) verifyDevExtents() error {
	t, ok, err := f.rootTreeOf(disk.DevTreeObjectid)
	if err != nil || !ok {
		return err
	}
	found := map[uint64]int{} // chunk start: its stripes' dev extents found
	devid, prevEnd := uint64(0), uint64(0)
	err = t.each(disk.Key{Objectid: 1, Type: disk.DevExtentKey}, func(it disk.Item) (bool, error) {
		if it.Key.Type != disk.DevExtentKey {
			return true, nil
		}
		if it.Key.Objectid != devid {
			devid, prevEnd = it.Key.Objectid, 0
		}
		phys := it.Key.Offset
		if len(it.Data) < devExtentSize {
			return false, abi.Errorf(abi.EUCLEAN, "btrfs: dev extent physical offset %d on devid %d: item of %d bytes", phys, devid, len(it.Data))
		}
		logical, length := binary.LittleEndian.Uint64(it.Data[16:]), binary.LittleEndian.Uint64(it.Data[24:])
		if phys < prevEnd {
			return false, abi.Errorf(abi.EUCLEAN, "btrfs: dev extent devid %d physical offset %d overlap with previous dev extent end %d", devid, phys, prevEnd)
		}
		c := f.chunks.find(logical)
		if c == nil || c.Logical != logical {
			return false, abi.Errorf(abi.EUCLEAN, "btrfs: dev extent physical offset %d on devid %d doesn't have corresponding chunk", phys, devid)
		}
		per := c.DevLength()
		if per != length {
			return false, abi.Errorf(abi.EUCLEAN, "btrfs: dev extent physical offset %d on devid %d length doesn't match chunk %d, have %d expect %d", phys, devid, logical, length, per)
		}
		stripe := false
		for _, s := range c.Stripes {
			stripe = stripe || s.Devid == devid && s.Offset == phys
		}
		if !stripe {
			return false, abi.Errorf(abi.EUCLEAN, "btrfs: dev extent physical offset %d on devid %d doesn't have corresponding chunk", phys, devid)
		}
		if phys+length > f.devBytes[devid] || phys+length < phys {
			return false, abi.Errorf(abi.EUCLEAN, "btrfs: dev extent devid %d physical offset %d len %d is beyond device boundary %d", devid, phys, length, f.devBytes[devid])
		}
		found[logical]++
		prevEnd = phys + length
		return true, nil
	})
	if err != nil {
		return err
	}
	for _, c := range f.chunks {
		if found[c.Logical] != len(c.Stripes) {
			return abi.Errorf(abi.EUCLEAN, "btrfs: chunk %d has missing dev extent, have %d expect %d", c.Logical, found[c.Logical], len(c.Stripes))
		}
	}
	return nil
}
