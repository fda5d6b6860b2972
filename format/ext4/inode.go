package ext4

// Inodes (Documentation/filesystems/ext4/inodes.rst; struct ext4_inode).
// The first 128 bytes are the ext2 inode; from byte 128, i_extra_isize
// bytes of extra fields follow (checksum high half, nanosecond times,
// creation time), then in-inode extended attributes up to s_inode_size.
const (
	OffIMode        = 0x00
	OffIUid         = 0x02
	OffISizeLo      = 0x04
	OffIAtime       = 0x08
	OffICtime       = 0x0C
	OffIMtime       = 0x10
	OffIGid         = 0x18
	OffILinksCount  = 0x1A
	OffIBlocksLo    = 0x1C
	OffIFlags       = 0x20
	OffIBlock       = 0x28
	IBlockLen       = 60 // EXT4_N_BLOCKS * 4
	OffIGeneration  = 0x64
	OffIFileACLLo   = 0x68
	OffISizeHigh    = 0x6C
	OffIBlocksHigh  = 0x74
	OffIFileACLHigh = 0x76
	OffIUidHigh     = 0x78
	OffIGidHigh     = 0x7A
	OffIChecksumLo  = 0x7C
	OffIExtraIsize  = 0x80
	OffIChecksumHi  = 0x82
	OffICtimeExtra  = 0x84
	OffIMtimeExtra  = 0x88
	OffIAtimeExtra  = 0x8C
	OffICrtime      = 0x90
	OffICrtimeExtra = 0x94
)

// i_flags bits (EXT4_*_FL).
const (
	InodeSecrmFl       = 0x00000001
	InodeComprFl       = 0x00000004
	InodeImmutableFl   = 0x00000010
	InodeAppendFl      = 0x00000020
	InodeNodumpFl      = 0x00000040
	InodeEncryptFl     = 0x00000800
	InodeIndexFl       = 0x00001000
	InodeHugeFileFl    = 0x00040000
	InodeExtentsFl     = 0x00080000
	InodeVerityFl      = 0x00100000
	InodeEAInodeFl     = 0x00200000
	InodeInlineDataFl  = 0x10000000
	InodeProjinheritFl = 0x20000000
	InodeCasefoldFl    = 0x40000000
)
