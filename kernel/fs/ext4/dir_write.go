package ext4

import (
	disk "github.com/lklimg/lklimg/format/ext4"
	"github.com/lklimg/lklimg/kernel/abi"
)

// Writing directory entries (fs/ext4/namei.c: ext4_add_entry,
// ext4_find_dest_de, ext4_insert_dentry, ext4_generic_delete_entry,
// ext4_init_new_dir; Documentation/filesystems/ext4/directory.rst).
//
// A linear directory block is a chain of entries whose rec_len covers the
// block (less the 12-byte ext4_dir_entry_tail with metadata_csum). A new
// name goes into the first entry with room after its own name: the entry
// is split, the new one taking the rest of its rec_len. A removed entry is
// merged into the one before it, or, first in its block, keeps its rec_len
// with inode 0. When no block has room the directory grows by a block; on
// a filesystem with dir_index a directory outgrowing its first block is
// made indexed (htree_write.go), as make_indexed_dir does.
//
// Blocks are read through the transaction (the device view of txnDevice)
// to search them, and taken into the handle (metaBlock) only to change
// them, so that a search touching many blocks does not fill the
// transaction.

// dirSlot is where an entry was found: logical and physical block, offset
// in the block, and the entry's inode and file type.
type dirSlot struct {
	lblk, pblk uint64
	off        int // in the block, or in the inline data when inline
	ino        uint32
	ftype      uint8
	inline     bool // in an inline directory (inline_write.go)
}

// dirTailLen is the room reserved for the checksum tail at the end of a
// leaf block.
func (f *fsys) dirTailLen() int {
	if f.Super.MetadataCsum() {
		return disk.DirTailSize
	}
	return 0
}

// dirUsable is the part of a leaf block that holds entries.
func (f *fsys) dirUsable() int { return int(f.BlockSize) - f.dirTailLen() }

// putDirent writes an entry header and name at off. Without the filetype
// feature the type byte is the high byte of a 16-bit name_len (0).
func (f *fsys) putDirent(b []byte, off int, ino uint32, recLen uint32, name []byte, ftype uint8) {
	e := b[off:]
	le.PutUint32(e[0:], ino)
	le.PutUint16(e[4:], disk.RecLenToDisk(recLen))
	e[6] = uint8(len(name))
	if !f.Super.HasIncompat(disk.IncompatFiletype) {
		ftype = 0
	}
	e[7] = ftype
	copy(e[disk.DirentHeaderSize:], name)
}

// initDirTail writes struct ext4_dir_entry_tail at the end of a leaf
// block when metadata_csum is on (ext4_initialize_dirent_tail).
func (f *fsys) initDirTail(b []byte) {
	if !f.Super.MetadataCsum() {
		return
	}
	t := b[len(b)-disk.DirTailSize:]
	clear(t)
	le.PutUint16(t[4:], disk.DirTailSize)
	t[7] = disk.DirTailFt
}

// setDirBlockCsum sets the checksum of a changed directory block: the dx
// tail of an htree root or node, the dirent tail of a leaf (the mirror of
// verifyDirBlock; ext4_handle_dirty_dirblock and ext4_handle_dirty_dx_node).
func (ip *inode) setDirBlockCsum(b []byte, lblk uint64) {
	if !ip.f.Super.MetadataCsum() {
		return
	}
	if ip.isIndexed() {
		if co, ok := disk.DxCountOffset(b, ip.f.BlockSize); ok && (lblk == 0 || co == disk.DxNodeCountOffset) {
			ip.setDxCsum(b, co)
			return
		}
	}
	if !disk.IsDirTail(b) {
		return // verifyDirBlock refused it when it was read
	}
	n := len(b) - disk.DirTailSize
	le.PutUint32(b[n+8:], disk.Csum32(ip.f.CrcTab, ip.csumSeed, b[:n]))
}

// pblkOf returns the physical block of a directory's logical block lblk,
// or 0 for a hole: unwritten or not, as ext4_getblk maps it.
func pblkOf(runs []run, lblk uint64) uint64 {
	i := findRun(runs, lblk)
	if i == len(runs) || runs[i].lblk > lblk {
		return 0
	}
	return runs[i].pblk + lblk - runs[i].lblk
}

// dropMap forgets the cached block map after the allocator changed it.
func (ip *inode) dropMap() {
	ip.mapMu.Lock()
	ip.runs, ip.mapped = nil, false
	ip.mapMu.Unlock()
}

// checkDirWritable refuses directories the writer adds no name to: an
// encrypted one (no key: ENOKEY, as fscrypt_prepare_new_inode,
// fscrypt_prepare_link and fscrypt_prepare_rename refuse it). Names are
// removed from every directory: Linux unlinks a no-key name without the
// key (ext4_unlink needs no fscrypt_prepare_*).
func (ip *inode) checkDirWritable() error {
	if ip.isEncrypted() {
		return abi.Errorf(abi.ENOKEY, "ext4: inode %d: encrypted directory", ip.ino)
	}
	return nil
}

// findEntry finds name in the directory for a change (ext4_find_entry):
// through the index when the directory has a usable one, else by a linear
// scan; names match as ext4_match has them (nameMatcher: ignoring case in
// a casefolded directory, by their no-key form in an encrypted one, which
// is scanned: a no-key name does not give the entry's hash). ENOENT when
// it is not there.
func (ip *inode) findEntry(name string) (dirSlot, error) {
	if ip.flags&disk.InodeInlineDataFl != 0 {
		return ip.findInlineEntry(name)
	}
	if ip.isIndexed() && !ip.isEncrypted() {
		s, err := ip.dxFindEntry(name)
		if err != disk.ErrBadDx {
			return s, err
		}
	}
	return ip.findEntryLinear(name, 0, ^uint64(0))
}

// findEntryLinear scans blocks [from, to) for name.
func (ip *inode) findEntryLinear(name string, from, to uint64) (dirSlot, error) {
	runs, err := ip.blockRuns()
	if err != nil {
		return dirSlot{}, err
	}
	buf := ip.f.getBlock()
	defer ip.f.putBlock(buf)
	match := ip.nameMatcher(name)
	for lblk := range ip.dirBlockNumbers(runs, from) {
		if lblk >= to {
			break
		}
		s, ok, err := ip.searchBlockSlot(runs, lblk, buf, match)
		if err != nil || ok {
			return s, err
		}
	}
	return dirSlot{}, abi.ENOENT
}

// searchBlockSlot reads block lblk and looks in it for the entry whose
// name passes match.
func (ip *inode) searchBlockSlot(runs []run, lblk uint64, buf []byte, match func([]byte) bool) (dirSlot, bool, error) {
	ok, err := ip.dirBlock(runs, lblk, buf)
	if err != nil || !ok {
		return dirSlot{}, false, err
	}
	s := dirSlot{lblk: lblk, pblk: pblkOf(runs, lblk), off: -1}
	filetype := ip.f.Super.HasIncompat(disk.IncompatFiletype)
	perr := disk.ParseDirBlock(buf, ip.f.BlockSize, filetype, func(off int, d disk.Dirent) bool {
		if d.Inode != 0 && !disk.IsDot(d.Name) && match(d.Name) {
			s.off, s.ino, s.ftype = off, d.Inode, d.Ftype
			return false
		}
		return true
	})
	if s.off >= 0 {
		if err := ip.checkEntry(lblk, s.off, disk.Dirent{Inode: s.ino}); err != nil {
			return dirSlot{}, false, err
		}
		return s, true, nil
	}
	if perr != nil {
		return dirSlot{}, false, ip.dirErr(lblk, perr)
	}
	return dirSlot{}, false, nil
}

// insertDirent puts a new entry into a leaf block if it has room
// (ext4_find_dest_de, ext4_insert_dentry): into the first entry whose
// rec_len has room after its own name (or an unused entry). It returns
// EEXIST when the name is already there.
func (f *fsys) insertDirent(b []byte, name []byte, ino uint32, ftype uint8) (bool, error) {
	return f.insertDirentIn(b[:f.dirUsable()], name, ino, ftype)
}

// insertDirentIn is insertDirent in a chain of entries covering b (a
// leaf block less its tail, or an inline directory's area).
func (f *fsys) insertDirentIn(b []byte, name []byte, ino uint32, ftype uint8) (bool, error) {
	need := disk.DirRecLen(len(name))
	filetype := f.Super.HasIncompat(disk.IncompatFiletype)
	at, used, recLen := -1, uint32(0), uint32(0)
	exists := false
	err := disk.ParseDirBlock(b, f.BlockSize, filetype, func(off int, d disk.Dirent) bool {
		if d.Inode != 0 && string(d.Name) == string(name) {
			exists = true
			return false
		}
		u := uint32(0)
		if d.Inode != 0 {
			// A live entry without a name (damage) keeps the minimal
			// rec_len, so that the split leaves a well-formed entry.
			u = disk.DirRecLen(max(len(d.Name), 1))
		}
		if at < 0 && d.RecLen >= u+need {
			at, used, recLen = off, u, d.RecLen
		}
		return true
	})
	if err != nil {
		return false, abi.Errorf(abi.EUCLEAN, "%v", err)
	}
	if exists {
		return false, abi.EEXIST
	}
	if at < 0 {
		return false, nil
	}
	if used > 0 {
		le.PutUint16(b[at+4:], disk.RecLenToDisk(used))
		at += int(used)
		recLen -= used
	}
	clear(b[at : at+int(recLen)])
	f.putDirent(b, at, ino, recLen, name, ftype)
	return true, nil
}

// removeDirent removes the entry at off from a block
// (ext4_generic_delete_entry): the previous entry takes its rec_len and it
// is wiped, or, first in the block, it keeps its rec_len with inode 0.
func (f *fsys) removeDirent(b []byte, off int) error {
	return f.removeDirentIn(b[:f.dirUsable()], off)
}

// removeDirentIn is removeDirent in a chain of entries covering b.
func (f *fsys) removeDirentIn(b []byte, off int) error {
	filetype := f.Super.HasIncompat(disk.IncompatFiletype)
	prev, found := -1, false
	var recLen, prevLen uint32
	err := disk.ParseDirBlock(b, f.BlockSize, filetype, func(o int, d disk.Dirent) bool {
		if o == off {
			found, recLen = true, d.RecLen
			return false
		}
		prev, prevLen = o, d.RecLen
		return true
	})
	if err != nil {
		return abi.Errorf(abi.EUCLEAN, "%v", err)
	}
	if !found {
		return abi.Errorf(abi.EUCLEAN, "entry at offset %d vanished", off)
	}
	if prev >= 0 {
		le.PutUint16(b[prev+4:], disk.RecLenToDisk(prevLen+recLen))
		clear(b[off : off+int(recLen)])
		return nil
	}
	le.PutUint32(b[off:], 0)
	clear(b[off+6 : off+int(recLen)])
	return nil
}

// addDirEntry adds name -> ino to the directory (ext4_add_entry). The caller
// updates the directory's times; addDirEntry writes the inode when the
// directory grows.
func (h *handle) addDirEntry(dir *inode, name string, ino uint32, ftype uint8) error {
	f := h.f
	if err := dir.checkDirWritable(); err != nil {
		return err
	}
	if err := dir.checkNewName(name); err != nil {
		return err
	}
	if dir.flags&disk.InodeInlineDataFl != 0 {
		// Inline first; a directory with no room left there has become
		// one block, where the name goes as below.
		if ok, err := h.addInlineEntry(dir, name, ino, ftype); ok || err != nil {
			return err
		}
	}
	if dir.isIndexed() {
		err := h.dxAddEntry(dir, name, ino, ftype)
		if err != disk.ErrBadDx {
			return err
		}
		return abi.Errorf(abi.EUCLEAN, "ext4: inode %d: damaged htree index", dir.ino)
	}
	runs, err := dir.blockRuns()
	if err != nil {
		return err
	}
	buf := f.getBlock()
	defer f.putBlock(buf)
	nblocks := dir.dirBlocks()
	for lblk := range dir.dirBlockNumbers(runs, 0) {
		ok, err := dir.dirBlock(runs, lblk, buf)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		// Try on a copy: only a block that takes the name joins the
		// transaction.
		fits, err := f.insertDirent(buf, []byte(name), ino, ftype)
		if err != nil {
			return dir.dirErr(lblk, err)
		}
		if !fits {
			continue
		}
		b, err := h.metaBlock(pblkOf(runs, lblk))
		if err != nil {
			return err
		}
		copy(b, buf)
		dir.setDirBlockCsum(b, lblk)
		return nil
	}
	if nblocks == 1 && f.Super.HasCompat(disk.CompatDirIndex) {
		return h.makeIndexedDir(dir, name, ino, ftype)
	}
	_, b, err := h.appendDirBlock(dir)
	if err != nil {
		return err
	}
	f.putDirent(b, 0, ino, uint32(f.dirUsable()), []byte(name), ftype)
	dir.setDirBlockCsum(b, 0)
	return nil
}

// appendDirBlock adds a block at the end of the directory (ext4_append):
// mapped through the allocator, i_size grown, written as one empty entry
// (and the tail); its checksum is the caller's to set after filling it.
func (h *handle) appendDirBlock(dir *inode) (uint64, []byte, error) {
	f := h.f
	lblk := dir.dirBlocks()
	if lblk >= 1<<32 || (!f.Super.HasIncompat(disk.IncompatLargedir) && uint64(dir.size)+uint64(f.BlockSize) > 1<<32-1) {
		// Without large_dir a directory's size has 32 bits (i_size_high
		// was i_dir_acl), and its logical blocks have 32 bits anyway.
		return 0, nil, h.fail(abi.Errorf(abi.ENOSPC, "ext4: inode %d: directory index full", dir.ino))
	}
	pblk, _, err := h.mapBlocks(dir, lblk, 1, true)
	dir.dropMap()
	if err != nil {
		return 0, nil, err
	}
	b, err := h.newMetaBlock(pblk)
	if err != nil {
		return 0, nil, err
	}
	dir.size = int64(lblk+1) << f.BlockBits
	f.putDirent(b, 0, 0, uint32(f.dirUsable()), nil, 0)
	f.initDirTail(b)
	if err := h.writeInode(dir); err != nil {
		return 0, nil, err
	}
	return lblk, b, nil
}

// removeDirEntry removes the entry at s (ext4_delete_entry).
func (h *handle) removeDirEntry(dir *inode, s dirSlot) error {
	if s.inline {
		return h.changeInlineEntry(dir, s, h.f.removeDirentIn)
	}
	b, err := h.metaBlock(s.pblk)
	if err != nil {
		return err
	}
	if err := h.f.removeDirent(b, s.off); err != nil {
		return h.fail(dir.dirErr(s.lblk, err))
	}
	dir.setDirBlockCsum(b, s.lblk)
	return nil
}

// setDirEntry points the entry at s to ino with file type ftype (ext4_setent).
func (h *handle) setDirEntry(dir *inode, s dirSlot, ino uint32, ftype uint8) error {
	if s.inline {
		return h.changeInlineEntry(dir, s, func(b []byte, off int) error {
			h.f.setDirentInode(b, off, ino, ftype)
			return nil
		})
	}
	b, err := h.metaBlock(s.pblk)
	if err != nil {
		return err
	}
	h.f.setDirentInode(b, s.off, ino, ftype)
	dir.setDirBlockCsum(b, s.lblk)
	return nil
}

// setDirentInode points the entry at off of b to ino with file type ftype.
func (f *fsys) setDirentInode(b []byte, off int, ino uint32, ftype uint8) {
	le.PutUint32(b[off:], ino)
	if f.Super.HasIncompat(disk.IncompatFiletype) {
		b[off+7] = ftype
	}
}

// setDotDot points the ".." entry of directory ip to parent
// (ext4_rename_dir_finish): the second entry of block 0, after ".".
func (h *handle) setDotDot(ip *inode, parent uint32) error {
	if ip.flags&disk.InodeInlineDataFl != 0 {
		// An inline directory keeps only the parent's number, in
		// i_block[0..3] (ext4_get_first_dir_block's inlined case).
		le.PutUint32(ip.iBlock[0:], parent)
		return h.writeInode(ip)
	}
	runs, err := ip.blockRuns()
	if err != nil {
		return err
	}
	pblk := pblkOf(runs, 0)
	if pblk == 0 {
		return h.fail(abi.Errorf(abi.EUCLEAN, "ext4: inode %d: directory without block 0", ip.ino))
	}
	b, err := h.metaBlock(pblk)
	if err != nil {
		return err
	}
	dot, err := disk.DecodeDirent(b, 0, h.f.BlockSize, false)
	if err == nil && string(dot.Name) == "." {
		var dd disk.Dirent
		if dd, err = disk.DecodeDirent(b, int(dot.RecLen), h.f.BlockSize, false); err == nil && string(dd.Name) == ".." {
			le.PutUint32(b[dot.RecLen:], parent)
			ip.setDirBlockCsum(b, 0)
			return nil
		}
	}
	return h.fail(abi.Errorf(abi.EUCLEAN, "ext4: inode %d: directory block 0 without \".\" and \"..\"", ip.ino))
}

// initDirBlock writes the first block of a new directory
// (ext4_init_new_dir): "." and "..", the latter spanning the block.
func (f *fsys) initDirBlock(b []byte, ino, parent uint32) {
	clear(b)
	f.putDirent(b, 0, ino, disk.DirRecLen(1), []byte("."), 2)
	f.putDirent(b, int(disk.DirRecLen(1)), parent, uint32(f.dirUsable())-disk.DirRecLen(1), []byte(".."), 2)
	f.initDirTail(b)
}

// isEmptyDir reports whether a directory holds nothing but "." and ".."
// (ext4_empty_dir).
func (ip *inode) isEmptyDir() (bool, error) {
	if ip.flags&disk.InodeInlineDataFl != 0 {
		return ip.isEmptyInlineDir()
	}
	runs, err := ip.blockRuns()
	if err != nil {
		return false, err
	}
	buf := ip.f.getBlock()
	defer ip.f.putBlock(buf)
	filetype := ip.f.Super.HasIncompat(disk.IncompatFiletype)
	for lblk := range ip.dirBlockNumbers(runs, 0) {
		ok, err := ip.dirBlock(runs, lblk, buf)
		if err != nil {
			return false, err
		}
		if !ok {
			continue
		}
		empty := true
		perr := disk.ParseDirBlock(buf, ip.f.BlockSize, filetype, func(off int, d disk.Dirent) bool {
			if d.Inode != 0 && !disk.IsDot(d.Name) {
				empty = false
			}
			return empty
		})
		if perr != nil {
			return false, ip.dirErr(lblk, perr)
		}
		if !empty {
			return false, nil
		}
	}
	return true, nil
}
