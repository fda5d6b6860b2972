package ext4

import (
	"math"

	disk "github.com/lklimg/lklimg/format/ext4"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// Writing inodes (fs/ext4/inode.c ext4_do_update_inode, ialloc.c
// __ext4_new_inode, ext4_evict_inode). The encoder is decodeInode's
// mirror: it writes the fields the driver holds into the inode's slot of
// the inode table (the transaction's copy) and leaves the rest of the
// slot as it is (i_dtime, which the orphan list uses, i_extra_isize, the
// reserved fields). Every write of a slot in a handle goes through
// putInode, which charges the change of its owners and i_blocks to the
// quotas (quota.go).

// Flags a new inode takes from its directory (a subset of
// EXT4_FL_INHERITED: sync, nodump, noatime, and dirsync for directories).
const (
	inodeSyncFl    = 0x00000008
	inodeNoatimeFl = 0x00000080
	inodeDirsyncFl = 0x00010000
	offIDtime      = 0x14
)

// inodeSlot returns inode ino's bytes in the transaction's copy of its
// inode table block.
func (h *handle) inodeSlot(ino uint32) ([]byte, error) { return h.slot(ino, false) }

// newInodeSlot returns new inode ino's bytes as inodeSlot does, but
// without reading its inode table block when no other inode of the block
// is in use (the group's inode bitmap, which allocInode has just read):
// the block starts zeroed, as __ext4_get_inode_loc skips the read of a
// block whose other inodes are all free. Filling an image, the inode
// table is otherwise read back a block at a time, once per transaction,
// each read growing a readahead window over the tables.
func (h *handle) newInodeSlot(ino uint32) ([]byte, error) { return h.slot(ino, true) }

// slot is inodeSlot, and newInodeSlot when fresh.
func (h *handle) slot(ino uint32, fresh bool) ([]byte, error) {
	f := h.f
	sb := f.Super
	if ino < 1 || ino > sb.SInodesCount {
		return nil, h.fail(abi.Errorf(abi.EUCLEAN, "ext4: inode %d: invalid inode number", ino))
	}
	g, idx := (ino-1)/sb.SInodesPerGroup, uint64((ino-1)%sb.SInodesPerGroup)
	off := idx * uint64(f.InodeSize)
	blk := f.Groups[g].BgInodeTable + off>>f.BlockBits
	get := h.metaBlock
	if _, ok := f.txn.blocks[blk]; fresh && !ok {
		bitmap, err := h.inodeBitmap(g)
		if err != nil {
			return nil, err
		}
		per := uint64(f.BlockSize / f.InodeSize)
		first := idx / per * per
		alone := true
		for i := first; i < min(first+per, uint64(sb.SInodesPerGroup)); i++ {
			alone = alone && (i == idx || !disk.TestBit(bitmap, i))
		}
		if alone {
			get = h.newMetaBlock
		}
	}
	b, err := get(blk)
	if err != nil {
		return nil, err
	}
	return b[off&uint64(f.BlockSize-1):][:f.InodeSize], nil
}

// encodeInode writes ip's fields into its slot raw and sets the checksum.
func (f *fsys) encodeInode(ip *inode, raw []byte) error {
	sb := f.Super
	le.PutUint16(raw[disk.OffIMode:], ip.mode)
	le.PutUint16(raw[disk.OffIUid:], uint16(ip.uid))
	le.PutUint16(raw[disk.OffIUidHigh:], uint16(ip.uid>>16))
	le.PutUint16(raw[disk.OffIGid:], uint16(ip.gid))
	le.PutUint16(raw[disk.OffIGidHigh:], uint16(ip.gid>>16))
	le.PutUint32(raw[disk.OffISizeLo:], uint32(ip.size))
	le.PutUint32(raw[disk.OffISizeHigh:], uint32(uint64(ip.size)>>32))
	le.PutUint16(raw[disk.OffILinksCount:], ip.links)

	// i_blocks (ext4_inode_blocks_set): 512-byte units in 32 bits, 48
	// with huge_file, beyond that filesystem blocks with
	// EXT4_HUGE_FILE_FL.
	blocks := uint64(max(ip.blocks, 0))
	ip.flags &^= disk.InodeHugeFileFl
	switch {
	case blocks <= math.MaxUint32:
		le.PutUint32(raw[disk.OffIBlocksLo:], uint32(blocks))
		le.PutUint16(raw[disk.OffIBlocksHigh:], 0)
	case !sb.HasRoCompat(disk.RoCompatHugeFile):
		return abi.Errorf(abi.EFBIG, "ext4: inode %d: %d sectors do not fit i_blocks", ip.ino, blocks)
	case blocks <= 1<<48-1:
		le.PutUint32(raw[disk.OffIBlocksLo:], uint32(blocks))
		le.PutUint16(raw[disk.OffIBlocksHigh:], uint16(blocks>>32))
	default:
		ip.flags |= disk.InodeHugeFileFl
		blocks >>= f.BlockBits - 9
		le.PutUint32(raw[disk.OffIBlocksLo:], uint32(blocks))
		le.PutUint16(raw[disk.OffIBlocksHigh:], uint16(blocks>>32))
	}
	le.PutUint32(raw[disk.OffIFlags:], ip.flags)

	// Devices keep their number in i_block (ext4_do_update_inode): the
	// old 16-bit encoding when it fits, else the new one in i_block[1].
	if t := ip.mode & abi.S_IFMT; t == abi.S_IFCHR || t == abi.S_IFBLK {
		clear(ip.iBlock[:])
		ma, mi := abi.Major(ip.rdev), abi.Minor(ip.rdev)
		if ma < 256 && mi < 256 {
			le.PutUint32(ip.iBlock[0:], ma<<8|mi)
		} else {
			le.PutUint32(ip.iBlock[4:], mi&0xff|ma<<8|(mi&^0xff)<<12)
		}
	}
	copy(raw[disk.OffIBlock:], ip.iBlock[:])
	le.PutUint32(raw[disk.OffIGeneration:], ip.generation)
	le.PutUint32(raw[disk.OffIFileACLLo:], uint32(ip.fileACL))
	if sb.HasIncompat(disk.Incompat64bit) {
		le.PutUint16(raw[disk.OffIFileACLHigh:], uint16(ip.fileACL>>32))
	}

	extra := f.ExtraIsize(raw)
	fits := func(off, n uint32) bool {
		return f.InodeSize > disk.GoodOldInodeSize && off+n <= disk.GoodOldInodeSize+extra
	}
	put := func(off, extraOff uint32, t abi.Timespec) {
		s, x := disk.EncodeTime(t, fits(extraOff, 4))
		le.PutUint32(raw[off:], s)
		if fits(extraOff, 4) {
			le.PutUint32(raw[extraOff:], x)
		}
	}
	put(disk.OffIAtime, disk.OffIAtimeExtra, ip.atime)
	put(disk.OffICtime, disk.OffICtimeExtra, ip.ctime)
	put(disk.OffIMtime, disk.OffIMtimeExtra, ip.mtime)
	if fits(disk.OffICrtime, 4) && ip.hasCrtime {
		put(disk.OffICrtime, disk.OffICrtimeExtra, ip.crtime)
	}
	// i_projid (ext4_do_update_inode): with the project feature, where
	// i_extra_isize covers it.
	if sb.HasRoCompat(disk.RoCompatProject) && fits(disk.OffIProjid, 4) {
		le.PutUint32(raw[disk.OffIProjid:], ip.projid)
	}
	if ip.ibody != nil && disk.GoodOldInodeSize+extra < f.InodeSize {
		copy(raw[disk.GoodOldInodeSize+extra:], ip.ibody)
	}
	f.SetInodeCsum(ip.csumSeed, raw, fits(disk.OffIChecksumHi, 2))
	return nil
}

// writeInode encodes ip's fields into its slot of the inode table (the
// transaction's copy), keeping the fields the driver does not decode, and
// sets its checksum (ext4_mark_inode_dirty). ip.ibody, when set, is
// written back at its place after i_extra_isize.
func (h *handle) writeInode(ip *inode) error {
	raw, err := h.inodeSlot(ip.ino)
	if err != nil {
		return err
	}
	if err := h.putInode(ip, raw, true); err != nil {
		return h.fail(err)
	}
	return nil
}

// newInode allocates an inode for a new file of mode (S_IF* and
// permissions) near its parent dir, as ext4's __ext4_new_inode does (Orlov
// spreading for directories, the parent's group otherwise), and
// initialises it: owner ctx.Uid/ctx.Gid, all times and crtime ctx.Now, one
// link (two for a directory, whose caller adds the parent's), size 0, the
// extents flag and an empty extent root on an extent filesystem for
// regular files, directories and symlinks (the caller clears both for a
// fast symlink, as ext4_symlink does), i_extra_isize from
// s_want_extra_isize, a new generation, the checksum seed, and for a file
// or directory on an inline_data filesystem mayInline. It marks the
// inode used in its bitmap and group descriptor (free count, used dirs,
// itable_unused, checksums), writes it to its table and puts it in the
// inode cache.
func (h *handle) newInode(dir *inode, ctx vfs.Ctx, mode uint32) (*inode, error) {
	return h.newInodeFlags(dir, ctx, mode, 0)
}

// newInodeFlags is newInode with flags set from the start, before the
// inode is first written and charged, as __ext4_new_inode takes i_flags:
// an ea_inode (EXT4_EA_INODE_FL) counts for no quota.
func (h *handle) newInodeFlags(dir *inode, ctx vfs.Ctx, mode, flags uint32) (*inode, error) {
	f := h.f
	typ := mode & abi.S_IFMT
	isDir := typ == abi.S_IFDIR
	ino, err := h.allocInode(dir, isDir)
	if err != nil {
		return nil, err
	}
	ip := &inode{
		f:          f,
		ino:        ino,
		mode:       uint16(mode),
		uid:        ctx.Uid,
		gid:        ctx.Gid,
		links:      1,
		atime:      ctx.Now,
		ctime:      ctx.Now,
		mtime:      ctx.Now,
		crtime:     ctx.Now,
		generation: f.newGeneration(ino),
		mapped:     true,
	}
	if isDir {
		ip.links = 2
	}
	if dir != nil {
		// The inherited flags (EXT4_FL_INHERITED), kept to those the
		// new inode's type may have (ext4_mask_flags): PROJINHERIT_FL,
		// DIRSYNC_FL and CASEFOLD_FL pass to directories only (a
		// directory made in a casefolded one is casefolded), SYNC_FL not
		// to symlinks and devices. With the project feature, a directory
		// handing its project down gives it to every new inode
		// (__ext4_new_inode).
		inherit := uint32(inodeSyncFl | disk.InodeNodumpFl | inodeNoatimeFl | inodeDirsyncFl | disk.InodeProjinheritFl |
			disk.InodeCasefoldFl)
		ip.flags = ip.maskFlags(dir.flags & inherit)
		if f.Super.HasRoCompat(disk.RoCompatProject) && dir.flags&disk.InodeProjinheritFl != 0 {
			ip.projid = dir.projid
		}
	}
	if f.Super.HasIncompat(disk.IncompatExtents) && (typ == abi.S_IFREG || isDir || typ == abi.S_IFLNK) {
		ip.flags |= disk.InodeExtentsFl
		ip.initExtentRoot()
	}
	ip.flags |= flags
	// __ext4_new_inode: files and directories may go inline.
	ip.mayInline = f.Super.HasIncompat(disk.IncompatInlineData) && (typ == abi.S_IFREG || isDir)
	ip.csumSeed = f.InodeCsumSeed(ino, ip.generation)
	raw, err := h.newInodeSlot(ino)
	if err != nil {
		return nil, err
	}
	// A new inode starts from a zeroed slot (the table may hold an old
	// inode, or nothing initialised past bg_itable_unused).
	clear(raw)
	if x := f.NewExtraIsize(); x > 0 {
		le.PutUint16(raw[disk.OffIExtraIsize:], x)
		ip.hasCrtime = disk.GoodOldInodeSize+uint32(x) >= disk.OffICrtime+4
	}
	if err := h.putInode(ip, raw, false); err != nil {
		return nil, h.fail(err)
	}
	if err := h.chargeInode(ip, raw, 1); err != nil {
		return nil, err
	}
	f.mu.Lock()
	ip = f.cacheInode(ip, true)
	f.mu.Unlock()
	return ip, nil
}

// hasBlockMap reports whether ip's i_block maps blocks (regular files,
// directories, slow symlinks) rather than holding a device number or a
// fast symlink's target (ext4_inode_is_fast_symlink).
func (ip *inode) hasBlockMap() bool {
	switch ip.mode & abi.S_IFMT {
	case abi.S_IFREG, abi.S_IFDIR:
		return ip.flags&disk.InodeInlineDataFl == 0
	case abi.S_IFLNK:
		if ip.flags&(disk.InodeExtentsFl) != 0 {
			return true
		}
		if ip.flags&disk.InodeInlineDataFl != 0 {
			return false
		}
		ea := int64(0)
		if ip.fileACL != 0 {
			ea = ip.f.ClusterSectors()
		}
		return ip.blocks-ea > 0
	}
	return false
}

// invalidateMap drops the cached block map after a change to it.
func (ip *inode) invalidateMap() {
	ip.mapMu.Lock()
	ip.runs, ip.mapped = nil, false
	ip.mapMu.Unlock()
}

// addRun records a new mapping in the cached block map, when there is
// one, instead of dropping it: r covers what was a hole.
func (ip *inode) addRun(r run) {
	ip.mapMu.Lock()
	defer ip.mapMu.Unlock()
	if !ip.mapped {
		return
	}
	runs := ip.runs
	i := findRun(runs, r.lblk)
	runs = append(runs, run{})
	copy(runs[i+1:], runs[i:])
	runs[i] = r
	contig := func(a, b run) bool {
		return a.lblk+a.n == b.lblk && a.pblk+a.n == b.pblk && a.unwritten == b.unwritten
	}
	if i+1 < len(runs) && contig(runs[i], runs[i+1]) {
		runs[i].n += runs[i+1].n
		runs = append(runs[:i+1], runs[i+2:]...)
	}
	if i > 0 && contig(runs[i-1], runs[i]) {
		runs[i-1].n += runs[i].n
		runs = append(runs[:i], runs[i+1:]...)
	}
	ip.runs = runs
}

// sizeChanged drops the cached map of a block-mapped file, whose runs
// stop at i_size (extent maps do not depend on it).
func (ip *inode) sizeChanged() {
	if ip.flags&disk.InodeExtentsFl == 0 {
		ip.invalidateMap()
	}
}

// truncateBlocks frees ip's blocks from logical block from to the end
// (and the extent tree or indirect blocks that no longer map anything),
// updating i_blocks and writing the inode; i_size is the caller's.
func (h *handle) truncateBlocks(ip *inode, from uint64) error {
	if !ip.hasBlockMap() {
		return nil
	}
	var err error
	if ip.flags&disk.InodeExtentsFl != 0 {
		err = h.extentTruncate(ip, from)
	} else {
		err = h.bmapRemove(ip, from, 1<<32)
	}
	ip.invalidateMap()
	if werr := h.writeInode(ip); err == nil {
		err = werr
	}
	return err
}

// releaseXattrBlock drops ip's reference to its attribute block: the
// block is freed with its last reference, else its h_refcount goes down
// (ext4_xattr_release_block).
func (h *handle) releaseXattrBlock(ip *inode) error {
	f := h.f
	blk := ip.fileACL
	if blk == 0 {
		return nil
	}
	if blk < uint64(f.Super.SFirstDataBlock) || blk >= f.Super.SBlocksCount {
		return h.fail(abi.Errorf(abi.EUCLEAN, "ext4: inode %d: xattr block %d outside the filesystem", ip.ino, blk))
	}
	b, err := h.metaBlock(blk)
	if err != nil {
		return err
	}
	if le.Uint32(b[0:]) != disk.XattrMagic {
		return h.fail(abi.Errorf(abi.EUCLEAN, "ext4: inode %d: xattr block %d: bad magic", ip.ino, blk))
	}
	ip.fileACL = 0
	ea, err := h.blockEAItems(ip, b, blk)
	if err != nil {
		return err
	}
	if ref := le.Uint32(b[4:]); ref > 1 {
		le.PutUint32(b[4:], ref-1)
		f.setXattrCsumOnly(b, blk)
		ip.blocks -= f.ClusterSectors() + f.eaCharge(ea)
		return h.chargeEARefs(ip, -len(ea))
	}
	f.xcache.remove(le.Uint32(b[12:]), blk)
	// The block goes: so do its entries' ea_inode references
	// (ext4_xattr_inode_dec_ref_all).
	if err := h.eaRefDelta(ip, ea, nil, ip.ctime); err != nil {
		return err
	}
	return h.freeBlocks(ip, blk, 1)
}

// deleteInode frees an inode whose last link went and that nobody uses
// (ext4_evict_inode): the ea_inode references of its own xattrs, its
// blocks, its xattr block reference, then its bit
// in the inode bitmap, with i_dtime set (to its ctime, the time of the
// unlink, where Linux takes the clock) and the mode kept, as Linux leaves
// a deleted inode. It leaves the inode cache.
func (h *handle) deleteInode(ip *inode) error {
	f := h.f
	if err := h.dropIbodyEARefs(ip); err != nil {
		return err
	}
	if err := h.truncateBlocks(ip, 0); err != nil {
		return err
	}
	if err := h.releaseXattrBlock(ip); err != nil {
		return err
	}
	ip.links, ip.size, ip.blocks = 0, 0, 0
	raw, err := h.inodeSlot(ip.ino)
	if err != nil {
		return err
	}
	s, _ := disk.EncodeTime(ip.ctime, false)
	le.PutUint32(raw[offIDtime:], s)
	if err := h.putInode(ip, raw, true); err != nil {
		return h.fail(err)
	}
	if err := h.chargeInode(ip, raw, -1); err != nil {
		return err
	}
	if err := h.freeInode(ip.ino, ip.isDir()); err != nil {
		return err
	}
	f.mu.Lock()
	f.forget(ip)
	f.mu.Unlock()
	return nil
}
