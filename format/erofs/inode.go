package erofs

import "github.com/lklimg/lklimg/kernel/abi"

// Inodes (erofs_fs.h): a compact one of 32 bytes or an extended one of
// 64, at meta_blkaddr's block + nid * 32 (islotbits 5). i_format's bit 0
// is the version (the size), bits 1-3 the data layout; other bits are
// refused (EROFS_I_ALL).
//
// Compact (struct erofs_inode_compact):
//
//	 0 i_format u16      2 i_xattr_icount u16   4 i_mode u16
//	 6 i_nlink u16       8 i_size u32          12 i_reserved (mtime) u32
//	16 i_u u32          20 i_ino u32           24 i_uid u16  26 i_gid u16
//	28 i_reserved2 u32
//
// Extended (struct erofs_inode_extended):
//
//	 0 i_format u16      2 i_xattr_icount u16   4 i_mode u16
//	 6 i_nb u16          8 i_size u64          16 i_u u32
//	20 i_ino u32        24 i_uid u32           28 i_gid u32
//	32 i_mtime u64      40 i_mtime_nsec u32    44 i_nlink u32
//	48 i_reserved2[16]
//
// i_u is the first block of a flat file (raw_blkaddr), the compressed
// block count of a compressed one, the device number of a device (Linux's
// new_encode_dev form), the chunk format of a chunk-based file. i_nb is
// the high 16 bits of the first block (startblk_hi) in an extended inode,
// and in a compact one with INlink1Bit; else a compact inode's link count.
const (
	InodeSlotBits     = 5
	InodeCompactSize  = 32
	InodeExtendedSize = 64

	// i_format fields (EROFS_I_*).
	IVersionMask    = 0x1
	IDataLayoutBit  = 1
	IDataLayoutMask = 0x7
	// INlink1Bit, on a compact inode of anything but a directory, says
	// it has one link and that i_nb (the link count's field) holds the
	// high 16 bits of i_u's block number (EROFS_I_NLINK_1_BIT); on a
	// directory the same bit says its "." entry is left out
	// (EROFS_I_DOT_OMITTED_BIT).
	INlink1Bit = 4
	IAll       = 1<<(INlink1Bit+1) - 1
)

// Data layouts (EROFS_INODE_*).
const (
	InodeFlatPlain         = 0
	InodeCompressedFull    = 1
	InodeFlatInline        = 2
	InodeCompressedCompact = 3
	InodeChunkBased        = 4
	InodeDataLayoutMax     = 5
)

// Chunk formats (i_u.c.format of a chunk-based inode).
const (
	ChunkFormatBlkBitsMask = 0x1f
	ChunkFormatIndexes     = 0x20
	// ChunkFormat48Bit: chunk indexes with startblk_hi.
	ChunkFormat48Bit = 0x40
	ChunkFormatAll   = ChunkFormatBlkBitsMask | ChunkFormatIndexes | ChunkFormat48Bit
)

// NullAddr is the block address of a chunk that is a hole (EROFS_NULL_ADDR).
const NullAddr = 0xffffffff

// Inode is an on-disk inode of either size.
type Inode struct {
	Format      uint16
	XattrICount uint16
	Mode        uint16
	Nlink       uint32
	Size        uint64
	U           uint32 // i_u: raw_blkaddr, compressed_blocks, rdev or chunk format
	// UHi is i_nb's high 16 bits of a block number (startblk_hi: an
	// extended inode's, a compact one's with INlink1Bit), else 0.
	UHi      uint16
	Ino      uint32 // i_ino, for 32-bit stat only
	Uid, Gid uint32
	// Mtime and MtimeNsec are an extended inode's; a compact one's Mtime
	// is i_reserved, an offset from the build time (zero in images of
	// older mkfs), MtimeNsec zero.
	Mtime     uint64
	MtimeNsec uint32
}

// InodeSize returns the size of the inode whose i_format is format.
func InodeSize(format uint16) int {
	if format&IVersionMask != 0 {
		return InodeExtendedSize
	}
	return InodeCompactSize
}

// DecodeInode decodes the inode at the start of p, which holds at least
// InodeSize(its i_format) bytes. It refuses what erofs_read_inode
// refuses: unknown i_format bits or data layout (EOPNOTSUPP), a mode of
// no known type (EUCLEAN), a chunk format with unknown bits (EOPNOTSUPP).
func DecodeInode(p []byte) (*Inode, error) {
	if len(p) < InodeCompactSize {
		return nil, abi.Errorf(abi.EUCLEAN, "erofs: inode: %d bytes", len(p))
	}
	in := &Inode{Format: le.Uint16(p[0:]), XattrICount: le.Uint16(p[2:]), Mode: le.Uint16(p[4:])}
	if in.Format&^IAll != 0 {
		return nil, abi.Errorf(abi.EOPNOTSUPP, "erofs: unsupported i_format %#x", in.Format)
	}
	if dl := in.DataLayout(); dl >= InodeDataLayoutMax {
		return nil, abi.Errorf(abi.EOPNOTSUPP, "erofs: unsupported datalayout %d", dl)
	}
	if in.Extended() {
		if len(p) < InodeExtendedSize {
			return nil, abi.Errorf(abi.EUCLEAN, "erofs: extended inode: %d bytes", len(p))
		}
		in.UHi = le.Uint16(p[6:])
		in.Size = le.Uint64(p[8:])
		in.U = le.Uint32(p[16:])
		in.Ino = le.Uint32(p[20:])
		in.Uid = le.Uint32(p[24:])
		in.Gid = le.Uint32(p[28:])
		in.Mtime = le.Uint64(p[32:])
		in.MtimeNsec = le.Uint32(p[40:])
		in.Nlink = le.Uint32(p[44:])
	} else {
		in.Nlink = uint32(le.Uint16(p[6:]))
		if in.Format&(1<<INlink1Bit) != 0 && uint32(in.Mode)&abi.S_IFMT != abi.S_IFDIR {
			in.Nlink, in.UHi = 1, le.Uint16(p[6:])
		}
		in.Size = uint64(le.Uint32(p[8:]))
		in.Mtime = uint64(le.Uint32(p[12:]))
		in.U = le.Uint32(p[16:])
		in.Ino = le.Uint32(p[20:])
		in.Uid = uint32(le.Uint16(p[24:]))
		in.Gid = uint32(le.Uint16(p[26:]))
	}
	switch uint32(in.Mode) & abi.S_IFMT {
	case abi.S_IFREG, abi.S_IFDIR, abi.S_IFLNK, abi.S_IFCHR, abi.S_IFBLK, abi.S_IFIFO, abi.S_IFSOCK:
	default:
		return nil, abi.Errorf(abi.EUCLEAN, "erofs: bogus i_mode (%o)", in.Mode)
	}
	switch uint32(in.Mode) & abi.S_IFMT {
	case abi.S_IFREG, abi.S_IFDIR, abi.S_IFLNK:
	default:
		in.UHi = 0 // i_nb is startblk_hi only where i_u is a block
	}
	if in.MtimeNsec >= 1e9 {
		// Linux shows it as it is; no time has such nanoseconds.
		return nil, abi.Errorf(abi.EUCLEAN, "erofs: i_mtime_nsec %d", in.MtimeNsec)
	}
	if in.Size > 1<<62 {
		return nil, abi.Errorf(abi.EUCLEAN, "erofs: inode size %d", in.Size)
	}
	if in.DataLayout() == InodeChunkBased && in.ChunkFormat()&^ChunkFormatAll != 0 {
		return nil, abi.Errorf(abi.EOPNOTSUPP, "erofs: unsupported chunk format %#x", in.ChunkFormat())
	}
	return in, nil
}

// Extended reports whether the inode is a 64-byte one.
func (in *Inode) Extended() bool { return in.Format&IVersionMask != 0 }

// ISize returns the inode's size on disk (inode_isize).
func (in *Inode) ISize() int { return InodeSize(in.Format) }

// DataLayout returns the data layout (EROFS_INODE_*).
func (in *Inode) DataLayout() int { return int(in.Format>>IDataLayoutBit) & IDataLayoutMask }

// Compressed reports whether the data layout is a compressed one.
func (in *Inode) Compressed() bool {
	dl := in.DataLayout()
	return dl == InodeCompressedFull || dl == InodeCompressedCompact
}

// XattrISize returns the size of the inline xattr body after the inode
// (erofs_xattr_ibody_size): the 12-byte header and i_xattr_icount-1 more
// 4-byte units, or nothing.
func (in *Inode) XattrISize() int {
	if in.XattrICount == 0 {
		return 0
	}
	return XattrIbodyHeaderSize + 4*(int(in.XattrICount)-1)
}

// Start returns the first block of a flat file: i_u with i_nb's high
// bits (startblk_hi).
func (in *Inode) Start() int64 { return int64(in.UHi)<<32 | int64(in.U) }

// DotOmitted reports whether a directory has no "." entry
// (EROFS_I_DOT_OMITTED_BIT): Linux's readdir shows one after the others.
func (in *Inode) DotOmitted() bool {
	return in.Format&(1<<INlink1Bit) != 0 && uint32(in.Mode)&abi.S_IFMT == abi.S_IFDIR
}

// NoData reports whether a FLAT_PLAIN file has no blocks at all: its
// block number is EROFS_NULL_ADDR (all ones in its 48 bits where i_nb
// is startblk_hi, in its 32 bits where i_nb is the link count), and it
// reads as zeros (erofs_read_inode).
func (in *Inode) NoData() bool {
	if in.DataLayout() != InodeFlatPlain || in.U != NullAddr {
		return false
	}
	if in.Extended() || in.Format&(1<<INlink1Bit) != 0 && uint32(in.Mode)&abi.S_IFMT != abi.S_IFDIR {
		return in.UHi == 0xffff
	}
	return true
}

// ChunkFormat returns i_u.c.format of a chunk-based inode.
func (in *Inode) ChunkFormat() uint16 { return uint16(in.U) }

// Rdev returns a device's major and minor numbers, decoded as Linux's
// new_decode_dev.
func (in *Inode) Rdev() (major, minor uint32) {
	d := in.U
	return (d & 0xfff00) >> 8, (d & 0xff) | (d>>12)&0xfff00
}
