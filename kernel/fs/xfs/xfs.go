// Package xfs is the XFS driver, read-only (kernel/fs/xfs on format/xfs):
// it mounts v4 and v5 filesystems as Linux's fs/xfs would mount them
// read-only, and serves lookups (shortform directories, the hash-sorted
// leaves of block, leaf and node directories), readdir in the order and
// at the positions Linux's xfs_readdir gives, file data mapped by extent
// lists and bmap btrees (holes and unwritten extents read as zeros,
// SEEK_DATA and SEEK_HOLE over written extents), inline and remote
// symlinks, devices, and extended attributes of every fork form, with
// XFS's SGI_ACL_FILE and SGI_ACL_DEFAULT shown as Linux's POSIX ACL
// xattrs. Every v5 metadata block's checksum, owner and address are
// verified before use.
//
// A mount asked read-write is served read-only (ReadOnly), as the
// squashfs and erofs drivers do: the driver writes nothing, ever. A
// dirty log is recovered in memory as Linux's mount recovers it
// (recover.go: buffers, inodes and new inode chunks replayed into an
// overlay of the device; the unlinked inodes Linux then frees counted
// free), or, with norecovery, left as it is, as Linux's norecovery
// leaves it. Refused: filesystems with a realtime device or an external
// log (one disk only), ASCII case-insensitive directories (as Linux
// without CONFIG_XFS_SUPPORT_ASCII_CI refuses them), and logs holding
// what the recovery does not replay (attribute and range exchange
// intents left unfinished, realtime intents).
//
// Inodes are read whole on each iget through the device's page cache;
// an inode's extent list is decoded on first use and kept with it, so a
// file read in pieces walks its bmap btree once.
package xfs

import (
	"github.com/lklimg/lklimg/format/xfs"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// fsType is the registered "xfs" type (xfs_fs_type).
type fsType struct{}

// NewType returns the xfs filesystem type.
func NewType() vfs.FilesystemType { return fsType{} }

func (fsType) Name() string { return "xfs" }

// Probe accepts a device whose first sector is an XFS superblock that
// checks (the magic "XFSB" and a sane geometry, as blkid's xfs probe
// looks at the magic and the sizes).
func (fsType) Probe(dev vfs.BlockDevice) bool {
	var p [xfs.SuperSize]byte
	if n, _ := dev.ReadAt(p[:], 0); n < len(p) {
		return false
	}
	sb, err := xfs.DecodeSuperblock(p[:])
	return err == nil && sb.Check() == nil
}

// fsys is a mounted XFS filesystem (struct xfs_mount).
type fsys struct {
	dev  vfs.BlockDevice
	log  vfs.Logger
	name string
	sb   *xfs.Superblock
	opts options
	crc  bool // v5: checksums, v3 inodes, dir3/da3/attr3 headers
	// ftype: directory entries carry file types.
	ftype    bool
	bsize    int64
	blkbits  uint
	dirbsize int   // directory block size in bytes
	dirfsbs  int64 // file system blocks per directory block
	// icount, ifree and fdblocks are the superblock's counters, or
	// their sums over the groups' headers when those cannot be trusted.
	icount, ifree, fdblocks uint64
	// bmaps are the mapping updates a dirty log left unfinished, by
	// inode, which iget applies (applyBmaps); nil after a clean mount.
	bmaps map[uint64][]xfs.MapExtent
	// maxACL is XFS_ACL_MAX_ENTRIES: 25 on v4, as many as fit an
	// attribute value on v5.
	maxACL int
}

// Mount reads and checks the superblock (xfs_readsb, xfs_sb_verify with
// its checksum on v5), refuses what the driver cannot serve (a realtime
// device, an external log), recovers a dirty log in memory unless
// norecovery, and reads the root directory. A read-write mount is
// served read-only (ReadOnly).
func (fsType) Mount(dev vfs.BlockDevice, flags uint64, data string, log vfs.Logger) (vfs.Superblock, error) {
	if log == nil {
		log = vfs.DiscardLogger
	}
	f := &fsys{dev: dev, log: log, name: dev.Name()}
	fail := func(err error) (vfs.Superblock, error) {
		log.Printf("XFS (%s): %v", f.name, err)
		return nil, err
	}
	var err error
	if f.opts, err = parseOptions(data); err != nil {
		return fail(err)
	}
	p := make([]byte, xfs.SuperSize)
	if err := f.readMeta(p, 0, "superblock"); err != nil {
		return fail(err)
	}
	sb, err := xfs.DecodeSuperblock(p)
	if err != nil {
		return fail(err)
	}
	if err := sb.Check(); err != nil {
		return fail(err)
	}
	if sb.HasCRC() {
		sect := make([]byte, sb.SectSize)
		if err := f.readMeta(sect, 0, "superblock"); err != nil {
			return fail(err)
		}
		if !xfs.VerifyChecksum(sect, xfs.SuperCRCOff) {
			return fail(abi.Errorf(abi.EUCLEAN, "xfs: superblock: bad checksum"))
		}
	} else {
		log.Printf("XFS (%s): Deprecated V4 format (crc=0) will not be supported after September 2030.", f.name)
	}
	f.sb = sb
	f.crc = sb.HasCRC()
	f.ftype = sb.HasFtype()
	f.blkbits = uint(sb.BlockLog)
	f.bsize = int64(sb.BlockSize)
	f.dirbsize = sb.DirBlkSize()
	f.dirfsbs = int64(1) << sb.DirBlkLog
	f.maxACL = 25
	if f.crc {
		f.maxACL = (xfs.MaxAttrValue - 4) / 12
	}
	if int64(sb.DBlocks)<<f.blkbits > dev.Size() {
		return fail(abi.Errorf(abi.EINVAL, "xfs: filesystem size mismatch detected: %d blocks of %d bytes on a device of %d bytes",
			sb.DBlocks, f.bsize, dev.Size()))
	}
	if sb.HasASCIICI() {
		// Their names hash and compare case-insensitively; Linux
		// without CONFIG_XFS_SUPPORT_ASCII_CI (deprecated, off in
		// current kernels) refuses them, and so does this driver.
		return fail(abi.Errorf(abi.EINVAL, "xfs: Deprecated ASCII case-insensitivity feature (ascii-ci=1) not supported"))
	}
	if sb.RBlocks != 0 || sb.RExtents != 0 {
		// The realtime section lives on a device of its own (rtdev=),
		// which a library kernel with one disk does not have.
		return fail(abi.Errorf(abi.EOPNOTSUPP, "xfs: filesystem has a realtime volume (%d blocks): realtime devices are not read", sb.RBlocks))
	}
	if sb.LogStart == 0 {
		return fail(abi.Errorf(abi.EOPNOTSUPP, "xfs: filesystem has an external log: external log devices are not read"))
	}
	st, err := f.findLog()
	if err != nil {
		return fail(err)
	}
	dirty := st.dirty
	var freed uint64 // blocks the log's unfinished extent frees give back
	switch {
	case dirty && f.opts.norecovery:
		log.Printf("XFS (%s): Mounting filesystem in no-recovery mode. Filesystem will be inconsistent.", f.name)
	case dirty:
		// Replayed in memory, as a read-only mount on a read-only
		// device cannot write it back (xlog_recover).
		log.Printf("XFS (%s): Starting recovery (logdev: internal)", f.name)
		o, err := f.recover(st)
		if err != nil {
			return fail(err)
		}
		f.dev = o
		// xlog_do_recover reads the superblock again.
		if err := f.readMeta(p, 0, "superblock"); err != nil {
			return fail(err)
		}
		if sb, err = xfs.DecodeSuperblock(p); err != nil {
			return fail(err)
		}
		if err := sb.Check(); err != nil {
			return fail(err)
		}
		f.sb = sb
		log.Printf("XFS (%s): Ending recovery (logdev: internal): %d sectors replayed in memory", f.name, len(o.bbs))
		if o.intents > 0 {
			log.Printf("XFS (%s): %d unfinished intents settled in memory (%d blocks freed)", f.name, o.intents, o.freed)
		}
		freed = o.freed
		f.bmaps = o.bmaps
	}
	f.icount, f.ifree, f.fdblocks = sb.Icount, sb.Ifree, sb.FDBlocks
	if (dirty && sb.HasLazySbCount()) || sb.FDBlocks > sb.DBlocks || sb.Ifree > sb.Icount {
		if err := f.countAGs(dirty && !f.opts.norecovery); err != nil {
			return fail(err)
		}
	}
	// The extents unfinished frees give back, counted after the groups'
	// sums as Linux frees them after it sums them (xfs_log_mount_finish
	// after xfs_initialize_perag_data).
	f.fdblocks = min(f.fdblocks+freed, sb.DBlocks)
	root, err := f.iget(sb.RootIno)
	if err != nil {
		return fail(err)
	}
	if root.mode()&abi.S_IFMT != abi.S_IFDIR {
		return fail(abi.Errorf(abi.EUCLEAN, "xfs: root inode %d is not a directory (mode 0%o)", sb.RootIno, root.di.Mode))
	}
	log.Printf("XFS (%s): Mounting V%d Filesystem %x", f.name, sb.Version(), sb.UUID)
	if !dirty {
		log.Printf("XFS (%s): Ending clean mount", f.name)
	}
	return f, nil
}

// ReadOnly tells the VFS the mount is read-only whatever was asked:
// this driver has no write path.
func (f *fsys) ReadOnly() bool { return true }

// Root returns the root directory.
func (f *fsys) Root() (vfs.Inode, error) { return f.iget(f.sb.RootIno) }

// Statfs reports what xfs_fs_statfs computes from the counters (the
// superblock's, or the groups' sums): the blocks less the internal log; the free blocks less the
// allocator's set-aside (xfs_alloc_set_aside: 4 + 4 per group,
// XFS_ALLOCBT_AGFL_RESERVE); the inode count as free blocks could hold
// inodes, bounded by imax_pct.
func (f *fsys) Statfs() (abi.Statfs, error) {
	sb := f.sb
	blocks := sb.DBlocks
	if sb.LogStart != 0 {
		blocks -= uint64(sb.LogBlocks)
	}
	free := f.fdblocks
	aside := f.setAside()
	if free > aside {
		free -= aside
	} else {
		free = 0
	}
	files := f.icount + free<<sb.InopBLog
	if files > 1<<56-1 {
		files = 1<<56 - 1
	}
	if m := f.maxIcount(); m != 0 && files > m {
		files = m
	}
	files = max(files, f.icount)
	ffree := int64(files) - int64(f.icount-f.ifree)
	return abi.Statfs{
		Type:    xfs.SuperMagic,
		Bsize:   f.bsize,
		Blocks:  blocks,
		Bfree:   free,
		Bavail:  free,
		Files:   files,
		Ffree:   uint64(max(ffree, 0)),
		Namelen: xfs.MaxNameLen,
		Frsize:  f.bsize,
	}, nil
}

// setAside is the free blocks statfs does not count
// (xfs_fdblocks_unavailable): the AGFL reserve of every group, plus the
// reverse-mapping btree's worst case when the filesystem has one
// (xfs_alloc_set_aside).
func (f *fsys) setAside() uint64 {
	per := uint64(4 + 4) // XFS_ALLOCBT_AGFL_RESERVE + XFS_ALLOC_AGFL_RESERVE
	return uint64(f.sb.AgCount) * per
}

// maxIcount is the most inodes imax_pct lets the filesystem have
// (xfs_ialloc_setup_geometry's maxicount), 0 for no bound.
func (f *fsys) maxIcount() uint64 {
	sb := f.sb
	if sb.ImaxPct == 0 {
		return 0
	}
	chunkBlocks := uint64(64) >> sb.InopBLog // XFS_INODES_PER_CHUNK's blocks
	if chunkBlocks == 0 {
		chunkBlocks = 1
	}
	n := sb.DBlocks * uint64(sb.ImaxPct) / 100
	n = n / chunkBlocks * chunkBlocks
	return n << sb.InopBLog
}

// countAGs sums the groups' counters as xfs_initialize_perag_data does
// when the superblock's cannot be trusted (a dirty log with lazy
// counters, or counters out of range): inodes and free inodes from the
// AGIs, free blocks from the AGFs (free space, the free list, the
// btrees' blocks). After a recovery, the inodes left on the AGIs'
// unlinked lists (removed while in use, or not yet inactivated when
// the filesystem stopped) count as freed, with their blocks, as
// xlog_recover_process_iunlinks frees them.
func (f *fsys) countAGs(iunlinks bool) error {
	sb := f.sb
	sect := make([]byte, sb.SectSize)
	var icount, ifree, fdblocks uint64
	for agno := uint32(0); agno < sb.AgCount; agno++ {
		base := int64(agno) * int64(sb.AgBlocks) << f.blkbits
		if err := f.readMeta(sect, base+int64(sb.SectSize), "AGF"); err != nil {
			return err
		}
		agf, err := xfs.DecodeAgf(sect, f.crc, agno, sb.AgBlocks)
		if err != nil {
			return err
		}
		if err := f.readMeta(sect, base+2*int64(sb.SectSize), "AGI"); err != nil {
			return err
		}
		agi, err := xfs.DecodeAgi(sect, f.crc, agno, sb.AgBlocks)
		if err != nil {
			return err
		}
		icount += uint64(agi.Count)
		ifree += uint64(agi.FreeCount)
		fdblocks += uint64(agf.FreeBlks) + uint64(agf.FlCount) + uint64(agf.BtreeBlks)
		if iunlinks {
			inodes, blocks, err := f.unlinked(agno, agi)
			if err != nil {
				return err
			}
			ifree += inodes
			fdblocks += blocks
			if inodes > 0 {
				f.log.Printf("XFS (%s): AG %d: %d unlinked inodes freed, %d blocks with them", f.name, agno, inodes, blocks)
			}
		}
	}
	if fdblocks > sb.DBlocks || ifree > icount {
		return abi.Errorf(abi.EUCLEAN, "xfs: the groups count %d free blocks of %d, %d free inodes of %d", fdblocks, sb.DBlocks, ifree, icount)
	}
	f.icount, f.ifree, f.fdblocks = icount, ifree, fdblocks
	return nil
}

// unlinked counts the inodes on group agno's unlinked lists and their
// blocks, each list bounded by the group's inode count; with them, the
// inode chunks they leave wholly free, which Linux frees too (xfs_difree
// without ikeep): their blocks.
func (f *fsys) unlinked(agno uint32, agi *xfs.Agi) (inodes, blocks uint64, err error) {
	sb := f.sb
	gone := map[uint32]bool{}
	for _, head := range agi.Unlinked {
		for agino, n := head, uint32(0); agino != xfs.NullAgino; n++ {
			if n > agi.Count || gone[agino] {
				return 0, 0, abi.Errorf(abi.EUCLEAN, "xfs: AGI %d: unlinked list loops", agno)
			}
			ip, err := f.iget(uint64(agno)<<sb.InoBits() | uint64(agino))
			if err != nil {
				return 0, 0, err
			}
			gone[agino] = true
			inodes++
			blocks += ip.di.NBlocks
			agino = be32(ip.raw[96:])
		}
	}
	// A chunk is 64 inodes from an agino multiple of 64
	// (XFS_INODES_PER_CHUNK), on consecutive blocks.
	const perChunk = 64
	chunkBlocks := uint64(max(perChunk>>sb.InopBLog, 1))
	seen := map[uint32]bool{}
	isz := int(sb.InodeSize)
	raw := make([]byte, perChunk*isz)
	for agino := range gone {
		first := agino &^ (perChunk - 1)
		if seen[first] {
			continue
		}
		seen[first] = true
		off, err := f.fsbToByte(uint64(agno)<<sb.AgBlkLog | uint64(first>>sb.InopBLog))
		if err != nil {
			return 0, 0, err
		}
		if err := f.readMeta(raw, off, "inode chunk"); err != nil {
			return 0, 0, err
		}
		free := true
		for i := 0; i < perChunk && free; i++ {
			d := raw[i*isz:]
			mode := uint16(d[2])<<8 | uint16(d[3])
			free = uint16(d[0])<<8|uint16(d[1]) == xfs.DinodeMagic && (mode == 0 || gone[first+uint32(i)])
		}
		if free {
			blocks += chunkBlocks
		}
	}
	return inodes, blocks, nil
}

// Unmount has nothing to release.
func (f *fsys) Unmount() error { return nil }

// readMeta reads len(p) bytes at byte off of the device: EUCLEAN when
// they lie beyond it, EIO when it cannot give them.
func (f *fsys) readMeta(p []byte, off int64, what string) error {
	if off < 0 || off > f.dev.Size() || int64(len(p)) > f.dev.Size()-off {
		return abi.Errorf(abi.EUCLEAN, "xfs: %s at %d+%d beyond the device (%d bytes)", what, off, len(p), f.dev.Size())
	}
	if _, err := f.dev.ReadAt(p, off); err != nil {
		return abi.Errorf(abi.EIO, "xfs: reading %s at %d: %v", what, off, err)
	}
	return nil
}

// fsbToByte returns the device byte offset of file system block fsb
// (agno << agblklog | agbno, XFS_FSB_TO_DADDR), EUCLEAN when its group
// or its block within the group does not exist.
func (f *fsys) fsbToByte(fsb uint64) (int64, error) {
	agno, agbno := fsb>>f.sb.AgBlkLog, fsb&(1<<f.sb.AgBlkLog-1)
	if agno >= uint64(f.sb.AgCount) || agbno >= uint64(f.sb.AgBlocks) {
		return 0, abi.Errorf(abi.EUCLEAN, "xfs: block %d (group %d, block %d) beyond the filesystem", fsb, agno, agbno)
	}
	off := int64(agno*uint64(f.sb.AgBlocks)+agbno) << f.blkbits
	if off >= int64(f.sb.DBlocks)<<f.blkbits {
		return 0, abi.Errorf(abi.EUCLEAN, "xfs: block %d beyond the filesystem", fsb)
	}
	return off, nil
}
