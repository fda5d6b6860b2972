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
// journal inode of a
// filesystem with has_journal is read even when the journal is not loaded
// (noload), to protect its blocks, and a journal inode that cannot be read
// (an illegal inode number, a deleted or corrupt inode) fails the mount
// with "failed to initialize system zone".
func (f *fsys) checkSystemZone() error {
	sb := f.Super
	f.setupSystemZone()
	if !sb.HasCompat(disk.CompatHasJournal) || sb.SJournalInum == 0 {
		return nil
	}
	j, err := f.igetFlags(sb.SJournalInum, igetSpecial)
	if err == nil {
		var runs []run
		if runs, err = j.blockRuns(); err == nil {
			// ext4_protect_reserved_inode: the journal's blocks
			// are the system zone's too, but for the journal.
			for _, r := range runs {
				f.sysZone = append(f.sysZone, zoneRange{start: r.pblk, end: r.pblk + r.n, ino: sb.SJournalInum})
			}
			f.sortSystemZone()
		}
	}
	if err != nil {
		f.log.Printf("EXT4-fs (%s): failed to initialize system zone: journal inode %d: %v",
			f.dev.Name(), sb.SJournalInum, err)
		return abi.Errorf(abi.ErrnoOf(err), "ext4: failed to initialize system zone: journal inode %d: %v",
			sb.SJournalInum, err)
	}
	return nil
}

// zoneRange is a struct ext4_system_zone: blocks [start, end) no file
// may map, but for inode ino's own (the journal's; 0: none).
type zoneRange struct {
	start, end uint64
	ino        uint32
}

// setupSystemZone collects the metadata blocks as
// ext4_setup_system_zone does (block_validity, on by default): the
// superblock and descriptor blocks of groups 0 to 4 and of each flex
// group's first group that have a superblock copy (not the reserved GDT
// blocks), and every group's bitmaps and inode table.
func (f *fsys) setupSystemZone() {
	sb := f.Super
	flex := max(f.FlexSize(), 1)
	dpb := uint64(f.DescPerBlock)
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
			f.sysZone = append(f.sysZone, zoneRange{start: first, end: first + gdb + 1})
		}
		d := &f.Groups[g]
		f.sysZone = append(f.sysZone,
			zoneRange{start: d.BgBlockBitmap, end: d.BgBlockBitmap + 1},
			zoneRange{start: d.BgInodeBitmap, end: d.BgInodeBitmap + 1},
			zoneRange{start: d.BgInodeTable, end: d.BgInodeTable + f.InodeTableBlocks})
	}
	f.sortSystemZone()
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
