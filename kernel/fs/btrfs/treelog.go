package btrfs

import (
	"bytes"
	"container/heap"
	"encoding/binary"
	"errors"
	"math"

	disk "github.com/lklimg/lklimg/format/btrfs"
	"github.com/lklimg/lklimg/kernel/abi"
)

// Log replay in memory (fs/btrfs/tree-log.c btrfs_recover_log_trees), as
// Linux's mount replays the log tree of a filesystem fsynced after its
// last commit, with nothing written: each subvolume's log tree is walked
// in Linux's three stages into an overlay of the subvolume's tree (see
// overlay), and the data checksums of the extents it brings back are
// kept beside the checksum tree (fsys.logSums).
//
//  1. Inodes (LOG_WALK_REPLAY_INODES): each logged inode's xattrs the
//     log lacks are deleted (replay_xattr_deletes), a directory's entries
//     in the logged index ranges that the log lacks unlinked
//     (replay_dir_deletes), its inode item copied (do_overwrite_item:
//     nbytes kept from the subvolume's, a directory's size too, a
//     generation 0 item only giving a file's size), a file's extents
//     past its size dropped.
//  2. Directory indexes (LOG_WALK_REPLAY_DIR_INDEX): a logged name the
//     directory lacks is linked (replay_one_name), another inode's entry
//     in its place unlinked, unless an inode ref of the log links it
//     later.
//  3. The rest (LOG_WALK_REPLAY_ALL): xattrs copied, inode refs linked
//     into their directories (add_inode_ref) after what stands in their
//     way is unlinked, the subvolume's names the log's ref item lacks
//     unlinked, file extents put over the range they cover
//     (replay_one_extent, with btrfs_drop_extents' splits) with their
//     checksums.
//
// Then every inode touched gets its link count from its refs
// (fixup_inode_link_counts); one left with none is an orphan, in no
// directory, a directory's entries unlinked in turn. A directory's mtime and ctime are not changed by the names
// linked, as Linux's btrfs_add_link leaves them during a replay. An
// unlink is where this replay differs: Linux stamps the inode's ctime
// and the directory's times with its clock then (what the log's inode
// items copy after overwrites), which this one leaves as they were, so
// that an image always shows the same.
//
// Not replayed, and refused (EOPNOTSUPP: rescue=nologreplay reads the
// last commit): an inode logged with no links (O_TMPFILE), a file extent
// of inline data cut in part, a subvolume's name linked or unlinked, a
// name the directory has by name or by index but not both. Linux
// refuses to replay on read-only media (EIO, "log replay required on RO
// media"): this replay writes nothing, and runs whatever the disk.

// noReplay is the error for what this replay does not do.
func noReplay(format string, args ...any) error {
	return abi.Errorf(abi.EOPNOTSUPP, "btrfs: log tree: "+format+", which this kernel does not replay: mount with -o rescue=nologreplay to read the last committed state", args...)
}

// replayLog replays every subvolume's log tree (btrfs_recover_log_trees).
func (f *fsys) replayLog() error {
	f.log.Printf("BTRFS info (device %s): start tree-log replay", f.name)
	roots := tree{f: f, id: disk.TreeLogObjectid, bytenr: f.sb.LogRoot, level: f.sb.LogRootLevel, gen: f.sb.Generation + 1}
	type logRoot struct {
		id uint64
		ri disk.RootItem
	}
	var logs []logRoot
	start := disk.Key{Objectid: disk.TreeLogObjectid, Type: disk.RootItemKey}
	err := roots.each(start, func(it disk.Item) (bool, error) {
		if it.Key.Objectid != disk.TreeLogObjectid || it.Key.Type != disk.RootItemKey {
			return false, nil
		}
		ri, err := disk.DecodeRootItem(it.Data)
		if err != nil {
			return false, err
		}
		logs = append(logs, logRoot{it.Key.Offset, ri})
		return true, nil
	})
	if err != nil {
		return err
	}
	f.logSums = map[uint64][]byte{}
	for _, l := range logs {
		sv, err := f.subvol(l.id)
		if errors.Is(err, abi.ENOENT) {
			continue // a subvolume deleted since: Linux skips its log
		}
		if err != nil {
			return err
		}
		sv.t.ov = &overlay{}
		r := &replay{f: f, sv: sv, t: &sv.t, transid: f.sb.Generation + 1, inFixup: map[uint64]bool{},
			log: tree{f: f, id: disk.TreeLogObjectid, bytenr: l.ri.Bytenr, level: l.ri.Level, gen: l.ri.Generation}}
		if err := r.run(); err != nil {
			return abi.Errorf(abi.ErrnoOf(err), "btrfs: log tree of subvolume %d: %v", l.id, err)
		}
	}
	return nil
}

// replay is the replay of one subvolume's log tree (struct walk_control).
type replay struct {
	f       *fsys
	sv      *subvol
	t       *tree // the subvolume's tree, its overlay the replay's
	log     tree
	transid uint64
	// fixup are the inodes whose link count is counted at the end
	// (link_to_fixup_dir's items), a heap of the highest first, and
	// which are in it.
	fixup   inoHeap
	inFixup map[uint64]bool
}

// inoHeap is a max-heap of inode numbers (container/heap).
type inoHeap []uint64

func (h inoHeap) Len() int           { return len(h) }
func (h inoHeap) Less(i, j int) bool { return h[i] > h[j] }
func (h inoHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *inoHeap) Push(x any)        { *h = append(*h, x.(uint64)) }
func (h *inoHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// run walks the log in Linux's three stages, then fixes link counts.
func (r *replay) run() error {
	stages := []func(disk.Item) error{r.stageInodes, r.stageDirIndex, r.stageAll}
	for _, stage := range stages {
		err := r.log.each(disk.Key{}, func(it disk.Item) (bool, error) {
			return true, stage(it)
		})
		if err != nil {
			return err
		}
	}
	// fixup_inode_link_counts: the highest inode first, again after
	// each, as a directory's fixup may add its entries' inodes.
	for r.fixup.Len() > 0 {
		top := heap.Pop(&r.fixup).(uint64)
		delete(r.inFixup, top)
		if err := r.fixupLinks(top); err != nil {
			return err
		}
	}
	return nil
}

func (r *replay) stageInodes(it disk.Item) error {
	if it.Key.Type != disk.InodeItemKey {
		return nil
	}
	ino := it.Key.Objectid
	in, err := disk.DecodeInodeItem(it.Data)
	if err != nil {
		return err
	}
	if in.Nlink == 0 {
		return noReplay("inode %d logged with no links (O_TMPFILE)", ino)
	}
	if err := r.xattrDeletes(ino); err != nil {
		return err
	}
	if in.Mode&abi.S_IFMT == abi.S_IFDIR {
		if err := r.dirDeletes(ino); err != nil {
			return err
		}
	}
	if err := r.overwriteInode(ino, bytes.Clone(it.Data)); err != nil {
		return err
	}
	if in.Mode&abi.S_IFMT == abi.S_IFREG {
		// The extents past the size go before the log's are put back:
		// prealloc ones past it may be among them.
		b, _, err := r.inode(ino)
		if err != nil {
			return err
		}
		sec := uint64(r.f.sb.SectorSize)
		size := le64(b, disk.InodeSizeOffset)
		found, err := r.dropExtents(ino, (size+sec-1)/sec*sec, math.MaxUint64)
		if err != nil {
			return err
		}
		if err := r.addBytes(ino, 0, found); err != nil {
			return err
		}
	}
	r.addFixup(ino)
	return nil
}

func (r *replay) stageDirIndex(it disk.Item) error {
	if it.Key.Type != disk.DirIndexKey {
		return nil
	}
	return r.replayName(it)
}

func (r *replay) stageAll(it disk.Item) error {
	switch it.Key.Type {
	case disk.XattrItemKey:
		r.t.ov.put(it.Key, bytes.Clone(it.Data))
	case disk.InodeRefKey, disk.InodeExtrefKey:
		return r.replayRef(it)
	case disk.ExtentDataKey:
		return r.replayExtent(it)
	}
	return nil
}

// le64 reads the little-endian u64 at off of an item being rewritten.
func le64(b []byte, off int) uint64 { return binary.LittleEndian.Uint64(b[off:]) }

// get returns a copy of the item with key k in the subvolume as the
// replay has it so far.
func (r *replay) get(k disk.Key) ([]byte, bool, error) {
	it, ok, err := r.t.lookup(k)
	if err != nil || !ok {
		return nil, false, err
	}
	return bytes.Clone(it.Data), true, nil
}

// inode returns inode ino's item (a copy) and its decoding; ok false
// when the subvolume has none.
func (r *replay) inode(ino uint64) ([]byte, *disk.InodeItem, error) {
	b, ok, err := r.get(disk.Key{Objectid: ino, Type: disk.InodeItemKey})
	if err != nil || !ok {
		return nil, nil, err
	}
	in, err := disk.DecodeInodeItem(b)
	if err != nil {
		return nil, nil, abi.Errorf(abi.EUCLEAN, "inode %d: %v", ino, err)
	}
	return b, &in, nil
}

// mustInode is inode for one that must exist (read_one_inode's EIO).
func (r *replay) mustInode(ino uint64) ([]byte, *disk.InodeItem, error) {
	b, in, err := r.inode(ino)
	if err == nil && in == nil {
		err = abi.Errorf(abi.EUCLEAN, "inode %d the log names is in neither the log nor the subvolume", ino)
	}
	return b, in, err
}

func (r *replay) putInode(ino uint64, b []byte) {
	r.t.ov.put(disk.Key{Objectid: ino, Type: disk.InodeItemKey}, b)
}

// addBytes adds add and takes del from inode ino's nbytes
// (btrfs_update_inode_bytes).
func (r *replay) addBytes(ino, add, del uint64) error {
	if add == del {
		return nil
	}
	b, _, err := r.mustInode(ino)
	if err != nil {
		return err
	}
	binary.LittleEndian.PutUint64(b[disk.InodeNbytesOffset:], le64(b, disk.InodeNbytesOffset)+add-del)
	r.putInode(ino, b)
	return nil
}

// addFixup records ino for the link count fixup (link_to_fixup_dir).
func (r *replay) addFixup(ino uint64) {
	if !r.inFixup[ino] {
		r.inFixup[ino] = true
		heap.Push(&r.fixup, ino)
	}
}

// overwriteInode copies the log's inode item l into the subvolume as
// do_overwrite_item does.
func (r *replay) overwriteInode(ino uint64, l []byte) error {
	e, ein, err := r.inode(ino)
	if err != nil {
		return err
	}
	lin, err := disk.DecodeInodeItem(l)
	if err != nil {
		return err
	}
	isDir := func(mode uint32) bool { return mode&abi.S_IFMT == abi.S_IFDIR }
	isReg := func(mode uint32) bool { return mode&abi.S_IFMT == abi.S_IFREG }
	if ein != nil && bytes.Equal(e, l) {
		return nil
	}
	// The subvolume's nbytes (0 for a new inode): the extents
	// replayed add theirs. A directory's size is made by the names
	// linked.
	nbytes := uint64(0)
	if ein != nil {
		nbytes = ein.Nbytes
	}
	binary.LittleEndian.PutUint64(l[disk.InodeNbytesOffset:], nbytes)
	if isDir(lin.Mode) {
		binary.LittleEndian.PutUint64(l[disk.InodeSizeOffset:], 0)
	}
	if ein != nil {
		if lin.Generation == 0 {
			// Logged only so that it exists: a file's size at most.
			if isReg(lin.Mode) && isReg(ein.Mode) && lin.Size != 0 {
				binary.LittleEndian.PutUint64(e[disk.InodeSizeOffset:], lin.Size)
				r.putInode(ino, e)
			}
			return nil
		}
		if isDir(lin.Mode) && isDir(ein.Mode) {
			binary.LittleEndian.PutUint64(l[disk.InodeSizeOffset:], ein.Size)
		}
	}
	if lin.Generation == 0 {
		binary.LittleEndian.PutUint64(l[disk.InodeGenerationOffset:], r.transid)
	}
	r.putInode(ino, l)
	return nil
}

// dirEntry finds name in the dir items of the item with key k: its
// entry, and whether there is one.
func (r *replay) dirEntry(t *tree, k disk.Key, name []byte) (disk.DirItem, bool, error) {
	it, ok, err := t.lookup(k)
	if err != nil || !ok {
		return disk.DirItem{}, false, err
	}
	items, err := disk.DecodeDirItems(it.Data)
	if err != nil {
		return disk.DirItem{}, false, err
	}
	for _, d := range items {
		if bytes.Equal(d.Name, name) {
			return d, true, nil
		}
	}
	return disk.DirItem{}, false, nil
}

// withoutEntry returns the dir item data b without the entry of name.
func withoutEntry(b, name []byte) ([]byte, error) {
	items, err := disk.DecodeDirItems(b)
	if err != nil {
		return nil, err
	}
	var out []byte
	off := 0
	for _, d := range items {
		n := disk.DirItemSize + len(d.Name) + len(d.Data)
		if !bytes.Equal(d.Name, name) {
			out = append(out, b[off:off+n]...)
		}
		off += n
	}
	return out, nil
}

// xattrDeletes deletes inode ino's xattrs the log does not hold
// (replay_xattr_deletes).
func (r *replay) xattrDeletes(ino uint64) error {
	type gone struct {
		k    disk.Key
		name []byte
	}
	var dels []gone
	err := r.t.each(disk.Key{Objectid: ino, Type: disk.XattrItemKey}, func(it disk.Item) (bool, error) {
		if it.Key.Objectid != ino || it.Key.Type != disk.XattrItemKey {
			return false, nil
		}
		items, err := disk.DecodeDirItems(it.Data)
		if err != nil {
			return false, err
		}
		for _, d := range items {
			_, inLog, err := r.dirEntry(&r.log, disk.Key{Objectid: ino, Type: disk.XattrItemKey, Offset: uint64(disk.NameHash(d.Name))}, d.Name)
			if err != nil {
				return false, err
			}
			if !inLog {
				dels = append(dels, gone{it.Key, bytes.Clone(d.Name)})
			}
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	for _, g := range dels {
		b, ok, err := r.get(g.k)
		if err != nil || !ok {
			return err
		}
		if b, err = withoutEntry(b, g.name); err != nil {
			return err
		}
		if len(b) == 0 {
			b = nil
		}
		r.t.ov.put(g.k, b)
	}
	return nil
}

// dirDeletes checks directory dir's entries in the index ranges the log
// is complete for (replay_dir_deletes): one the log lacks was removed
// after the commit, which this replay does not do.
func (r *replay) dirDeletes(dir uint64) error {
	if _, in, err := r.inode(dir); err != nil || in == nil {
		return err // a new directory: nothing to delete
	}
	type span struct{ start, end uint64 }
	var spans []span
	var gone []disk.DirItem
	err := r.log.each(disk.Key{Objectid: dir, Type: disk.DirLogIndexKey}, func(it disk.Item) (bool, error) {
		if it.Key.Objectid != dir || it.Key.Type != disk.DirLogIndexKey {
			return false, nil
		}
		end, err := disk.DecodeDirLogItem(it.Data, it.Key.Offset)
		spans = append(spans, span{it.Key.Offset, end})
		return err == nil, err
	})
	if err != nil {
		return err
	}
	for _, s := range spans {
		err := r.t.each(disk.Key{Objectid: dir, Type: disk.DirIndexKey, Offset: s.start}, func(it disk.Item) (bool, error) {
			if it.Key.Objectid != dir || it.Key.Type != disk.DirIndexKey || it.Key.Offset > s.end {
				return false, nil
			}
			items, err := disk.DecodeDirItems(it.Data)
			if err != nil || len(items) != 1 {
				return false, abi.Errorf(abi.EUCLEAN, "directory %d: dir index %d: %d items, %v", dir, it.Key.Offset, len(items), err)
			}
			_, inLog, err := r.dirEntry(&r.log, it.Key, items[0].Name)
			if err != nil {
				return false, err
			}
			if !inLog {
				gone = append(gone, items[0])
			}
			return it.Key.Offset != math.MaxUint64, nil
		})
		if err != nil {
			return err
		}
	}
	// Removed after the commit (check_item_in_log): unlinked, the link
	// count counted again at the end.
	for _, d := range gone {
		if err := r.dropEntry(dir, d); err != nil {
			return err
		}
	}
	return nil
}

// dropEntry unlinks the entry d of directory dir (drop_one_dir_item):
// its inode's link count is counted again at the end.
func (r *replay) dropEntry(dir uint64, d disk.DirItem) error {
	if d.Location.Type != disk.InodeItemKey {
		return noReplay("directory %d: %q, a subvolume, unlinked", dir, d.Name)
	}
	ino := d.Location.Objectid
	if _, _, err := r.mustInode(ino); err != nil {
		return err
	}
	r.addFixup(ino)
	return r.unlink(dir, ino, d.Name)
}

// unlink removes name of inode ino from directory dir
// (__btrfs_unlink_inode): its inode ref entry, whose index names the
// DIR_INDEX item, its DIR_ITEM entry; the directory's size shrinks by
// twice the name, the inode's link count by one. Linux stamps the inode's
// ctime and the directory's mtime and ctime with the time of the replay
// (which the log's inode items then overwrite for the inodes it holds);
// the times are left here, so that the same image always shows the same.
func (r *replay) unlink(dir, ino uint64, name []byte) error {
	idx, err := r.delRef(ino, dir, name)
	if err != nil {
		return err
	}
	hashKey := disk.Key{Objectid: dir, Type: disk.DirItemKey, Offset: uint64(disk.NameHash(name))}
	if b, ok, err := r.get(hashKey); err != nil {
		return err
	} else if ok {
		if b, err = withoutEntry(b, name); err != nil {
			return err
		}
		if len(b) == 0 {
			b = nil
		}
		r.t.ov.put(hashKey, b)
	}
	indexKey := disk.Key{Objectid: dir, Type: disk.DirIndexKey, Offset: idx}
	if _, ok, err := r.dirEntry(r.t, indexKey, name); err != nil {
		return err
	} else if ok {
		r.t.ov.put(indexKey, nil)
	}
	b, _, err := r.mustInode(dir)
	if err != nil {
		return err
	}
	binary.LittleEndian.PutUint64(b[disk.InodeSizeOffset:], le64(b, disk.InodeSizeOffset)-min(le64(b, disk.InodeSizeOffset), 2*uint64(len(name)))) // not below 0 on a damaged log
	r.putInode(dir, b)
	return r.addNlink(ino, -1)
}

// addNlink changes inode ino's link count by delta, not below 0.
func (r *replay) addNlink(ino uint64, delta int) error {
	b, in, err := r.mustInode(ino)
	if err != nil {
		return err
	}
	n := max(int64(in.Nlink)+int64(delta), 0)
	binary.LittleEndian.PutUint32(b[disk.InodeNlinkOffset:], uint32(n))
	r.putInode(ino, b)
	return nil
}

// delRef removes name in parent from inode ino's INODE_REF item, or its
// INODE_EXTREF item, and returns the name's index (btrfs_del_inode_ref).
func (r *replay) delRef(ino, parent uint64, name []byte) (uint64, error) {
	for _, k := range []disk.Key{
		{Objectid: ino, Type: disk.InodeRefKey, Offset: parent},
		{Objectid: ino, Type: disk.InodeExtrefKey, Offset: disk.ExtrefHash(parent, name)},
	} {
		b, ok, err := r.get(k)
		if err != nil {
			return 0, err
		}
		if !ok {
			continue
		}
		ext := k.Type == disk.InodeExtrefKey
		refs, err := disk.DecodeInodeRefs(b, k.Offset, ext)
		if err != nil {
			return 0, err
		}
		var out []byte
		off, idx, found := 0, uint64(0), false
		for _, ref := range refs {
			n := disk.InodeRefSize + len(ref.Name)
			if ext {
				n = disk.InodeExtrefSize + len(ref.Name)
			}
			if !found && ref.Parent == parent && bytes.Equal(ref.Name, name) {
				idx, found = ref.Index, true
			} else {
				out = append(out, b[off:off+n]...)
			}
			off += n
		}
		if !found {
			continue
		}
		if len(out) == 0 {
			out = nil
		}
		r.t.ov.put(k, out)
		return idx, nil
	}
	return 0, abi.Errorf(abi.EUCLEAN, "inode %d has no ref of %q in directory %d to unlink", ino, name, parent)
}

// replayName replays a logged DIR_INDEX item (replay_one_name).
func (r *replay) replayName(it disk.Item) error {
	dir, idx := it.Key.Objectid, it.Key.Offset
	items, err := disk.DecodeDirItems(it.Data)
	if err != nil || len(items) != 1 {
		return abi.Errorf(abi.EUCLEAN, "directory %d: logged dir index %d: %d items, %v", dir, idx, len(items), err)
	}
	d := items[0]
	if _, _, err := r.mustInode(dir); err != nil {
		return err
	}
	if d.Location.Type != disk.InodeItemKey {
		return noReplay("directory %d: %q names a subvolume", dir, d.Name)
	}
	ino := d.Location.Objectid
	_, target, err := r.inode(ino)
	if err != nil {
		return err
	}
	exists := target != nil
	match := func(k disk.Key) (bool, bool, error) {
		e, ok, err := r.dirEntry(r.t, k, d.Name)
		if err != nil || !ok {
			return false, false, err
		}
		return true, e.Location == d.Location && e.Type == d.Type, nil
	}
	hashKey := disk.Key{Objectid: dir, Type: disk.DirItemKey, Offset: uint64(disk.NameHash(d.Name))}
	_, nameOK, err := match(hashKey)
	if err != nil {
		return err
	}
	_, indexOK, err := match(it.Key)
	if err != nil {
		return err
	}
	// An entry of the name or the index for another inode goes
	// (delete_conflicting_dir_entry), when the logged one's inode is
	// there to take its place.
	for _, k := range []disk.Key{hashKey, it.Key} {
		if e, ok, err := r.dirEntry(r.t, k, d.Name); err != nil {
			return err
		} else if ok && exists && (e.Location != d.Location || e.Type != d.Type) {
			if err := r.dropEntry(dir, e); err != nil {
				return err
			}
		}
	}
	if nameOK && indexOK {
		return nil
	}
	if ok, err := r.backrefInLog(ino, dir, d.Name); err != nil || ok {
		return err // the inode's ref links it in stage 3
	}
	if !exists {
		return nil // a name of an inode neither the log nor the subvolume has
	}
	if nameOK || indexOK {
		return noReplay("directory %d: %q half linked", dir, d.Name)
	}
	if err := r.addLink(dir, ino, d.Name, idx, true); err != nil {
		return err
	}
	if d.Type&disk.FtMask != disk.FtDir {
		r.addFixup(ino)
	}
	return nil
}

// backrefInLog reports whether the log has name among inode ino's refs
// in parent (backref_in_log, for INODE_REF and INODE_EXTREF).
func (r *replay) backrefInLog(ino, parent uint64, name []byte) (bool, error) {
	for _, k := range []disk.Key{
		{Objectid: ino, Type: disk.InodeRefKey, Offset: parent},
		{Objectid: ino, Type: disk.InodeExtrefKey, Offset: disk.ExtrefHash(parent, name)},
	} {
		if ok, err := refsHave(&r.log, k, parent, name); err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

// refsHave reports whether the INODE_REF or INODE_EXTREF item with key
// k in t has name in parent (btrfs_find_name_in_backref and its
// extended twin).
func refsHave(t *tree, k disk.Key, parent uint64, name []byte) (bool, error) {
	it, ok, err := t.lookup(k)
	if err != nil || !ok {
		return false, err
	}
	refs, err := disk.DecodeInodeRefs(it.Data, k.Offset, k.Type == disk.InodeExtrefKey)
	if err != nil {
		return false, err
	}
	for _, ref := range refs {
		if ref.Parent == parent && bytes.Equal(ref.Name, name) {
			return true, nil
		}
	}
	return false, nil
}

// addLink links inode ino into dir as name at index idx (btrfs_add_link
// during a replay): its DIR_ITEM and DIR_INDEX entries, with backref its
// INODE_REF entry too, and the directory's size grown by twice the name.
func (r *replay) addLink(dir, ino uint64, name []byte, idx uint64, backref bool) error {
	_, in, err := r.mustInode(ino)
	if err != nil {
		return err
	}
	entry := disk.EncodeDirItem(disk.Key{Objectid: ino, Type: disk.InodeItemKey}, r.transid, abi.FtypeFromMode(in.Mode), name)
	hashKey := disk.Key{Objectid: dir, Type: disk.DirItemKey, Offset: uint64(disk.NameHash(name))}
	old, _, err := r.get(hashKey)
	if err != nil {
		return err
	}
	indexKey := disk.Key{Objectid: dir, Type: disk.DirIndexKey, Offset: idx}
	if _, taken, err := r.t.lookup(indexKey); err != nil || taken {
		if err == nil {
			err = noReplay("directory %d: index %d taken by another name", dir, idx)
		}
		return err
	}
	r.t.ov.put(hashKey, append(old, entry...))
	r.t.ov.put(indexKey, entry)
	if backref {
		refKey := disk.Key{Objectid: ino, Type: disk.InodeRefKey, Offset: dir}
		ref, _, err := r.get(refKey)
		if err != nil {
			return err
		}
		var head [disk.InodeRefSize]byte
		binary.LittleEndian.PutUint64(head[:], idx)
		head[8], head[9] = byte(len(name)), byte(len(name)>>8)
		r.t.ov.put(refKey, append(append(ref, head[:]...), name...))
	}
	b, _, err := r.mustInode(dir)
	if err != nil {
		return err
	}
	binary.LittleEndian.PutUint64(b[disk.InodeSizeOffset:], le64(b, disk.InodeSizeOffset)+2*uint64(len(name)))
	r.putInode(dir, b)
	return nil
}

// replayRef replays a logged INODE_REF or INODE_EXTREF item
// (add_inode_ref): each name the directory lacks is linked, after what
// stands in its way is unlinked; the subvolume's names of the item the
// log lacks are unlinked; then the item is copied.
func (r *replay) replayRef(it disk.Item) error {
	ino := it.Key.Objectid
	ext := it.Key.Type == disk.InodeExtrefKey
	refs, err := disk.DecodeInodeRefs(it.Data, it.Key.Offset, ext)
	if err != nil {
		return err
	}
	if !ext {
		if _, in, err := r.inode(it.Key.Offset); err != nil || in == nil {
			return err // the directory is not there: the fixup counts
		}
	}
	if _, _, err := r.mustInode(ino); err != nil {
		return err
	}
	searched := false
	for _, ref := range refs {
		if _, in, err := r.inode(ref.Parent); err != nil || in == nil {
			return err
		}
		in, err := r.inodeInDir(ref.Parent, ino, ref.Index, ref.Name)
		if err != nil {
			return err
		}
		if in {
			continue
		}
		if !searched {
			if ino == ref.Parent {
				return nil // the root directory's own ref
			}
			searched = true
			if err := r.dropVictims(it, ino, ref); err != nil {
				return err
			}
		}
		// The same name at another index goes first
		// (btrfs_inode_ref_exists).
		if has, err := r.refHasName(ino, ref.Parent, ref.Name, ext); err != nil {
			return err
		} else if has {
			if err := r.unlink(ref.Parent, ino, ref.Name); err != nil {
				return err
			}
			if err := r.addNlink(ino, 1); err != nil {
				return err
			}
		}
		// Another inode's entry of the name goes (add_link).
		hashKey := disk.Key{Objectid: ref.Parent, Type: disk.DirItemKey, Offset: uint64(disk.NameHash(ref.Name))}
		if e, ok, err := r.dirEntry(r.t, hashKey, ref.Name); err != nil {
			return err
		} else if ok {
			if e.Location.Type != disk.InodeItemKey {
				return noReplay("directory %d: %q, a subvolume, unlinked", ref.Parent, ref.Name)
			}
			if err := r.unlink(ref.Parent, e.Location.Objectid, ref.Name); err != nil {
				return err
			}
		}
		if err := r.addLink(ref.Parent, ino, ref.Name, ref.Index, false); err != nil {
			return err
		}
	}
	// The subvolume's names in this item the log lacks are unlinked
	// (unlink_old_inode_refs), each unlink taking one away: as many
	// rounds as a ref item can hold names at most.
	for round := 0; ; round++ {
		if round > maxRefNames {
			return abi.Errorf(abi.EUCLEAN, "inode %d: ref item %v: names do not go", ino, it.Key)
		}
		old, ok, err := r.get(it.Key)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		olds, err := disk.DecodeInodeRefs(old, it.Key.Offset, ext)
		if err != nil {
			return err
		}
		var gone *disk.InodeRef
		for i, o := range olds {
			found := false
			for _, ref := range refs {
				found = found || ref.Parent == o.Parent && bytes.Equal(ref.Name, o.Name)
			}
			if !found {
				gone = &olds[i]
				break
			}
		}
		if gone == nil {
			break
		}
		if _, in, err := r.inode(gone.Parent); err != nil || in == nil {
			return err
		}
		if err := r.unlink(gone.Parent, ino, bytes.Clone(gone.Name)); err != nil {
			return err
		}
	}
	r.t.ov.put(it.Key, bytes.Clone(it.Data))
	return nil
}

// refHasName reports whether inode ino's ref item of the type logged
// has name in parent.
func (r *replay) refHasName(ino, parent uint64, name []byte, ext bool) (bool, error) {
	k := disk.Key{Objectid: ino, Type: disk.InodeRefKey, Offset: parent}
	if ext {
		k = disk.Key{Objectid: ino, Type: disk.InodeExtrefKey, Offset: disk.ExtrefHash(parent, name)}
	}
	return refsHave(r.t, k, parent, name)
}

// inodeInDir reports whether dir has name at index idx, and by name,
// for inode ino (inode_in_dir).
func (r *replay) inodeInDir(dir, ino, idx uint64, name []byte) (bool, error) {
	e, ok, err := r.dirEntry(r.t, disk.Key{Objectid: dir, Type: disk.DirIndexKey, Offset: idx}, name)
	if err != nil || !ok || e.Location.Objectid != ino {
		return false, err
	}
	e, ok, err = r.dirEntry(r.t, disk.Key{Objectid: dir, Type: disk.DirItemKey, Offset: uint64(disk.NameHash(name))}, name)
	return ok && e.Location.Objectid == ino, err
}

// maxRefNames bounds the unlinks of one inode's names in one ref
// replay, an inode's links at most (BTRFS_LINK_MAX): a damaged tree
// whose unlink leaves a name in place is EUCLEAN, not a loop.
const maxRefNames = 65535

// dropVictims unlinks what stands in the way of the logged ref (item
// it) of inode ino (__add_inode_ref): the inode's names in the parent
// the log lacks, then another entry at the ref's index or of its name.
func (r *replay) dropVictims(it disk.Item, ino uint64, ref disk.InodeRef) error {
	for _, typ := range []uint8{disk.InodeRefKey, disk.InodeExtrefKey} {
		for round := 0; ; round++ {
			if round > maxRefNames {
				return abi.Errorf(abi.EUCLEAN, "inode %d: names in directory %d do not go", ino, ref.Parent)
			}
			var victim []byte
			err := r.t.each(disk.Key{Objectid: ino, Type: typ}, func(vit disk.Item) (bool, error) {
				if vit.Key.Objectid != ino || vit.Key.Type != typ {
					return false, nil
				}
				if typ == disk.InodeRefKey && vit.Key.Offset != ref.Parent {
					return vit.Key.Offset < ref.Parent, nil
				}
				olds, err := disk.DecodeInodeRefs(vit.Data, vit.Key.Offset, typ == disk.InodeExtrefKey)
				if err != nil {
					return false, err
				}
				for _, o := range olds {
					if o.Parent != ref.Parent {
						continue
					}
					if in, err := r.backrefInLog(ino, o.Parent, o.Name); err != nil || !in {
						victim = bytes.Clone(o.Name)
						return false, err
					}
				}
				return true, nil
			})
			if err != nil {
				return err
			}
			if victim == nil {
				break
			}
			if err := r.unlink(ref.Parent, ino, victim); err != nil {
				return err
			}
			if err := r.addNlink(ino, 1); err != nil {
				return err
			}
		}
	}
	for _, k := range []disk.Key{
		{Objectid: ref.Parent, Type: disk.DirIndexKey, Offset: ref.Index},
		{Objectid: ref.Parent, Type: disk.DirItemKey, Offset: uint64(disk.NameHash(ref.Name))},
	} {
		if e, ok, err := r.dirEntry(r.t, k, ref.Name); err != nil {
			return err
		} else if ok {
			if err := r.dropEntry(ref.Parent, e); err != nil {
				return err
			}
		}
	}
	return nil
}

// replayExtent replays a logged EXTENT_DATA item (replay_one_extent):
// the extents over its range dropped, it put in, its checksums kept,
// the inode's nbytes made up.
func (r *replay) replayExtent(it disk.Item) error {
	ino, start := it.Key.Objectid, it.Key.Offset
	e, err := disk.DecodeFileExtent(it.Data, r.f.sb.SectorSize)
	if err != nil {
		return err
	}
	sec := uint64(r.f.sb.SectorSize)
	var nbytes, end uint64
	if e.Type == disk.FileExtentInline {
		nbytes = e.RAMBytes
		end = (start + e.RAMBytes + sec - 1) / sec * sec
	} else {
		nbytes, end = e.NumBytes, start+e.NumBytes
		if e.DiskBytenr == 0 {
			nbytes = 0
		}
	}
	if end < start {
		return abi.Errorf(abi.EUCLEAN, "inode %d: logged extent at %d overflows", ino, start)
	}
	if _, _, err := r.mustInode(ino); err != nil {
		return err
	}
	if e.Type != disk.FileExtentInline {
		old, ok, err := r.get(it.Key)
		if err != nil {
			return err
		}
		if ok && len(old) >= disk.FileExtentItemSize && bytes.Equal(old[:disk.FileExtentItemSize], it.Data[:disk.FileExtentItemSize]) {
			return nil // this very extent
		}
	}
	found, err := r.dropExtents(ino, start, end)
	if err != nil {
		return err
	}
	switch {
	case e.Type == disk.FileExtentInline:
		r.t.ov.put(it.Key, bytes.Clone(it.Data))
	case e.DiskBytenr == 0 && r.f.sb.IncompatFlags&disk.IncompatNoHoles != 0:
		// No hole items with NO_HOLES: the range dropped is the hole.
	default:
		r.t.ov.put(it.Key, bytes.Clone(it.Data[:disk.FileExtentItemSize]))
		if e.DiskBytenr != 0 {
			lo, n := e.DiskBytenr+e.Offset, e.NumBytes
			if e.Compression != disk.CompressNone {
				lo, n = e.DiskBytenr, e.DiskNumBytes
			}
			if err := r.copySums(lo, lo+n); err != nil {
				return err
			}
		}
	}
	return r.addBytes(ino, nbytes, found)
}

// copySums keeps the log's data checksums of the sectors in [lo, hi).
func (r *replay) copySums(lo, hi uint64) error {
	return r.f.eachSum(&r.log, lo, hi, func(s uint64, sum []byte) error {
		r.f.logSums[s] = bytes.Clone(sum)
		return nil
	})
}

// dropExtents drops inode ino's file extents over [start, end), cutting
// those that stick out (btrfs_drop_extents), and returns the bytes they
// held.
func (r *replay) dropExtents(ino, start, end uint64) (uint64, error) {
	var hit []disk.Item
	var c cursor
	if err := r.t.seek(disk.Key{Objectid: ino, Type: disk.ExtentDataKey, Offset: start}, &c); err != nil {
		return 0, err
	}
	for it, ok := c.item(); ; it, ok = c.item() {
		if ok && it.Key.Objectid == ino && it.Key.Type == disk.ExtentDataKey {
			if it.Key.Offset >= end {
				break
			}
			hit = append(hit, disk.Item{Key: it.Key, Data: bytes.Clone(it.Data)})
		} else if ok && (it.Key.Objectid > ino || it.Key.Objectid == ino && it.Key.Type > disk.ExtentDataKey) {
			break
		}
		if more, err := c.next(); err != nil || !more {
			if err != nil {
				return 0, err
			}
			break
		}
	}
	var found uint64
	for _, it := range hit {
		e, err := disk.DecodeFileExtent(it.Data, r.f.sb.SectorSize)
		if err != nil {
			return 0, abi.Errorf(abi.EUCLEAN, "inode %d: extent at %d: %v", ino, it.Key.Offset, err)
		}
		kOff := it.Key.Offset
		eEnd := kOff + extentLen(e)
		if eEnd <= start || eEnd < kOff {
			continue
		}
		counts := e.Type == disk.FileExtentInline || e.DiskBytenr != 0
		if e.Type == disk.FileExtentInline && (kOff < start || eEnd > end) {
			return 0, noReplay("inode %d: inline extent at %d cut in part", ino, kOff)
		}
		cut := func(b []byte, newStart, newEnd uint64) []byte {
			b = bytes.Clone(b)
			binary.LittleEndian.PutUint64(b[disk.FileExtentOffset:], e.Offset+newStart-kOff)
			binary.LittleEndian.PutUint64(b[disk.FileExtentNumBytes:], newEnd-newStart)
			return b
		}
		var gone uint64
		switch {
		case kOff < start && eEnd > end: // the middle: two pieces
			r.t.ov.put(it.Key, cut(it.Data, kOff, start))
			r.t.ov.put(disk.Key{Objectid: ino, Type: disk.ExtentDataKey, Offset: end}, cut(it.Data, end, eEnd))
			gone = end - start
		case kOff < start: // the tail
			r.t.ov.put(it.Key, cut(it.Data, kOff, start))
			gone = eEnd - start
		case eEnd > end: // the head
			r.t.ov.put(it.Key, nil)
			r.t.ov.put(disk.Key{Objectid: ino, Type: disk.ExtentDataKey, Offset: end}, cut(it.Data, end, eEnd))
			gone = end - kOff
		default:
			r.t.ov.put(it.Key, nil)
			gone = eEnd - kOff
		}
		if counts {
			found += gone
		}
	}
	return found, nil
}

// fixupLinks sets inode ino's link count to its names' count
// (fixup_inode_link_count).
func (r *replay) fixupLinks(ino uint64) error {
	n := uint32(0)
	for _, typ := range []uint8{disk.InodeRefKey, disk.InodeExtrefKey} {
		err := r.t.each(disk.Key{Objectid: ino, Type: typ}, func(it disk.Item) (bool, error) {
			if it.Key.Objectid != ino || it.Key.Type != typ {
				return false, nil
			}
			refs, err := disk.DecodeInodeRefs(it.Data, it.Key.Offset, typ == disk.InodeExtrefKey)
			n += uint32(len(refs))
			return err == nil, err
		})
		if err != nil {
			return err
		}
	}
	b, in, err := r.mustInode(ino)
	if err != nil {
		return err
	}
	if n == 0 && in.Mode&abi.S_IFMT == abi.S_IFDIR {
		// Removed (rm -rf of its parent fsynced): its entries are
		// unlinked (replay_dir_deletes of all), their inodes fixed up
		// in turn.
		var gone []disk.DirItem
		err := r.t.each(disk.Key{Objectid: ino, Type: disk.DirIndexKey}, func(it disk.Item) (bool, error) {
			if it.Key.Objectid != ino || it.Key.Type != disk.DirIndexKey {
				return false, nil
			}
			items, err := disk.DecodeDirItems(it.Data)
			if err != nil || len(items) != 1 {
				return false, abi.Errorf(abi.EUCLEAN, "directory %d: dir index %d: %d items, %v", ino, it.Key.Offset, len(items), err)
			}
			gone = append(gone, items[0])
			return true, nil
		})
		if err != nil {
			return err
		}
		for _, d := range gone {
			if err := r.dropEntry(ino, d); err != nil {
				return err
			}
		}
		if b, in, err = r.mustInode(ino); err != nil {
			return err
		}
	}
	if in.Nlink != n {
		binary.LittleEndian.PutUint32(b[disk.InodeNlinkOffset:], n)
		r.putInode(ino, b)
	}
	return nil
}
