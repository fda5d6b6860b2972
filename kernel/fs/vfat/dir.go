package vfat

import (
	"github.com/lklimg/lklimg/format/fat"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// Directory reads (fs/fat/dir.c). A directory is an array of 32-byte
// entries: the fixed region after the FATs for the root of FAT12 and
// FAT16, a cluster chain otherwise. Its position (cpos) is the byte
// offset of an entry in that array. A name is a run of long-name slots
// and the short entry they belong to; Linux reads them as fat_parse_long
// does, and so does recordScanner: a slot run that is broken (an ordinal
// out of sequence, a checksum that changes) starts over at the next slot
// flagged last, and a run whose checksum does not match the short entry
// is ignored, the short name being shown alone. Linux reads on past a
// 0x00 entry (it is free, like 0xE5), and so does this driver.

// dirScanner yields a directory's 32-byte entries in order.
type dirScanner struct {
	ip   *inode
	runs []run
	cpos int64  // position of the next entry
	buf  []byte // the block read, holding the entries from bpos
	bpos int64  // position of buf[0]
	boff int64  // device offset of buf[0]
}

// dirBlock is how much of the fixed root is read at once.
const dirBlock = 16 << 10

func (ip *inode) scanner(cpos int64) (*dirScanner, error) {
	runs, err := ip.chainShared()
	if err != nil {
		return nil, err
	}
	return &dirScanner{ip: ip, runs: runs, cpos: cpos, bpos: -1}, nil
}

// next returns the entry at s.cpos and its device offset, and moves on;
// ok is false at the end of the directory.
func (s *dirScanner) next() (raw []byte, cpos, devOff int64, ok bool, err error) {
	if s.cpos >= s.ip.size {
		return nil, 0, 0, false, nil
	}
	if s.bpos < 0 || s.cpos < s.bpos || s.cpos >= s.bpos+int64(len(s.buf)) {
		if err := s.fill(); err != nil {
			return nil, 0, 0, false, err
		}
	}
	i := s.cpos - s.bpos
	cpos, devOff = s.cpos, s.boff+i
	s.cpos += fat.DirEntrySize
	return s.buf[i : i+fat.DirEntrySize], cpos, devOff, true, nil
}

// fill reads the block holding s.cpos: its cluster, or a piece of the
// fixed root.
func (s *dirScanner) fill() error {
	f := s.ip.f
	var n, off int64
	if s.ip.fixedRoot() {
		s.bpos = s.cpos &^ (dirBlock - 1)
		n = min(dirBlock, s.ip.size-s.bpos)
		off = int64(f.RootStart)*int64(f.SectorSize) + s.bpos
	} else {
		cs := int64(f.ClusterSize)
		lc := uint32(s.cpos / cs)
		r, ok := findRun(s.runs, lc)
		if !ok {
			return abi.Errorf(abi.EIO, "vfat: directory i_pos %d: no cluster %d", s.ip.ipos, lc)
		}
		s.bpos = int64(lc) * cs
		n = cs
		off = f.ClusterOffset(r.phys + lc - r.log)
	}
	if int64(cap(s.buf)) < n {
		s.buf = make([]byte, n)
	}
	s.buf = s.buf[:n]
	if _, err := f.dev.ReadAt(s.buf, off); err != nil {
		s.bpos = -1
		return abi.Errorf(abi.EIO, "vfat: directory i_pos %d: reading at %d: %v", s.ip.ipos, off, err)
	}
	s.boff = off
	return nil
}

// record is one name of a directory: its short entry, and its long name
// when a valid one goes with it.
type record struct {
	start int64 // position of its first slot (or of the short entry)
	end   int64 // position after the short entry
	ipos  int64 // device offset of the short entry
	de    fat.DirEntry
	long  []uint16 // the long name's units, without the terminator; nil if none
	slots int      // how many slots precede the short entry (0 without a long name)
}

// nextRecord returns the next live name from s (fat_search_long's and
// fat_readdir's loop): deleted and free entries, volume labels and
// broken slot runs are passed over. ok is false at the end.
func (s *dirScanner) nextRecord(r *record) (ok bool, err error) {
	var units [fat.MaxSlots * fat.SlotUnits]uint16
	raw, cpos, devOff, ok, err := s.next()
	for ok && err == nil {
		if raw[0] == fat.DirEntFree || raw[0] == fat.DirEntEnd {
			raw, cpos, devOff, ok, err = s.next()
			continue
		}
		if !fat.IsLongName(raw) {
			if raw[11]&fat.AttrVolumeID != 0 {
				raw, cpos, devOff, ok, err = s.next()
				continue
			}
			*r = record{start: cpos, end: cpos + fat.DirEntrySize, ipos: devOff, de: fat.DecodeDirEntry(raw)}
			return true, nil
		}
		// fat_parse_long: the first slot stored must be flagged last.
		sl := fat.DecodeSlot(raw)
		if !sl.Last || sl.Ord == 0 || int(sl.Ord) > fat.MaxSlots {
			raw, cpos, devOff, ok, err = s.next()
			continue
		}
		start, n, sum := cpos, int(sl.Ord), sl.Checksum
		length := n * fat.SlotUnits
		restart := false
		for k := n; ; {
			k--
			copy(units[k*fat.SlotUnits:], sl.Units[:])
			raw, cpos, devOff, ok, err = s.next()
			if !ok || err != nil {
				return false, err
			}
			if k == 0 {
				break
			}
			if !fat.IsLongName(raw) {
				// Not a long name after all: take this entry as it
				// comes (PARSE_NOT_LONGNAME).
				restart = true
				break
			}
			sl = fat.DecodeSlot(raw)
			if int(sl.Ord) != k || sl.Checksum != sum {
				// Out of sequence: start again from this slot.
				restart = true
				break
			}
		}
		if restart {
			continue
		}
		// raw is the entry after the slots.
		if raw[0] == fat.DirEntFree {
			raw, cpos, devOff, ok, err = s.next()
			continue
		}
		if fat.IsLongName(raw) {
			continue // a new run starts here
		}
		if raw[0] == fat.DirEntEnd || raw[11]&fat.AttrVolumeID != 0 {
			raw, cpos, devOff, ok, err = s.next()
			continue
		}
		*r = record{start: start, end: cpos + fat.DirEntrySize, ipos: devOff, de: fat.DecodeDirEntry(raw)}
		var name [fat.NameLen]byte = r.de.Name
		if fat.Checksum(&name) == sum {
			u := units[:length]
			for i, c := range u {
				if c == 0 {
					u = u[:i]
					break
				}
			}
			r.long = append([]uint16(nil), u...)
			r.slots = n
		}
		return true, nil
	}
	return false, err
}

// isDot reports whether a short entry is "." or "..".
func isDot(de *fat.DirEntry) bool {
	return de.Name == [fat.NameLen]byte{'.', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '} ||
		de.Name == [fat.NameLen]byte{'.', '.', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '}
}

// subdirs counts the directory entries of ip that are directories
// (fat_subdirs): with "." and "..", a directory's link count.
func (ip *inode) subdirs() (uint32, error) {
	s, err := ip.scanner(0)
	if err != nil {
		return 0, err
	}
	var n uint32
	for {
		raw, _, _, ok, err := s.next()
		if err != nil || !ok {
			return n, err
		}
		if raw[0] != fat.DirEntFree && raw[0] != fat.DirEntEnd && !fat.IsLongName(raw) &&
			raw[11]&fat.AttrDirectory != 0 && raw[11]&fat.AttrVolumeID == 0 {
			n++
		}
	}
}

// ReadDirDots lists the directory (fat_readdir) at Linux's positions: an
// entry's position is that of its first slot and its Next the one after
// its short entry. Subdirectories list their own "." and ".." entries
// from the disk; the root, which has none, gets them at 0 and 1, its
// first entry then starting at 2 (Linux's fake_offset).
func (ip *inode) ReadDirDots(pos int64, emit func(vfs.DirEntry) bool) error {
	f := ip.f
	f.mu.RLock()
	defer f.mu.RUnlock()
	cpos := pos
	if ip.ipos == 0 {
		if pos == 0 && !emit(vfs.DirEntry{Name: ".", Ino: ip.ino, Type: abi.DT_DIR, Next: 1}) {
			return nil
		}
		if pos <= 1 && !emit(vfs.DirEntry{Name: "..", Ino: ip.ino, Type: abi.DT_DIR, Next: 2}) {
			return nil
		}
		if pos <= 2 {
			cpos = 0
		}
	}
	if cpos%fat.DirEntrySize != 0 {
		return abi.ENOENT // as fat_readdir refuses a position inside an entry
	}
	s, err := ip.scanner(cpos)
	if err != nil {
		return err
	}
	var r record
	for {
		ok, err := s.nextRecord(&r)
		if err != nil || !ok {
			return err
		}
		name := f.displayName(&r)
		if name == "" {
			continue
		}
		e := vfs.DirEntry{Name: name, Ino: f.inoAt(r.ipos), Type: abi.DT_REG, Next: r.end}
		if r.de.Attr&fat.AttrDirectory != 0 {
			e.Type = abi.DT_DIR
		}
		if name == "." {
			e.Ino = ip.ino
		}
		if !emit(e) {
			return nil
		}
	}
}

// ReadDir is ReadDirDots without "." and ".."; the VFS uses ReadDirDots.
func (ip *inode) ReadDir(pos int64, emit func(vfs.DirEntry) bool) error {
	return ip.ReadDirDots(pos, func(e vfs.DirEntry) bool {
		return e.Name == "." || e.Name == ".." || emit(e)
	})
}

// inoAt returns the inode number of the entry at ipos: its live inode's
// (which may have kept the number of a position it was renamed from),
// else the position's own.
func (f *fsys) inoAt(ipos int64) uint64 {
	f.imu.Lock()
	defer f.imu.Unlock()
	if ip, ok := f.inodes[ipos]; ok {
		return ip.ino
	}
	return inoOf(ipos)
}

// Lookup finds name in the directory (vfat_lookup, fat_search_long):
// the long names and the short names both match, ignoring ASCII case and
// trailing dots.
func (ip *inode) Lookup(name string) (vfs.Inode, error) {
	f := ip.f
	f.mu.RLock()
	defer f.mu.RUnlock()
	r, err := ip.find(name)
	if err != nil {
		return nil, err
	}
	f.imu.Lock()
	child := f.cachedInode(r.ipos)
	f.imu.Unlock()
	if child == nil {
		if child, err = f.readInode(r.ipos, &r.de); err != nil {
			return nil, err
		}
	}
	f.imu.Lock()
	defer f.imu.Unlock()
	if c := f.cachedInode(r.ipos); c != nil {
		child = c // another lookup made it meanwhile
	}
	return f.handout(child), nil
}

// find returns the record of name, or ENOENT: the first record whose
// long or short name matches, through the directory's index. The caller
// holds f.mu.
func (ip *inode) find(name string) (*record, error) {
	f := ip.f
	idx, err := ip.index()
	if err != nil {
		return nil, err
	}
	want := f.fold(stripTail(name))
	if f.msdos {
		short, err := f.msdosFormat(name)
		if err != nil {
			return nil, abi.ENOENT
		}
		want = msdosKey(short)
	}
	pos, ok := idx.byName[want]
	if !ok {
		return nil, abi.ENOENT
	}
	s, err := ip.scanner(pos)
	if err != nil {
		return nil, err
	}
	r := new(record)
	if ok, err := s.nextRecord(r); err != nil || !ok || r.start != pos {
		if err == nil {
			err = abi.Errorf(abi.EIO, "vfat: directory i_pos %d: no entry at %d where its index has %q", ip.ipos, pos, name)
		}
		return nil, err
	}
	return r, nil
}

// FoldName is the dentry cache's key of a name in a FAT directory
// (vfat_hashi): names that Lookup finds as one are one.
func (ip *inode) FoldName(name string) string {
	if ip.f.msdos {
		if short, err := ip.f.msdosFormat(name); err == nil {
			return msdosKey(short)
		}
		return name
	}
	return ip.f.fold(stripTail(name))
}
