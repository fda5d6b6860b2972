package vfat

import (
	"github.com/lklimg/lklimg/format/fat"
)

// A directory's index, built by one scan the first time a lookup or a
// change needs it and kept in step by every change after: the names it
// holds (folded, long and short), the 8.3 names in use, and where free
// entries may start. Linux searches a FAT directory from its start for
// each of these (fat_search_long, fat_scan, fat_add_entries), which
// makes filling a directory of n names cost n² entry reads; the index
// answers each at once and gives the same answers: the first record of a
// name in directory order, the first run of free entries.
type dirIndex struct {
	byName map[string]int64            // folded name -> the start of its first record
	shorts map[[fat.NameLen]byte]int32 // 8.3 names in use, with their counts
	// firstFree is a position with no free entry before it: the search
	// for free entries starts there.
	firstFree int64
	// shared is set when two records answer to one name, which only a
	// damaged directory (or one written by another system) holds.
	shared bool
}

// index returns the directory's index, building it on first use. The
// caller holds f.mu exclusively, or shared (ip.rmu orders the builders).
func (dir *inode) index() (*dirIndex, error) {
	dir.rmu.Lock()
	defer dir.rmu.Unlock()
	if dir.idx != nil {
		return dir.idx, nil
	}
	idx := &dirIndex{byName: map[string]int64{}, shorts: map[[fat.NameLen]byte]int32{}, firstFree: -1}
	runs, err := dir.chain()
	if err != nil {
		return nil, err
	}
	s := &dirScanner{ip: dir, runs: runs, bpos: -1}
	for {
		raw, pos, _, ok, err := s.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		if idx.firstFree < 0 && (raw[0] == fat.DirEntFree || raw[0] == fat.DirEntEnd) {
			idx.firstFree = pos
		}
		if raw[0] != fat.DirEntFree && raw[0] != fat.DirEntEnd && !fat.IsLongName(raw) && raw[11]&fat.AttrVolumeID == 0 {
			idx.shorts[[fat.NameLen]byte(raw[:fat.NameLen])]++
		}
	}
	if idx.firstFree < 0 {
		idx.firstFree = dir.size
	}
	s = &dirScanner{ip: dir, runs: runs, bpos: -1}
	var r record
	for {
		ok, err := s.nextRecord(&r)
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		idx.addNames(dir.f, &r)
	}
	dir.idx = idx
	return idx, nil
}

// addNames indexes a record's names, unless an earlier record has them.
func (idx *dirIndex) addNames(f *fsys, r *record) {
	if isDot(&r.de) {
		return
	}
	for _, n := range recordNames(f, r) {
		if old, ok := idx.byName[n]; !ok {
			idx.byName[n] = r.start
		} else if old != r.start {
			idx.shared = true
			idx.byName[n] = min(old, r.start)
		}
	}
}

// recordNames returns the folded names a record answers to.
func recordNames(f *fsys, r *record) []string {
	if f.msdos {
		return []string{msdosKey(r.de.Name)}
	}
	var names []string
	if short := f.shortName(&r.de); short != "" {
		names = append(names, f.fold(short))
	}
	if r.long != nil {
		names = append(names, f.fold(f.longName(r.long)))
	}
	return names
}

// added records a record just written into the directory. The caller
// holds f.mu exclusively.
func (dir *inode) added(r *record) {
	idx := dir.idx
	if idx == nil {
		return
	}
	idx.addNames(dir.f, r)
	idx.shorts[r.de.Name]++
	if r.start <= idx.firstFree {
		idx.firstFree = r.end
	}
}

// removed forgets a record just freed. In a directory where two
// records share a name, the index is built again when next needed: the
// other record then answers to it.
func (dir *inode) removed(r *record) {
	idx := dir.idx
	if idx == nil {
		return
	}
	if idx.shared {
		dir.idx = nil
		return
	}
	for _, n := range recordNames(dir.f, r) {
		if idx.byName[n] == r.start {
			delete(idx.byName, n)
		}
	}
	if idx.shorts[r.de.Name]--; idx.shorts[r.de.Name] <= 0 {
		delete(idx.shorts, r.de.Name)
	}
	idx.firstFree = min(idx.firstFree, r.start)
}
