package ext4

// Quota types (USRQUOTA, GRPQUOTA, PRJQUOTA).
const (
	QuotaUser = iota
	QuotaGroup
	QuotaProject
	QuotaTypes
)

// The v2r1 tree format (quotaio_v2.h, quota_tree.h).
const (
	QuotaBlockSize    = 1024 // 1 << QT_BLKSIZE_BITS
	QuotaTreeOff      = 1    // QT_TREEOFF: the tree's root block
	QuotaTreeDepth    = 4
	QuotaInfoOff      = 8  // sizeof(struct v2_disk_dqheader)
	QuotaDataHdrSize  = 16 // sizeof(struct qt_disk_dqdbheader)
	QuotaEntrySize    = 72 // sizeof(struct v2r1_disk_dqblk)
	QuotaEntriesPerBk = (QuotaBlockSize - QuotaDataHdrSize) / QuotaEntrySize
	QuotaVersion      = 1 // V2_VERSION_R1
)

// QuotaMagics are the dqh_magic of each type (V2_INITQMAGICS).
var QuotaMagics = [QuotaTypes]uint32{0xd9c01f11, 0xd9c01927, 0xd9c03f14}

// Superblock fields of the quota and orphan-file inodes, and i_projid in
// the inode (super.rst, inodes.rst).
const (
	OffSUsrQuotaInum  = 0x240
	OffSGrpQuotaInum  = 0x244
	OffSPrjQuotaInum  = 0x26C
	OffSOrphanFileIno = 0x280
	OffIProjid        = 0x9C
)

// Indexes into quotaFile.info.
const (
	DqiBgrace = iota
	DqiIgrace
	DqiFlags
	DqiBlocks
	DqiFreeBlk
	DqiFreeEntry
)

// TreeIndex is id's slot in a tree block at depth (get_index).
func TreeIndex(id uint32, depth int) int {
	return int(id>>(8*(QuotaTreeDepth-1-depth))) & 0xff
}

// Data block header fields (struct qt_disk_dqdbheader).
func DqdhNext(b []byte) uint32       { return le.Uint32(b[0:]) }
func DqdhPrev(b []byte) uint32       { return le.Uint32(b[4:]) }
func DqdhEntries(b []byte) int       { return int(le.Uint16(b[8:])) }
func SetDqdhEntries(b []byte, n int) { le.PutUint16(b[8:], uint16(n)) }
func SetDqdhLinks(b []byte, next, prev uint32) {
	le.PutUint32(b[0:], next)
	le.PutUint32(b[4:], prev)
}
