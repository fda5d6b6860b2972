package xfs

import (
	"github.com/lklimg/lklimg/kernel/abi"
)

// Extents (xfs_format.h): a file's blocks are mapped by bmbt records of
// 128 bits, big-endian, kept sorted by file offset in the fork (extents
// format) or in the leaves of a bmap btree (btree format):
//
//	bit 127        extent flag: unwritten (reads as zeros)
//	bits 126..73   br_startoff, the file block (54 bits)
//	bits 72..21    br_startblock, the file system block (52 bits):
//	               agno << sb_agblklog | agbno
//	bits 20..0     br_blockcount (21 bits)
const (
	// BmbtRecSize is sizeof(xfs_bmbt_rec_t).
	BmbtRecSize = 16
	// BmbtKeySize and BmbtPtrSize are a node's key (br_startoff) and
	// pointer (a file system block), 8 bytes each.
	BmbtKeySize = 8
	BmbtPtrSize = 8
	// BmdrHdrSize is the in-inode root's header (struct xfs_bmdr_block:
	// bb_level u16, bb_numrecs u16).
	BmdrHdrSize = 4
	// Bmap btree block magics (XFS_BMAP_MAGIC, XFS_BMAP_CRC_MAGIC).
	BmapMagic    = 0x424d4150 // "BMAP"
	BmapCRCMagic = 0x424d4133 // "BMA3"
	// LBlockSize and LBlockCRCSize are a long-form btree block's
	// header (struct xfs_btree_block with bb_l): magic, level u16,
	// numrecs u16, leftsib and rightsib u64; v5 adds blkno, lsn, uuid,
	// owner, crc (le32 at 64) and padding.
	LBlockSize    = 24
	LBlockCRCSize = 72
	LBlockCRCOff  = 64
	// MaxBtreeLevels bounds a bmap btree's height (the kernel's
	// XFS_BM_MAXLEVELS is at most 9 for 64-bit extent counts).
	MaxBtreeLevels = 9
	// NullFSBlock is NULLFSBLOCK, a missing sibling.
	NullFSBlock = ^uint64(0)
)

// Bmbt is one decoded extent record (struct xfs_bmbt_irec).
type Bmbt struct {
	StartOff   uint64 // file block
	StartBlock uint64 // file system block (agno << agblklog | agbno)
	BlockCount uint64
	Unwritten  bool
}

// DecodeBmbt decodes the record at the start of p (16 bytes at least).
func DecodeBmbt(p []byte) Bmbt {
	l0, l1 := be.Uint64(p), be.Uint64(p[8:])
	return Bmbt{
		Unwritten:  l0>>63 != 0,
		StartOff:   (l0 &^ (1 << 63)) >> 9,
		StartBlock: (l0&(1<<9-1))<<43 | l1>>21,
		BlockCount: l1 & (1<<21 - 1),
	}
}

// DecodeExtents decodes n records from fork, checking that they fit and
// that each starts past the end of the one before, as
// xfs_iextents_copyin and xfs_bmap_validate_extent do.
func DecodeExtents(fork []byte, n uint64, what string) ([]Bmbt, error) {
	if n > uint64(len(fork)/BmbtRecSize) {
		return nil, abi.Errorf(abi.EUCLEAN, "xfs: %s: %d extents in %d bytes", what, n, len(fork))
	}
	out := make([]Bmbt, 0, n)
	return AppendExtents(out, fork[:n*BmbtRecSize], what)
}

// AppendExtents decodes the records of p (a multiple of 16 bytes) onto
// out, checking each against the last of out.
func AppendExtents(out []Bmbt, p []byte, what string) ([]Bmbt, error) {
	for i := 0; i+BmbtRecSize <= len(p); i += BmbtRecSize {
		r := DecodeBmbt(p[i:])
		if r.BlockCount == 0 {
			return out, abi.Errorf(abi.EUCLEAN, "xfs: %s: extent of no blocks at file block %d", what, r.StartOff)
		}
		if r.StartOff+r.BlockCount > 1<<54 {
			return out, abi.Errorf(abi.EUCLEAN, "xfs: %s: extent past the largest file", what)
		}
		if k := len(out); k > 0 && r.StartOff < out[k-1].StartOff+out[k-1].BlockCount {
			return out, abi.Errorf(abi.EUCLEAN, "xfs: %s: extents out of order at file block %d", what, r.StartOff)
		}
		out = append(out, r)
	}
	return out, nil
}

// BtreeNode is a bmap btree node's keys and pointers: the in-inode root
// or a node block's.
type BtreeNode struct {
	Level uint16
	Keys  []uint64 // first file block under each pointer
	Ptrs  []uint64 // file system blocks of the children
}

// DecodeBmdr decodes the bmap btree root in an inode's fork (struct
// xfs_bmdr_block): keys from byte 4, the pointers after room for as many
// keys as the fork holds (xfs_bmdr_maxrecs).
func DecodeBmdr(fork []byte, what string) (BtreeNode, error) {
	if len(fork) < BmdrHdrSize {
		return BtreeNode{}, abi.Errorf(abi.EUCLEAN, "xfs: %s: btree root cut", what)
	}
	level, numrecs := be.Uint16(fork), be.Uint16(fork[2:])
	maxrecs := (len(fork) - BmdrHdrSize) / (BmbtKeySize + BmbtPtrSize)
	return decodeNode(fork[BmdrHdrSize:], level, int(numrecs), maxrecs, what)
}

func decodeNode(p []byte, level uint16, numrecs, maxrecs int, what string) (BtreeNode, error) {
	if level == 0 || level > MaxBtreeLevels {
		return BtreeNode{}, abi.Errorf(abi.EUCLEAN, "xfs: %s: btree node level %d", what, level)
	}
	if numrecs == 0 || numrecs > maxrecs {
		return BtreeNode{}, abi.Errorf(abi.EUCLEAN, "xfs: %s: btree node of %d records, room for %d", what, numrecs, maxrecs)
	}
	n := BtreeNode{Level: level, Keys: make([]uint64, numrecs), Ptrs: make([]uint64, numrecs)}
	for i := range numrecs {
		n.Keys[i] = be.Uint64(p[i*BmbtKeySize:])
		n.Ptrs[i] = be.Uint64(p[maxrecs*BmbtKeySize+i*BmbtPtrSize:])
		if i > 0 && n.Keys[i] <= n.Keys[i-1] {
			return BtreeNode{}, abi.Errorf(abi.EUCLEAN, "xfs: %s: btree keys out of order", what)
		}
	}
	return n, nil
}

// LBlock is a long-form btree block's header (struct xfs_btree_block).
type LBlock struct {
	Magic    uint32
	Level    uint16
	NumRecs  uint16
	LeftSib  uint64
	RightSib uint64
	Blkno    uint64 // v5: the block's own disk address in 512-byte units
	Owner    uint64 // v5: the inode
}

// DecodeBmbtBlock decodes a bmap btree block of a file system block's
// size: its header (the magic, on v5 the checksum, the owner and the
// block's own address, as xfs_bmbt_verify checks them), and then either
// its records (level 0), appended to recs, or its node.
func DecodeBmbtBlock(p []byte, crc bool, owner, daddr uint64, recs []Bmbt, what string) (LBlock, BtreeNode, []Bmbt, error) {
	hdr := LBlockSize
	magic := uint32(BmapMagic)
	if crc {
		hdr, magic = LBlockCRCSize, BmapCRCMagic
	}
	bad := func(f string, args ...any) (LBlock, BtreeNode, []Bmbt, error) {
		return LBlock{}, BtreeNode{}, recs, abi.Errorf(abi.EUCLEAN, "xfs: %s: bmap btree block: "+f, append([]any{what}, args...)...)
	}
	if len(p) < hdr+BmbtRecSize {
		return bad("cut at %d bytes", len(p))
	}
	b := LBlock{
		Magic:    be.Uint32(p),
		Level:    be.Uint16(p[4:]),
		NumRecs:  be.Uint16(p[6:]),
		LeftSib:  be.Uint64(p[8:]),
		RightSib: be.Uint64(p[16:]),
	}
	if b.Magic != magic {
		return bad("bad magic 0x%08x", b.Magic)
	}
	if crc {
		if !VerifyChecksum(p, LBlockCRCOff) {
			return bad("bad checksum")
		}
		b.Blkno = be.Uint64(p[24:])
		b.Owner = be.Uint64(p[56:])
		if b.Owner != owner {
			return bad("owner %d", b.Owner)
		}
		if b.Blkno != daddr {
			return bad("at daddr %d says %d", daddr, b.Blkno)
		}
	}
	if b.Level == 0 {
		if int(b.NumRecs) > (len(p)-hdr)/BmbtRecSize || b.NumRecs == 0 {
			return bad("%d records", b.NumRecs)
		}
		var err error
		recs, err = AppendExtents(recs, p[hdr:hdr+int(b.NumRecs)*BmbtRecSize], what)
		return b, BtreeNode{}, recs, err
	}
	n, err := decodeNode(p[hdr:], b.Level, int(b.NumRecs), (len(p)-hdr)/(BmbtKeySize+BmbtPtrSize), what)
	return b, n, recs, err
}
