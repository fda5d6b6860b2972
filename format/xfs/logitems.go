package xfs

import (
	"encoding/binary"

	"github.com/lklimg/lklimg/kernel/abi"
)

// Log records' contents (xfs_log_format.h): each record's data is a run
// of operations, each an op header (struct xlog_op_header: oh_tid,
// oh_len, oh_clientid, oh_flags, padding; big-endian) and oh_len bytes.
// The operations of a transaction (one oh_tid) are its regions: a
// transaction header (struct xfs_trans_header, "TRAN"), then its items,
// each a format region whose second u16 counts the item's regions and
// the regions after it. Item formats are written in the CPU's byte
// order: little-endian, as every log this package reads (h_fmt
// XLOG_FMT_LINUX_LE).
const (
	LogOpHeaderSize    = 12
	LogStartTrans      = 0x01
	LogCommitTrans     = 0x02
	LogContinueTrans   = 0x04
	LogWasContTrans    = 0x08
	LogEndTrans        = 0x10
	LogClientTrans     = 0x69 // XFS_TRANSACTION
	LogClientLog       = 0xaa // XFS_LOG
	TransHeaderMagic   = 0x5452414e
	MaxRegionsInItem   = 8*1024*1024/128/4 + 1 // XLOG_MAX_REGIONS_IN_ITEM, a bound
	LogCycleDataPerHdr = LogHeaderCycleSize / BBSize
	// Log item types (XFS_LI_*).
	LiEFI      = 0x1236
	LiEFD      = 0x1237
	LiIunlink  = 0x1238
	LiInode    = 0x123b
	LiBuf      = 0x123c
	LiDquot    = 0x123d
	LiQuotaOff = 0x123e
	LiIcreate  = 0x123f
	// Intents and their done items (XFS_LI_RUI..XFS_LI_CUD_RT): each
	// done item is its intent's type + 1 and names it by the id at
	// byte 8.
	LiRUI   = 0x1240 // reverse-mapping updates
	LiCUI   = 0x1242 // reference count updates
	LiBUI   = 0x1244 // file mapping updates
	LiATTRI = 0x1246 // attribute changes (logged xattrs)
	LiXMI   = 0x1248 // file range exchanges
	LiEFIRT = 0x124a // realtime extent frees
	LiRUIRT = 0x124c
	LiCUIRT = 0x124e
	// Buffer log format flags (XFS_BLF_*).
	BlfInodeBuf = 1 << 0
	BlfCancel   = 1 << 1
	BlfDquotBuf = 1<<2 | 1<<3 | 1<<4 // XFS_BLF_UDQUOT_BUF, _PDQUOT_BUF, _GDQUOT_BUF
	BlfChunk    = 128
	// Inode log format fields (XFS_ILOG_*).
	IlogCore   = 0x001
	IlogDData  = 0x002
	IlogDExt   = 0x004
	IlogDBroot = 0x008
	IlogDev    = 0x010
	IlogAData  = 0x040
	IlogAExt   = 0x080
	IlogABroot = 0x100
)

var le = binary.LittleEndian

// LogOp is one operation of a record.
type LogOp struct {
	Tid      uint32
	ClientID uint8
	Flags    uint8
	Data     []byte // aliases the record
}

// DecodeLogOps splits a record's data (its cycle words restored) into
// its n operations, each checked to lie within it.
func DecodeLogOps(data []byte, n int) ([]LogOp, error) {
	if n < 0 {
		return nil, abi.Errorf(abi.EUCLEAN, "xfs: log: %d operations", n)
	}
	ops := make([]LogOp, 0, min(n, len(data)/LogOpHeaderSize))
	pos := 0
	for i := range n {
		if pos+LogOpHeaderSize > len(data) {
			return ops, abi.Errorf(abi.EUCLEAN, "xfs: log: operation %d of %d cut", i, n)
		}
		l := int(be.Uint32(data[pos+4:]))
		if l < 0 || l > len(data)-pos-LogOpHeaderSize {
			return ops, abi.Errorf(abi.EUCLEAN, "xfs: log: operation %d of %d bytes beyond the record", i, l)
		}
		ops = append(ops, LogOp{Tid: be.Uint32(data[pos:]), ClientID: data[pos+8], Flags: data[pos+9],
			Data: data[pos+LogOpHeaderSize : pos+LogOpHeaderSize+l]})
		pos += LogOpHeaderSize + l
	}
	return ops, nil
}

// ItemType and ItemSize read an item's format region's first two u16:
// its XFS_LI_* type and how many regions it has.
func ItemType(r []byte) uint16 {
	if len(r) < 2 {
		return 0
	}
	return le.Uint16(r)
}

// ItemSize is the region count of an item's format region.
func ItemSize(r []byte) int {
	if len(r) < 4 {
		return 0
	}
	return int(le.Uint16(r[2:]))
}

// BufLogFormat is struct xfs_buf_log_format: the buffer's address and
// length in BBs, its flags, and the bitmap of its logged 128-byte
// chunks (u32 words, bit 0 first).
type BufLogFormat struct {
	Flags uint16
	Len   int   // BBs
	Blkno int64 // BBs
	Map   []uint32
}

// DecodeBufLogFormat decodes a buffer item's format region.
func DecodeBufLogFormat(r []byte) (BufLogFormat, error) {
	if len(r) < 20 {
		return BufLogFormat{}, abi.Errorf(abi.EUCLEAN, "xfs: log: buffer item of %d bytes", len(r))
	}
	b := BufLogFormat{Flags: le.Uint16(r[4:]), Len: int(le.Uint16(r[6:])), Blkno: int64(le.Uint64(r[8:]))}
	n := int(le.Uint32(r[16:]))
	if n > (len(r)-20)/4 || b.Blkno < 0 {
		return b, abi.Errorf(abi.EUCLEAN, "xfs: log: buffer item of a %d-word map in %d bytes", n, len(r))
	}
	for i := range n {
		b.Map = append(b.Map, le.Uint32(r[20+4*i:]))
	}
	return b, nil
}

// Runs calls each for every run of logged chunks: its first chunk and
// chunk count (xfs_next_bit, xfs_contig_bits).
func (b BufLogFormat) Runs(each func(first, n int)) {
	bits := len(b.Map) * 32
	set := func(i int) bool { return b.Map[i/32]&(1<<(i%32)) != 0 }
	for i := 0; i < bits; {
		if !set(i) {
			i++
			continue
		}
		j := i
		for j < bits && set(j) {
			j++
		}
		each(i, j-i)
		i = j
	}
}

// InodeLogFormat is struct xfs_inode_log_format (56 bytes, or 52 as old
// 32-bit systems wrote it).
type InodeLogFormat struct {
	Size    int
	Fields  uint32
	ASize   int
	DSize   int
	Ino     uint64
	Rdev    uint32
	Blkno   int64
	Len     int
	Boffset int
}

// DecodeInodeLogFormat decodes an inode item's format region.
func DecodeInodeLogFormat(r []byte) (InodeLogFormat, error) {
	f := InodeLogFormat{}
	switch len(r) {
	case 56:
		f.Ino, f.Rdev = le.Uint64(r[16:]), le.Uint32(r[24:])
		f.Blkno, f.Len, f.Boffset = int64(le.Uint64(r[40:])), int(int32(le.Uint32(r[48:]))), int(int32(le.Uint32(r[52:])))
	case 52:
		f.Ino, f.Rdev = le.Uint64(r[12:]), le.Uint32(r[20:])
		f.Blkno, f.Len, f.Boffset = int64(le.Uint64(r[36:])), int(int32(le.Uint32(r[44:]))), int(int32(le.Uint32(r[48:])))
	default:
		return f, abi.Errorf(abi.EUCLEAN, "xfs: log: inode item of %d bytes", len(r))
	}
	f.Size, f.Fields, f.ASize, f.DSize = int(le.Uint16(r[2:])), le.Uint32(r[4:]), int(le.Uint16(r[8:])), int(le.Uint16(r[10:]))
	if f.Blkno < 0 || f.Len <= 0 || f.Boffset < 0 || f.Len > 1<<20 || f.Boffset > f.Len*BBSize {
		return f, abi.Errorf(abi.EUCLEAN, "xfs: log: inode item at %d+%d of %d BBs", f.Blkno, f.Boffset, f.Len)
	}
	return f, nil
}

// LogDinodeToDisk writes the logged inode core ld (struct
// xfs_log_dinode, little-endian, 176 bytes for v3 inodes, 96 for older)
// over the on-disk core dip, big-endian, as xfs_log_dinode_to_disk
// does: di_next_unlinked and the checksum are left as they are, di_lsn
// becomes lsn.
func LogDinodeToDisk(ld, dip []byte, lsn uint64) error {
	if len(ld) < 96 || len(dip) < DinodeCoreV2 || le.Uint16(ld) != DinodeMagic {
		return abi.Errorf(abi.EUCLEAN, "xfs: log: logged inode core of %d bytes", len(ld))
	}
	v3 := ld[4] >= 3
	if v3 && (len(ld) < DinodeCoreV3 || len(dip) < DinodeCoreV3) {
		return abi.Errorf(abi.EUCLEAN, "xfs: log: v3 inode core of %d bytes", len(ld))
	}
	u16 := func(o int) { be.PutUint16(dip[o:], le.Uint16(ld[o:])) }
	u32 := func(o int) { be.PutUint32(dip[o:], le.Uint32(ld[o:])) }
	u64 := func(o int) { be.PutUint64(dip[o:], le.Uint64(ld[o:])) }
	var flags2 uint64
	if v3 {
		flags2 = le.Uint64(ld[120:])
	}
	ts := func(o int) {
		if flags2&Diflag2Bigtime != 0 {
			u64(o)
		} else {
			u32(o)
			u32(o + 4)
		}
	}
	u16(0)
	u16(2)
	dip[4], dip[5] = ld[4], ld[5]
	u16(6)
	u32(8)
	u32(12)
	u32(16)
	u16(20)
	u16(22)
	if v3 {
		u64(24)
	} else {
		copy(dip[24:30], ld[24:30])
		u16(30)
	}
	ts(32)
	ts(40)
	ts(48)
	u64(56)
	u64(64)
	u32(72)
	u32(76)
	u16(80)
	dip[82], dip[83] = ld[82], ld[83]
	u32(84)
	u16(88)
	u16(90)
	u32(92)
	if v3 {
		u64(104)
		be.PutUint64(dip[112:], lsn)
		u64(120)
		u32(128)
		copy(dip[132:144], ld[132:144])
		ts(144)
		u64(152)
		copy(dip[160:176], ld[160:176])
	}
	return nil
}

// BrootToBmdr converts a bmap btree root as the log holds it (the
// in-memory root: a long-form btree block header of hdr bytes, keys and
// pointers for as many records as its size holds) into the inode fork's
// form (xfs_bmbt_to_bmdr), fork bytes long.
func BrootToBmdr(broot []byte, hdr int, fork []byte) error {
	if len(broot) < hdr || len(fork) < BmdrHdrSize {
		return abi.Errorf(abi.EUCLEAN, "xfs: log: btree root of %d bytes", len(broot))
	}
	level, numrecs := be.Uint16(broot[4:]), int(be.Uint16(broot[6:]))
	rmax := (len(broot) - hdr) / (BmbtKeySize + BmbtPtrSize)
	dmax := (len(fork) - BmdrHdrSize) / (BmbtKeySize + BmbtPtrSize)
	if numrecs > rmax || numrecs > dmax {
		return abi.Errorf(abi.EUCLEAN, "xfs: log: btree root of %d records", numrecs)
	}
	clear(fork)
	be.PutUint16(fork, level)
	be.PutUint16(fork[2:], uint16(numrecs))
	copy(fork[BmdrHdrSize:], broot[hdr:hdr+numrecs*BmbtKeySize])
	copy(fork[BmdrHdrSize+dmax*BmbtKeySize:], broot[hdr+rmax*BmbtKeySize:hdr+rmax*BmbtKeySize+numrecs*BmbtPtrSize])
	return nil
}

// Icreate is struct xfs_icreate_log (big-endian but for its type and
// size): a new inode chunk's group, first block, inode count and size,
// extent length in blocks, and the generation its inodes start with.
type Icreate struct {
	Ag, Agbno, Count, Isize, Length, Gen uint32
}

// DecodeIcreate decodes an icreate item's format region.
func DecodeIcreate(r []byte) (Icreate, error) {
	if len(r) < 28 {
		return Icreate{}, abi.Errorf(abi.EUCLEAN, "xfs: log: icreate item of %d bytes", len(r))
	}
	return Icreate{Ag: be.Uint32(r[4:]), Agbno: be.Uint32(r[8:]), Count: be.Uint32(r[12:]),
		Isize: be.Uint32(r[16:]), Length: be.Uint32(r[20:]), Gen: be.Uint32(r[24:])}, nil
}

// Extent is one extent of an extent-free intent (struct xfs_extent): a
// filesystem block number (AG number and AG block) and a length.
type Extent struct {
	Start uint64
	Len   uint32
}

// EFI is an extent-free intent (struct xfs_efi_log_format): the extents
// a transaction freed from their owner, which the free space btrees get
// back in a later one, logged with an EFD of the same ID.
type EFI struct {
	ID      uint64
	Extents []Extent
}

// DecodeEFI decodes an EFI's format region. The extents are 12 bytes
// each as a 32-bit kernel logged them (xfs_efi_log_format_32) or 16 as a
// 64-bit one did (padded); the region's length tells which, as
// xfs_efi_copy_format decides.
func DecodeEFI(r []byte) (EFI, error) {
	const hdr = 16
	if len(r) < hdr {
		return EFI{}, abi.Errorf(abi.EUCLEAN, "xfs: log: extent-free intent of %d bytes", len(r))
	}
	n := int(le.Uint32(r[4:]))
	e := EFI{ID: le.Uint64(r[8:])}
	var size int
	switch {
	case n > 0 && len(r) == hdr+n*16:
		size = 16
	case n > 0 && len(r) == hdr+n*12:
		size = 12
	default:
		return e, abi.Errorf(abi.EUCLEAN, "xfs: log: extent-free intent of %d extents in %d bytes", n, len(r))
	}
	e.Extents = make([]Extent, n)
	for i := range e.Extents {
		x := r[hdr+i*size:]
		e.Extents[i] = Extent{Start: le.Uint64(x), Len: le.Uint32(x[8:])}
	}
	return e, nil
}

// MapExtent is one file mapping update of a BUI (struct
// xfs_map_extent): map or unmap the file blocks StartOff..+Len of inode
// Owner's data or attribute fork, at filesystem block StartBlock.
type MapExtent struct {
	Owner      uint64
	StartBlock uint64
	StartOff   uint64
	Len        uint32
	Flags      uint32
}

// me_flags of a MapExtent (XFS_BMAP_*, XFS_BMAP_EXTENT_*).
const (
	BmapTypeMask        = 0xff
	BmapMap             = 1
	BmapUnmap           = 2
	BmapExtentAttrFork  = 1 << 31
	BmapExtentUnwritten = 1 << 30
	BmapExtentRealtime  = 1 << 29
	bmapExtentFlags     = BmapTypeMask | BmapExtentAttrFork | BmapExtentUnwritten | BmapExtentRealtime
)

// Type is the update's kind: BmapMap or BmapUnmap.
func (m MapExtent) Type() uint32 { return m.Flags & BmapTypeMask }

// BUI is a file mapping update intent (struct xfs_bui_log_format): a
// change of a file's block map that a transaction chain had still to
// make (a reflink remap, the end of a copy-on-write, an exchange of
// ranges), done when its BUD of the same ID is logged.
type BUI struct {
	ID      uint64
	Extents []MapExtent
}

// DecodeBUI decodes a BUI's format region: a 16-byte header and the
// 32-byte extents, one of them as Linux logs them
// (XFS_BUI_MAX_FAST_EXTENTS, checked by xlog_recover_bui_commit_pass2),
// of a known kind and flags (xfs_bui_validate_extent).
func DecodeBUI(r []byte) (BUI, error) {
	const hdr, size = 16, 32
	if len(r) < hdr {
		return BUI{}, abi.Errorf(abi.EUCLEAN, "xfs: log: mapping update intent of %d bytes", len(r))
	}
	n := int(le.Uint32(r[4:]))
	b := BUI{ID: le.Uint64(r[8:])}
	if n != 1 || len(r) != hdr+n*size {
		return b, abi.Errorf(abi.EUCLEAN, "xfs: log: mapping update intent of %d extents in %d bytes", n, len(r))
	}
	x := r[hdr:]
	m := MapExtent{Owner: le.Uint64(x), StartBlock: le.Uint64(x[8:]), StartOff: le.Uint64(x[16:]),
		Len: le.Uint32(x[24:]), Flags: le.Uint32(x[28:])}
	if t := m.Type(); (t != BmapMap && t != BmapUnmap) || m.Flags&^bmapExtentFlags != 0 || m.Len == 0 ||
		m.StartOff+uint64(m.Len) > 1<<54 {
		return b, abi.Errorf(abi.EUCLEAN, "xfs: log: mapping update intent %x: bad extent (flags 0x%x, %d blocks at file block %d)",
			b.ID, m.Flags, m.Len, m.StartOff)
	}
	b.Extents = []MapExtent{m}
	return b, nil
}
