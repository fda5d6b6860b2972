package vfat

import (
	"github.com/lklimg/lklimg/format/fat"
	"github.com/lklimg/lklimg/kernel/abi"
)

// Directory entries written (dir.c: fat_add_entries, fat_remove_entries;
// inode.c: fat_write_inode). The caller holds f.mu exclusively.

// maxDirSize is the largest directory (FAT_MAX_DIR_SIZE): 65536 entries.
const maxDirSize = 65536 * fat.DirEntrySize

// devOffset returns the device offset of the directory's entry at cpos.
func (dir *inode) devOffset(cpos int64) (int64, error) {
	f := dir.f
	if dir.fixedRoot() {
		return int64(f.RootStart)*int64(f.SectorSize) + cpos, nil
	}
	runs, err := dir.chain()
	if err != nil {
		return 0, err
	}
	cs := int64(f.ClusterSize)
	r, ok := findRun(runs, uint32(cpos/cs))
	if !ok {
		return 0, abi.Errorf(abi.EIO, "vfat: directory i_pos %d: no cluster at %d", dir.ipos, cpos)
	}
	return f.ClusterOffset(r.phys+uint32(cpos/cs)-r.log) + cpos%cs, nil
}

// writeRaw writes 32-byte entries at the directory's position cpos on,
// each where its cluster puts it: one device write per cluster.
func (dir *inode) writeRaw(cpos int64, ents []byte) error {
	cs := int64(dir.f.ClusterSize)
	for i := int64(0); i < int64(len(ents)); {
		pos := cpos + i
		n := min(int64(len(ents))-i, cs-pos%cs) // to the cluster's end
		if dir.fixedRoot() {
			n = int64(len(ents)) - i // contiguous sectors
		}
		off, err := dir.devOffset(pos)
		if err != nil {
			return err
		}
		if _, err := dir.f.wdev.WriteAt(ents[i:i+n], off); err != nil {
			return abi.Errorf(abi.EIO, "vfat: writing a directory entry at %d: %v", off, err)
		}
		i += n
	}
	return nil
}

// writeInode writes the inode's short entry back where it is
// (fat_write_inode). The root has none.
func (ip *inode) writeInode() error {
	if ip.ipos == 0 || ip.unlinked {
		return nil
	}
	var b [fat.DirEntrySize]byte
	de := ip.de
	if ip.dir {
		de.FileSize = 0
	} else {
		de.FileSize = uint32(ip.size)
	}
	de.Encode(b[:])
	if _, err := ip.f.wdev.WriteAt(b[:], ip.ipos); err != nil {
		return abi.Errorf(abi.EIO, "vfat: writing the entry at %d: %v", ip.ipos, err)
	}
	return nil
}

// addEntries writes a name's slots and its short entry into the directory
// (fat_add_entries): in the first run of free entries long enough, or at
// the end after the free entries there, the directory growing by
// zero-filled clusters. It returns the short entry's position and device
// offset. ENOSPC when the fixed root is full or the directory would pass
// 65536 entries.
func (dir *inode) addEntries(w *fatReader, ents []byte) (cpos, ipos int64, err error) {
	f := dir.f
	need := int64(len(ents) / fat.DirEntrySize)
	idx, err := dir.index()
	if err != nil {
		return 0, 0, err
	}
	// No run of free entries starts before idx.firstFree.
	s, err := dir.scanner(idx.firstFree)
	if err != nil {
		return 0, 0, err
	}
	runStart, runLen := int64(-1), int64(0)
	for {
		raw, pos, _, ok, err := s.next()
		if err != nil {
			return 0, 0, err
		}
		if !ok {
			break
		}
		if pos+fat.DirEntrySize >= maxDirSize {
			return 0, 0, abi.Errorf(abi.ENOSPC, "vfat: directory i_pos %d holds the most entries FAT allows", dir.ipos)
		}
		if raw[0] != fat.DirEntFree && raw[0] != fat.DirEntEnd {
			runStart, runLen = -1, 0
			continue
		}
		if runStart < 0 {
			runStart = pos
		}
		if runLen++; runLen == need {
			return dir.placeEntries(runStart, ents)
		}
	}
	if dir.fixedRoot() {
		return 0, 0, abi.Errorf(abi.ENOSPC, "vfat: the root directory is full (%d entries)", f.RootEntries)
	}
	if runStart < 0 {
		runStart = dir.size
	}
	more := (need-runLen)*fat.DirEntrySize + int64(f.ClusterSize) - 1
	clusters := int(more / int64(f.ClusterSize))
	if dir.size+int64(clusters)*int64(f.ClusterSize) > maxDirSize {
		return 0, 0, abi.Errorf(abi.ENOSPC, "vfat: directory i_pos %d would pass the most entries FAT allows", dir.ipos)
	}
	got, err := dir.grow(w, clusters)
	if err != nil {
		return 0, 0, err
	}
	if err := f.zeroClusters(got); err != nil {
		return 0, 0, err
	}
	dir.size += int64(clusters) * int64(f.ClusterSize)
	return dir.placeEntries(runStart, ents)
}

// placeEntries writes ents at cpos, indexes the new record, and returns
// the short entry's place.
func (dir *inode) placeEntries(cpos int64, ents []byte) (int64, int64, error) {
	if err := dir.writeRaw(cpos, ents); err != nil {
		return 0, 0, err
	}
	s, err := dir.scanner(cpos)
	if err != nil {
		return 0, 0, err
	}
	var r record
	if ok, err := s.nextRecord(&r); err != nil || !ok || r.start != cpos {
		if err == nil {
			err = abi.Errorf(abi.EIO, "vfat: directory i_pos %d: the entries written at %d do not read back", dir.ipos, cpos)
		}
		return 0, 0, err
	}
	dir.added(&r)
	return r.end - fat.DirEntrySize, r.ipos, nil
}

// zeroClusters writes zeros over the clusters.
func (f *fsys) zeroClusters(cl []uint32) error {
	zero := make([]byte, f.ClusterSize)
	for _, c := range cl {
		if _, err := f.wdev.WriteAt(zero, f.ClusterOffset(c)); err != nil {
			return abi.Errorf(abi.EIO, "vfat: zeroing cluster %d: %v", c, err)
		}
	}
	return nil
}

// removeRecord marks a name's short entry and then its slots free
// (fat_remove_entries): only their first byte changes.
func (dir *inode) removeRecord(r *record) error {
	dir.removed(r)
	free := []byte{fat.DirEntFree}
	for pos := r.end - fat.DirEntrySize; pos >= r.start; pos -= fat.DirEntrySize {
		off, err := dir.devOffset(pos)
		if err != nil {
			return err
		}
		if _, err := dir.f.wdev.WriteAt(free, off); err != nil {
			return abi.Errorf(abi.EIO, "vfat: freeing a directory entry at %d: %v", off, err)
		}
	}
	return nil
}

// buildEntries returns the slots and short entry of a new name in dir,
// the short entry stamped with now and holding attr and cluster
// (vfat_build_slots).
func (dir *inode) buildEntries(name string, attr uint8, cluster uint32, now abi.Timespec) ([]byte, fat.DirEntry, error) {
	f := dir.f
	if f.msdos {
		// An 8.3 name alone (msdos_add_entry).
		short, err := f.msdosFormat(name)
		if err != nil {
			return nil, fat.DirEntry{}, err
		}
		de := fat.DirEntry{Name: short, Attr: attr}
		de.SetCluster(f.Bits, cluster)
		f.stamp(&de, now, true)
		ents := make([]byte, fat.DirEntrySize)
		de.Encode(ents)
		return ents, de, nil
	}
	units, err := f.toUnits(name)
	if err != nil {
		return nil, fat.DirEntry{}, err
	}
	short, lcase, alone, err := dir.makeShortName(units)
	if err != nil {
		return nil, fat.DirEntry{}, err
	}
	var slots []fat.Slot
	if !alone {
		if slots, err = fat.LongNameSlots(units, fat.Checksum(&short)); err != nil {
			return nil, fat.DirEntry{}, err
		}
	}
	de := fat.DirEntry{Name: short, Attr: attr, NTRes: lcase}
	de.SetCluster(f.Bits, cluster)
	f.stamp(&de, now, true)
	ents := make([]byte, (len(slots)+1)*fat.DirEntrySize)
	for i := range slots {
		slots[i].Encode(ents[i*fat.DirEntrySize:])
	}
	de.Encode(ents[len(slots)*fat.DirEntrySize:])
	return ents, de, nil
}

// stamp sets a new entry's times to t: write and creation time (the
// latter in 10 ms steps), access date.
func (f *fsys) stamp(de *fat.DirEntry, t abi.Timespec, create bool) {
	date, tm, cs := fat.FromUnix(t.Sec, t.Nsec, f.opts.offsetSeconds())
	de.WrtDate, de.WrtTime, de.LstAccDate = date, tm, date
	if create {
		de.CrtDate, de.CrtTime, de.CrtTimeTenth = date, tm, cs
	}
}

// setMtime sets an entry's write time (mtime and ctime, in 2 s steps).
func (f *fsys) setMtime(de *fat.DirEntry, t abi.Timespec) {
	de.WrtDate, de.WrtTime, _ = fat.FromUnix(t.Sec, t.Nsec, f.opts.offsetSeconds())
}

// setAtime sets an entry's access date.
func (f *fsys) setAtime(de *fat.DirEntry, t abi.Timespec) {
	de.LstAccDate, _, _ = fat.FromUnix(t.Sec, t.Nsec, f.opts.offsetSeconds())
}

// touch stamps a directory's write time, and its access date with atime
// (the parent of a new, removed or moved name, as fat_update_time and
// fat_remove_entries do); the root never changes its times.
func (dir *inode) touch(t abi.Timespec, atime bool) error {
	if dir.ipos == 0 {
		return nil
	}
	dir.f.setMtime(&dir.de, t)
	if atime {
		dir.f.setAtime(&dir.de, t)
	}
	return dir.writeInode()
}
