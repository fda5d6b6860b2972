package e2fsprogs

// MkfsParams is what mke2fs takes from its command line and mke2fs.conf.
// DefaultMkfsParams fills it as mke2fs would for a device of a size.
type MkfsParams struct {
	FsType     string // "ext2", "ext3" or "ext4": the feature defaults' base
	BlockSize  uint32 // 1024, 2048, 4096 or 65536
	Blocks     uint64 // s_blocks_count
	InodeSize  uint16 // s_inode_size, 128 or more
	Inodes     uint32 // s_inodes_count wanted; 0: from InodeRatio
	InodeRatio uint32 // bytes per inode (-i)
	// ReservedPercent is the share of blocks reserved for root (-m), 5.
	ReservedPercent float64
	// The feature bits (-O; SetFeatures edits them by name).
	Compat, Incompat, RoCompat uint32
	// JournalBlocks is the journal's size in blocks (-J size=); 0 gives
	// ext2fs_default_journal_size's. Ignored without has_journal.
	JournalBlocks uint32
	// OrphanFileBlocks is the orphan file's size in blocks (-E
	// orphan_file_size=); 0 gives ext2fs_default_orphan_file_blocks's.
	// Ignored without orphan_file.
	OrphanFileBlocks uint64
	// ReservedGDTBlocks is s_reserved_gdt_blocks (-E resize=); 0 gives
	// calc_reserved_gdt_blocks's (room to grow 1024 times). Ignored
	// without resize_inode.
	ReservedGDTBlocks uint32
	FlexBGSize        uint32 // groups per flex group (-G), 16
	// ClusterSize is the allocation unit in bytes with bigalloc (-C),
	// a power of two multiple of the block size; 0 gives mke2fs.conf's
	// default, 16 blocks. Ignored without bigalloc.
	ClusterSize uint32
	Label       string // s_volume_name (-L)
	UUID        [16]byte
	HashSeed    [16]byte // s_hash_seed (-E hash_seed=)
	// EncodingFlags is s_encoding_flags with casefold (-E
	// encoding_flags=strict: EXT4_ENC_STRICT_MODE_FL).
	EncodingFlags uint16
	// Time is every time stamp Mkfs writes (s_mkfs_time, the root's and
	// lost+found's times), in seconds since the epoch: mke2fs's
	// E2FSPROGS_FAKE_TIME, SOURCE_DATE_EPOCH for lklimg.
	Time             int64
	RootUID, RootGID uint32 // -E root_owner=
	// QuotaTypes are the quota files made with the quota feature (-E
	// quotatype=: QuotaUsrBit, QuotaGrpBit, QuotaPrjBit); 0 gives user
	// and group. Project is made whenever the project feature is set,
	// and QuotaPrjBit sets it.
	QuotaTypes uint8
	// Zeroed says the device reads as zeros (a new sparse file): inode
	// tables and the journal need not be written, and the groups get
	// ITABLE_ZEROED, as mke2fs's lazy_itable_init on a discarded device.
	Zeroed bool
}

// DefaultJournalBlocks is ext2fs_default_journal_size: the journal mke2fs
// gives a filesystem of blocks blocks, in blocks; 0 when it is too small
// for one (under 2048 blocks).
func DefaultJournalBlocks(blocks uint64) uint32 {
	switch {
	case blocks < 2048:
		return 0
	case blocks < 32768:
		return 1024
	case blocks < 256*1024:
		return 4096
	case blocks < 512*1024:
		return 8192
	case blocks < 4096*1024:
		return 16384
	case blocks < 8192*1024:
		return 32768
	case blocks < 16384*1024:
		return 65536
	case blocks < 32768*1024:
		return 131072
	}
	return 262144
}

// MkfsSummary is what mke2fs reports of the filesystem it makes.
type MkfsSummary struct {
	Blocks        uint64 // s_blocks_count (a short last group dropped)
	BlockSize     uint32
	Inodes        uint32
	Groups        uint32
	Backups       []uint64 // the blocks of the superblock backups
	JournalBlocks uint32   // 0: no journal
	UUID          [16]byte
}

// PlanMkfs returns what Mkfs would make with p, without writing.
func PlanMkfs(p MkfsParams) (MkfsSummary, error) {
	l, err := planMkfs(p)
	if err != nil {
		return MkfsSummary{}, err
	}
	s := MkfsSummary{Blocks: l.blocks, BlockSize: uint32(l.bs), Inodes: l.inodes, Groups: l.ngroups,
		JournalBlocks: l.journalBlocks, UUID: p.UUID}
	for g := uint32(1); g < l.ngroups; g++ {
		if l.hasSuper(g) {
			s.Backups = append(s.Backups, l.groupFirst(g))
		}
	}
	return s, nil
}
