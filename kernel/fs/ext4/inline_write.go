package ext4

import (
	"errors"

	disk "github.com/lklimg/lklimg/format/ext4"
	"github.com/lklimg/lklimg/kernel/abi"
)

// Writing inline data (fs/ext4/inline.c; Documentation/filesystems/ext4/
// inlinedata.rst). An inline inode keeps its first 60 bytes in i_block and
// the rest in the value of the "system.data" attribute of its in-inode
// xattr area; its inline size (i_inline_size) is 60 plus that value's
// length. A regular file's i_size is at most its inline size, a
// directory's equals it.
//
// As Linux does:
//   - A new regular file or directory may become inline (the inode's
//     mayInline, EXT4_STATE_MAY_INLINE_DATA): an empty file on its first
//     write that fits (ext4_try_to_write_inline_data), a directory at
//     mkdir (ext4_try_create_inline_dir). The largest inline size is
//     what the in-inode area leaves for system.data
//     (ext4_get_max_inline_size): nothing without i_extra_isize, so
//     128-byte inodes are never inline. Symlinks are never inline.
//   - A file's data stay inline while writes fit, system.data growing to
//     the end of the data (ext4_update_inline_data); a write past the
//     largest inline size, an extension by truncate past the inline size,
//     and any fallocate move the data into block 0
//     (ext4_convert_inline_data_nolock) and the file is never inline again.
//     A truncation shrinks system.data (ext4_inline_data_truncate).
//   - A directory's entries go into i_block after the parent's inode
//     number, then into system.data, grown once to the largest value the
//     area holds (ext4_try_add_inline_entry, ext4_update_inline_dir); when
//     neither has room the directory becomes one block with "." and ".."
//     then the inline entries (ext4_finish_convert_inline_dir), and the new
//     name goes there, as into any block directory.
//
// system.data stays in the inode: the xattr writer (xattr_write.go) moves
// only the attribute it sets to the block, never the in-inode ones.

// inlineBuf returns a copy of ip's inline data as stored, i_block then
// system.data's value, not cut at i_size (ext4_read_inline_data of the
// whole inline size), and whether system.data is there.
func (ip *inode) inlineBuf() ([]byte, bool, error) {
	ents, err := ip.ibodyXattrs()
	if err != nil {
		return nil, false, err
	}
	buf := append([]byte(nil), ip.iBlock[:]...)
	for i := range ents {
		e := &ents[i]
		if e.Index == disk.XattrIndexSystem && e.Name == disk.InlineDataName {
			if e.Inum != 0 {
				return nil, false, abi.Errorf(abi.EUCLEAN, "ext4: inode %d: system.data in an ea_inode", ip.ino)
			}
			return append(buf, e.Value...), true, nil
		}
	}
	return buf, false, nil
}

// maxInlineSize is ext4_get_max_inline_size: the largest inline size ip's
// in-inode area allows, 60 plus the largest system.data value
// (get_max_inline_xattr_value_size), or 0 when the inode has no such area
// or no room for the attribute's entry. The values are counted as packed
// at the end of the area, as both Linux and this writer keep them.
func (h *handle) maxInlineSize(ip *inode) (int, error) {
	slot, start, err := h.ibodyLayout(ip)
	if err != nil || slot == nil {
		return 0, err
	}
	ents, err := ip.ibodyXattrs()
	if err != nil {
		return 0, err
	}
	minOffs := len(slot) - start - 4 // after struct ext4_xattr_ibody_header
	entries := 0
	data := -1
	for i := range ents {
		e := &ents[i]
		entries += xattrEntryLen(len(e.Name))
		if e.Inum == 0 {
			minOffs -= xattrValueLen(int(e.Size))
		}
		if e.Index == disk.XattrIndexSystem && e.Name == disk.InlineDataName {
			data = int(e.Size)
		}
	}
	free := minOffs - entries - 4 // the four zero bytes ending the entries
	switch {
	case data >= 0:
		free += xattrValueLen(data)
	case free-xattrEntryLen(len(disk.InlineDataName)) > disk.XattrRound:
		free = xattrValueLen(free - xattrEntryLen(len(disk.InlineDataName)) - disk.XattrRound)
	default:
		free = 0
	}
	if free <= 0 {
		return 0, nil
	}
	return disk.IBlockLen + free, nil
}

// ibodyItems returns the inode's slot, where its in-inode xattr area
// starts (ibodyLayout) and the attributes there.
func (h *handle) ibodyItems(ip *inode) ([]byte, int, []xattrItem, error) {
	slot, start, err := h.ibodyLayout(ip)
	if err != nil {
		return nil, 0, nil, err
	}
	ents, err := ip.ibodyXattrs()
	if err != nil {
		return nil, 0, nil, h.fail(err)
	}
	items, err := ip.xattrItems(ents)
	if err != nil {
		return nil, 0, nil, h.fail(err)
	}
	return slot, start, items, nil
}

// storeInline makes buf ip's inline data (ext4_create_inline_data,
// ext4_update_inline_data, ext4_write_inline_data): its first 60 bytes in
// i_block, zero padded, the rest as system.data's value (made, empty,
// when absent), the in-inode area rewritten; the inode gets
// EXT4_INLINE_DATA_FL and loses EXT4_EXTENTS_FL. The caller writes the
// inode; it checked that buf fits (maxInlineSize).
func (h *handle) storeInline(ip *inode, buf []byte) error {
	slot, start, items, err := h.ibodyItems(ip)
	if err != nil {
		return err
	}
	if slot == nil {
		return h.fail(abi.Errorf(abi.ENOSPC, "ext4: inode %d: no in-inode xattr area for inline data", ip.ino))
	}
	value := []byte{}
	if len(buf) > disk.IBlockLen {
		value = buf[disk.IBlockLen:]
	}
	it := xattrItem{index: disk.XattrIndexSystem, name: disk.InlineDataName, value: value}
	if i := findItem(items, disk.XattrIndexSystem, disk.InlineDataName); i >= 0 {
		items[i] = it
	} else {
		items = append(items, it)
	}
	if !xattrAreaFits(items, len(slot)-start-4) {
		return h.fail(abi.Errorf(abi.ENOSPC, "ext4: inode %d: %d bytes of inline data do not fit", ip.ino, len(buf)))
	}
	h.writeIbody(ip, slot, start, items)
	ip.iBlock = [disk.IBlockLen]byte{}
	copy(ip.iBlock[:], buf)
	ip.flags = ip.flags&^disk.InodeExtentsFl | disk.InodeInlineDataFl
	ip.dropMap()
	return nil
}

// destroyInline removes system.data and EXT4_INLINE_DATA_FL
// (ext4_destroy_inline_data_nolock): i_block is zeroed and, on an extent
// filesystem, made an empty extent root. The inode is no longer
// mayInline. The caller writes the inode.
func (h *handle) destroyInline(ip *inode) error {
	slot, start, items, err := h.ibodyItems(ip)
	if err != nil {
		return err
	}
	if i := findItem(items, disk.XattrIndexSystem, disk.InlineDataName); slot != nil && i >= 0 {
		h.writeIbody(ip, slot, start, append(items[:i], items[i+1:]...))
	}
	ip.flags &^= disk.InodeInlineDataFl
	ip.iBlock = [disk.IBlockLen]byte{}
	if h.f.Super.HasIncompat(disk.IncompatExtents) {
		ip.flags |= disk.InodeExtentsFl
		ip.initExtentRoot()
	}
	ip.mayInline = false
	ip.dropMap()
	return nil
}

// uninline moves an inline file's data to a block (ext4_convert_inline_data);
// the inode will not be inline again.
func (h *handle) uninline(ip *inode) error {
	ip.mayInline = false
	if ip.flags&disk.InodeInlineDataFl == 0 {
		return nil
	}
	buf, _, err := ip.inlineBuf()
	if err != nil {
		return h.fail(err)
	}
	return h.convertInline(ip, buf)
}

// convertInline moves an inline inode's data into a block of its own
// (ext4_convert_inline_data_nolock): block 0 is mapped (an extent, or the
// block map's first pointer), even for an empty file, and gets a file's
// data, or a directory's
// entries after "." and ".." (convertInlineDir). buf is the inline data
// (inlineBuf). The inode is written.
func (h *handle) convertInline(ip *inode, buf []byte) error {
	f := h.f
	if ip.isDir() {
		// ext4_check_all_de: entries that do not parse stay inline.
		for _, r := range [2][]byte{buf[disk.InlineDotdotSize:min(len(buf), disk.IBlockLen)], buf[min(len(buf), disk.IBlockLen):]} {
			if err := disk.ParseDirBlock(r, f.BlockSize, f.Super.HasIncompat(disk.IncompatFiletype), func(int, disk.Dirent) bool { return true }); err != nil {
				return h.fail(abi.Errorf(abi.EUCLEAN, "ext4: inode %d: inline directory: %v", ip.ino, err))
			}
		}
	}
	if err := h.destroyInline(ip); err != nil {
		return err
	}
	pblk, _, err := h.mapBlocks(ip, 0, 1, true)
	ip.dropMap()
	if err != nil {
		return err
	}
	if ip.isDir() {
		b, err := h.newMetaBlock(pblk)
		if err != nil {
			return err
		}
		if err := f.convertInlineDir(b, ip.ino, buf); err != nil {
			return h.fail(abi.Errorf(abi.EUCLEAN, "ext4: inode %d: inline directory: %v", ip.ino, err))
		}
		ip.size = int64(f.BlockSize)
		ip.setDirBlockCsum(b, 0)
	} else {
		// File data go through the page cache, as the converted page
		// does on Linux; the block is written whole, even for an empty
		// file, so that the bytes past i_size are zeros (an extension
		// by truncate uncovers them).
		blk := f.getBlock()
		defer f.putBlock(blk)
		clear(blk)
		copy(blk, buf[:min(int64(len(buf)), ip.size)])
		if err := h.writeData(blk, int64(pblk)<<f.BlockBits); err != nil {
			return err
		}
	}
	return h.writeInode(ip)
}

// convertInlineDir fills b, the first block of a directory converted from
// inline (ext4_finish_convert_inline_dir): "." and ".." each with its
// minimal rec_len, then the inline entries as they were (i_block's after
// the parent, then system.data's), the last entry stretched to the end of
// the usable block, then the checksum tail.
func (f *fsys) convertInlineDir(b []byte, ino uint32, buf []byte) error {
	clear(b)
	parent := le.Uint32(buf[0:])
	hdr := int(disk.DirRecLen(1) + disk.DirRecLen(2))
	f.putDirent(b, 0, ino, disk.DirRecLen(1), []byte("."), 2)
	f.putDirent(b, int(disk.DirRecLen(1)), parent, disk.DirRecLen(2), []byte(".."), 2)
	n := copy(b[hdr:], buf[disk.InlineDotdotSize:])
	end := hdr + n
	usable := f.dirUsable()
	if end > usable {
		return abi.Errorf(abi.EUCLEAN, "%d bytes of entries do not fit a block", n)
	}
	// ext4_update_final_de: the last entry before end takes the rest.
	last := 0
	for off := 0; off < end; {
		d, err := disk.DecodeDirent(b[:end], off, f.BlockSize, false)
		if err != nil {
			return err
		}
		last = off
		off += int(d.RecLen)
	}
	le.PutUint16(b[last+4:], disk.RecLenToDisk(uint32(usable-last)))
	f.initDirTail(b)
	return nil
}

// inlineRegions splits inline data into its two entry areas: i_block after
// the parent, and system.data's value.
func inlineRegions(buf []byte) [2][]byte {
	return [2][]byte{buf[disk.InlineDotdotSize:disk.IBlockLen], buf[disk.IBlockLen:]}
}

// writeInline is a write to a file that is or may become inline
// (ext4_try_to_write_inline_data, ext4_write_inline_data_end): when the
// data end within the largest inline size they are written inline,
// system.data growing as needed, and done is true. Otherwise an inline
// file is converted to a block (done false: the caller writes into the
// blocks), and the inode will not be inline again.
func (h *handle) writeInline(ip *inode, p []byte, off int64) (bool, error) {
	limit, err := h.maxInlineSize(ip)
	if err != nil {
		return false, h.fail(err)
	}
	inline := ip.flags&disk.InodeInlineDataFl != 0
	end := off + int64(len(p))
	if !inline {
		// Only a file without blocks becomes inline.
		runs, err := ip.blockRuns()
		if err != nil {
			return false, h.fail(err)
		}
		if len(runs) > 0 {
			limit = 0
		}
	}
	if end > int64(limit) || ip.size > int64(limit) {
		return false, h.uninline(ip)
	}
	buf := make([]byte, disk.IBlockLen, limit)
	if inline {
		if buf, _, err = ip.inlineBuf(); err != nil {
			return false, h.fail(err)
		}
	}
	if need := int(max(end, ip.size)); need > len(buf) {
		buf = append(buf, make([]byte, need-len(buf))...)
	}
	if off > ip.size {
		clear(buf[ip.size:off])
	}
	copy(buf[off:], p)
	if err := h.storeInline(ip, buf); err != nil {
		return false, err
	}
	if end > ip.size {
		ip.size = end
	}
	return true, nil
}

// truncateInline sets the size of an inline file (ext4_inline_data_truncate
// and ext4_setattr): a shrink cuts system.data to the new size (to nothing
// below 60 bytes) and zeroes i_block past it; a growth within the inline
// size zeroes the bytes it uncovers; a growth past it converts the file to
// a block first (done false: the caller extends the block file).
func (h *handle) truncateInline(ip *inode, size int64) (bool, error) {
	buf, _, err := ip.inlineBuf()
	if err != nil {
		return false, h.fail(err)
	}
	if size > int64(len(buf)) {
		return false, h.uninline(ip)
	}
	if size < ip.size {
		clear(buf[size:])
		if size < int64(len(buf)) {
			buf = buf[:max(size, disk.IBlockLen)]
		}
	} else {
		clear(buf[ip.size:size])
	}
	if err := h.storeInline(ip, buf); err != nil {
		return false, err
	}
	ip.size = size
	return true, nil
}

// inlineDirInit makes a new directory inline (ext4_try_create_inline_dir):
// the parent in i_block[0..3], one empty entry over the rest of i_block,
// an empty system.data, i_size 60. false when the inode has no room for
// inline data (the caller gives it a block).
func (h *handle) inlineDirInit(ip *inode, parent uint32) (bool, error) {
	limit, err := h.maxInlineSize(ip)
	if err != nil || limit < disk.IBlockLen {
		return false, err
	}
	buf := make([]byte, disk.IBlockLen)
	le.PutUint32(buf, parent)
	h.f.putDirent(buf, disk.InlineDotdotSize, 0, disk.IBlockLen-disk.InlineDotdotSize, nil, 0)
	if err := h.storeInline(ip, buf); err != nil {
		return false, err
	}
	ip.size = disk.IBlockLen
	return true, nil
}

// addInlineEntry adds name to an inline directory (ext4_try_add_inline_entry):
// into i_block's entries, else into system.data's, which the first time
// grows to the largest value the in-inode area holds
// (ext4_update_inline_dir). false when neither has room: the directory was
// converted to a block, where the caller adds the name. The inode is
// written.
func (h *handle) addInlineEntry(dir *inode, name string, ino uint32, ftype uint8) (bool, error) {
	f := h.f
	buf, _, err := dir.inlineBuf()
	if err != nil {
		return false, h.fail(err)
	}
	if len(buf) == disk.IBlockLen {
		// No entries in system.data yet: first try i_block, then
		// grow system.data when that leaves more than a minimal entry.
		ok, err := f.insertDirentIn(buf[disk.InlineDotdotSize:], []byte(name), ino, ftype)
		if err != nil || ok {
			return h.storeDirInline(dir, buf, ok, err)
		}
		limit, err := h.maxInlineSize(dir)
		if err != nil {
			return false, h.fail(err)
		}
		if grow := limit - disk.IBlockLen; grow > int(disk.DirRecLen(1)) {
			buf = append(buf, make([]byte, grow)...)
			f.putDirent(buf, disk.IBlockLen, 0, uint32(grow), nil, 0)
			if err := h.storeInline(dir, buf); err != nil {
				return false, err
			}
			dir.size = int64(len(buf))
		}
	}
	for _, r := range inlineRegions(buf) {
		if len(r) == 0 {
			continue
		}
		ok, err := f.insertDirentIn(r, []byte(name), ino, ftype)
		if err != nil || ok {
			return h.storeDirInline(dir, buf, ok, err)
		}
	}
	return false, h.convertInline(dir, buf)
}

// storeDirInline ends a change of an inline directory's entries: buf is
// stored and the inode written when changed is set.
func (h *handle) storeDirInline(dir *inode, buf []byte, changed bool, err error) (bool, error) {
	if err != nil {
		if errors.Is(err, abi.EEXIST) {
			return false, err
		}
		return false, h.fail(abi.Errorf(abi.EUCLEAN, "ext4: inode %d: inline directory: %v", dir.ino, err))
	}
	if !changed {
		return false, nil
	}
	if err := h.storeInline(dir, buf); err != nil {
		return false, err
	}
	return true, h.writeInode(dir)
}

// findInlineEntry finds name in an inline directory for a change
// (ext4_find_inline_entry); the slot's offset is the entry's position in
// the inline data.
func (ip *inode) findInlineEntry(name string) (dirSlot, error) {
	buf, _, err := ip.inlineBuf()
	if err != nil {
		return dirSlot{}, err
	}
	filetype := ip.f.Super.HasIncompat(disk.IncompatFiletype)
	match := ip.nameMatcher(name) // ignoring case in a casefolded directory
	bases := [2]int{disk.InlineDotdotSize, disk.IBlockLen}
	for r, b := range inlineRegions(buf) {
		s := dirSlot{inline: true, off: -1}
		perr := disk.ParseDirBlock(b, ip.f.BlockSize, filetype, func(off int, d disk.Dirent) bool {
			if d.Inode != 0 && match(d.Name) && !disk.IsDot(d.Name) {
				s.off, s.ino, s.ftype = bases[r]+off, d.Inode, d.Ftype
				return false
			}
			return true
		})
		if s.off >= 0 {
			if s.ino > ip.f.Super.SInodesCount {
				return dirSlot{}, abi.Errorf(abi.EUCLEAN, "ext4: inode %d: inline directory: inode out of bounds (%d)", ip.ino, s.ino)
			}
			return s, nil
		}
		if perr != nil {
			return dirSlot{}, abi.Errorf(abi.EUCLEAN, "ext4: inode %d: inline directory: %v", ip.ino, perr)
		}
	}
	return dirSlot{}, abi.ENOENT
}

// changeInlineEntry applies change to the inline region holding the entry
// at s and stores the directory (ext4_delete_inline_entry, ext4_setent).
func (h *handle) changeInlineEntry(dir *inode, s dirSlot, change func(region []byte, off int) error) error {
	buf, _, err := dir.inlineBuf()
	if err != nil {
		return h.fail(err)
	}
	region, base := buf[disk.InlineDotdotSize:disk.IBlockLen], disk.InlineDotdotSize
	if s.off >= disk.IBlockLen {
		region, base = buf[disk.IBlockLen:], disk.IBlockLen
	}
	if s.off < base || s.off-base >= len(region) {
		return h.fail(abi.Errorf(abi.EUCLEAN, "ext4: inode %d: inline entry at %d vanished", dir.ino, s.off))
	}
	if err := change(region, s.off-base); err != nil {
		return h.fail(abi.Errorf(abi.EUCLEAN, "ext4: inode %d: inline directory: %v", dir.ino, err))
	}
	if err := h.storeInline(dir, buf); err != nil {
		return err
	}
	return h.writeInode(dir)
}

// isEmptyInlineDir is empty_inline_dir: no entry with an inode.
func (ip *inode) isEmptyInlineDir() (bool, error) {
	buf, _, err := ip.inlineBuf()
	if err != nil {
		return false, err
	}
	empty := true
	for _, b := range inlineRegions(buf) {
		perr := disk.ParseDirBlock(b, ip.f.BlockSize, ip.f.Super.HasIncompat(disk.IncompatFiletype), func(off int, d disk.Dirent) bool {
			empty = d.Inode == 0
			return empty
		})
		if perr != nil {
			return false, abi.Errorf(abi.EUCLEAN, "ext4: inode %d: inline directory: %v", ip.ino, perr)
		}
		if !empty {
			return false, nil
		}
	}
	return true, nil
}
