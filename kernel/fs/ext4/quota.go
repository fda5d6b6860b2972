package ext4

import (
	"cmp"
	"slices"

	disk "github.com/lklimg/lklimg/format/ext4"
	"github.com/lklimg/lklimg/kernel/abi"
)

// Quota accounting with the quota feature (RO_COMPAT_QUOTA): the usage of
// every user, group and project is kept in hidden quota inodes named by
// the superblock (s_usr_quota_inum, s_grp_quota_inum, s_prj_quota_inum),
// journaled with the rest of the metadata, as Linux does for "journalled
// quota" (fs/ext4/super.c ext4_quota_write, ext4_mark_dquot_dirty).
//
// The files are in the QFMT_VFS_V1 format (fs/quota/quota_v2.c,
// quotaio_v2.h; e2fsprogs lib/support/quotaio_v2.h, quotaio_tree.c), made
// of 1 KiB quota blocks:
//
//   - block 0: struct v2_disk_dqheader (dqh_magic per type, dqh_version 1)
//     then at byte 8 struct v2_disk_dqinfo (dqi_bgrace, dqi_igrace,
//     dqi_flags, dqi_blocks: the file's blocks, dqi_free_blk: head of the
//     list of free blocks, dqi_free_entry: head of the list of data blocks
//     with a free entry);
//   - from block 1 (QT_TREEOFF), a radix tree of depth 4 over the id, one
//     byte of the id per level from the most significant, each tree block
//     256 little-endian block numbers (0: none);
//   - data blocks: struct qt_disk_dqdbheader (dqdh_next_free,
//     dqdh_prev_free, dqdh_entries, padding: 16 bytes) then 14 entries of
//     struct v2r1_disk_dqblk (72 bytes: dqb_id, pad, dqb_ihardlimit,
//     dqb_isoftlimit, dqb_curinodes, dqb_bhardlimit, dqb_bsoftlimit in
//     1 KiB units, dqb_curspace in bytes, dqb_btime, dqb_itime); an
//     all-zero entry is unused.
//
// What is counted is what e2fsck counts (e2fsck/pass1.c check_blocks,
// lib/support/mkquota.c quota_compute_usage): every in-use inode that is
// the root or from s_first_ino on, except the project quota inode, the
// orphan file and EA inodes, counts one inode and i_blocks*512 bytes for
// its uid, its gid and its i_projid (0 when i_extra_isize does not cover
// it), and one inode more per entry naming an ea_inode in its own area
// or in its attribute block, shared or not (check_ext_attr's
// quota_inodes; Linux's ext4_xattr_inode_alloc_quota and
// ext4_get_inode_usage, which a chown moves). The driver charges an
// inode's change where it is written (putInode: the slot's owners and
// i_blocks before and after), its birth and death where they happen
// (newInode, deleteInode) and its entries naming ea_inodes where they
// come and go (eaRefDelta, shareXattrBlock, releaseXattrBlock), so every
// path that allocates or frees blocks or changes an owner is counted
// once, with the values on disk.
//
// Changed entries are written into the quota files when the handle stops
// (flushQuota), inside the same transaction. As Linux releases a dquot
// with no usage and no limits (qtree_release_dquot with DQ_FAKE_B), such
// an entry is then taken out of the tree. Limits are kept but not
// enforced: Linux enforces them only with the usrquota, grpquota and
// prjquota mount options, and accounting alone is what the images need.

// quotaState is a read-write mount's quota files; nil without the quota
// feature. It is used under the write lock.
type quotaState struct {
	files [disk.QuotaTypes]*quotaFile // nil: the type is not kept
	// prjIno and orphanIno are inodes e2fsck does not count.
	prjIno, orphanIno uint32
	dirty             bool // some dquot or info changed since the last flush
}

// quotaFile is one quota inode and its info block (struct
// qtree_mem_dqinfo, mem_dqinfo).
type quotaFile struct {
	typ  int
	ip   *inode
	info [6]uint32 // struct v2_disk_dqinfo, in its order
	// infoDirty: dqi_blocks, dqi_free_blk or dqi_free_entry changed.
	infoDirty bool
	dquots    map[uint32]*dquot
	// dirty holds the entries changed since the last flush, which
	// writes them in the order of their ids: where new entries go and
	// which freed blocks are reused then depend on the operations only,
	// not on the order a handle happened to touch the ids in (Linux
	// writes each change at once, in the order of the changes).
	dirty    []*dquot
	buf, tmp []byte // quota-block buffers
}

// dquot is one id's entry (struct dquot with its v2r1_disk_dqblk).
type dquot struct {
	disk.Dqblk
	off   int64 // the entry's byte offset in the file; 0: not in the tree
	dirty bool
}

func (d *dquot) noLimits() bool {
	return d.DqbIhardlimit|d.DqbIsoftlimit|d.DqbBhardlimit|d.DqbBsoftlimit == 0
}

// loadQuota opens the quota files named by the superblock on a read-write
// mount (ext4_enable_quotas): their header and info are checked and read;
// entries are read when an id is first charged.
func (f *fsys) loadQuota() error {
	if !f.Super.HasRoCompat(disk.RoCompatQuota) {
		return nil
	}
	blk := uint64(disk.SuperblockOffset) >> f.BlockBits
	b := make([]byte, f.BlockSize)
	if err := f.readBlock(b, blk); err != nil {
		return abi.Errorf(abi.EIO, "ext4: superblock: %v", err)
	}
	s := b[disk.SuperblockOffset-int(blk<<f.BlockBits):][:disk.SuperblockSize]
	q := &quotaState{
		prjIno:    le.Uint32(s[disk.OffSPrjQuotaInum:]),
		orphanIno: le.Uint32(s[disk.OffSOrphanFileIno:]),
	}
	inums := [disk.QuotaTypes]uint32{le.Uint32(s[disk.OffSUsrQuotaInum:]), le.Uint32(s[disk.OffSGrpQuotaInum:]), q.prjIno}
	if !f.Super.HasRoCompat(disk.RoCompatProject) {
		inums[disk.QuotaProject] = 0
	}
	for t, ino := range inums {
		if ino == 0 {
			continue
		}
		ip, err := f.igetFlags(ino, igetSpecial)
		if err != nil {
			return abi.Errorf(abi.ErrnoOf(err), "ext4: quota file (type %d): %v", t, err)
		}
		qf := &quotaFile{typ: t, ip: ip, dquots: make(map[uint32]*dquot),
			buf: make([]byte, disk.QuotaBlockSize), tmp: make([]byte, disk.QuotaBlockSize)}
		if err := qf.read(0, qf.buf); err != nil {
			return err
		}
		if le.Uint32(qf.buf[0:]) != disk.QuotaMagics[t] || le.Uint32(qf.buf[4:]) != disk.QuotaVersion {
			return abi.Errorf(abi.EUCLEAN, "ext4: quota inode %d: bad header (magic %#x, version %d)",
				ino, le.Uint32(qf.buf[0:]), le.Uint32(qf.buf[4:]))
		}
		for i := range qf.info {
			qf.info[i] = le.Uint32(qf.buf[disk.QuotaInfoOff+4*i:])
		}
		if qf.info[disk.DqiBlocks] <= disk.QuotaTreeOff || int64(qf.info[disk.DqiBlocks])*disk.QuotaBlockSize > ip.size+disk.QuotaBlockSize-1 {
			return abi.Errorf(abi.EUCLEAN, "ext4: quota inode %d: dqi_blocks %d does not fit the file (%d bytes)",
				ino, qf.info[disk.DqiBlocks], ip.size)
		}
		q.files[t] = qf
	}
	f.quota = q
	return nil
}

// counts reports whether inode ino is charged to quotas (see above).
func (q *quotaState) counts(f *fsys, ip *inode) bool {
	ino := ip.ino
	if ino != disk.RootIno && ino < f.Super.SFirstIno || ino == q.prjIno || ino == q.orphanIno {
		return false
	}
	return ip.flags&disk.InodeEAInodeFl == 0
}

// quotaOwner is what an inode slot charges: its ids per type and its
// space in bytes.
type quotaOwner struct {
	id    [disk.QuotaTypes]uint32
	space int64
}

// ownerOf reads the charge of an inode slot: uid, gid, i_projid when
// i_extra_isize covers it (e2fsprogs get_qid), i_blocks in bytes.
func (f *fsys) ownerOf(raw []byte) quotaOwner {
	var o quotaOwner
	o.id[disk.QuotaUser] = uint32(le.Uint16(raw[disk.OffIUid:])) | uint32(le.Uint16(raw[disk.OffIUidHigh:]))<<16
	o.id[disk.QuotaGroup] = uint32(le.Uint16(raw[disk.OffIGid:])) | uint32(le.Uint16(raw[disk.OffIGidHigh:]))<<16
	if extra := f.ExtraIsize(raw); f.InodeSize > disk.GoodOldInodeSize && disk.OffIProjid+4 <= disk.GoodOldInodeSize+extra {
		o.id[disk.QuotaProject] = le.Uint32(raw[disk.OffIProjid:])
	}
	o.space = f.rawBlocks(raw, le.Uint32(raw[disk.OffIFlags:])) << 9
	return o
}

// putInode encodes ip into its slot raw (encodeInode) and charges the
// change of the slot's owners and space to the quotas; live says the
// slot held ip before (not a new inode's cleared slot), so that an owner
// change also moves the inode's count (chown: __dquot_transfer).
func (h *handle) putInode(ip *inode, raw []byte, live bool) error {
	f := h.f
	q := f.quota
	if q == nil || !q.counts(f, ip) {
		return f.encodeInode(ip, raw)
	}
	old := f.ownerOf(raw)
	if err := f.encodeInode(ip, raw); err != nil {
		return err
	}
	now := f.ownerOf(raw)
	if old == now {
		return nil
	}
	n := int64(0)
	if live && old.id != now.id {
		var err error
		if n, err = f.inodeUsage(ip); err != nil {
			return err
		}
	}
	for t := range disk.QuotaTypes {
		if old.id[t] == now.id[t] {
			if err := h.charge(t, now.id[t], now.space-old.space, 0); err != nil {
				return err
			}
			continue
		}
		if err := h.charge(t, old.id[t], -old.space, -n); err != nil {
			return err
		}
		if err := h.charge(t, now.id[t], now.space, n); err != nil {
			return err
		}
	}
	return nil
}

// inodeUsage is the inode count that ip's owners are charged for it:
// one, and one per reference to an ea_inode its attributes hold in the
// inode or its block (ext4_get_inode_usage, which __dquot_transfer moves
// to a new owner; see eaRefDelta).
func (f *fsys) inodeUsage(ip *inode) (int64, error) {
	if !f.Super.HasIncompat(disk.IncompatEAInode) {
		return 1, nil
	}
	n := int64(1)
	for _, read := range []func() ([]disk.XattrEntry, error){ip.ibodyXattrs, ip.blockXattrs} {
		ents, err := read()
		if err != nil {
			return 0, err
		}
		n += int64(len(eaItems(ents)))
	}
	return n, nil
}

// chargeInode counts ip's slot raw as one inode more (n = 1, a new
// inode) or less (n = -1, a freed one) for its owners.
func (h *handle) chargeInode(ip *inode, raw []byte, n int64) error {
	f := h.f
	q := f.quota
	if q == nil || !q.counts(f, ip) {
		return nil
	}
	o := f.ownerOf(raw)
	for t := range disk.QuotaTypes {
		if err := h.charge(t, o.id[t], 0, n); err != nil {
			return err
		}
	}
	return nil
}

// charge adds space bytes and inodes inodes to id's entry of type t
// (dquot_alloc_space/dquot_free_space and their inode peers without the
// limit checks): a decrease stops at zero and clears the grace time once
// usage is back under the soft limit (dquot_decr_space, dquot_decr_inodes).
func (h *handle) charge(t int, id uint32, space, inodes int64) error {
	qf := h.f.quota.files[t]
	if qf == nil || space == 0 && inodes == 0 {
		return nil
	}
	d, err := h.dquotOf(qf, id)
	if err != nil {
		return err
	}
	if space > 0 {
		d.DqbCurspace += uint64(space)
	} else if space < 0 {
		d.DqbCurspace -= min(d.DqbCurspace, uint64(-space))
		if d.DqbCurspace <= d.DqbBsoftlimit<<10 {
			d.DqbBtime = 0
		}
	}
	if inodes > 0 {
		d.DqbCurinodes += uint64(inodes)
	} else if inodes < 0 {
		d.DqbCurinodes -= min(d.DqbCurinodes, uint64(-inodes))
		if d.DqbCurinodes <= d.DqbIsoftlimit {
			d.DqbItime = 0
		}
	}
	if !d.dirty {
		d.dirty = true
		qf.dirty = append(qf.dirty, d)
	}
	h.f.quota.dirty = true
	return nil
}

// dquotOf returns id's entry, read from the file the first time (an id
// not in the file starts empty, as qtree_read_dquot makes a fake one).
func (h *handle) dquotOf(qf *quotaFile, id uint32) (*dquot, error) {
	if d, ok := qf.dquots[id]; ok {
		return d, nil
	}
	d := &dquot{Dqblk: disk.Dqblk{DqbID: id}}
	off, err := qf.find(id)
	if err != nil {
		return nil, h.fail(err)
	}
	if off != 0 {
		b := qf.buf
		if err := qf.read(uint32(off/disk.QuotaBlockSize), b); err != nil {
			return nil, h.fail(err)
		}
		d.Decode(b[off%disk.QuotaBlockSize:][:disk.QuotaEntrySize])
		d.off = off
	}
	qf.dquots[id] = d
	return d, nil
}

// flushQuota writes the changed entries and info blocks into the quota
// files, in the running transaction (ext4_write_dquot, ext4_write_info):
// an entry with no usage and no limits is removed from its tree
// (qtree_release_dquot), a new one inserted (dq_insert_tree).
func (h *handle) flushQuota() error {
	q := h.f.quota
	if q == nil || !q.dirty {
		return nil
	}
	q.dirty = false
	for _, qf := range q.files {
		if qf == nil {
			continue
		}
		slices.SortFunc(qf.dirty, func(a, b *dquot) int { return cmp.Compare(a.DqbID, b.DqbID) })
		for _, d := range qf.dirty {
			d.dirty = false
			if d.DqbCurspace == 0 && d.DqbCurinodes == 0 && d.noLimits() {
				if d.off != 0 {
					if err := qf.remove(h, d); err != nil {
						return h.fail(err)
					}
				}
				delete(qf.dquots, d.DqbID)
				continue
			}
			if d.off == 0 {
				if err := qf.insert(h, d); err != nil {
					return h.fail(err)
				}
			}
			var e [disk.QuotaEntrySize]byte
			d.Encode(e[:])
			if err := qf.writeAt(h, d.off, e[:]); err != nil {
				return h.fail(err)
			}
		}
		// Writing the entries charges nothing (the quota files are not
		// counted), so the list did not change under the loop.
		qf.dirty = qf.dirty[:0]
		if qf.infoDirty {
			var b [24]byte
			for i, v := range qf.info {
				le.PutUint32(b[4*i:], v)
			}
			if err := qf.writeAt(h, disk.QuotaInfoOff, b[:]); err != nil {
				return h.fail(err)
			}
			qf.infoDirty = false
		}
	}
	return nil
}

// read reads quota block blk into b (read_blk): what lies past the end of
// the file or in a hole reads as zeros.
func (qf *quotaFile) read(blk uint32, b []byte) error {
	clear(b)
	off := int64(blk) * disk.QuotaBlockSize
	if off >= qf.ip.size {
		return nil
	}
	if _, err := qf.ip.readRaw(b, off); err != nil && off+disk.QuotaBlockSize <= qf.ip.size {
		return abi.Errorf(abi.ErrnoOf(err), "ext4: quota inode %d: block %d: %v", qf.ip.ino, blk, err)
	}
	return nil
}

// writeAt writes p at byte off of the quota file, within one quota block,
// through the transaction (ext4_quota_write): a missing block is
// allocated and starts zeroed, and i_size grows to cover the write.
func (qf *quotaFile) writeAt(h *handle, off int64, p []byte) error {
	f := h.f
	ip := qf.ip
	lblk := uint64(off) >> f.BlockBits
	pblk, _, err := h.mapBlocks(ip, lblk, 1, false)
	if err != nil {
		return err
	}
	var b []byte
	grown := false
	if pblk == 0 {
		if pblk, _, err = h.mapBlocks(ip, lblk, 1, true); err != nil {
			return err
		}
		ip.invalidateMap()
		grown = true
		b, err = h.newMetaBlock(pblk)
	} else {
		b, err = h.metaBlock(pblk)
	}
	if err != nil {
		return err
	}
	copy(b[off&int64(f.BlockSize-1):], p)
	if end := off + int64(len(p)); end > ip.size {
		ip.size = end
		grown = true
	}
	if grown {
		return h.writeInode(ip)
	}
	return nil
}

func (qf *quotaFile) write(h *handle, blk uint32, b []byte) error {
	return qf.writeAt(h, int64(blk)*disk.QuotaBlockSize, b)
}

// checkRef checks a block number read from the tree or a list.
func (qf *quotaFile) checkRef(blk uint32, what string) error {
	if blk < disk.QuotaTreeOff || blk >= qf.info[disk.DqiBlocks] {
		return abi.Errorf(abi.EUCLEAN, "ext4: quota inode %d: %s block %d outside the file (%d blocks)",
			qf.ip.ino, what, blk, qf.info[disk.DqiBlocks])
	}
	return nil
}

// find returns the byte offset of id's entry, or 0 when the tree has none
// (find_tree_dqentry, find_block_dqentry).
func (qf *quotaFile) find(id uint32) (int64, error) {
	b := qf.tmp
	blk := uint32(disk.QuotaTreeOff)
	for depth := range disk.QuotaTreeDepth {
		if err := qf.read(blk, b); err != nil {
			return 0, err
		}
		blk = le.Uint32(b[4*disk.TreeIndex(id, depth):])
		if blk == 0 {
			return 0, nil
		}
		if err := qf.checkRef(blk, "tree"); err != nil {
			return 0, err
		}
	}
	if err := qf.read(blk, b); err != nil {
		return 0, err
	}
	for i := range disk.QuotaEntriesPerBk {
		e := b[disk.QuotaDataHdrSize+i*disk.QuotaEntrySize:][:disk.QuotaEntrySize]
		if le.Uint32(e) == id && !disk.AllZero(e) {
			return int64(blk)*disk.QuotaBlockSize + int64(disk.QuotaDataHdrSize+i*disk.QuotaEntrySize), nil
		}
	}
	return 0, abi.Errorf(abi.EUCLEAN, "ext4: quota inode %d: id %d referenced but not present in block %d",
		qf.ip.ino, id, blk)
}

func (qf *quotaFile) setInfo(i int, v uint32) {
	qf.info[i] = v
	qf.infoDirty = true
}

// getFreeBlk takes a block for the tree or for entries (get_free_dqblk):
// the head of the free block list, else a new zeroed block at the end.
func (qf *quotaFile) getFreeBlk(h *handle) (uint32, error) {
	if blk := qf.info[disk.DqiFreeBlk]; blk != 0 {
		if err := qf.checkRef(blk, "free"); err != nil {
			return 0, err
		}
		b := qf.tmp
		if err := qf.read(blk, b); err != nil {
			return 0, err
		}
		qf.setInfo(disk.DqiFreeBlk, disk.DqdhNext(b))
		return blk, nil
	}
	blk := qf.info[disk.DqiBlocks]
	clear(qf.tmp)
	if err := qf.write(h, blk, qf.tmp); err != nil {
		return 0, err
	}
	qf.setInfo(disk.DqiBlocks, blk+1)
	return blk, nil
}

// putFreeBlk puts block blk, whose contents are b, on the free block list
// (put_free_dqblk).
func (qf *quotaFile) putFreeBlk(h *handle, b []byte, blk uint32) error {
	disk.SetDqdhLinks(b, qf.info[disk.DqiFreeBlk], 0)
	disk.SetDqdhEntries(b, 0)
	if err := qf.write(h, blk, b); err != nil {
		return err
	}
	qf.setInfo(disk.DqiFreeBlk, blk)
	return nil
}

// removeFreeEntry takes data block blk (contents b) off the list of
// blocks with free entries (remove_free_dqentry).
func (qf *quotaFile) removeFreeEntry(h *handle, b []byte, blk uint32) error {
	next, prev := disk.DqdhNext(b), disk.DqdhPrev(b)
	t := qf.tmp
	if next != 0 {
		if err := qf.checkRef(next, "free entry"); err != nil {
			return err
		}
		if err := qf.read(next, t); err != nil {
			return err
		}
		disk.SetDqdhLinks(t, disk.DqdhNext(t), prev)
		if err := qf.write(h, next, t); err != nil {
			return err
		}
	}
	if prev != 0 {
		if err := qf.checkRef(prev, "free entry"); err != nil {
			return err
		}
		if err := qf.read(prev, t); err != nil {
			return err
		}
		disk.SetDqdhLinks(t, next, disk.DqdhPrev(t))
		if err := qf.write(h, prev, t); err != nil {
			return err
		}
	} else {
		qf.setInfo(disk.DqiFreeEntry, next)
	}
	disk.SetDqdhLinks(b, 0, 0)
	return qf.write(h, blk, b)
}

// insertFreeEntry puts data block blk (contents b) at the head of the list
// of blocks with free entries (insert_free_dqentry).
func (qf *quotaFile) insertFreeEntry(h *handle, b []byte, blk uint32) error {
	head := qf.info[disk.DqiFreeEntry]
	disk.SetDqdhLinks(b, head, 0)
	if err := qf.write(h, blk, b); err != nil {
		return err
	}
	if head != 0 {
		if err := qf.checkRef(head, "free entry"); err != nil {
			return err
		}
		t := qf.tmp
		if err := qf.read(head, t); err != nil {
			return err
		}
		disk.SetDqdhLinks(t, disk.DqdhNext(t), blk)
		if err := qf.write(h, head, t); err != nil {
			return err
		}
	}
	qf.setInfo(disk.DqiFreeEntry, blk)
	return nil
}

// findFreeEntry takes an unused entry for d in the first data block with
// one, or in a new block, sets d.off and returns the block
// (find_free_dqentry).
func (qf *quotaFile) findFreeEntry(h *handle, d *dquot) (uint32, error) {
	b := make([]byte, disk.QuotaBlockSize)
	blk := qf.info[disk.DqiFreeEntry]
	if blk != 0 {
		if err := qf.checkRef(blk, "free entry"); err != nil {
			return 0, err
		}
		if err := qf.read(blk, b); err != nil {
			return 0, err
		}
	} else {
		var err error
		if blk, err = qf.getFreeBlk(h); err != nil {
			return 0, err
		}
		qf.setInfo(disk.DqiFreeEntry, blk)
	}
	if disk.DqdhEntries(b)+1 >= disk.QuotaEntriesPerBk {
		if err := qf.removeFreeEntry(h, b, blk); err != nil {
			return 0, err
		}
	}
	disk.SetDqdhEntries(b, disk.DqdhEntries(b)+1)
	i := 0
	for ; i < disk.QuotaEntriesPerBk; i++ {
		if disk.AllZero(b[disk.QuotaDataHdrSize+i*disk.QuotaEntrySize:][:disk.QuotaEntrySize]) {
			break
		}
	}
	if i == disk.QuotaEntriesPerBk {
		return 0, abi.Errorf(abi.EUCLEAN, "ext4: quota inode %d: data block %d full but on the free entry list", qf.ip.ino, blk)
	}
	if err := qf.write(h, blk, b); err != nil {
		return 0, err
	}
	d.off = int64(blk)*disk.QuotaBlockSize + int64(disk.QuotaDataHdrSize+i*disk.QuotaEntrySize)
	return blk, nil
}

// insert puts d into the tree, making the tree blocks its id needs
// (dq_insert_tree, do_insert_tree).
func (qf *quotaFile) insert(h *handle, d *dquot) error {
	root := uint32(disk.QuotaTreeOff)
	return qf.insertTree(h, d, &root, 0)
}

func (qf *quotaFile) insertTree(h *handle, d *dquot, blk *uint32, depth int) error {
	b := make([]byte, disk.QuotaBlockSize)
	if *blk == 0 {
		n, err := qf.getFreeBlk(h)
		if err != nil {
			return err
		}
		*blk = n
	} else if err := qf.read(*blk, b); err != nil {
		return err
	}
	i := 4 * disk.TreeIndex(d.DqbID, depth)
	next := le.Uint32(b[i:])
	fresh := next == 0
	if !fresh {
		if err := qf.checkRef(next, "tree"); err != nil {
			return err
		}
	}
	if depth == disk.QuotaTreeDepth-1 {
		if !fresh {
			return abi.Errorf(abi.EUCLEAN, "ext4: quota inode %d: inserting id %d, already present", qf.ip.ino, d.DqbID)
		}
		n, err := qf.findFreeEntry(h, d)
		if err != nil {
			return err
		}
		next = n
	} else if err := qf.insertTree(h, d, &next, depth+1); err != nil {
		return err
	}
	if !fresh {
		return nil
	}
	le.PutUint32(b[i:], next)
	return qf.write(h, *blk, b)
}

// remove takes d out of the tree (qtree_delete_dquot, remove_tree): its
// entry is cleared, a data or tree block left empty goes to the free
// list (never the root).
func (qf *quotaFile) remove(h *handle, d *dquot) error {
	root := uint32(disk.QuotaTreeOff)
	return qf.removeTree(h, d, &root, 0)
}

func (qf *quotaFile) removeTree(h *handle, d *dquot, blk *uint32, depth int) error {
	b := make([]byte, disk.QuotaBlockSize)
	if err := qf.read(*blk, b); err != nil {
		return err
	}
	i := 4 * disk.TreeIndex(d.DqbID, depth)
	next := le.Uint32(b[i:])
	if err := qf.checkRef(next, "tree"); err != nil {
		return err
	}
	if depth == disk.QuotaTreeDepth-1 {
		if err := qf.freeEntry(h, d, next); err != nil {
			return err
		}
		next = 0
	} else if err := qf.removeTree(h, d, &next, depth+1); err != nil {
		return err
	}
	if next != 0 {
		return nil
	}
	le.PutUint32(b[i:], 0)
	if *blk != disk.QuotaTreeOff && disk.AllZero(b) {
		if err := qf.putFreeBlk(h, b, *blk); err != nil {
			return err
		}
		*blk = 0
		return nil
	}
	return qf.write(h, *blk, b)
}

// freeEntry clears d's entry in data block blk (free_dqentry): a block
// left without entries goes to the free block list, one that was full
// joins the list of blocks with free entries.
func (qf *quotaFile) freeEntry(h *handle, d *dquot, blk uint32) error {
	if uint32(d.off/disk.QuotaBlockSize) != blk {
		return abi.Errorf(abi.EUCLEAN, "ext4: quota inode %d: id %d: entry at %d, tree points to block %d",
			qf.ip.ino, d.DqbID, d.off, blk)
	}
	b := make([]byte, disk.QuotaBlockSize)
	if err := qf.read(blk, b); err != nil {
		return err
	}
	n := disk.DqdhEntries(b) - 1
	disk.SetDqdhEntries(b, n)
	at := d.off % disk.QuotaBlockSize
	d.off = 0
	if n <= 0 {
		disk.SetDqdhEntries(b, 0)
		if err := qf.removeFreeEntry(h, b, blk); err != nil {
			return err
		}
		return qf.putFreeBlk(h, b, blk)
	}
	clear(b[at:][:disk.QuotaEntrySize])
	if n == disk.QuotaEntriesPerBk-1 {
		return qf.insertFreeEntry(h, b, blk)
	}
	return qf.write(h, blk, b)
}
