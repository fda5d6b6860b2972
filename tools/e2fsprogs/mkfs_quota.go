package e2fsprogs

import (
	"cmp"
	"slices"

	disk "github.com/lklimg/lklimg/format/ext4"
	"github.com/lklimg/lklimg/kernel/abi"
)

// Quota type bits, as mke2fs's -E quotatype= sets them (QUOTA_USR_BIT,
// QUOTA_GRP_BIT, QUOTA_PRJ_BIT).
const (
	QuotaUsrBit = 1 << disk.QuotaUser
	QuotaGrpBit = 1 << disk.QuotaGroup
	QuotaPrjBit = 1 << disk.QuotaProject
)

const (
	immutableFl  = 0x10   // EXT2_IMMUTABLE_FL
	quotaMaxTime = 604800 // MAX_DQ_TIME and MAX_IQ_TIME: a week
)

// quotaTypeBits is the set of quota files mke2fs makes with p: -E
// quotatype= (user and group by default), with project whenever the
// project feature is set (PRS).
func quotaTypeBits(p *MkfsParams) uint8 {
	bits := p.QuotaTypes
	if bits == 0 {
		bits = QuotaUsrBit | QuotaGrpBit
	}
	if p.RoCompat&disk.RoCompatProject != 0 {
		bits |= QuotaPrjBit
	}
	return bits
}

// makeQuota is create_quota_inodes.
func (l *mkfsLayout) makeQuota() error {
	bits := quotaTypeBits(&l.p)
	usage := l.quotaUsage(bits)
	l.traceInodeScan()
	l.quotaData = make(map[uint64][]byte)
	for t := range disk.QuotaTypes {
		if bits&(1<<t) == 0 {
			continue
		}
		if err := l.makeQuotaFile(t, usage[t]); err != nil {
			return err
		}
	}
	// ext2fs_write_bitmaps: both are dirty by now.
	l.traceBitmaps()
	l.bbDirty, l.ibDirty = false, false
	return nil
}

// quotaUsage is quota_compute_usage: per type, the entries of the ids in
// use, sorted by id (the order of the dictionary write_dquots walks).
func (l *mkfsLayout) quotaUsage(bits uint8) [disk.QuotaTypes][]*dquot {
	var out [disk.QuotaTypes][]*dquot
	inos := make([]uint32, 0, len(l.inodeTab))
	for ino := range l.inodeTab {
		inos = append(inos, ino)
	}
	slices.Sort(inos)
	for _, ino := range inos {
		ip := l.inodeTab[ino]
		if ip.links == 0 || ino != disk.RootIno && ino < disk.GoodOldFirstIno {
			continue
		}
		ids := [disk.QuotaTypes]uint32{ip.uid, ip.gid, 0} // i_projid is 0
		for t := range disk.QuotaTypes {
			if bits&(1<<t) == 0 {
				continue
			}
			i := slices.IndexFunc(out[t], func(d *dquot) bool { return d.DqbID == ids[t] })
			if i < 0 {
				out[t] = append(out[t], &dquot{Dqblk: disk.Dqblk{DqbID: ids[t]}})
				i = len(out[t]) - 1
			}
			out[t][i].DqbCurinodes++
			out[t][i].DqbCurspace += ip.blocks * 512
		}
	}
	for t := range out {
		slices.SortFunc(out[t], func(a, b *dquot) int { return cmp.Compare(a.DqbID, b.DqbID) })
	}
	return out
}

// traceInodeScan traces the reads of quota_compute_usage's inode scan
// (lib/ext2fs/inode.c): of each group not INODE_UNINIT, the blocks of its
// inode table up to bg_itable_unused (the whole table without group
// checksums), 8 blocks at a time; a read of more than 4 blocks bypasses
// the cache after writing out its dirty blocks (unix_io.c). The bad
// blocks inode it reads first is in the inode cache.
func (l *mkfsLayout) traceInodeScan() {
	isz := uint64(l.p.InodeSize)
	for g := range l.groups {
		gd := &l.groups[g]
		if l.csum && gd.flags&disk.BgInodeUninit != 0 {
			continue
		}
		left, blocks := uint64(l.ipg), l.itb
		if l.csum {
			left -= min(left, uint64(gd.itableUnused))
			blocks = (left + l.bs/isz - 1) * isz / l.bs
		}
		if left == 0 {
			continue
		}
		for b := gd.inodeTable; blocks > 0; {
			n := min(blocks, 8)
			if n > 4 {
				l.trace = append(l.trace, mkfsAccess{flush: true})
			} else {
				for i := range n {
					l.ioR(b + i)
				}
			}
			b, blocks = b+n, blocks-n
		}
	}
}

// traceBitmaps traces write_bitmaps: each group's block bitmap, then its
// inode bitmap, but those of uninit groups.
func (l *mkfsLayout) traceBitmaps() {
	for g := range l.groups {
		gd := &l.groups[g]
		if !l.csum || gd.flags&disk.BgBlockUninit == 0 {
			l.ioW(gd.blockBitmap)
		}
		if !l.csum || gd.flags&disk.BgInodeUninit == 0 {
			l.ioW(gd.inodeBitmap)
		}
	}
}

// makeQuotaFile is quota_file_create, write_dquots and quota_file_close
// for type t.
func (l *mkfsLayout) makeQuotaFile(t int, dquots []*dquot) error {
	ino := [disk.QuotaTypes]uint32{3, 4, 0}[t] // EXT4_USR_QUOTA_INO, EXT4_GRP_QUOTA_INO
	if ino == 0 {
		var err error
		if ino, err = l.newInodeFromRoot(); err != nil {
			return err
		}
		l.inodeAllocStats(ino, false)
	}
	tm := l.p.Time
	ip := &mkfsInode{ino: ino, mode: 0o100600, links: 1, flags: immutableFl,
		atime: tm, ctime: tm, mtime: tm, crtime: tm, large: true}
	if l.incompat&disk.IncompatExtents != 0 {
		ip.flags |= extentsFl
	}
	l.itR(ino) // quota_inode_init_new's read, then ext2fs_write_new_inode
	l.itW(ino)
	f := &mkfsFile{l: l, ip: ip, buf: make([]byte, l.bs), lmap: map[uint64]uint64{}}
	q := &mkfsQuotaTree{f: f, info: [6]uint32{quotaMaxTime, quotaMaxTime, 0, disk.QuotaTreeOff + 1, 0, 0}}
	// v2_new_io: the header, then the info.
	var hdr [8]byte
	le.PutUint32(hdr[0:], disk.QuotaMagics[t])
	le.PutUint32(hdr[4:], disk.QuotaVersion)
	if err := f.write(0, hdr[:]); err != nil {
		return err
	}
	if err := q.writeInfo(); err != nil {
		return err
	}
	for _, d := range dquots {
		if err := q.insert(d); err != nil {
			return err
		}
		var e [disk.QuotaEntrySize]byte
		d.Encode(e[:])
		if err := f.write(uint64(d.off), e[:]); err != nil {
			return err
		}
	}
	if q.infoDirty {
		if err := q.writeInfo(); err != nil {
			return err
		}
	}
	f.flush() // ext2fs_file_close
	if err := f.mapInode(); err != nil {
		return err
	}
	l.inodeTab[ino] = ip
	l.quotaIno[t] = ino
	return nil
}

// mkfsFile is an ext2_file writing a new file (lib/ext2fs/fileio.c): a
// buffer of one block, flushed when the position leaves its block.
type mkfsFile struct {
	l            *mkfsLayout
	ip           *mkfsInode
	pos, blockno uint64
	phys         uint64 // the buffer's block on disk, 0 if not mapped yet
	valid, dirty bool
	buf          []byte
	lmap         map[uint64]uint64 // logical -> physical block
	runs         []run             // the extents, with extents
}

// sync is sync_buffer_position.
func (f *mkfsFile) sync() {
	if b := f.pos / f.l.bs; b != f.blockno {
		f.flush()
		f.valid = false
		f.blockno = b
	}
}

// flush is ext2fs_file_flush: the block was mapped when first written.
func (f *mkfsFile) flush() {
	if !f.valid || !f.dirty {
		return
	}
	f.l.ioW(f.phys)
	f.l.quotaData[f.phys] = slices.Clone(f.buf)
	f.dirty = false
}

// load is load_buffer: the block is read unless the write covers it.
func (f *mkfsFile) load(dontfill bool) {
	if f.valid {
		return
	}
	f.phys = f.lmap[f.blockno]
	if !dontfill {
		if f.phys != 0 {
			f.l.ioR(f.phys)
			copy(f.buf, f.l.quotaData[f.phys])
		} else {
			clear(f.buf)
		}
	}
	f.valid = true
}

// read is ext2fs_file_read at off into p; what lies past the end of the
// file reads as zeros (read_blk).
func (f *mkfsFile) read(off uint64, p []byte) {
	clear(p)
	f.pos = off
	for len(p) > 0 && f.pos < f.ip.size {
		f.sync()
		f.load(false)
		start := f.pos % f.l.bs
		c := min(uint64(len(p)), f.l.bs-start, f.ip.size-f.pos)
		copy(p, f.buf[start:start+c])
		f.pos += c
		p = p[c:]
	}
}

// write is ext2fs_file_write of p at off, with the size it leaves.
func (f *mkfsFile) write(off uint64, p []byte) error {
	f.pos = off
	for len(p) > 0 {
		f.sync()
		start := f.pos % f.l.bs
		c := min(uint64(len(p)), f.l.bs-start)
		f.load(c == f.l.bs)
		f.dirty = true
		copy(f.buf[start:], p[:c])
		if f.phys == 0 {
			b, err := f.alloc(f.blockno)
			if err != nil {
				return err
			}
			f.phys = b
		}
		f.pos += c
		p = p[c:]
	}
	if f.pos > f.ip.size {
		f.setSize(f.pos)
	}
	return nil
}

// setSize is ext2fs_file_set_size2 growing the file: the inode written,
// then the block holding the end read and written back zeroed past it
// (ext2fs_file_zero_past_offset).
func (f *mkfsFile) setSize(size uint64) {
	l := f.l
	f.ip.size = size
	l.itW(f.ip.ino)
	off := size % l.bs
	if off == 0 {
		return
	}
	f.sync()
	b := f.lmap[size/l.bs]
	if b == 0 {
		return
	}
	l.ioR(b)
	l.ioW(b)
	clear(l.quotaBlock(b)[off:])
}

// quotaBlock is the content of quota file block b as the device holds it.
func (l *mkfsLayout) quotaBlock(b uint64) []byte {
	d, ok := l.quotaData[b]
	if !ok {
		d = make([]byte, l.bs)
		l.quotaData[b] = d
	}
	return d
}

// alloc maps logical block lblk (ext2fs_bmap2 with BMAP_ALLOC): a new
// block zeroed through the cache (ext2fs_alloc_block3), the inode written
// by ext2fs_extent_set_bmap and by ext2fs_bmap2 for i_blocks.
func (f *mkfsFile) alloc(lblk uint64) (uint64, error) {
	l := f.l
	ext := l.incompat&disk.IncompatExtents != 0
	if ext && l.ratio > 1 {
		// implied_cluster_alloc: no new cluster, only the mapping.
		base := lblk &^ (l.ratio - 1)
		for i := range l.ratio {
			if p, ok := f.lmap[base+i]; ok && base+i != lblk {
				pb := p - i + (lblk - base)
				f.setBmap(lblk, pb)
				l.quotaBlock(pb)
				l.itW(f.ip.ino)
				return pb, nil
			}
		}
	}
	if !ext && lblk >= ext2NDirBlocks {
		return 0, abi.Errorf(abi.EOPNOTSUPP, "ext4: mkfs: quota file of more than %d blocks without extents not supported", ext2NDirBlocks)
	}
	var goal uint64
	if lblk > 0 {
		goal = f.lmap[lblk-1]
	} else if !ext {
		goal = l.inodeGoal(f.ip.ino) // ext2fs_find_inode_goal
	}
	b, err := l.newBlock(goal)
	if err != nil {
		return 0, err
	}
	l.ioW(b)
	clear(l.quotaBlock(b))
	l.blockAllocStats(b)
	pb := b&^(l.ratio-1) + lblk&(l.ratio-1)
	f.setBmap(lblk, pb)
	l.quotaBlock(pb)
	if ext {
		l.itW(f.ip.ino) // ext2fs_extent_set_bmap
	}
	f.ip.blocks += l.clusterSectors()
	l.itW(f.ip.ino)
	return pb, nil
}

// setBmap maps the unmapped block lblk to pb, with extents as
// ext2fs_extent_set_bmap does: the extent before it (the one
// ext2fs_extent_goto stops at) grows at its end or its start, else the
// next one at its start, else a new extent goes in after it (before it
// when lblk precedes every extent). Extents that come to touch are not
// merged.
func (f *mkfsFile) setBmap(lblk, pb uint64) {
	f.lmap[lblk] = pb
	if f.l.incompat&disk.IncompatExtents == 0 {
		return
	}
	rs := f.runs
	k := 0
	for k+1 < len(rs) && rs[k+1].lblk <= lblk {
		k++
	}
	switch {
	case len(rs) == 0:
		f.runs = append(f.runs, run{lblk: lblk, pblk: pb, n: 1})
	case lblk == rs[k].lblk+rs[k].n && pb == rs[k].pblk+rs[k].n && rs[k].n < disk.ExtentInitMaxLen-1:
		rs[k].n++
	case lblk+1 == rs[k].lblk && pb+1 == rs[k].pblk && rs[k].n < disk.ExtentInitMaxLen-1:
		rs[k] = run{lblk: lblk, pblk: pb, n: rs[k].n + 1}
	case k+1 < len(rs) && lblk+1 == rs[k+1].lblk && pb+1 == rs[k+1].pblk && rs[k+1].n < disk.ExtentInitMaxLen-1:
		rs[k+1] = run{lblk: lblk, pblk: pb, n: rs[k+1].n + 1}
	case lblk < rs[k].lblk:
		f.runs = slices.Insert(rs, k, run{lblk: lblk, pblk: pb, n: 1})
	default:
		f.runs = slices.Insert(rs, k+1, run{lblk: lblk, pblk: pb, n: 1})
	}
}

// mapInode sets i_block: the extents in the inode, or the direct blocks.
func (f *mkfsFile) mapInode() error {
	l := f.l
	if l.incompat&disk.IncompatExtents == 0 {
		for lb, pb := range f.lmap {
			le.PutUint32(f.ip.iblock[4*lb:], uint32(pb))
		}
		return nil
	}
	if len(f.runs) > disk.ExtentRootMax {
		return abi.Errorf(abi.EOPNOTSUPP, "ext4: mkfs: quota file in more than %d extents not supported", disk.ExtentRootMax)
	}
	l.putExtents(f.ip.iblock[:], f.runs, disk.ExtentRootMax, 0)
	return nil
}

// mkfsQuotaTree inserts entries into a new quota file as quotaio_tree.c
// does, through the file's reads and writes.
type mkfsQuotaTree struct {
	f         *mkfsFile
	info      [6]uint32 // struct v2_disk_dqinfo, as quotaFile.info
	infoDirty bool
}

func (q *mkfsQuotaTree) writeInfo() error {
	var b [24]byte
	for i, v := range q.info {
		le.PutUint32(b[4*i:], v)
	}
	return q.f.write(disk.QuotaInfoOff, b[:])
}

func (q *mkfsQuotaTree) readBlk(blk uint32) []byte {
	b := make([]byte, disk.QuotaBlockSize)
	q.f.read(uint64(blk)*disk.QuotaBlockSize, b)
	return b
}

func (q *mkfsQuotaTree) writeBlk(blk uint32, b []byte) error {
	return q.f.write(uint64(blk)*disk.QuotaBlockSize, b)
}

// getFreeBlk is get_free_dqblk on a file without free blocks: a zeroed
// block at the end.
func (q *mkfsQuotaTree) getFreeBlk() (uint32, error) {
	blk := q.info[disk.DqiBlocks]
	if err := q.writeBlk(blk, make([]byte, disk.QuotaBlockSize)); err != nil {
		return 0, err
	}
	q.info[disk.DqiBlocks]++
	q.infoDirty = true
	return blk, nil
}

// insert is dq_insert_tree: d's path from the root, new tree blocks
// written after what they point to, d.off set.
func (q *mkfsQuotaTree) insert(d *dquot) error {
	root := uint32(disk.QuotaTreeOff)
	return q.insertTree(d, &root, 0)
}

func (q *mkfsQuotaTree) insertTree(d *dquot, blk *uint32, depth int) error {
	var b []byte
	if *blk == 0 {
		n, err := q.getFreeBlk()
		if err != nil {
			return err
		}
		*blk = n
		b = make([]byte, disk.QuotaBlockSize)
	} else {
		b = q.readBlk(*blk)
	}
	i := 4 * disk.TreeIndex(d.DqbID, depth)
	next := le.Uint32(b[i:])
	fresh := next == 0
	var err error
	if depth == disk.QuotaTreeDepth-1 {
		next, err = q.findFreeEntry(d)
	} else {
		err = q.insertTree(d, &next, depth+1)
	}
	if err != nil || !fresh {
		return err
	}
	le.PutUint32(b[i:], next)
	return q.writeBlk(*blk, b)
}

// findFreeEntry is find_free_dqentry: a slot in the data block with free
// entries, or in a new one.
func (q *mkfsQuotaTree) findFreeEntry(d *dquot) (uint32, error) {
	blk := q.info[disk.DqiFreeEntry]
	var b []byte
	if blk != 0 {
		b = q.readBlk(blk)
	} else {
		var err error
		if blk, err = q.getFreeBlk(); err != nil {
			return 0, err
		}
		b = make([]byte, disk.QuotaBlockSize)
		q.info[disk.DqiFreeEntry] = blk
		q.infoDirty = true
	}
	n := disk.DqdhEntries(b)
	if n+1 >= disk.QuotaEntriesPerBk {
		return 0, abi.Errorf(abi.EOPNOTSUPP, "ext4: mkfs: more than %d quota ids not supported", disk.QuotaEntriesPerBk-2)
	}
	disk.SetDqdhEntries(b, n+1)
	i := 0
	for i < disk.QuotaEntriesPerBk && !disk.AllZero(b[disk.QuotaDataHdrSize+i*disk.QuotaEntrySize:][:disk.QuotaEntrySize]) {
		i++
	}
	if err := q.writeBlk(blk, b); err != nil {
		return 0, err
	}
	d.off = int64(blk)*disk.QuotaBlockSize + int64(disk.QuotaDataHdrSize+i*disk.QuotaEntrySize)
	return blk, nil
}
