package ext4

import (
	"cmp"
	"slices"
	"sort"

	disk "github.com/lklimg/lklimg/format/ext4"
	"github.com/lklimg/lklimg/kernel/abi"
)

// checkSystemZone sets up the system zone (ext4_setup_system_zone,
// block_validity, on by default), which iget and the block maps check
// file blocks against, and does its part that can refuse a mount: the
// journal inode of a filesystem with has_journal is read even when the
// journal is not loaded (noload), to protect its blocks, and a journal
// inode that cannot be read (an illegal inode number, a deleted or
// corrupt inode) fails the mount with "failed to initialize system
// zone"; so does a range that starts inside one added before it (a
// bitmap on the superblock, an inode table over a bitmap, a journal
// block on either), as add_system_zone refuses it with EFSCORRUPTED.
func (f *fsys) checkSystemZone() error {
	sb := f.Super
	z := f.metadataZone()
	err := zoneOverlap(z)
	if err == nil && sb.HasCompat(disk.CompatHasJournal) && sb.SJournalInum != 0 {
		// ext4_protect_reserved_inode: the journal's blocks are the
		// system zone's too, but for the journal; added last.
		var j *inode
		if j, err = f.igetFlags(sb.SJournalInum, igetSpecial); err == nil {
			var runs []run
			if runs, err = j.blockRuns(); err == nil {
				for _, r := range runs {
					z = append(z, zoneRange{start: r.pblk, end: r.pblk + r.n, ino: sb.SJournalInum})
				}
				if err = zoneOverlap(z); err != nil {
					// The error ext4_protect_reserved_inode reports.
					f.log.Printf("EXT4-fs error (device %s): ext4_protect_reserved_inode: %v", f.dev.Name(), err)
				}
			}
		}
		if err != nil {
			err = abi.Errorf(abi.ErrnoOf(err), "journal inode %d: %v", sb.SJournalInum, err)
		}
	}
	if err != nil {
		f.log.Printf("EXT4-fs (%s): failed to initialize system zone (%d)", f.dev.Name(), -int(abi.ErrnoOf(err)))
		return abi.Errorf(abi.ErrnoOf(err), "ext4: failed to initialize system zone: %v", err)
	}
	f.sysZone = z
	f.sortSystemZone()
	return nil
}

// zoneOverlap is EUCLEAN when a range of z starts inside one before it
// (firstOverlap).
func zoneOverlap(z []zoneRange) error {
	r, ok := firstOverlap(z)
	if !ok {
		return nil
	}
	if r.ino != 0 {
		return abi.Errorf(abi.EUCLEAN, "blocks %d-%d from inode %d overlap system zone", r.start, r.end-1, r.ino)
	}
	return abi.Errorf(abi.EUCLEAN, "blocks %d-%d overlap the system zone", r.start, r.end-1)
}

// zoneRange is a struct ext4_system_zone: blocks [start, end) no file
// may map, but for inode ino's own (the journal's; 0: none).
type zoneRange struct {
	start, end uint64
	ino        uint32
}

// metadataZone lists the metadata blocks in the order
// ext4_setup_system_zone adds them (block_validity, on by default): for
// each group, its superblock and descriptor blocks if it is one of
// groups 0 to 4 or a flex group's first and has a superblock copy (not
// the reserved GDT blocks), then its block bitmap, inode bitmap and
// inode table.
func (f *fsys) metadataZone() []zoneRange {
	sb := f.Super
	flex := max(f.FlexSize(), 1)
	dpb := uint64(f.DescPerBlock)
	var z []zoneRange
	for g := range f.Groups {
		if sb.HasSuper(uint64(g)) && (g < 5 || uint32(g)%flex == 0) {
			// ext4_bg_num_gdb.
			gdb := f.DescBlocks()
			if sb.HasIncompat(disk.IncompatMetaBG) && uint64(g)/dpb >= uint64(sb.SFirstMetaBG) {
				gdb = 0
				if r := uint64(g) % dpb; r == 0 || r == 1 || r == dpb-1 {
					gdb = 1
				}
			}
			first := f.GroupFirst(uint32(g))
			z = append(z, zoneRange{start: first, end: first + gdb + 1})
		}
		d := &f.Groups[g]
		z = append(z,
			zoneRange{start: d.BgBlockBitmap, end: d.BgBlockBitmap + 1},
			zoneRange{start: d.BgInodeBitmap, end: d.BgInodeBitmap + 1},
			zoneRange{start: d.BgInodeTable, end: d.BgInodeTable + f.InodeTableBlocks})
	}
	return z
}

// firstOverlap returns the first range of z (in z's order, the order
// of insertion) whose start lies inside a range inserted before it:
// add_system_zone's search down its tree of ranges ends on such a range
// ("Unexpected overlap of system zones", EFSCORRUPTED). A range that
// starts before an earlier one and runs into it is no overlap there.
// Sorted by start (then by insertion), the range before a range in that
// order is the one its start could lie in.
func firstOverlap(z []zoneRange) (zoneRange, bool) {
	idx := make([]int, len(z))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		return cmp.Or(cmp.Compare(z[a].start, z[b].start), cmp.Compare(a, b))
	})
	first := len(z)
	for k := 1; k < len(idx); k++ {
		p, i := idx[k-1], idx[k]
		if p < i && z[i].start < z[p].end {
			first = min(first, i)
		}
	}
	if first == len(z) {
		return zoneRange{}, false
	}
	return z[first], true
}

// sortSystemZone sorts the zone and merges ranges that touch or overlap
// and belong to the same inode (add_system_zone).
func (f *fsys) sortSystemZone() {
	z := f.sysZone
	slices.SortFunc(z, func(a, b zoneRange) int { return cmp.Compare(a.start, b.start) })
	out := z[:0]
	for _, r := range z {
		if n := len(out); n > 0 && out[n-1].ino == r.ino && r.start <= out[n-1].end {
			out[n-1].end = max(out[n-1].end, r.end)
			continue
		}
		out = append(out, r)
	}
	f.sysZone = out
}

// blockValid is ext4_inode_block_valid for inode ino: n blocks from start
// lie in the filesystem past the superblock's block and overlap no
// metadata but ino's own.
func (f *fsys) blockValid(start, n uint64, ino uint32) bool {
	if start <= uint64(f.Super.SFirstDataBlock) || start+n < start || start+n > f.Super.SBlocksCount {
		return false
	}
	z := f.sysZone
	i := sort.Search(len(z), func(i int) bool { return z[i].end > start })
	// The first range ending past start decides, as the rb-tree
	// search does; ranges of different inodes may overlap.
	return i == len(z) || z[i].start >= start+n || z[i].ino != 0 && z[i].ino == ino
}
