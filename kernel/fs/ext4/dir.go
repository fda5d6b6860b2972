package ext4

import (
	"encoding/binary"
	"errors"
	"sync"

	disk "github.com/lklimg/lklimg/format/ext4"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// verifyDirBlock checks a directory block's checksum with metadata_csum:
// the dx checksum for htree root and node blocks, else the dirent tail,
// crc32c of the block before the tail seeded per inode
// (ext4_dirblock_csum_verify). Errors: EBADMSG (EFSBADCRC) for a bad or
// missing checksum, as ext4_read_dirblock and __ext4_find_entry give it.
func (ip *inode) verifyDirBlock(b []byte, lblk uint64) error {
	if !ip.f.Super.MetadataCsum() {
		return nil
	}
	if ip.isIndexed() {
		if co, ok := disk.DxCountOffset(b, ip.f.BlockSize); ok && (lblk == 0 || co == disk.DxNodeCountOffset) {
			return ip.verifyDxCsum(b, co, lblk)
		}
	}
	if !disk.IsDirTail(b) {
		return abi.Errorf(abi.EFSBADCRC, "ext4: inode %d: directory block %d: no space for directory leaf checksum", ip.ino, lblk)
	}
	n := len(b) - disk.DirTailSize
	want := disk.Csum32(ip.f.CrcTab, ip.csumSeed, b[:n])
	if got := binary.LittleEndian.Uint32(b[n+8:]); got != want {
		return abi.Errorf(abi.EFSBADCRC, "ext4: inode %d: directory block %d: bad checksum %#08x, want %#08x", ip.ino, lblk, got, want)
	}
	return nil
}

// dirBlock reads logical block lblk of the directory into buf and checks
// its checksum; ok is false for a hole. A block of an extent flagged
// unwritten (which no directory should have) is read all the same, as
// ext4_bread reads it: it holds the directory's entries.
func (ip *inode) dirBlock(runs []run, lblk uint64, buf []byte) (ok bool, err error) {
	p := pblkOf(runs, lblk)
	if p == 0 {
		return false, nil
	}
	if err := ip.f.readBlock(buf, p); err != nil {
		return false, abi.Errorf(abi.EIO, "ext4: inode %d: directory block %d: %v", ip.ino, lblk, err)
	}
	return true, ip.verifyDirBlock(buf, lblk)
}

// dirBlocks is the number of blocks of the directory.
func (ip *inode) dirBlocks() uint64 {
	return (uint64(ip.size) + uint64(ip.f.BlockSize) - 1) >> ip.f.BlockBits
}

// dirBlockNumbers yields the mapped logical blocks of the directory from
// first on, skipping holes without visiting them, so that a damaged i_size
// cannot make a scan long.
func (ip *inode) dirBlockNumbers(runs []run, first uint64) func(yield func(uint64) bool) {
	return func(yield func(uint64) bool) {
		end := ip.dirBlocks()
		for i := findRun(runs, first); i < len(runs); i++ {
			r := runs[i]
			for b := max(r.lblk, first); b < r.lblk+r.n && b < end; b++ {
				if !yield(b) {
					return
				}
			}
			if r.lblk+r.n >= end {
				return
			}
		}
	}
}

// dirErr names the directory and block in a parse error.
func (ip *inode) dirErr(lblk uint64, err error) error {
	return abi.Errorf(abi.EUCLEAN, "ext4: inode %d: directory block %d: %v", ip.ino, lblk, err)
}

// checkEntry applies the checks on an entry's inode number.
func (ip *inode) checkEntry(lblk uint64, off int, d disk.Dirent) error {
	if d.Inode > ip.f.Super.SInodesCount {
		return abi.Errorf(abi.EUCLEAN, "ext4: inode %d: directory block %d: entry at offset %d: inode out of bounds (%d)",
			ip.ino, lblk, off, d.Inode)
	}
	return nil
}

// ReadDir emits the directory's entries from position pos (ext4_readdir),
// "." and ".." left out: in hash order, positions being hash2pos values,
// when Linux reads the directory that way (dir_index, and the directory
// indexed, one block long or inline), else in block order, positions being
// byte offsets (shifted as ext4_read_inline_dir does for an inline
// directory). Each entry's Next is the position of the next entry Linux
// would emit, or where its listing ends, as getdents64 reports d_off.
// Errors: ENOKEY for an encrypted casefolded directory, EIO from the
// device; in hash order EBADMSG for a block failing its checksum and
// EUCLEAN for a damaged index or a hole (ext4_dx_readdir fails there).
// Damaged entries and, in block order, blocks failing their checksum are
// skipped and logged, as ext4_readdir skips them.
func (di dirInode) ReadDir(pos int64, emit func(vfs.DirEntry) bool) error {
	return di.readDir(pos, false, emit)
}

// ReadDirDots is ReadDir with "." and ".." where Linux lists them: first
// in block order; by their hashes in hash order (at hashes 0 and 2 in an
// indexed directory, from the dx_root), so that d_off values are Linux's.
func (di dirInode) ReadDirDots(pos int64, emit func(vfs.DirEntry) bool) error {
	return di.readDir(pos, true, emit)
}

// dirEmitter emits entries each with the position of the next one
// emitted, as filldir64 writes d_off when the next record comes, and the
// last with the position the listing ends at.
type dirEmitter struct {
	emit    func(vfs.DirEntry) bool
	pending vfs.DirEntry
	have    bool
}

// add queues an entry at position pos; false means emit refused the
// previous one and the listing stops.
func (e *dirEmitter) add(pos int64, de vfs.DirEntry) bool {
	if e.have {
		e.pending.Next = pos
		if !e.emit(e.pending) {
			e.have = false
			return false
		}
	}
	e.pending, e.have = de, true
	return true
}

// end emits the last entry with the end position; false as for add.
func (e *dirEmitter) end(pos int64) bool {
	if !e.have {
		return true
	}
	e.have = false
	e.pending.Next = pos
	return e.emit(e.pending)
}

// direntOf is the vfs.DirEntry of an entry with its user-visible name.
func direntOf(name string, ino uint32, ftype uint8) vfs.DirEntry {
	return vfs.DirEntry{Name: name, Ino: uint64(ino), Type: abi.FtypeToDT(ftype)}
}

func (di dirInode) readDir(pos int64, dots bool, emit func(vfs.DirEntry) bool) error {
	defer di.f.rlock()()
	ip := di.inode
	if pos < 0 {
		return abi.EINVAL
	}
	if err := ip.fscryptPrepareDir(); err != nil {
		return err
	}
	if ip.isEncrypted() && ip.isCasefolded() {
		// Encrypted and casefolded names keep their hash in the entry
		// (dirdata), which this driver does not read.
		return abi.Errorf(abi.ENOKEY, "ext4: inode %d: encrypted casefolded directory", ip.ino)
	}
	em := &dirEmitter{emit: emit}
	if ip.usesHashOrder() {
		if err := ip.readDirHashOrder(pos, dots, em); err != disk.ErrBadDx {
			return err
		}
	}
	if ip.flags&disk.InodeInlineDataFl != 0 {
		return ip.readInlineDir(pos, dots, em)
	}
	runs, err := ip.blockRuns()
	if err != nil {
		return err
	}
	f := ip.f
	filetype := f.Super.HasIncompat(disk.IncompatFiletype)
	buf := f.getBlock()
	defer f.putBlock(buf)
	// Damage neither ends nor fails the listing: as ext4_readdir does,
	// a block that fails its checksum is skipped, and so is the rest of
	// a block after a bad entry, the damage going to the kernel's log.
	first := uint64(pos) >> f.BlockBits
	for lblk := range ip.dirBlockNumbers(runs, first) {
		ok, err := ip.dirBlock(runs, lblk, buf)
		if err != nil && !isDamage(err) {
			return err
		}
		if err != nil {
			f.logError(err)
			continue
		}
		if !ok {
			continue
		}
		base := int64(lblk) << f.BlockBits
		stop := false
		var entErr, nameErr error
		nameOff := 0
		perr := disk.ParseDirBlock(buf, f.BlockSize, filetype, func(off int, d disk.Dirent) bool {
			if base+int64(off) < pos || d.Inode == 0 || !dots && disk.IsDot(d.Name) {
				return true
			}
			if entErr = ip.checkEntry(lblk, off, d); entErr != nil {
				return false
			}
			name, err := ip.userName(d.Name, 0, 0)
			if err != nil {
				nameErr, nameOff = ip.dirErr(lblk, err), off
				return false
			}
			stop = !em.add(base+int64(off), direntOf(name, d.Inode, d.Ftype))
			return !stop
		})
		if stop {
			return nil
		}
		if nameErr != nil {
			// ext4_readdir fails on a name fscrypt cannot show.
			em.end(base + int64(nameOff))
			return nameErr
		}
		if entErr != nil {
			f.logError(entErr)
		} else if perr != nil {
			f.logError(ip.dirErr(lblk, perr))
		}
	}
	// ext4_readdir walks on to i_size, its position at the end.
	em.end(max(int64(ip.size), pos))
	return nil
}

// isDamage reports whether err is damage found in a structure (EUCLEAN,
// or EBADMSG for a bad checksum) rather than a failure to read it.
func isDamage(err error) bool {
	return errors.Is(err, abi.EFSCORRUPTED) || errors.Is(err, abi.EFSBADCRC)
}

// logError writes damage the driver read past to the kernel's log, as
// ext4_error_inode does where Linux goes on without failing the call.
func (f *fsys) logError(err error) {
	f.log.Printf("EXT4-fs error (device %s): %v", f.dev.Name(), err)
}

// Lookup finds name in the directory (ext4_lookup): through the htree index
// when the directory has one, else by a linear scan. Errors: ENOENT,
// EUCLEAN for a damaged directory, and the errors of reading the inode.
func (di dirInode) Lookup(name string) (vfs.Inode, error) {
	defer di.f.rlock()()
	ip := di.inode
	if len(name) == 0 || len(name) > abi.NAME_MAX {
		return nil, abi.ENOENT
	}
	if err := ip.fscryptPrepareDir(); err != nil {
		return nil, err
	}
	if ip.isEncrypted() && ip.isCasefolded() {
		return nil, abi.Errorf(abi.ENOKEY, "ext4: inode %d: encrypted casefolded directory", ip.ino)
	}
	var ino uint32
	var err error
	switch {
	case ip.flags&disk.InodeInlineDataFl != 0:
		ino, err = ip.lookupInline(name)
	case ip.isIndexed() && !ip.isEncrypted():
		// A no-key name's hash is not the entry's hash of its
		// ciphertext for long names: scan instead.
		ino, err = ip.dxLookup(name)
		if err == disk.ErrBadDx {
			ino, err = ip.lookupLinear(name)
		}
	default:
		ino, err = ip.lookupLinear(name)
	}
	if err != nil {
		return nil, err
	}
	// ext4_lookup: only the root and inodes from s_first_ino on may be
	// linked from a directory (ext4_valid_inum).
	if ino != disk.RootIno && ino < ip.f.Super.SFirstIno {
		return nil, abi.Errorf(abi.EUCLEAN, "ext4: inode %d: lookup %q: bad inode number %d", ip.ino, name, ino)
	}
	child, err := ip.f.iget(ino)
	if errors.Is(err, abi.ESTALE) {
		// ext4_lookup: an entry naming an unlinked inode is damage.
		return nil, abi.Errorf(abi.EUCLEAN, "ext4: inode %d: lookup %q: deleted inode referenced: %d", ip.ino, name, ino)
	}
	if err != nil {
		return nil, err
	}
	// ext4_lookup: "Inconsistent encryption contexts".
	if (child.isDir() || child.isLnk()) && !ip.fscryptPermitted(child) {
		return nil, abi.Errorf(abi.EPERM, "ext4: inode %d: lookup %q: inconsistent encryption contexts: %d/%d", ip.ino, name, ip.ino, ino)
	}
	return child.handOut(), nil
}

// lookupLinear scans the blocks of the directory for name. Like
// ext4_find_entry it starts at the block where the previous lookup
// succeeded (i_dir_start_lookup) and wraps around, so that looking up the
// names in the order readdir returned them reads each block about once.
func (ip *inode) lookupLinear(name string) (uint32, error) {
	runs, err := ip.blockRuns()
	if err != nil {
		return 0, err
	}
	buf := ip.f.getBlock()
	defer ip.f.putBlock(buf)
	start := ip.lookupStart.Load()
	slot := ip.f.dirSlot()
	search := func(lblk uint64) (uint32, error) {
		if ino, hit, err := slot.search(ip, lblk, name); hit {
			if ino != 0 {
				ip.lookupStart.Store(lblk)
			}
			return ino, err
		}
		ok, err := ip.dirBlock(runs, lblk, buf)
		if err != nil || !ok {
			return 0, err
		}
		slot.store(ip.ino, lblk, buf)
		ino, err := ip.searchDirBlock(buf, lblk, name)
		if ino != 0 {
			ip.lookupStart.Store(lblk)
		}
		return ino, err
	}
	for lblk := range ip.dirBlockNumbers(runs, start) {
		if ino, err := search(lblk); err != nil || ino != 0 {
			return ino, err
		}
	}
	for lblk := range ip.dirBlockNumbers(runs, 0) {
		if lblk >= start {
			break
		}
		if ino, err := search(lblk); err != nil || ino != 0 {
			return ino, err
		}
	}
	return 0, abi.ENOENT
}

// lookupSlot is the directory block a linear lookup read last, its
// checksum verified, kept while the device is read-only and the mount
// too (the block cannot change): the next lookup in the same block, as
// the lookups of names in readdir order mostly are, neither reads nor
// verifies it again, as Linux keeps the block's buffer_head and verifies
// it once (buffer_verified). A nil *lookupSlot keeps nothing.
type lookupSlot struct {
	mu   sync.Mutex
	ino  uint32
	lblk uint64
	b    []byte // nil while empty
}

// dirSlot returns the filesystem's lookup slot, or nil when blocks may
// change (a read-write mount, a writable device).
func (f *fsys) dirSlot() *lookupSlot {
	if f.rw || !f.dev.ReadOnly() {
		return nil
	}
	return &f.lookupSlot
}

// search looks for name in block lblk of directory ip if the slot holds
// it (hit).
func (s *lookupSlot) search(ip *inode, lblk uint64, name string) (ino uint32, hit bool, err error) {
	if s == nil {
		return 0, false, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b == nil || s.ino != ip.ino || s.lblk != lblk {
		return 0, false, nil
	}
	ino, err = ip.searchDirBlock(s.b, lblk, name)
	return ino, true, err
}

// store keeps a copy of block lblk of directory ino, verified.
func (s *lookupSlot) store(ino uint32, lblk uint64, b []byte) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b == nil {
		s.b = make([]byte, len(b))
	}
	copy(s.b, b)
	s.ino, s.lblk = ino, lblk
}

// searchDirBlock looks for name in one block; 0 means not there.
//
// As ext4_search_dir does, only the matching entry is checked in full; the
// others are only stepped over by their rec_len, so a damaged entry
// elsewhere in the block does not hide the name (the kernel finds it too).
// A zero rec_len ends the search with EUCLEAN.
func (ip *inode) searchDirBlock(b []byte, lblk uint64, name string) (uint32, error) {
	le := binary.LittleEndian
	match := ip.nameMatcher(name)
	for off := 0; off < len(b)-disk.DirentHeaderSize; {
		e := b[off:]
		nameLen := int(e[6])
		if off+disk.DirentHeaderSize+nameLen <= len(b) && le.Uint32(e) != 0 &&
			match(e[disk.DirentHeaderSize:disk.DirentHeaderSize+nameLen]) {
			d, err := disk.DecodeDirent(b, off, ip.f.BlockSize, ip.f.Super.HasIncompat(disk.IncompatFiletype))
			if err != nil {
				return 0, ip.dirErr(lblk, err)
			}
			if err := ip.checkEntry(lblk, off, d); err != nil {
				return 0, err
			}
			return d.Inode, nil
		}
		recLen := disk.RecLenFromDisk(le.Uint16(e[4:]), ip.f.BlockSize)
		if recLen == 0 {
			return 0, ip.dirErr(lblk, abi.Errorf(abi.EUCLEAN, "entry at offset %d: rec_len 0", off))
		}
		off += int(recLen)
	}
	return 0, nil
}

// Inline directories (Documentation/filesystems/ext4/inlinedata.rst): the
// parent's inode number in i_block[0..3], entries in the rest of i_block,
// more entries in the system.data attribute. Positions are byte offsets
// into i_block followed by system.data.

// inlineDirRegions returns the entry areas of an inline directory and the
// position of each area's first byte.
func (ip *inode) inlineDirRegions() ([2][]byte, [2]int64, error) {
	data, err := ip.inlineData()
	if err != nil {
		return [2][]byte{}, [2]int64{}, err
	}
	return [2][]byte{data[4:disk.IBlockLen], data[disk.IBlockLen:]}, [2]int64{4, disk.IBlockLen}, nil
}

// readInlineDir is ReadDir for an inline directory.
func (ip *inode) readInlineDir(pos int64, dots bool, em *dirEmitter) error {
	regions, bases, err := ip.inlineDirRegions()
	if err != nil {
		return err
	}
	if dots {
		if pos == 0 && !em.add(0, direntOf(".", ip.ino, ip.dotFtype())) {
			return nil
		}
		if pos <= disk.InlineDotdotPos && !em.add(disk.InlineDotdotPos, direntOf("..", ip.inlineParent(), ip.dotFtype())) {
			return nil
		}
	}
	filetype := ip.f.Super.HasIncompat(disk.IncompatFiletype)
	end := int64(disk.InlineDirShift)
	for r, b := range regions {
		base := bases[r] + disk.InlineDirShift
		end = base + int64(len(b))
		if len(b) == 0 {
			continue
		}
		stop := false
		var entErr error
		perr := disk.ParseDirBlock(b, uint32(len(b)), filetype, func(off int, d disk.Dirent) bool {
			if base+int64(off) < pos || d.Inode == 0 || disk.IsDot(d.Name) {
				return true
			}
			if entErr = ip.checkEntry(0, off, d); entErr != nil {
				return false
			}
			name, err := ip.userName(d.Name, 0, 0)
			if err != nil {
				entErr = ip.dirErr(0, err)
				return false
			}
			stop = !em.add(base+int64(off), direntOf(name, d.Inode, d.Ftype))
			return !stop
		})
		if entErr != nil {
			return entErr
		}
		if perr != nil {
			return abi.Errorf(abi.EUCLEAN, "ext4: inode %d: inline directory: %v", ip.ino, perr)
		}
		if stop {
			return nil
		}
	}
	em.end(max(end, pos))
	return nil
}

// inlineParent is the inode number of ".." of an inline directory: the
// first four bytes of i_block.
func (ip *inode) inlineParent() uint32 { return binary.LittleEndian.Uint32(ip.iBlock[:4]) }

// dotFtype is the file type of a "." or ".." Linux makes up (an inline
// directory's): EXT4_FT_DIR with the filetype feature, else unknown.
func (ip *inode) dotFtype() uint8 {
	if ip.f.Super.HasIncompat(disk.IncompatFiletype) {
		return abi.FtypeFromMode(abi.S_IFDIR)
	}
	return 0
}

// lookupInline is Lookup for an inline directory.
func (ip *inode) lookupInline(name string) (uint32, error) {
	regions, _, err := ip.inlineDirRegions()
	if err != nil {
		return 0, err
	}
	match := ip.nameMatcher(name)
	for _, b := range regions {
		if len(b) == 0 {
			continue
		}
		var found uint32
		perr := disk.ParseDirBlock(b, uint32(len(b)), ip.f.Super.HasIncompat(disk.IncompatFiletype), func(off int, d disk.Dirent) bool {
			if d.Inode != 0 && match(d.Name) {
				found = d.Inode
				return false
			}
			return true
		})
		if perr != nil {
			return 0, abi.Errorf(abi.EUCLEAN, "ext4: inode %d: inline directory: %v", ip.ino, perr)
		}
		if found > ip.f.Super.SInodesCount {
			return 0, abi.Errorf(abi.EUCLEAN, "ext4: inode %d: inline directory: inode out of bounds (%d)", ip.ino, found)
		}
		if found != 0 {
			return found, nil
		}
	}
	return 0, abi.ENOENT
}
