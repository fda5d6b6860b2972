package ext4

import (
	"sort"

	disk "github.com/lklimg/lklimg/format/ext4"
	"github.com/lklimg/lklimg/kernel/abi"
)

// Writing hash tree directories (fs/ext4/namei.c: make_indexed_dir,
// ext4_dx_add_entry, do_split, dx_insert_block; the structures are
// described in htree.go).
//
// A name goes into the leaf the index points its hash to. A full leaf is
// split (do_split): its entries and the new one, sorted by hash, are
// divided by size, the upper half moving to a new block, and the index
// gets an entry for the new block keyed by the first hash it holds, with
// the low "continued" bit set when that hash also ends the lower half (a
// lookup of that hash then reads both leaves). A full index block is
// split in two the same way, its parent getting the new block; a full
// root moves its entries into a new node block and points to it, adding a
// level (at most two levels below the root with large_dir, one without;
// beyond that ENOSPC, as Linux's "Directory index full"). Each change of
// an index block sets its dx_tail checksum with metadata_csum. Removing
// a name removes it from its leaf only (ext4_delete_entry): the index is
// never shrunk, as Linux never shrinks it.

// dxFrame is one index block on the path from the root to a leaf
// (struct dx_frame).
type dxFrame struct {
	lblk, pblk   uint64
	co           int // where dx_countlimit is
	at           int // the entry taken
	count, limit int
}

// dxRootLimit is dx_root_limit: the entries that fit in the root after
// the fake "." and ".." and dx_root_info, less the dx_tail.
func (f *fsys) dxRootLimit() int {
	space := int(f.BlockSize) - disk.DxRootCountOffset
	if f.Super.MetadataCsum() {
		space -= disk.DxTailSize
	}
	return space / disk.DxEntrySize
}

// dxNodeLimit is dx_node_limit: the entries after a node's fake entry.
func (f *fsys) dxNodeLimit() int {
	space := int(f.BlockSize) - disk.DxNodeCountOffset
	if f.Super.MetadataCsum() {
		space -= disk.DxTailSize
	}
	return space / disk.DxEntrySize
}

// setDxCsum sets the dx_tail checksum of a root or node block
// (ext4_dx_csum_set), the mirror of verifyDxCsum.
func (ip *inode) setDxCsum(b []byte, co int) {
	limit := int(le.Uint16(b[co:]))
	count := int(le.Uint16(b[co+2:]))
	tail := co + limit*disk.DxEntrySize
	if count > limit || tail+disk.DxTailSize > len(b) {
		return
	}
	c := disk.Csum32(ip.f.CrcTab, ip.csumSeed, b[:co+count*disk.DxEntrySize])
	c = disk.Csum32(ip.f.CrcTab, c, b[tail:tail+4])
	var zero [4]byte
	c = disk.Csum32(ip.f.CrcTab, c, zero[:])
	le.PutUint32(b[tail+4:], c)
}

// dxMaxLevels is ext4_dir_htree_level: the levels of index blocks, the
// root included.
func (f *fsys) dxMaxLevels() int {
	if f.Super.HasIncompat(disk.IncompatLargedir) {
		return 3
	}
	return 2
}

// dxProbe descends the index for name (dx_probe): it returns the index
// blocks visited, the leaf, the root's hash version, the name's hash, and
// the hash that leads to the leaf after it (dxNextHash; 0 if none).
// errBadDx when the index is not usable.
func (ip *inode) dxProbe(runs []run, name string, buf []byte) (frames []dxFrame, leaf uint64, version uint8, hash, next uint32, err error) {
	f := ip.f
	ok, err := ip.dirBlock(runs, 0, buf)
	if err != nil {
		return nil, 0, 0, 0, 0, err
	}
	co, isDx := disk.DxCountOffset(buf, f.BlockSize)
	if !ok || !isDx || co != disk.DxRootCountOffset {
		return nil, 0, 0, 0, 0, disk.ErrBadDx
	}
	version = buf[disk.DxRootInfoOffset+4]
	levels := int(buf[disk.DxRootInfoOffset+6])
	if levels >= f.dxMaxLevels() {
		return nil, 0, 0, 0, 0, disk.ErrBadDx
	}
	hash, ok = ip.dxHash(version, []byte(name))
	if !ok {
		return nil, 0, 0, 0, 0, disk.ErrBadDx
	}
	nblocks := ip.dirBlocks()
	lblk := uint64(0)
	for level := 0; ; level++ {
		ents, count, err := disk.DxEntries(buf, co)
		if err != nil {
			return nil, 0, 0, 0, 0, err
		}
		// An insert trusts limit as the room in the block: it must be
		// the one the geometry gives, or the dx_tail would be
		// overwritten (dx_probe's "limit != root limit" check).
		want := f.dxNodeLimit()
		if level == 0 {
			want = f.dxRootLimit()
		}
		if int(le.Uint16(buf[co:])) != want {
			return nil, 0, 0, 0, 0, disk.ErrBadDx
		}
		at := disk.DxFind(ents, count, hash)
		frames = append(frames, dxFrame{lblk: lblk, pblk: pblkOf(runs, lblk), co: co, at: at,
			count: count, limit: want})
		blk := uint64(le.Uint32(ents[at*disk.DxEntrySize+4:]) & 0x0fffffff)
		if blk >= nblocks || blk == 0 {
			return nil, 0, 0, 0, 0, disk.ErrBadDx
		}
		next = dxNextHash(ents, count, at, next)
		if level == levels {
			return frames, blk, version, hash, next, nil
		}
		ok, err := ip.dirBlock(runs, blk, buf)
		if err != nil {
			return nil, 0, 0, 0, 0, err
		}
		if co, isDx = disk.DxCountOffset(buf, f.BlockSize); !ok || !isDx || co != disk.DxNodeCountOffset {
			return nil, 0, 0, 0, 0, disk.ErrBadDx
		}
		lblk = blk
	}
}

// dxFindEntry finds name through the index; a hash continued into the
// next leaf is searched by a linear scan, as dxLookup does.
func (ip *inode) dxFindEntry(name string) (dirSlot, error) {
	runs, err := ip.blockRuns()
	if err != nil {
		return dirSlot{}, err
	}
	buf := ip.f.getBlock()
	defer ip.f.putBlock(buf)
	_, leaf, _, hash, next, err := ip.dxProbe(runs, name, buf)
	if err != nil {
		return dirSlot{}, err
	}
	s, ok, err := ip.searchBlockSlot(runs, leaf, buf, ip.nameMatcher(name))
	if err != nil || ok {
		return s, err
	}
	if next&1 != 0 && next&^1 == hash {
		return ip.findEntryLinear(name, 0, ^uint64(0))
	}
	return dirSlot{}, abi.ENOENT
}

// dxAddEntry adds a name to an indexed directory (ext4_dx_add_entry). Each
// round either adds the name or grows the index by one block, after which
// the path is probed again.
func (h *handle) dxAddEntry(dir *inode, name string, ino uint32, ftype uint8) error {
	f := h.f
	buf := f.getBlock()
	defer f.putBlock(buf)
	for range 2 * f.dxMaxLevels() {
		runs, err := dir.blockRuns()
		if err != nil {
			return err
		}
		frames, leaf, version, _, _, err := dir.dxProbe(runs, name, buf)
		if err != nil {
			return err
		}
		ok, err := dir.dirBlock(runs, leaf, buf)
		if err != nil {
			return err
		}
		if !ok {
			return abi.Errorf(abi.EUCLEAN, "ext4: inode %d: htree leaf %d: directory hole", dir.ino, leaf)
		}
		fits, err := f.insertDirent(buf, []byte(name), ino, ftype)
		if err != nil {
			return dir.dirErr(leaf, err)
		}
		if fits {
			b, err := h.metaBlock(pblkOf(runs, leaf))
			if err != nil {
				return err
			}
			copy(b, buf)
			dir.setDirBlockCsum(b, leaf)
			return nil
		}
		k := len(frames) - 1
		if frames[k].count < frames[k].limit {
			return h.dxSplitLeaf(dir, runs, frames[k], leaf, version, buf, name, ino, ftype)
		}
		if err := h.dxGrowIndex(dir, frames); err != nil {
			return err
		}
	}
	return abi.Errorf(abi.EUCLEAN, "ext4: inode %d: htree index does not take %q", dir.ino, name)
}

// dxEnt is a directory entry with its hash, for splitting leaves.
type dxEnt struct {
	hash  uint32
	ino   uint32
	ftype uint8
	name  []byte
}

// leafEntries collects the used entries of a leaf block with their hashes
// (dx_make_map).
func (ip *inode) leafEntries(b []byte, lblk uint64, version uint8, out []dxEnt) ([]dxEnt, error) {
	filetype := ip.f.Super.HasIncompat(disk.IncompatFiletype)
	err := disk.ParseDirBlock(b[:ip.f.dirUsable()], ip.f.BlockSize, filetype, func(off int, d disk.Dirent) bool {
		if d.Inode == 0 || disk.IsDot(d.Name) {
			return true
		}
		h, _ := ip.dxHash(version, d.Name)
		out = append(out, dxEnt{hash: h, ino: d.Inode, ftype: d.Ftype, name: append([]byte(nil), d.Name...)})
		return true
	})
	if err != nil {
		return nil, ip.dirErr(lblk, err)
	}
	return out, nil
}

// splitWith adds the new name to the entries of a full leaf and returns
// them sorted by hash, where the upper half starts and the hash the index
// gets for it, with the "continued" bit when the lower half ends with the
// same hash.
func (ip *inode) splitWith(ents []dxEnt, version uint8, name string, ino uint32, ftype uint8) ([]dxEnt, int, uint32) {
	hash, _ := ip.dxHash(version, []byte(name))
	ents = append(ents, dxEnt{hash: hash, ino: ino, ftype: ftype, name: []byte(name)})
	split := ip.f.dxSplitPoint(ents)
	hash2 := ents[split].hash
	if ents[split-1].hash == hash2 {
		hash2 |= 1
	}
	return ents, split, hash2
}

// dxSplitPoint sorts ents by hash and returns where the upper half starts
// (do_split): entries are moved from the top while they take less than
// half the block, and at least one stays and one moves.
func (f *fsys) dxSplitPoint(ents []dxEnt) int {
	sort.SliceStable(ents, func(i, j int) bool { return ents[i].hash < ents[j].hash })
	size, move := uint32(0), 0
	for i := len(ents) - 1; i >= 0; i-- {
		n := disk.DirRecLen(len(ents[i].name))
		if size+n/2 > f.BlockSize/2 {
			break
		}
		size += n
		move++
	}
	split := len(ents) - move
	return min(max(split, 1), len(ents)-1)
}

// writeLeaf writes ents packed into a leaf block, the last entry taking
// the rest of the block, then the tail.
func (f *fsys) writeLeaf(b []byte, ents []dxEnt) {
	clear(b)
	usable := f.dirUsable()
	off := 0
	for i, e := range ents {
		n := disk.DirRecLen(len(e.name))
		if i == len(ents)-1 {
			n = uint32(usable - off)
		}
		f.putDirent(b, off, e.ino, n, e.name, e.ftype)
		off += int(n)
	}
	if len(ents) == 0 {
		f.putDirent(b, 0, 0, uint32(usable), nil, 0)
	}
	f.initDirTail(b)
}

// dxSplitLeaf splits the full leaf (its contents in buf) with the new name
// in it and adds the new leaf to the index block parent, which has room.
func (h *handle) dxSplitLeaf(dir *inode, runs []run, parent dxFrame, leaf uint64, version uint8, buf []byte, name string, ino uint32, ftype uint8) error {
	f := h.f
	ents, err := dir.leafEntries(buf, leaf, version, nil)
	if err != nil {
		return err
	}
	ents, split, hash2 := dir.splitWith(ents, version, name, ino, ftype)
	newLblk, nb, err := h.appendDirBlock(dir)
	if err != nil {
		return err
	}
	ob, err := h.metaBlock(pblkOf(runs, leaf))
	if err != nil {
		return err
	}
	f.writeLeaf(ob, ents[:split])
	f.writeLeaf(nb, ents[split:])
	dir.setDirBlockCsum(ob, leaf)
	dir.setDirBlockCsum(nb, newLblk)
	pb, err := h.metaBlock(parent.pblk)
	if err != nil {
		return err
	}
	dxInsertEntry(pb, parent.co, parent.at, hash2, newLblk)
	dir.setDxCsum(pb, parent.co)
	return nil
}

// dxInsertEntry inserts {hash, blk} after entry at of an index block
// (dx_insert_block); the block has room.
func dxInsertEntry(b []byte, co, at int, hash uint32, blk uint64) {
	count := int(le.Uint16(b[co+2:]))
	pos := co + (at+1)*disk.DxEntrySize
	copy(b[pos+disk.DxEntrySize:co+(count+1)*disk.DxEntrySize], b[pos:co+count*disk.DxEntrySize])
	le.PutUint32(b[pos:], hash)
	le.PutUint32(b[pos+4:], uint32(blk))
	le.PutUint16(b[co+2:], uint16(count+1))
}

// initDxNode makes b an index node holding ents (count entries of 8
// bytes, the first one's hash slot taken by dx_countlimit).
func (f *fsys) initDxNode(b []byte, ents []byte) {
	clear(b)
	le.PutUint16(b[4:], disk.RecLenToDisk(f.BlockSize)) // the fake entry spans the block
	copy(b[disk.DxNodeCountOffset:], ents)
	le.PutUint16(b[disk.DxNodeCountOffset:], uint16(f.dxNodeLimit()))
	le.PutUint16(b[disk.DxNodeCountOffset+2:], uint16(len(ents)/disk.DxEntrySize))
}

// dxGrowIndex makes room in the index block above a full leaf (the index
// split of ext4_dx_add_entry): the lowest full block whose parent has room
// is split in two, or, when every block up to the root is full, the root's
// entries move into a new node and the tree gets a level.
func (h *handle) dxGrowIndex(dir *inode, frames []dxFrame) error {
	f := h.f
	i := len(frames) - 1
	for i > 0 && frames[i-1].count >= frames[i-1].limit {
		i--
	}
	if i == 0 {
		if len(frames) >= f.dxMaxLevels() {
			return h.fail(abi.Errorf(abi.ENOSPC, "ext4: inode %d: directory index full", dir.ino))
		}
		root := frames[0]
		newLblk, nb, err := h.appendDirBlock(dir)
		if err != nil {
			return err
		}
		rb, err := h.metaBlock(root.pblk)
		if err != nil {
			return err
		}
		f.initDxNode(nb, rb[root.co:root.co+root.count*disk.DxEntrySize])
		le.PutUint16(rb[root.co+2:], 1)
		le.PutUint32(rb[root.co+4:], uint32(newLblk))
		rb[disk.DxRootInfoOffset+6]++
		dir.setDxCsum(nb, disk.DxNodeCountOffset)
		dir.setDxCsum(rb, root.co)
		return nil
	}
	node, parent := frames[i], frames[i-1]
	newLblk, nb, err := h.appendDirBlock(dir)
	if err != nil {
		return err
	}
	b, err := h.metaBlock(node.pblk)
	if err != nil {
		return err
	}
	c1 := node.count / 2
	hash2 := le.Uint32(b[node.co+c1*disk.DxEntrySize:])
	f.initDxNode(nb, b[node.co+c1*disk.DxEntrySize:node.co+node.count*disk.DxEntrySize])
	le.PutUint16(b[node.co+2:], uint16(c1))
	dir.setDxCsum(nb, disk.DxNodeCountOffset)
	dir.setDxCsum(b, node.co)
	pb, err := h.metaBlock(parent.pblk)
	if err != nil {
		return err
	}
	dxInsertEntry(pb, parent.co, parent.at, hash2, newLblk)
	dir.setDxCsum(pb, parent.co)
	return nil
}

// makeIndexedDir turns a one-block directory that has no room for name
// into an indexed one (make_indexed_dir): block 0 becomes the dx root
// keeping "." and "..", and its entries with the new one are split by
// hash between two new leaf blocks.
func (h *handle) makeIndexedDir(dir *inode, name string, ino uint32, ftype uint8) error {
	f := h.f
	version := f.Super.SDefHashVersion
	if _, ok := dir.dxHash(version, []byte(name)); !ok {
		return h.fail(abi.Errorf(abi.EOPNOTSUPP, "ext4: inode %d: hash version %d not supported for writing", dir.ino, version))
	}
	runs, err := dir.blockRuns()
	if err != nil {
		return err
	}
	pblk0 := pblkOf(runs, 0)
	buf := f.getBlock()
	defer f.putBlock(buf)
	if ok, err := dir.dirBlock(runs, 0, buf); err != nil || !ok {
		return cmpErr(err, abi.Errorf(abi.EUCLEAN, "ext4: inode %d: directory without block 0", dir.ino))
	}
	dot, err := disk.DecodeDirent(buf, 0, f.BlockSize, false)
	if err != nil || string(dot.Name) != "." {
		return abi.Errorf(abi.EUCLEAN, "ext4: inode %d: directory block 0 does not start with \".\"", dir.ino)
	}
	dotdot, err := disk.DecodeDirent(buf, int(dot.RecLen), f.BlockSize, false)
	if err != nil || string(dotdot.Name) != ".." {
		return abi.Errorf(abi.EUCLEAN, "ext4: inode %d: directory block 0 without \"..\"", dir.ino)
	}
	parent := dotdot.Inode
	ents, err := dir.leafEntries(buf, 0, version, nil)
	if err != nil {
		return err
	}
	ents, split, hash2 := dir.splitWith(ents, version, name, ino, ftype)
	l1, b1, err := h.appendDirBlock(dir)
	if err != nil {
		return err
	}
	l2, b2, err := h.appendDirBlock(dir)
	if err != nil {
		return err
	}
	dir.flags |= disk.InodeIndexFl
	f.writeLeaf(b1, ents[:split])
	f.writeLeaf(b2, ents[split:])
	dir.setDirBlockCsum(b1, l1)
	dir.setDirBlockCsum(b2, l2)

	rb, err := h.metaBlock(pblk0)
	if err != nil {
		return err
	}
	clear(rb)
	f.putDirent(rb, 0, dir.ino, disk.DirRecLen(1), []byte("."), 2)
	f.putDirent(rb, int(disk.DirRecLen(1)), parent, f.BlockSize-disk.DirRecLen(1), []byte(".."), 2)
	info := rb[disk.DxRootInfoOffset:]
	info[4] = version
	info[5] = disk.DxRootInfoLen
	co := disk.DxRootCountOffset
	le.PutUint16(rb[co:], uint16(f.dxRootLimit()))
	le.PutUint16(rb[co+2:], 2)
	le.PutUint32(rb[co+4:], uint32(l1))
	le.PutUint32(rb[co+8:], hash2)
	le.PutUint32(rb[co+12:], uint32(l2))
	dir.setDxCsum(rb, co)
	return h.writeInode(dir)
}

// cmpErr returns err, or def when err is nil.
func cmpErr(err, def error) error {
	if err != nil {
		return err
	}
	return def
}
