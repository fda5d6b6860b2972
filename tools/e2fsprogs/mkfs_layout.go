package e2fsprogs

import (
	"math"
	"math/bits"

	disk "github.com/lklimg/lklimg/format/ext4"
	"github.com/lklimg/lklimg/kernel/abi"
)

// Fixed inode numbers (EXT2_BAD_INO ... EXT2_GOOD_OLD_FIRST_INO).
const (
	badIno      = 1
	resizeIno   = 7
	journalIno  = 8
	lostFoundNo = 11
)

// Constants of the format mke2fs relies on.
const (
	ext2NDirBlocks    = 12        // EXT2_NDIR_BLOCKS
	ext2DindBlock     = 13        // EXT2_DIND_BLOCK
	largeInodeExtra   = 32        // sizeof(struct ext2_inode_large) - 128 in 1.47.0
	largeInodeSize    = 160       // sizeof(struct ext2_inode_large)
	defMountOpts      = 0x4 | 0x8 // EXT2_DEFM_XATTR_USER | EXT2_DEFM_ACL
	errorsContinue    = 1         // EXT2_ERRORS_CONTINUE, mke2fs's default
	jnlBackupBlocks   = 1         // EXT3_JNL_BACKUP_BLOCKS
	minJournalBlocks  = 1024      // JBD2_MIN_JOURNAL_BLOCKS
	maxJournalBlocks  = 10240000  // mke2fs's upper bound for -J size=
	lostFoundMinBytes = 16 << 10  // create_lost_and_found's size
)

// mkfsGroup is one group descriptor as mke2fs builds it.
type mkfsGroup struct {
	blockBitmap, inodeBitmap, inodeTable uint64
	flags                                uint16
	itableUnused                         uint32
	usedDirs                             uint32
}

// mkfsInode is an inode mke2fs writes: the fields it sets; the rest of
// the slot is zero.
type mkfsInode struct {
	ino                 uint32
	mode                uint16
	uid, gid            uint32
	size                uint64
	links               uint16
	blocks              uint64 // i_blocks, in 512-byte sectors
	flags               uint32
	iblock              [disk.IBlockLen]byte
	ctime, atime, mtime int64 // seconds since the epoch
	crtime              int64
	large               bool // written by ext2fs_write_new_inode: i_extra_isize and i_crtime set
	// ibodyMagic: the in-inode xattr area keeps its header, emptied (an
	// inline directory's system.data removed by ext2fs_inline_data_expand).
	ibodyMagic bool
	dataBlocks []uint64
}

// mkfsLayout is the planned filesystem.
type mkfsLayout struct {
	p MkfsParams

	bs, blocks, rBlocks, firstData uint64
	bpg                            uint64
	// ratio is the blocks per cluster (EXT2FS_CLUSTER_RATIO, 1 without
	// bigalloc), logCluster s_log_cluster_size.
	ratio                      uint64
	logCluster                 uint32
	ipg                        uint32
	inodes                     uint32
	ngroups                    uint32
	descSize                   uint32 // bytes per descriptor (32 or s_desc_size)
	sDescSize                  uint16 // s_desc_size as stored (0 without 64bit)
	descPerBlock               uint32
	descBlocks                 uint64
	itb                        uint64 // inode table blocks per group
	rsvGdt                     uint32
	compat, incompat, roCompat uint32
	logFlex                    uint8
	backupBGs                  [2]uint32
	csum                       bool // group descriptors have checksums (uninit flags mean something)
	minExtra                   uint16

	groups []mkfsGroup
	// descFree is each group's bg_free_blocks_count as libext2fs keeps
	// it while mke2fs allocates, which get_midpoint_journal_block
	// compares: with bigalloc in mixed units (blocks from
	// ext2fs_initialize, a cluster less an allocation).
	descFree []int64
	// bmap is the block bitmap, one groupBitmap per group.
	bmap []groupBitmap
	// inodesUsed are the inodes in use (a few of group 0's).
	inodesUsed map[uint32]bool

	overhead      uint64 // s_overhead_clusters
	initFree      uint64 // s_free_blocks_count as ext2fs_initialize leaves it
	journalBlocks uint32
	journalRuns   []run  // the journal's data blocks
	journalSB     uint64 // where its superblock goes (journal block 0)
	inodeTab      map[uint32]*mkfsInode
	dirBlocks     map[uint64][]byte // directory blocks by block number
	indBlocks     map[uint64][]byte // resize inode and journal indirect blocks
	extentLeaves  map[uint64][]byte
	orphanIno     uint32 // the orphan file's inode (mkfs_orphan.go), or 0
	// quotaIno are the quota files' inodes by type (mkfs_quota.go), 0
	// for a type not made; quotaData their blocks' contents.
	quotaIno  [disk.QuotaTypes]uint32
	quotaData map[uint64][]byte
	// bbDirty and ibDirty say the bitmaps changed since libext2fs last
	// wrote them (ext2fs_close writes them only then).
	bbDirty, ibDirty bool

	// The block accesses mke2fs's I/O makes, for mkfs_iomodel.go.
	trace  []mkfsAccess
	bufBlk uint64 // the inode table block libext2fs's inode buffer holds
}

// sb returns the superblock fields the shared helpers look at
// (hasSuper), for the planned filesystem.
func (l *mkfsLayout) sb() *disk.Superblock {
	return &disk.Superblock{
		SFeatureCompat:   l.compat,
		SFeatureIncompat: l.incompat,
		SFeatureRoCompat: l.roCompat,
		SBackupBGs:       l.backupBGs,
		SUUID:            l.p.UUID,
	}
}

// checkMkfsParams refuses what mke2fs refuses, and what Mkfs does not
// make (features that need more than the layout).
func checkMkfsParams(p *MkfsParams) error {
	switch p.BlockSize {
	case 1024, 2048, 4096, 65536:
	default:
		return abi.Errorf(abi.EINVAL, "ext4: mkfs: invalid block size %d", p.BlockSize)
	}
	is := uint32(p.InodeSize)
	if is < disk.GoodOldInodeSize || is > p.BlockSize || is&(is-1) != 0 {
		return abi.Errorf(abi.EINVAL, "ext4: mkfs: invalid inode size %d (min %d/max %d)", is, disk.GoodOldInodeSize, p.BlockSize)
	}
	const (
		compatOK = disk.CompatHasJournal | disk.CompatExtAttr | disk.CompatResizeInode | disk.CompatDirIndex | disk.CompatSparseSuper2 |
			disk.CompatOrphanFile | disk.CompatStableInodes
		incompatOK = disk.IncompatFiletype | disk.IncompatMetaBG | disk.IncompatExtents | disk.Incompat64bit | disk.IncompatFlexBG | disk.IncompatCsumSeed |
			disk.IncompatLargedir | disk.IncompatInlineData | disk.IncompatEAInode | disk.IncompatEncrypt | disk.IncompatCasefold
		roCompatOK = disk.RoCompatSparseSuper | disk.RoCompatLargeFile | disk.RoCompatHugeFile | disk.RoCompatGdtCsum | disk.RoCompatDirNlink |
			disk.RoCompatExtraIsize | disk.RoCompatMetadataCsum | disk.RoCompatVerity | disk.RoCompatBigalloc | disk.RoCompatQuota | disk.RoCompatProject
	)
	if u := p.Compat &^ compatOK; u != 0 {
		return abi.Errorf(abi.EOPNOTSUPP, "ext4: mkfs: compat features %#x not supported", u)
	}
	if u := p.Incompat &^ incompatOK; u != 0 {
		return abi.Errorf(abi.EOPNOTSUPP, "ext4: mkfs: incompat features %s not supported", disk.IncompatString(u))
	}
	if u := p.RoCompat &^ roCompatOK; u != 0 {
		return abi.Errorf(abi.EOPNOTSUPP, "ext4: mkfs: ro_compat features %#x not supported", u)
	}
	if p.QuotaTypes&^(QuotaUsrBit|QuotaGrpBit|QuotaPrjBit) != 0 {
		return abi.Errorf(abi.EINVAL, "ext4: mkfs: invalid quota types %#x", p.QuotaTypes)
	}
	if p.RoCompat&disk.RoCompatProject != 0 && is == disk.GoodOldInodeSize {
		return abi.Errorf(abi.EINVAL, "ext4: mkfs: %d byte inodes are too small for project quota", is)
	}
	if p.Incompat&disk.IncompatInlineData != 0 && is == disk.GoodOldInodeSize {
		return abi.Errorf(abi.EINVAL, "ext4: mkfs: %d byte inodes are too small for inline data; specify larger size", is)
	}
	if p.EncodingFlags&^disk.EncodingStrictFl != 0 || p.EncodingFlags != 0 && p.Incompat&disk.IncompatCasefold == 0 {
		return abi.Errorf(abi.EINVAL, "ext4: mkfs: encoding flags %#x need the casefold feature and are strict or none", p.EncodingFlags)
	}
	if p.RoCompat&disk.RoCompatBigalloc != 0 {
		if p.Incompat&disk.IncompatExtents == 0 {
			return abi.Errorf(abi.EINVAL, "ext4: mkfs: can't support bigalloc feature without extents feature")
		}
		c := p.ClusterSize
		if c != 0 && (c <= 1024 || c > 1<<29) {
			return abi.Errorf(abi.EINVAL, "ext4: mkfs: invalid cluster size %d", c)
		}
		if p.ClusterBytes() < p.BlockSize {
			return abi.Errorf(abi.EINVAL, "ext4: mkfs: the cluster size may not be smaller than the block size")
		}
	}
	if p.Incompat&disk.Incompat64bit != 0 && p.Incompat&disk.IncompatExtents == 0 {
		return abi.Errorf(abi.EINVAL, "ext4: mkfs: extents must be enabled for a 64-bit filesystem")
	}
	if p.Incompat&disk.IncompatMetaBG != 0 && p.Compat&disk.CompatResizeInode != 0 {
		return abi.Errorf(abi.EINVAL, "ext4: mkfs: the resize_inode and meta_bg features are not compatible")
	}
	if p.Compat&disk.CompatResizeInode != 0 && p.RoCompat&disk.RoCompatSparseSuper == 0 {
		return abi.Errorf(abi.EINVAL, "ext4: mkfs: reserving resize space requires sparse_super")
	}
	if p.Compat&disk.CompatOrphanFile != 0 && p.Compat&disk.CompatHasJournal == 0 {
		return abi.Errorf(abi.EINVAL, "ext4: mkfs: cannot set orphan_file feature without a journal")
	}
	if p.Incompat&disk.IncompatCsumSeed != 0 && p.RoCompat&disk.RoCompatMetadataCsum == 0 {
		return abi.Errorf(abi.EINVAL, "ext4: mkfs: the metadata_csum_seed feature requires the metadata_csum feature")
	}
	if p.Blocks > math.MaxUint32 && p.Incompat&disk.Incompat64bit == 0 {
		return abi.Errorf(abi.EFBIG, "ext4: mkfs: %d blocks too big to be expressed in 32 bits", p.Blocks)
	}
	if p.Time < 0 || p.Time > math.MaxUint32 {
		// The superblock's times are 32 bits unsigned (without the
		// _hi bytes mke2fs 1.47.0 does not write).
		return abi.Errorf(abi.EINVAL, "ext4: mkfs: time %d out of range (0 to 2^32-1)", p.Time)
	}
	if p.Inodes == 0 && (p.InodeRatio < 1024 || p.InodeRatio > 65536*1024) {
		return abi.Errorf(abi.EINVAL, "ext4: mkfs: invalid inode ratio %d (min 1024/max 67108864)", p.InodeRatio)
	}
	if p.ReservedPercent < 0 || p.ReservedPercent > 50 {
		return abi.Errorf(abi.EINVAL, "ext4: mkfs: invalid reserved blocks percent %v", p.ReservedPercent)
	}
	if p.FlexBGSize != 0 && p.FlexBGSize&(p.FlexBGSize-1) != 0 {
		return abi.Errorf(abi.EINVAL, "ext4: mkfs: flex_bg size %d must be a power of 2", p.FlexBGSize)
	}
	return nil
}

// planMkfs makes the whole layout.
func planMkfs(p MkfsParams) (*mkfsLayout, error) {
	// PRS: a project quota type sets the project feature.
	if p.QuotaTypes&QuotaPrjBit != 0 {
		p.RoCompat |= disk.RoCompatProject
	}
	if err := checkMkfsParams(&p); err != nil {
		return nil, err
	}
	// PRS: metadata_csum and uninit_bg are not both set; a device over
	// 2^32 blocks has no resize inode.
	if p.RoCompat&disk.RoCompatMetadataCsum != 0 {
		p.RoCompat &^= disk.RoCompatGdtCsum
	}
	if p.Blocks > math.MaxUint32 {
		p.Compat &^= disk.CompatResizeInode
	}
	l := &mkfsLayout{p: p, compat: p.Compat, incompat: p.Incompat, roCompat: p.RoCompat, bbDirty: true, ibDirty: true}
	if err := l.geometry(); err != nil {
		return nil, err
	}
	l.reserveGroups()
	if err := l.allocateTables(); err != nil {
		return nil, err
	}
	// ext2fs_convert_subcluster_bitmap: the tables were placed block by
	// block; from here on a cluster is used whole or free.
	l.clusterBitmap()
	l.overhead = l.usedBlocks() / l.ratio
	l.inodeTab = make(map[uint32]*mkfsInode)
	l.dirBlocks = make(map[uint64][]byte)
	l.indBlocks = make(map[uint64][]byte)
	l.extentLeaves = make(map[uint64][]byte)
	if l.roCompat&disk.RoCompatMetadataCsum != 0 {
		// write_reserved_inodes.
		for ino := uint32(1); ino < disk.GoodOldFirstIno; ino++ {
			l.itW(ino)
		}
	}
	if err := l.makeRoot(); err != nil {
		return nil, err
	}
	if err := l.makeLostFound(); err != nil {
		return nil, err
	}
	// reserve_inodes and create_bad_block_inode.
	for ino := uint32(disk.RootIno + 1); ino < disk.GoodOldFirstIno; ino++ {
		l.inodeAllocStats(ino, false)
	}
	l.inodeAllocStats(badIno, false)
	l.itR(badIno)
	l.itW(badIno)
	t := p.Time
	l.inodeTab[badIno] = &mkfsInode{ino: badIno, atime: t, mtime: t, ctime: t}
	if l.compat&disk.CompatResizeInode != 0 {
		if err := l.makeResizeInode(); err != nil {
			return nil, err
		}
	}
	if l.compat&disk.CompatHasJournal != 0 {
		if err := l.makeJournal(); err != nil {
			return nil, err
		}
	}
	l.overhead += l.firstData
	if l.roCompat&disk.RoCompatQuota != 0 {
		if err := l.makeQuota(); err != nil {
			return nil, err
		}
	}
	if l.compat&disk.CompatOrphanFile != 0 {
		if err := l.makeOrphanFile(p.OrphanFileBlocks); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// geometry is ext2fs_initialize's: the groups, inodes per group and
// reserved GDT blocks, shrinking the filesystem by a last group too
// small for its own metadata.
func (l *mkfsLayout) geometry() error {
	p := &l.p
	l.bs = uint64(p.BlockSize)
	logBlock := uint32(bits.TrailingZeros64(l.bs >> 10))
	l.logCluster, l.ratio = logBlock, 1
	bigalloc := l.roCompat&disk.RoCompatBigalloc != 0
	if bigalloc {
		l.logCluster = uint32(bits.TrailingZeros32(p.ClusterBytes() >> 10))
		if l.logCluster < logBlock {
			return abi.Errorf(abi.EINVAL, "ext4: mkfs: the cluster size may not be smaller than the block size")
		}
		l.ratio = 1 << (l.logCluster - logBlock)
	}
	// ext2fs_initialize: the first data block is 1 for 1 KiB clusters.
	if l.logCluster == 0 {
		l.firstData = 1
	}
	// EXT2_MAX_BLOCKS_PER_GROUP (and _CLUSTERS_): a group's free count
	// fits in 16 bits (64 KiB blocks have 65528 a group, not 8 times
	// the block size). With bigalloc the bitmap's bits are clusters, a
	// group ratio times as many blocks.
	const maxPerGroup = 1<<16 - 8
	cpg := l.bs * 8
	if l.logCluster+15 >= 32 {
		cpg = (l.bs - 1) * 8
	}
	l.bpg = min(cpg, maxPerGroup) * l.ratio
	if l.bpg >= 1<<32 {
		return abi.Errorf(abi.EINVAL, "ext4: mkfs: %d blocks per group do not fit in 32 bits", l.bpg)
	}
	if p.Blocks == 0 {
		return abi.Errorf(abi.EINVAL, "ext4: mkfs: no blocks")
	}
	blocksParam := p.Blocks
	rParam := uint64(p.ReservedPercent * float64(blocksParam) / 100.0)
	// Whole clusters.
	l.blocks, l.rBlocks = blocksParam&^(l.ratio-1), rParam
	if l.rBlocks >= blocksParam {
		return abi.Errorf(abi.EINVAL, "ext4: mkfs: reserved blocks %d exceed the filesystem", l.rBlocks)
	}
	inodesParam := uint64(p.Inodes)
	if inodesParam == 0 {
		ratio := uint64(p.InodeRatio)
		inodesParam = blocksParam * l.bs / ratio
		if inodesParam > math.MaxUint32 {
			if l.incompat&disk.Incompat64bit == 0 {
				return abi.Errorf(abi.EINVAL, "ext4: mkfs: too many inodes (%d), raise inode ratio?", inodesParam)
			}
			inodesParam = math.MaxUint32
		}
	}
	isz := uint64(p.InodeSize)
	if inodesParam*isz >= blocksParam*l.bs {
		return abi.Errorf(abi.EINVAL, "ext4: mkfs: inode_size (%d) * inodes_count (%d) too big for a filesystem with %d blocks",
			isz, inodesParam, blocksParam)
	}
	if l.incompat&disk.Incompat64bit != 0 {
		l.sDescSize = disk.MinDescSize64
	}
	l.descSize = max(uint32(l.sDescSize), disk.MinDescSize)
	l.descPerBlock = uint32(l.bs) / l.descSize
	if p.FlexBGSize > 0 && l.incompat&disk.IncompatFlexBG != 0 {
		l.logFlex = uint8(bits.TrailingZeros32(p.FlexBGSize))
	}
	if l.roCompat&disk.RoCompatSparseSuper != 0 || l.compat&disk.CompatSparseSuper2 != 0 {
		// ext2fs_initialize's sparse_super2 test reads mke2fs's
		// s_backup_bgs (num_backup_sb 2: group 1 and the last).
		l.backupBGs = [2]uint32{1, math.MaxUint32}
	}
	if l.compat&disk.CompatSparseSuper2 == 0 {
		l.backupBGs = [2]uint32{}
	}
	paramBackup := l.backupBGs
retry:
	ngroups := (l.blocks - l.firstData + l.bpg - 1) / l.bpg
	if ngroups == 0 || ngroups > math.MaxUint32 {
		return abi.Errorf(abi.EINVAL, "ext4: mkfs: filesystem too small")
	}
	l.ngroups = uint32(ngroups)
	l.descBlocks = (ngroups + uint64(l.descPerBlock) - 1) / uint64(l.descPerBlock)
	inodes := inodesParam
	if inodes < disk.GoodOldFirstIno+1 {
		inodes = disk.GoodOldFirstIno + 1
	}
	ipg := (inodes + ngroups - 1) / ngroups
	if ipg > l.bs*8 {
		if !bigalloc && l.bpg >= 256 {
			// Smaller groups, more of them, fewer inodes each.
			l.bpg -= 8
			l.blocks = blocksParam
			goto retry
		}
		return abi.Errorf(abi.EINVAL, "ext4: mkfs: too many inodes")
	}
	if maxIpg := uint64(1<<16) - l.bs/isz; ipg > maxIpg { // EXT2_MAX_INODES_PER_GROUP
		ipg = maxIpg
	}
	for {
		// Fill the inode table blocks, then round down to a multiple
		// of 8 (the bitmap splicing).
		itb := (ipg*isz + l.bs - 1) / l.bs
		n := itb * l.bs / isz
		if n < 8 {
			n = 8
		}
		n &^= 7
		l.itb = (n*isz + l.bs - 1) / l.bs
		if n*ngroups > math.MaxUint32 {
			ipg--
			continue
		}
		l.ipg = uint32(n)
		break
	}
	l.inodes = l.ipg * l.ngroups
	if l.inodes < disk.GoodOldFirstIno {
		// No room for the reserved inodes and lost+found (mke2fs fails
		// writing the reserved inodes).
		return abi.Errorf(abi.EINVAL, "ext4: mkfs: filesystem too small (%d inodes)", l.inodes)
	}
	l.rsvGdt = 0
	if l.compat&disk.CompatResizeInode != 0 {
		l.rsvGdt = l.p.ReservedGDTBlocks
		if l.rsvGdt == 0 {
			l.rsvGdt = l.calcReservedGdt()
		}
	}
	if uint64(l.rsvGdt) > l.bs/4 {
		return abi.Errorf(abi.EINVAL, "ext4: mkfs: too many reserved group descriptor blocks")
	}
	// Switch to meta_bg when the descriptors would take over 3/4 of a
	// group.
	if uint64(l.rsvGdt)+l.descBlocks > l.bpg*3/4 {
		l.incompat |= disk.IncompatMetaBG
		l.compat &^= disk.CompatResizeInode
		l.rsvGdt = 0
	}
	overhead := 3 + l.itb + uint64(l.rsvGdt)
	if l.incompat&disk.IncompatMetaBG != 0 {
		overhead++
	} else {
		overhead += l.descBlocks
	}
	if overhead > l.bpg {
		return abi.Errorf(abi.EINVAL, "ext4: mkfs: too many inodes")
	}
	// Drop a last group too small for its own metadata (and 50 blocks).
	overhead = 2 + l.itb
	var hasBG bool
	if l.compat&disk.CompatSparseSuper2 != 0 {
		if l.ngroups == 2 {
			hasBG = paramBackup[0] != 0
		} else {
			hasBG = paramBackup[1] != 0
		}
	} else {
		hasBG = l.hasSuper(l.ngroups - 1)
	}
	if hasBG {
		overhead += 1 + l.descBlocks + uint64(l.rsvGdt)
	}
	rem := (l.blocks - l.firstData) % l.bpg
	if l.ngroups == 1 && rem != 0 && rem < overhead {
		return abi.Errorf(abi.EINVAL, "ext4: mkfs: filesystem too small")
	}
	if rem != 0 && rem < overhead+50 {
		l.blocks -= rem
		ratio := 100.0 * float64(rParam) / float64(blocksParam)
		l.rBlocks = uint64(ratio * float64(l.blocks) / 100.0)
		goto retry
	}
	if l.compat&disk.CompatSparseSuper2 != 0 {
		b := paramBackup
		last := l.ngroups - 1
		b[0], b[1] = min(b[0], last), min(b[1], last)
		if b[0] == b[1] {
			b[1] = 0
		}
		if b[0] > b[1] {
			b[0], b[1] = b[1], b[0]
		}
		l.backupBGs = b
	}
	l.csum = l.roCompat&(disk.RoCompatMetadataCsum|disk.RoCompatGdtCsum) != 0
	if uint32(p.InodeSize) >= largeInodeSize {
		l.minExtra = largeInodeExtra
	}
	return nil
}

// calcReservedGdt is calc_reserved_gdt_blocks: room for the descriptors
// of a filesystem 1024 times larger (or of 2^32 blocks), at most one
// indirect block's worth.
func (l *mkfsLayout) calcReservedGdt() uint32 {
	maxBlocks := uint64(math.MaxUint32)
	if l.blocks < maxBlocks/1024 {
		maxBlocks = l.blocks * 1024
	}
	rsvGroups := (maxBlocks - l.firstData + l.bpg - 1) / l.bpg
	rsv := (rsvGroups+uint64(l.descPerBlock)-1)/uint64(l.descPerBlock) - l.descBlocks
	if rsv > l.bs/4 {
		rsv = l.bs / 4
	}
	return uint32(rsv)
}

// hasSuper is ext2fs_bg_has_super.
func (l *mkfsLayout) hasSuper(g uint32) bool {
	sb := l.sb()
	return sb.HasSuper(uint64(g))
}

func (l *mkfsLayout) groupFirst(g uint32) uint64 {
	return l.firstData + uint64(g)*l.bpg
}

func (l *mkfsLayout) groupLast(g uint32) uint64 {
	if g == l.ngroups-1 {
		return l.blocks - 1
	}
	return l.groupFirst(g) + l.bpg - 1
}

func (l *mkfsLayout) groupOf(b uint64) uint32 {
	return uint32((b - l.firstData) / l.bpg)
}

// superAndBgd is ext2fs_super_and_bgd_loc2: where group g's superblock
// backup, its copy of the old-style descriptor table, and its meta_bg
// descriptor block are (0: none).
func (l *mkfsLayout) superAndBgd(g uint32) (super, oldDesc, newDesc uint64) {
	first := l.groupFirst(g)
	if first == 0 && l.bs == 1024 {
		first = 1
	}
	has := l.hasSuper(g)
	if has {
		super = first
	}
	metaBG := l.incompat&disk.IncompatMetaBG != 0
	dpb := l.descPerBlock
	if !metaBG { // with meta_bg, s_first_meta_bg is 0: every group is in a meta group
		if has {
			oldDesc = first + 1
		}
	} else if r := g % dpb; r == 0 || r == 1 || r == dpb-1 {
		newDesc = first
		if has {
			newDesc++
		}
	}
	return
}

// oldDescBlocks is how many blocks follow a superblock as its
// descriptor table: the descriptors and the reserved GDT blocks, or with
// meta_bg s_first_meta_bg (0).
func (l *mkfsLayout) oldDescBlocks() uint64 {
	if l.incompat&disk.IncompatMetaBG != 0 {
		return 0
	}
	return l.descBlocks + uint64(l.rsvGdt)
}

// Block bitmap helpers.
func (l *mkfsLayout) used(b uint64) bool {
	g := l.groupOf(b)
	return l.bmap[g].test(b - l.groupFirst(g))
}

func (l *mkfsLayout) mark(b uint64) { l.markRange(b, 1) }

// markRange marks blocks [b, b+n) in use, a group's words at a time
// (the inode tables of a 1 TiB filesystem are four million blocks).
func (l *mkfsLayout) markRange(b, n uint64) {
	for n > 0 {
		g := l.groupOf(b)
		k := min(n, l.groupLast(g)-b+1)
		l.bmap[g].set(b-l.groupFirst(g), k, l.bpg)
		b, n = b+k, n-k
	}
}

// rangeFree reports whether blocks [b, b+n) are all free.
func (l *mkfsLayout) rangeFree(b, n uint64) bool {
	for n > 0 {
		g := l.groupOf(b)
		k := min(n, l.groupLast(g)-b+1)
		if !l.bmap[g].free(b-l.groupFirst(g), k) {
			return false
		}
		b, n = b+k, n-k
	}
	return true
}

// reserveGroups marks each group's superblock and descriptors in use
// and sets the initial flags (the loop at the end of ext2fs_initialize).
func (l *mkfsLayout) reserveGroups() {
	l.bmap = make([]groupBitmap, l.ngroups)
	l.inodesUsed = make(map[uint32]bool)
	l.groups = make([]mkfsGroup, l.ngroups)
	l.descFree = make([]int64, l.ngroups)
	reservedInos := uint32(disk.GoodOldFirstIno)
	for g := uint32(0); g < l.ngroups; g++ {
		gd := &l.groups[g]
		if l.csum {
			// The last group's bitmap needs its padding written.
			if g != l.ngroups-1 {
				gd.flags |= disk.BgBlockUninit
			}
			gd.flags |= disk.BgInodeUninit
			n := l.ipg
			if reservedInos > 0 {
				if n > reservedInos {
					n -= reservedInos
					reservedInos = 0
				} else {
					reservedInos -= n
					n = 0
				}
			}
			gd.itableUnused = n
		}
		super, oldDesc, newDesc := l.superAndBgd(g)
		// ext2fs_reserve_super_and_bgd's count of the group's free
		// blocks, which assumes the bitmaps and table are in it unless
		// flex_bg places them.
		free := l.groupLast(g) - l.groupFirst(g) + 1
		if l.hasSuper(g) {
			free -= 1 + l.oldDescBlocks()
		}
		if newDesc != 0 {
			free--
		}
		if l.logFlex == 0 {
			free -= 2 + l.itb
		}
		l.initFree += free
		l.descFree[g] = int64(free)
		if super != 0 || g == 0 {
			l.mark(super)
		}
		if g == 0 && l.bs == 1024 && l.ratio > 1 {
			l.mark(0) // block 0 is in the superblock's cluster
		}
		if oldDesc != 0 {
			n := l.oldDescBlocks()
			if oldDesc+n >= l.blocks {
				n = l.blocks - oldDesc
			}
			l.markRange(oldDesc, n)
		}
		if newDesc != 0 {
			l.mark(newDesc)
		}
	}
	l.initFree &^= l.ratio - 1
}

// getFreeBlocks is ext2fs_get_free_blocks2: the first run of num free
// blocks from start, wrapping to the first data block once when finish is
// not after start, stopping at finish.
func (l *mkfsLayout) getFreeBlocks(start, finish, num uint64) (uint64, bool) {
	b := start
	if b == 0 {
		b = l.firstData
	}
	if finish == 0 {
		finish = start
	}
	if num == 0 {
		num = 1
	}
	for {
		if b+num-1 >= l.blocks {
			if finish > start {
				return 0, false
			}
			b = l.firstData
		}
		if l.rangeFree(b, num) {
			return b, true
		}
		b++
		if b == finish {
			return 0, false
		}
	}
}

// flexbgOffset is flexbg_offset: where to put a flex group's run of
// bitmaps or inode tables.
func (l *mkfsLayout) flexbgOffset(g uint32, startBlk uint64, remGrp uint32, elemSize uint64) uint64 {
	flexSize := uint32(1) << l.logFlex
	flexbg := g / flexSize
	size := uint64(remGrp) * elemSize
	if size > l.bpg/4 {
		size = l.bpg / 4
	}
	// Keep on from the previous table when it still fits, skipping
	// small obstructions (backup descriptors).
	if startBlk != 0 && startBlk < l.blocks {
		if b, ok := l.getFreeBlocks(startBlk, startBlk+size, elemSize); ok {
			return b
		}
	}
	startBlk = l.groupFirst(flexSize * flexbg)
	lastGrp := min(g|(flexSize-1), l.ngroups-1)
	lastBlk := l.groupLast(lastGrp)
	if b, ok := l.getFreeBlocks(startBlk, lastBlk, size); ok {
		return b
	}
	if b, ok := l.getFreeBlocks(startBlk, lastBlk, elemSize); ok {
		return b
	}
	b, _ := l.getFreeBlocks(0, lastBlk, elemSize)
	return b
}

// allocateTables is ext2fs_allocate_tables: each group's block bitmap,
// inode bitmap and inode table.
func (l *mkfsLayout) allocateTables() error {
	for g := uint32(0); g < l.ngroups; g++ {
		if err := l.allocateGroupTable(g); err != nil {
			return err
		}
	}
	return nil
}

// flexTaken clears BLOCK_UNINIT on the groups a flex_bg table lands in
// and counts its blocks off their free counts (ext2fs_allocate_group_table's
// accounting: a bitmap one, an inode table's part its blocks / the
// cluster ratio).
func (l *mkfsLayout) flexTaken(b, n uint64, table bool) {
	for n > 0 {
		g := l.groupOf(b)
		k := min(n, l.groupLast(g)-b+1)
		l.groups[g].flags &^= disk.BgBlockUninit
		if table {
			l.descFree[g] -= int64(k / l.ratio)
		} else {
			l.descFree[g]--
		}
		b += k
		n -= k
	}
}

func (l *mkfsLayout) allocateGroupTable(g uint32) error {
	groupBlk := l.groupFirst(g)
	lastBlk := l.groupLast(g)
	flex := l.incompat&disk.IncompatFlexBG != 0 && l.logFlex > 0
	var flexSize, lastGrp, remGrps, tableOffset uint32
	if flex {
		flexSize = 1 << l.logFlex
		lastGrp = min(g|(flexSize-1), l.ngroups-1)
		remGrps = lastGrp - g + 1
	}
	startBlk := groupBlk
	gd := &l.groups[g]
	if flex {
		var prev uint64
		tableOffset = flexSize
		if g%flexSize != 0 {
			prev = l.groups[g-1].blockBitmap + 1
		} else if lastGrp == l.ngroups-1 {
			// The last flex group keeps its tables contiguous.
			tableOffset = lastGrp & (flexSize - 1)
			if tableOffset == 0 {
				tableOffset = flexSize
			} else {
				tableOffset++
			}
		}
		startBlk = l.flexbgOffset(g, prev, remGrps, 1)
		lastBlk = l.groupLast(lastGrp)
	}
	alloc1 := func(start, last uint64) (uint64, error) {
		b, ok := l.getFreeBlocks(start, last, 1)
		if !ok {
			b, ok = l.getFreeBlocks(groupBlk, last, 1)
		}
		if !ok {
			return 0, abi.Errorf(abi.ENOSPC, "ext4: mkfs: no room for group %d's bitmaps", g)
		}
		l.mark(b)
		if flex {
			l.flexTaken(b, 1, false)
		}
		return b, nil
	}
	var err error
	if gd.blockBitmap, err = alloc1(startBlk, lastBlk); err != nil {
		return err
	}
	if flex {
		prev := gd.blockBitmap + uint64(tableOffset)
		if g%flexSize != 0 {
			prev = l.groups[g-1].inodeBitmap + 1
		}
		startBlk = l.flexbgOffset(g, prev, remGrps, 1)
		lastBlk = l.groupLast(lastGrp)
	}
	if gd.inodeBitmap, err = alloc1(startBlk, lastBlk); err != nil {
		return err
	}
	if flex {
		prev := gd.inodeBitmap + uint64(tableOffset)
		if g%flexSize != 0 {
			prev = l.groups[g-1].inodeTable + l.itb
		}
		groupBlk = l.flexbgOffset(g, prev, remGrps, l.itb)
		lastBlk = l.groupLast(lastGrp)
	}
	b, ok := l.getFreeBlocks(groupBlk, lastBlk, l.itb)
	if !ok {
		return abi.Errorf(abi.ENOSPC, "ext4: mkfs: no room for group %d's inode table", g)
	}
	l.markRange(b, l.itb)
	if flex {
		l.flexTaken(b, l.itb, true)
	}
	gd.inodeTable = b
	return nil
}

// usedBlocks counts the blocks in use (ext2fs_count_used_clusters over
// the whole filesystem).
func (l *mkfsLayout) usedBlocks() uint64 {
	n := uint64(0)
	for g := range l.bmap {
		n += l.bmap[g].count()
	}
	return n
}

// clusterBitmap marks every block of each cluster that has one in use
// (ext2fs_convert_subcluster_bitmap), so that the block bitmap reads as
// the cluster bitmap mke2fs allocates from.
func (l *mkfsLayout) clusterBitmap() {
	if l.ratio == 1 {
		return
	}
	for g := range l.bmap {
		if l.bmap[g].empty() {
			continue
		}
		first := l.groupFirst(uint32(g))
		n := l.groupLast(uint32(g)) - first + 1
		for c := uint64(0); c < n; c += l.ratio {
			if !l.rangeFree(first+c, l.ratio) {
				l.markRange(first+c, l.ratio)
			}
		}
	}
}

// clusterSectors is a cluster's size in 512-byte sectors, what one
// allocation adds to i_blocks (ext2fs_iblk_add_blocks).
func (l *mkfsLayout) clusterSectors() uint64 {
	return l.ratio * l.bs / 512
}

// midFree is group g's free count as get_midpoint_journal_block reads
// it: the free blocks, or with bigalloc descFree's mixed count as the
// descriptor holds it (16 bits, 32 with 64-bit descriptors: a group of
// more than 65535 blocks wraps).
func (l *mkfsLayout) midFree(g uint32) uint64 {
	if l.ratio == 1 {
		return l.groupFree(g)
	}
	mask := uint64(math.MaxUint16)
	if l.descSize >= disk.MinDescSize64 {
		mask = math.MaxUint32
	}
	return uint64(l.descFree[g]) & mask
}

// groupFree counts the free blocks of group g.
func (l *mkfsLayout) groupFree(g uint32) uint64 {
	return l.groupLast(g) - l.groupFirst(g) + 1 - l.bmap[g].count()
}

// newBlock is ext2fs_new_block2: the first free block from goal (or the
// first data block), wrapping once; the group found loses BLOCK_UNINIT.
func (l *mkfsLayout) newBlock(goal uint64) (uint64, error) {
	if goal == 0 || goal >= l.blocks {
		goal = l.firstData
	}
	goal &^= l.ratio - 1
	for _, r := range [2][2]uint64{{goal, l.blocks}, {l.firstData, goal}} {
		for b := r[0]; b < r[1]; b++ {
			if !l.used(b) {
				l.groups[l.groupOf(b)].flags &^= disk.BgBlockUninit
				return b, nil
			}
		}
	}
	return 0, abi.Errorf(abi.ENOSPC, "ext4: mkfs: could not allocate block")
}

// blockAllocStats is ext2fs_block_alloc_stats2 for an allocation: the
// cluster of b.
func (l *mkfsLayout) blockAllocStats(b uint64) {
	l.markRange(b&^(l.ratio-1), l.ratio)
	l.descFree[l.groupOf(b)]--
	l.groups[l.groupOf(b)].flags &^= disk.BgBlockUninit
	l.bbDirty = true
}

// inodeAllocStats is ext2fs_inode_alloc_stats2 for an allocation.
func (l *mkfsLayout) inodeAllocStats(ino uint32, dir bool) {
	l.inodesUsed[ino] = true
	l.ibDirty = true
	g := (ino - 1) / l.ipg
	gd := &l.groups[g]
	if dir {
		gd.usedDirs++
	}
	gd.flags &^= disk.BgInodeUninit
	if l.csum {
		firstUnused := l.ipg - gd.itableUnused + g*l.ipg + 1
		if ino >= firstUnused {
			gd.itableUnused = g*l.ipg + l.ipg - ino
		}
	}
}

// inodeGoal is ext2fs_find_inode_goal for an inode without blocks: the
// first block of its (flex) group.
func (l *mkfsLayout) inodeGoal(ino uint32) uint64 {
	g := (ino - 1) / l.ipg
	if l.logFlex > 0 {
		g &^= 1<<l.logFlex - 1
	}
	return l.groupFirst(g)
}

// dirTail is the size of the checksum tail of a directory leaf.
func (l *mkfsLayout) dirTail() uint64 {
	if l.roCompat&disk.RoCompatMetadataCsum != 0 {
		return disk.DirTailSize
	}
	return 0
}

// newDirBlock is ext2fs_new_dir_block: "." and ".." for dir (parent), or
// an empty block when dir is 0.
func (l *mkfsLayout) newDirBlock(dir, parent uint32) []byte {
	b := make([]byte, l.bs)
	end := l.bs - l.dirTail()
	le.PutUint16(b[4:], disk.RecLenToDisk(uint32(end)))
	if dir != 0 {
		var ft byte
		if l.incompat&disk.IncompatFiletype != 0 {
			ft = 2 // EXT2_FT_DIR
		}
		le.PutUint32(b[0:], dir)
		le.PutUint16(b[4:], 12)
		b[6], b[7], b[8] = 1, ft, '.'
		le.PutUint32(b[12:], parent)
		le.PutUint16(b[16:], disk.RecLenToDisk(uint32(end-12)))
		b[18], b[19], b[20], b[21] = 2, ft, '.', '.'
	}
	if l.dirTail() != 0 {
		t := b[end:]
		le.PutUint16(t[4:], disk.DirTailSize)
		t[7] = disk.DirTailFt
	}
	return b
}

// mkdir is ext2fs_mkdir for the root and lost+found: one block, goal
// the inode's group.
func (l *mkfsLayout) mkdir(ino, parent uint32, mode uint16) (*mkfsInode, error) {
	blk, err := l.newBlock(l.inodeGoal(ino))
	if err != nil {
		return nil, err
	}
	t := l.p.Time
	ip := &mkfsInode{ino: ino, mode: mode, size: l.bs, links: 2, blocks: l.clusterSectors(),
		atime: t, ctime: t, mtime: t, crtime: t, large: true}
	l.dirBlocks[blk] = l.newDirBlock(ino, parent)
	l.itW(ino)
	l.ioW(blk)
	if l.incompat&disk.IncompatExtents != 0 {
		l.itW(ino)
	}
	ip.dataBlocks = append(ip.dataBlocks, blk)
	l.blockAllocStats(blk)
	l.inodeAllocStats(ino, true)
	l.inodeTab[ino] = ip
	return ip, nil
}

// mkdirInline is ext2fs_mkdir for an inline directory (inline_data, an
// inode from s_first_ino on): the parent in i_block[0..3], one empty entry
// over the rest, an empty system.data (ext2fs_inline_data_init); no block.
func (l *mkfsLayout) mkdirInline(ino, parent uint32, mode uint16) *mkfsInode {
	t := l.p.Time
	ip := &mkfsInode{ino: ino, mode: mode, size: disk.IBlockLen, links: 2, flags: disk.InodeInlineDataFl,
		atime: t, ctime: t, mtime: t, crtime: t, large: true}
	le.PutUint32(ip.iblock[0:], parent)
	le.PutUint16(ip.iblock[disk.InlineDotdotSize+4:], disk.IBlockLen-disk.InlineDotdotSize)
	l.itW(ino) // ext2fs_write_new_inode
	l.itW(ino) // system.data, by ext2fs_xattrs_write
	l.inodeAllocStats(ino, true)
	l.inodeTab[ino] = ip
	return ip
}

// expandInlineDir is ext2fs_inline_data_expand of an empty inline
// directory: i_block cleared and system.data removed (the in-inode area
// keeps its header), then one block from the first free one with "." and
// ".." of minimal length and the inline area's empty entry stretched over
// the rest (ext2fs_inline_data_convert_dir).
func (l *mkfsLayout) expandInlineDir(ip *mkfsInode, parent uint32) error {
	l.itW(ip.ino) // i_block cleared
	l.itW(ip.ino) // system.data removed
	blk, err := l.newBlock(0)
	if err != nil {
		return err
	}
	b := l.newDirBlock(ip.ino, parent)
	end := l.bs - l.dirTail()
	le.PutUint16(b[16:], uint16(disk.DirRecLen(2)))
	le.PutUint16(b[24+4:], disk.RecLenToDisk(uint32(end-24)))
	l.dirBlocks[blk] = b
	l.ioW(blk)
	if l.incompat&disk.IncompatExtents != 0 {
		l.itW(ip.ino) // ext2fs_bmap2
	}
	l.itW(ip.ino)
	l.blockAllocStats(blk)
	ip.flags &^= disk.InodeInlineDataFl
	if l.incompat&disk.IncompatExtents != 0 {
		ip.flags |= disk.InodeExtentsFl
	}
	ip.iblock = [disk.IBlockLen]byte{}
	ip.ibodyMagic = true
	ip.size, ip.blocks = l.bs, l.clusterSectors()
	ip.dataBlocks = append(ip.dataBlocks, blk)
	return nil
}

func (l *mkfsLayout) makeRoot() error {
	ip, err := l.mkdir(disk.RootIno, disk.RootIno, 0o40755)
	if err != nil {
		return err
	}
	ip.uid, ip.gid = l.p.RootUID, l.p.RootGID
	if ip.uid != 0 || ip.gid != 0 {
		l.itW(disk.RootIno)
	}
	return nil
}

// makeLostFound is create_lost_and_found: inode 11 (the first free from
// the root's group), linked into the root by splitting "..", then grown
// to 16 KiB and at least 2 blocks, at most 12 (ext2fs_expand_dir).
func (l *mkfsLayout) makeLostFound() error {
	ino, err := l.newInodeFromRoot()
	if err != nil {
		return err
	}
	// With inline_data, ext2fs_mkdir makes lost+found inline; its first
	// expansion below moves it into a block.
	var ip *mkfsInode
	if l.incompat&disk.IncompatInlineData != 0 {
		ip = l.mkdirInline(ino, disk.RootIno, 0o40700)
	} else if ip, err = l.mkdir(ino, disk.RootIno, 0o40700); err != nil {
		return err
	}
	// ext2fs_link: the new entry takes the room after "..".
	root := l.inodeTab[disk.RootIno]
	rb := l.dirBlocks[root.dataBlocks[0]]
	// The lookup for an existing name, ext2fs_link's read and write of
	// the block, the parent's link count, create_lost_and_found's lookup.
	l.ioR(root.dataBlocks[0])
	l.ioR(root.dataBlocks[0])
	l.ioW(root.dataBlocks[0])
	l.itW(disk.RootIno)
	l.ioR(root.dataBlocks[0])
	end := l.bs - l.dirTail()
	le.PutUint16(rb[16:], 12)
	e := rb[24:]
	le.PutUint32(e[0:], ino)
	le.PutUint16(e[4:], disk.RecLenToDisk(uint32(end-24)))
	name := "lost+found"
	e[6] = byte(len(name))
	if l.incompat&disk.IncompatFiletype != 0 {
		e[7] = 2
	}
	copy(e[8:], name)
	root.links++
	size := uint64(0)
	for i := 1; i < ext2NDirBlocks; i++ {
		size += l.bs
		if size >= lostFoundMinBytes && size >= 2*l.bs {
			break
		}
		if len(ip.dataBlocks) == 0 {
			if err := l.expandInlineDir(ip, disk.RootIno); err != nil {
				return err
			}
			continue
		}
		// expand_dir_proc: the next block of the last one's cluster
		// is the directory's already.
		goal := ip.dataBlocks[len(ip.dataBlocks)-1]
		blk := goal + 1
		if blk&(l.ratio-1) == 0 {
			if blk, err = l.newBlock(goal); err != nil {
				return err
			}
			l.blockAllocStats(blk)
			ip.blocks += l.clusterSectors()
		}
		l.dirBlocks[blk] = l.newDirBlock(0, 0)
		l.ioW(blk)
		l.itW(ino)
		l.itW(ino)
		ip.dataBlocks = append(ip.dataBlocks, blk)
		ip.size += l.bs
	}
	for _, ino := range [...]uint32{disk.RootIno, ino} {
		if err := l.mapDir(l.inodeTab[ino]); err != nil {
			return err
		}
	}
	return nil
}

// mapDir sets a directory's i_block: an extent tree in the inode
// (ext2fs_extent_set_bmap merges contiguous blocks) or the direct block
// pointers.
func (l *mkfsLayout) mapDir(ip *mkfsInode) error {
	if l.incompat&disk.IncompatExtents == 0 {
		for i, b := range ip.dataBlocks {
			le.PutUint32(ip.iblock[i*4:], uint32(b))
		}
		return nil
	}
	var runs []run
	for i, b := range ip.dataBlocks {
		if k := len(runs); k > 0 && runs[k-1].pblk+runs[k-1].n == b {
			runs[k-1].n++
		} else {
			runs = append(runs, run{lblk: uint64(i), pblk: b, n: 1})
		}
	}
	if len(runs) > disk.ExtentRootMax {
		return abi.Errorf(abi.ENOSPC, "ext4: mkfs: directory %d too fragmented", ip.ino)
	}
	ip.flags |= extentsFl
	l.putExtents(ip.iblock[:], runs, disk.ExtentRootMax, 0)
	return nil
}

// makeResizeInode is ext2fs_create_resize_inode: a double indirect block
// whose entries are the reserved GDT blocks of group 0, each of which is
// an indirect block listing its copies in the backup groups.
func (l *mkfsLayout) makeResizeInode() error {
	sbBlk := l.firstData
	if l.bs == 1024 && sbBlk == 0 {
		sbBlk = 1 // bigalloc: the superblock is block 1 of cluster 0
	}
	apb := l.bs / 4
	l.itR(resizeIno)
	goal := sbBlk + l.descBlocks + uint64(l.rsvGdt) + 2 + l.itb
	dind, err := l.newBlock(goal)
	if err != nil {
		return err
	}
	l.blockAllocStats(dind)
	t := l.p.Time
	ip := &mkfsInode{ino: resizeIno, mode: 0o100600, links: 1, blocks: l.clusterSectors(),
		size: (apb*apb + apb + ext2NDirBlocks) * l.bs, atime: t, ctime: t, mtime: t, crtime: t, large: true}
	le.PutUint32(ip.iblock[ext2DindBlock*4:], uint32(dind))
	dbuf := make([]byte, l.bs)
	l.indBlocks[dind] = dbuf
	backups := l.backupGroups()
	for off := uint64(0); off < uint64(l.rsvGdt); off++ {
		gdtOff := (l.descBlocks + off) % apb
		gdtBlk := sbBlk + 1 + l.descBlocks + off
		le.PutUint32(dbuf[gdtOff*4:], uint32(gdtBlk))
		ip.blocks += l.clusterSectors()
		gbuf := make([]byte, l.bs)
		for i, grp := range backups {
			le.PutUint32(gbuf[i*4:], uint32(gdtBlk+uint64(grp)*l.bpg))
			ip.blocks += l.clusterSectors()
		}
		l.indBlocks[gdtBlk] = gbuf
		l.ioW(gdtBlk)
	}
	l.ioW(dind)
	l.itW(resizeIno)
	l.inodeTab[resizeIno] = ip
	return nil
}

// backupGroups lists the groups with superblock backups in list_backups
// order (res_gdt.c): powers of 3, 5 and 7 merged, every group without
// sparse_super, s_backup_bgs with sparse_super2.
func (l *mkfsLayout) backupGroups() []uint32 {
	var out []uint32
	if l.compat&disk.CompatSparseSuper2 != 0 {
		for _, g := range l.backupBGs {
			if g != 0 && g < l.ngroups {
				out = append(out, g)
			}
		}
		return out
	}
	if l.roCompat&disk.RoCompatSparseSuper == 0 {
		for g := uint32(1); g < l.ngroups; g++ {
			out = append(out, g)
		}
		return out
	}
	three, five, seven := uint64(1), uint64(5), uint64(7)
	for {
		m, mult := &three, uint64(3)
		if five < *m {
			m, mult = &five, 5
		}
		if seven < *m {
			m, mult = &seven, 7
		}
		if *m >= uint64(l.ngroups) {
			return out
		}
		out = append(out, uint32(*m))
		*m *= mult
	}
}

// midpointJournalBlock is get_midpoint_journal_block: the first block of
// the group with the most free blocks around the middle of the
// filesystem (from the start of its flex group).
func (l *mkfsLayout) midpointJournalBlock() uint64 {
	g := l.groupOf((l.blocks - l.firstData) / 2)
	var start uint32
	logFlex := uint32(1) << l.logFlex
	if l.logFlex > 0 && g > logFlex {
		g &^= logFlex - 1
		for g < l.ngroups && l.midFree(g) == 0 {
			g++
		}
		if g == l.ngroups {
			g = 0
		}
		start = g
	} else if g > 0 {
		start = g - 1
	} else {
		start = g
	}
	end := g
	if g+1 < l.ngroups {
		end = g + 1
	}
	best := start
	for i := start + 1; i <= end; i++ {
		if l.midFree(i) > l.midFree(best) {
			best = i
		}
	}
	return l.groupFirst(best)
}

// makeJournal is write_journal_inode: inode 8, sized by
// ext2fs_default_journal_size or -J size=, allocated by ext2fs_fallocate
// (extents: runs of at most 32768 blocks from the midpoint goal;
// block maps: block by block with the indirect blocks in between, from
// the inode's group).
func (l *mkfsLayout) makeJournal() error {
	n := l.p.JournalBlocks
	if n == 0 {
		n = DefaultJournalBlocks(l.blocks)
		if n == 0 {
			// "Filesystem too small for a journal": mke2fs goes on
			// without one, and without the orphan file.
			l.compat &^= disk.CompatHasJournal | disk.CompatOrphanFile
			return nil
		}
	} else {
		if n < minJournalBlocks || n > maxJournalBlocks {
			return abi.Errorf(abi.EINVAL, "ext4: mkfs: the journal size is %d blocks; it must be between %d and %d blocks",
				n, minJournalBlocks, maxJournalBlocks)
		}
		if uint64(n) > l.initFree/2 { // figure_journal_size's check
			return abi.Errorf(abi.ENOSPC, "ext4: mkfs: total journal size too big for filesystem")
		}
	}
	l.journalBlocks = n
	l.overhead += (uint64(n) + l.ratio - 1) / l.ratio // EXT2FS_NUM_B2C
	t := l.p.Time
	ip := &mkfsInode{ino: journalIno, mode: 0o100600, links: 1, size: uint64(n) * l.bs,
		atime: t, ctime: t, mtime: t, crtime: t, large: true}
	l.itR(journalIno)
	var err error
	if l.incompat&disk.IncompatExtents != 0 {
		ip.flags = extentsFl
		err = l.allocJournalExtents(ip, n)
	} else {
		err = l.allocJournalMapped(ip, n)
	}
	if err != nil {
		return err
	}
	l.journalSB = l.journalRuns[0].pblk
	l.itW(journalIno)
	l.itW(journalIno)
	l.ioW(l.journalSB)
	l.inodeTab[journalIno] = ip
	return nil
}

// extentsFl is EXT4_EXTENTS_FL.
const extentsFl = 0x80000

// allocJournalExtents allocates n blocks in runs of at most 32768 from
// the midpoint goal, each from where the last ended, and writes the
// extent tree: in the inode for up to 4 extents; else, as
// ext2fs_extent_node_split does when the fifth is inserted (its blocks
// already claimed), the extents move to a leaf block allocated from the
// block before the first one.
func (l *mkfsLayout) allocJournalExtents(ip *mkfsInode, n uint32) error {
	goal := l.midpointJournalBlock()
	left := uint64(n)
	lblk := uint64(0)
	leaf := uint64(0)
	for left > 0 {
		// ext_falloc_helper claims the run, then inserts its extent.
		b, err := l.newBlock(goal)
		if err != nil {
			return err
		}
		// A cluster at a time (b is a cluster's first block).
		k := uint64(0)
		for k < left && k < disk.ExtentInitMaxLen && b+k < l.blocks && !l.used(b+k) {
			l.blockAllocStats(b + k)
			k = min(k+l.ratio, left)
		}
		if len(l.journalRuns) == disk.ExtentRootMax {
			leaf, err = l.newBlock(l.journalRuns[0].pblk - 1)
			if err != nil {
				return err
			}
			l.blockAllocStats(leaf)
			ip.blocks += l.clusterSectors()
		}
		l.journalRuns = append(l.journalRuns, run{lblk: lblk, pblk: b, n: k})
		if leaf != 0 {
			l.ioW(leaf)
		}
		lblk += k
		left -= k
		goal = b + k
	}
	ip.blocks += (uint64(n) + l.ratio - 1) / l.ratio * l.clusterSectors()
	if leaf == 0 {
		l.putExtents(ip.iblock[:], l.journalRuns, disk.ExtentRootMax, 0)
		return nil
	}
	if len(l.journalRuns) > int(l.bs-disk.ExtentHeaderSize)/disk.ExtentEntrySize {
		return abi.Errorf(abi.ENOSPC, "ext4: mkfs: journal too fragmented")
	}
	lb := make([]byte, l.bs)
	l.putExtents(lb, l.journalRuns, int(l.bs-disk.ExtentHeaderSize)/disk.ExtentEntrySize, 0)
	l.extentLeaves[leaf] = lb
	// The root becomes an index of one entry over the leaf; the split
	// leaves the old extents 1 to 3 in its unused slots (and so in
	// s_jnl_blocks).
	l.putExtents(ip.iblock[:], l.journalRuns[:disk.ExtentRootMax], disk.ExtentRootMax, 0)
	le.PutUint16(ip.iblock[2:], 1)
	le.PutUint16(ip.iblock[6:], 1)
	le.PutUint32(ip.iblock[12:], 0)
	le.PutUint32(ip.iblock[16:], uint32(leaf))
	le.PutUint16(ip.iblock[20:], uint16(leaf>>32))
	le.PutUint16(ip.iblock[22:], 0)
	return nil
}

// putExtents writes a leaf node of runs into b.
func (l *mkfsLayout) putExtents(b []byte, runs []run, maxEntries, depth int) {
	disk.InitExtentNode(b, maxEntries, depth)
	le.PutUint16(b[2:], uint16(len(runs)))
	for i, r := range runs {
		e := b[disk.ExtentHeaderSize+i*disk.ExtentEntrySize:]
		le.PutUint32(e[0:], uint32(r.lblk))
		le.PutUint16(e[4:], uint16(r.n))
		le.PutUint16(e[6:], uint16(r.pblk>>32))
		le.PutUint32(e[8:], uint32(r.pblk))
	}
}

// allocJournalMapped allocates a block-mapped journal as ext2fs_bmap2
// does block by block (lib/ext2fs/bmap.c): each block the first free
// after the previous one, zeroed through the I/O cache as
// ext2fs_alloc_block writes it, an indirect block allocated just before
// the first block it maps.
func (l *mkfsLayout) allocJournalMapped(ip *mkfsInode, n uint32) error {
	apb := l.bs / 4
	goal := l.inodeGoal(journalIno)
	alloc := func() (uint64, error) {
		b, err := l.newBlock(goal)
		if err != nil {
			return 0, err
		}
		l.blockAllocStats(b)
		l.ioW(b)
		goal = b
		ip.blocks += l.bs / 512
		return b, nil
	}
	// top returns the indirect block in i_block[slot], allocating it.
	top := func(slot uint64) (uint64, error) {
		if b := le.Uint32(ip.iblock[slot*4:]); b != 0 {
			return uint64(b), nil
		}
		b, err := alloc()
		if err != nil {
			return 0, err
		}
		le.PutUint32(ip.iblock[slot*4:], uint32(b))
		l.newInd(b)
		return b, nil
	}
	// child returns entry i of indirect block blk, allocating it, an
	// indirect block itself unless leaf (block_ind_bmap).
	child := func(blk, i uint64, leaf bool) (uint64, error) {
		buf := l.indBlocks[blk]
		l.ioR(blk)
		if c := le.Uint32(buf[i*4:]); c != 0 {
			return uint64(c), nil
		}
		c, err := alloc()
		if err != nil {
			return 0, err
		}
		le.PutUint32(buf[i*4:], uint32(c))
		l.ioW(blk)
		if !leaf {
			l.newInd(c)
		}
		return c, nil
	}
	for lb := uint64(0); lb < uint64(n); lb++ {
		var b, t, mid uint64
		var err error
		switch r := lb - ext2NDirBlocks; {
		case lb < ext2NDirBlocks:
			if b, err = alloc(); err == nil {
				le.PutUint32(ip.iblock[lb*4:], uint32(b))
			}
		case r < apb:
			if t, err = top(ext2NDirBlocks); err == nil {
				b, err = child(t, r, true)
			}
		case r-apb < apb*apb:
			r -= apb
			if t, err = top(ext2DindBlock); err == nil {
				if mid, err = child(t, r/apb, false); err == nil {
					b, err = child(mid, r%apb, true)
				}
			}
		default:
			r -= apb + apb*apb
			var d uint64
			if t, err = top(ext2DindBlock + 1); err == nil {
				if d, err = child(t, r/(apb*apb), false); err == nil {
					if mid, err = child(d, r/apb%apb, false); err == nil {
						b, err = child(mid, r%apb, true)
					}
				}
			}
		}
		if err != nil {
			return err
		}
		l.itW(journalIno)
		if k := len(l.journalRuns); k > 0 && l.journalRuns[k-1].pblk+l.journalRuns[k-1].n == b {
			l.journalRuns[k-1].n++
		} else {
			l.journalRuns = append(l.journalRuns, run{lblk: lb, pblk: b, n: 1})
		}
	}
	return nil
}

// newInd starts an indirect block of the journal at b.
func (l *mkfsLayout) newInd(b uint64) {
	l.indBlocks[b] = make([]byte, l.bs)
}
