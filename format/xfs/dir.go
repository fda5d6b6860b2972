package xfs

import (
	"math/bits"

	"github.com/lklimg/lklimg/kernel/abi"
)

// Directories (xfs_da_format.h). A small directory lives in its inode
// (shortform); a larger one in directory blocks of sb_blocksize <<
// sb_dirblklog bytes: one block holding entries, a hash-sorted leaf and a
// tail (block form), or data blocks below 32 GiB with a leaf block (leaf
// form) or a da btree of leaf blocks (node form) at 32 GiB, and free
// index blocks at 64 GiB.
const (
	// DataAlignLog: directory addresses count 8-byte units
	// (XFS_DIR2_DATA_ALIGN_LOG).
	DataAlignLog = 3
	// LeafOffset and FreeOffset are the byte offsets of the leaf and
	// free index spaces (XFS_DIR2_LEAF_OFFSET, XFS_DIR2_FREE_OFFSET).
	LeafOffset = 32 << 30
	FreeOffset = 64 << 30
	// Magics of directory blocks: data blocks (XFS_DIR2_DATA_MAGIC,
	// XFS_DIR3_DATA_MAGIC), single-block directories (XFS_DIR2_BLOCK_MAGIC,
	// XFS_DIR3_BLOCK_MAGIC), leaf blocks with and without the best-free
	// table (LEAF1, LEAFN), da btree nodes.
	Dir2DataMagic  = 0x58443244 // "XD2D"
	Dir3DataMagic  = 0x58444433 // "XDD3"
	Dir2BlockMagic = 0x58443242 // "XD2B"
	Dir3BlockMagic = 0x58444233 // "XDB3"
	Dir2Leaf1Magic = 0xd2f1
	Dir3Leaf1Magic = 0x3df1
	Dir2LeafNMagic = 0xd2ff
	Dir3LeafNMagic = 0x3dff
	DaNodeMagic    = 0xfebe
	Da3NodeMagic   = 0x3ebe
	// Dir2DataHdrSize and Dir3DataHdrSize are the data block headers:
	// magic and bestfree[3] (v4); v5's struct xfs_dir3_blk_hdr (magic,
	// crc at 4, blkno, lsn, uuid, owner) then bestfree[3] and padding.
	Dir2DataHdrSize = 16
	Dir3DataHdrSize = 64
	Dir3BlkCRCOff   = 4
	// DataFreeTag marks an unused region (XFS_DIR2_DATA_FREE_TAG).
	DataFreeTag = 0xffff
	// BlockTailSize is struct xfs_dir2_block_tail: count, stale.
	BlockTailSize = 8
	// LeafEntrySize is struct xfs_dir2_leaf_entry: hashval, address.
	LeafEntrySize = 8
	// DaBlkinfoSize and Da3BlkinfoSize are a leaf or node block's
	// sibling header (forw, back, magic u16, pad; v5 adds crc at 12,
	// blkno, lsn, uuid, owner); the leaf and node headers follow with
	// count and stale (leaf) or level (node), padded to 16 or 64.
	DaBlkinfoSize  = 12
	Da3BlkinfoSize = 56
	DaHdrSize      = 16
	Da3HdrSize     = 64
	Da3CRCOff      = 12
	// DaNodeEntrySize is struct xfs_da_node_entry: hashval, before.
	DaNodeEntrySize = 8
	// MaxDaLevels bounds a da btree's depth (XFS_DA_NODE_MAXDEPTH).
	MaxDaLevels = 5
)

// File types in directory entries (XFS_DIR3_FT_*).
const (
	FtUnknown = 0
	FtRegFile = 1
	FtDir     = 2
	FtChrdev  = 3
	FtBlkdev  = 4
	FtFifo    = 5
	FtSock    = 6
	FtSymlink = 7
	FtWht     = 8
)

// DType maps an entry's file type to getdents's d_type
// (xfs_dir3_filetype_table): Linux's FT_* values, and a whiteout.
func DType(ft uint8) uint8 {
	if ft == FtWht {
		return abi.DT_WHT
	}
	return abi.FtypeToDT(ft)
}

// DirEntry is one entry of a directory, from any form.
type DirEntry struct {
	Name   []byte // aliases the block or fork decoded
	Ino    uint64
	Ftype  uint8
	Offset int // byte offset in its directory block (shortform: the offset it keeps)
}

// HashName is xfs_da_hashname: a rotate-and-xor hash of 7 bits per byte,
// four bytes at a time. Leaf entries are sorted by it.
func HashName(name []byte) uint32 {
	var h uint32
	for ; len(name) >= 4; name = name[4:] {
		h = uint32(name[0])<<21 ^ uint32(name[1])<<14 ^ uint32(name[2])<<7 ^ uint32(name[3]) ^ bits.RotateLeft32(h, 7*4)
	}
	switch len(name) {
	case 3:
		return uint32(name[0])<<14 ^ uint32(name[1])<<7 ^ uint32(name[2]) ^ bits.RotateLeft32(h, 7*3)
	case 2:
		return uint32(name[0])<<7 ^ uint32(name[1]) ^ bits.RotateLeft32(h, 7*2)
	case 1:
		return uint32(name[0]) ^ bits.RotateLeft32(h, 7)
	}
	return h
}

// DataEntSize is the room a data entry of a name of n bytes takes
// (xfs_dir2_data_entsize): inumber, namelen, name, file type, tag,
// rounded up to 8.
func DataEntSize(n int, ftype bool) int {
	s := 8 + 1 + n + 2
	if ftype {
		s++
	}
	return (s + 7) &^ 7
}

// Shortform is a shortform directory (struct xfs_dir2_sf_hdr and its
// entries): the parent and the entries in the order kept.
type Shortform struct {
	Parent  uint64
	Entries []DirEntry
}

// DecodeShortform decodes a shortform directory from fork (the inode's
// data fork, size bytes of it in use): count u8, i8count u8 (inode
// numbers are 8 bytes when it is not 0, else 4), the parent, then
// entries of namelen u8, offset be16, name, file type (with ftype),
// inode number. It checks what xfs_dir2_sf_verify checks: every entry
// within size, names not empty, offsets rising.
func DecodeShortform(fork []byte, size int, ftype bool) (*Shortform, error) {
	bad := func(f string, args ...any) (*Shortform, error) {
		return nil, abi.Errorf(abi.EUCLEAN, "xfs: shortform directory: "+f, args...)
	}
	if size > len(fork) || size < 2 {
		return bad("size %d in a fork of %d bytes", size, len(fork))
	}
	p := fork[:size]
	// count is every entry; i8count those whose inode number needs 8
	// bytes: when there is one, every number takes 8 (xfs_dir2_sf_hdr).
	count, isize := int(p[0]), 4
	if p[1] != 0 {
		isize = 8
	}
	pos := 2 + isize
	if pos > len(p) {
		return bad("header cut")
	}
	ino := func(b []byte) uint64 {
		if isize == 8 {
			return be.Uint64(b) & (1<<56 - 1)
		}
		return uint64(be.Uint32(b))
	}
	sf := &Shortform{Parent: ino(p[2:]), Entries: make([]DirEntry, 0, count)}
	last := 0
	for i := range count {
		if pos+3 > len(p) {
			return bad("entry %d cut", i)
		}
		n := int(p[pos])
		off := int(be.Uint16(p[pos+1:]))
		e := pos + 3 + n
		var ft uint8
		if ftype {
			if e+1 > len(p) {
				return bad("entry %d cut", i)
			}
			ft = p[e]
			e++
		}
		if n == 0 || e+isize > len(p) {
			return bad("entry %d: name of %d bytes", i, n)
		}
		if off < last {
			return bad("entry %d: offset %d below %d", i, off, last)
		}
		if ft > FtWht {
			return bad("entry %d: file type %d", i, ft)
		}
		last = off + 1
		sf.Entries = append(sf.Entries, DirEntry{Name: p[pos+3 : pos+3+n], Ino: ino(p[e:]), Ftype: ft, Offset: off})
		pos = e + isize
	}
	if pos != size {
		return bad("%d bytes used of %d", pos, size)
	}
	return sf, nil
}

// DataBlock is a checked directory data block (of the data or block
// form): its entries lie between HdrSize and End.
type DataBlock struct {
	B       []byte
	HdrSize int
	End     int // where entries end: the leaf of a single-block directory, else len(B)
	// Leaf is a single-block directory's leaf entries (the bytes), nil
	// for a data block.
	Leaf []byte
	// Count and Stale are the block tail's counts.
	Count, Stale int
}

// DecodeDataBlock checks the header of a directory data block b (a whole
// directory block): the magic (block says the single-block form), on v5
// the checksum and owner and block address (xfs_dir3_data_verify), and
// for the block form the tail's leaf count within the block.
func DecodeDataBlock(b []byte, crc, block bool, owner, daddr uint64) (*DataBlock, error) {
	kind := "data"
	magic, hdr := uint32(Dir2DataMagic), Dir2DataHdrSize
	switch {
	case crc && block:
		magic, hdr, kind = Dir3BlockMagic, Dir3DataHdrSize, "block"
	case crc:
		magic, hdr = Dir3DataMagic, Dir3DataHdrSize
	case block:
		magic, kind = Dir2BlockMagic, "block"
	}
	bad := func(f string, args ...any) (*DataBlock, error) {
		return nil, abi.Errorf(abi.EUCLEAN, "xfs: directory %s block: "+f, append([]any{kind}, args...)...)
	}
	if len(b) < hdr+BlockTailSize {
		return bad("cut at %d bytes", len(b))
	}
	if m := be.Uint32(b); m != magic {
		return bad("bad magic 0x%08x", m)
	}
	if crc {
		if !VerifyChecksum(b, Dir3BlkCRCOff) {
			return bad("bad checksum")
		}
		if o := be.Uint64(b[40:]); o != owner {
			return bad("owner %d", o)
		}
		if a := be.Uint64(b[8:]); a != daddr {
			return bad("at daddr %d says %d", daddr, a)
		}
	}
	d := &DataBlock{B: b, HdrSize: hdr, End: len(b)}
	if block {
		t := len(b) - BlockTailSize
		d.Count, d.Stale = int(be.Uint32(b[t:])), int(be.Uint32(b[t+4:]))
		if d.Count > (t-hdr)/LeafEntrySize || d.Stale > d.Count {
			return bad("%d leaf entries (%d stale)", d.Count, d.Stale)
		}
		d.End = t - d.Count*LeafEntrySize
		d.Leaf = b[d.End:t]
	}
	return d, nil
}

// Entry decodes the entry or unused region at off (HdrSize <= off < End,
// a multiple of 8): it returns the entry, whether it is one (false for
// an unused region), and the offset of the next.
func (d *DataBlock) Entry(off int, ftype bool) (DirEntry, bool, int, error) {
	bad := func(f string, args ...any) (DirEntry, bool, int, error) {
		return DirEntry{}, false, 0, abi.Errorf(abi.EUCLEAN, "xfs: directory data at %d: "+f, append([]any{off}, args...)...)
	}
	b := d.B
	if off < d.HdrSize || off+8 > d.End || off&7 != 0 {
		return bad("outside the entries (%d..%d)", d.HdrSize, d.End)
	}
	if be.Uint16(b[off:]) == DataFreeTag {
		n := int(be.Uint16(b[off+2:]))
		if n < 8 || n&7 != 0 || off+n > d.End {
			return bad("unused region of %d bytes", n)
		}
		if int(be.Uint16(b[off+n-2:])) != off {
			return bad("unused region's tag %d", be.Uint16(b[off+n-2:]))
		}
		return DirEntry{}, false, off + n, nil
	}
	if off+9 > d.End {
		return bad("entry cut at the end")
	}
	n := int(b[off+8])
	size := DataEntSize(n, ftype)
	if n == 0 || off+size > d.End {
		return bad("entry of a %d-byte name", n)
	}
	e := DirEntry{Name: b[off+9 : off+9+n], Ino: be.Uint64(b[off:]), Offset: off}
	if ftype {
		e.Ftype = b[off+9+n]
		if e.Ftype > FtWht {
			return bad("file type %d", e.Ftype)
		}
	}
	if int(be.Uint16(b[off+size-2:])) != off {
		return bad("entry's tag %d", be.Uint16(b[off+size-2:]))
	}
	return e, true, off + size, nil
}

// DaBlkinfo is a leaf or node block's header (struct xfs_da_blkinfo or
// xfs_da3_blkinfo, and the leaf or node header after it).
type DaBlkinfo struct {
	Forw, Back uint32 // sibling da blocks
	Magic      uint16
	Count      int
	Stale      int // leaf blocks
	Level      int // node blocks
	HdrSize    int
}

// DecodeDaBlock checks a leaf or node block (of a directory or an
// attribute fork) and decodes its header: the magic one of magics, on v5
// the checksum, owner and address; count fits the block with entries of
// entsize bytes.
func DecodeDaBlock(b []byte, crc bool, owner, daddr uint64, entsize int, what string, magics ...uint16) (DaBlkinfo, error) {
	bad := func(f string, args ...any) (DaBlkinfo, error) {
		return DaBlkinfo{}, abi.Errorf(abi.EUCLEAN, "xfs: %s block: "+f, append([]any{what}, args...)...)
	}
	hdr := DaHdrSize
	if crc {
		hdr = Da3HdrSize
	}
	if len(b) < hdr {
		return bad("cut at %d bytes", len(b))
	}
	h := DaBlkinfo{Forw: be.Uint32(b), Back: be.Uint32(b[4:]), Magic: be.Uint16(b[8:]), HdrSize: hdr}
	ok := false
	for _, m := range magics {
		ok = ok || h.Magic == m
	}
	if !ok {
		return bad("bad magic 0x%04x", h.Magic)
	}
	if crc {
		if !VerifyChecksum(b, Da3CRCOff) {
			return bad("bad checksum")
		}
		if o := be.Uint64(b[48:]); o != owner {
			return bad("owner %d", o)
		}
		if a := be.Uint64(b[16:]); a != daddr {
			return bad("at daddr %d says %d", daddr, a)
		}
	}
	off := DaBlkinfoSize
	if crc {
		off = Da3BlkinfoSize
	}
	h.Count = int(be.Uint16(b[off:]))
	h.Stale = int(be.Uint16(b[off+2:]))
	h.Level = h.Stale
	if h.Count > (len(b)-hdr)/entsize {
		return bad("%d entries", h.Count)
	}
	return h, nil
}

// LeafEntry is a directory leaf entry (struct xfs_dir2_leaf_entry): a
// name's hash and the address (in 8-byte units) of its data entry; 0
// (XFS_DIR2_NULL_DATAPTR) when stale.
type LeafEntry struct {
	Hash, Address uint32
}

// LeafEntryAt decodes entry i of a leaf's entries p.
func LeafEntryAt(p []byte, i int) LeafEntry {
	return LeafEntry{Hash: be.Uint32(p[i*LeafEntrySize:]), Address: be.Uint32(p[i*LeafEntrySize+4:])}
}

// NodeEntry is a da btree node entry (struct xfs_da_node_entry): the
// highest hash under the child, and the child's da block.
type NodeEntry struct {
	Hash, Before uint32
}

// NodeEntryAt decodes entry i of a node's entries p.
func NodeEntryAt(p []byte, i int) NodeEntry {
	return NodeEntry{Hash: be.Uint32(p[i*DaNodeEntrySize:]), Before: be.Uint32(p[i*DaNodeEntrySize+4:])}
}
