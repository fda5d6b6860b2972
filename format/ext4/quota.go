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

// Dqblk is struct v2r1_disk_dqblk (quotaio_v2.h), a quota file's entry for
// one id: the id, 4 bytes of padding, then the limits, usage and grace
// times as 64-bit values.
type Dqblk struct {
	DqbID                                      uint32
	DqbIhardlimit, DqbIsoftlimit, DqbCurinodes uint64
	DqbBhardlimit, DqbBsoftlimit, DqbCurspace  uint64
	DqbBtime, DqbItime                         uint64
}

// Decode reads the entry e (QuotaEntrySize bytes).
func (d *Dqblk) Decode(e []byte) {
	d.DqbID = le.Uint32(e[0:])
	d.DqbIhardlimit, d.DqbIsoftlimit, d.DqbCurinodes = le.Uint64(e[8:]), le.Uint64(e[16:]), le.Uint64(e[24:])
	d.DqbBhardlimit, d.DqbBsoftlimit, d.DqbCurspace = le.Uint64(e[32:]), le.Uint64(e[40:]), le.Uint64(e[48:])
	d.DqbBtime, d.DqbItime = le.Uint64(e[56:]), le.Uint64(e[64:])
}

// Encode writes the entry into e; an entry that would read as unused (id
// 0 and nothing else) gets dqb_itime 1, as v2r1_mem2diskdqb marks it.
func (d *Dqblk) Encode(e []byte) {
	le.PutUint32(e[0:], d.DqbID)
	le.PutUint32(e[4:], 0)
	vs := [...]uint64{d.DqbIhardlimit, d.DqbIsoftlimit, d.DqbCurinodes,
		d.DqbBhardlimit, d.DqbBsoftlimit, d.DqbCurspace, d.DqbBtime, d.DqbItime}
	used := d.DqbID != 0
	for i, v := range vs {
		le.PutUint64(e[8+8*i:], v)
		used = used || v != 0
	}
	if !used {
		le.PutUint64(e[64:], 1)
	}
}
