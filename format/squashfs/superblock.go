package squashfs

import (
	"github.com/lklimg/lklimg/kernel/abi"
)

// Magic is s_magic, "hsqs" on disk (SQUASHFS_MAGIC), also statfs's f_type.
const Magic = 0x73717368

// SuperblockSize is the size of struct squashfs_super_block; compressor
// options, when present, follow it as a metadata block.
const SuperblockSize = 96

// Limits from squashfs_fs.h.
const (
	MetadataSize = 8192    // SQUASHFS_METADATA_SIZE: a metadata block, decompressed
	MinBlockSize = 4096    // a block smaller than a page is refused (squashfs_fill_super)
	MaxBlockSize = 1 << 20 // SQUASHFS_FILE_MAX_SIZE
	MaxBlockLog  = 20      // SQUASHFS_FILE_MAX_LOG
	NameLen      = 256     // SQUASHFS_NAME_LEN: the longest name stored
	InvalidFrag  = 0xffffffff
	InvalidXattr = 0xffffffff // SQUASHFS_INVALID_XATTR: the inode has none
	InvalidBlk   = ^uint64(0) // SQUASHFS_INVALID_BLK: a table that is absent
)

// Superblock flags (s_flags, SQUASHFS_*).
const (
	FlagNoI        = 0x0001 // inodes stored uncompressed
	FlagNoD        = 0x0002 // data blocks stored uncompressed
	FlagCheck      = 0x0004
	FlagNoF        = 0x0008 // fragments stored uncompressed
	FlagNoFrag     = 0x0010 // no fragments
	FlagAlwaysFrag = 0x0020
	FlagDuplicate  = 0x0040
	FlagExport     = 0x0080 // an export (lookup) table
	FlagNoX        = 0x0100 // xattrs stored uncompressed
	FlagNoXattr    = 0x0200
	FlagCompOpt    = 0x0400 // compressor options follow the superblock
	FlagNoID       = 0x0800 // the id table stored uncompressed
)

// Superblock is struct squashfs_super_block (squashfs_fs.h), the first
// 96 bytes of the image.
type Superblock struct {
	Magic               uint32
	Inodes              uint32
	MkfsTime            uint32
	BlockSize           uint32
	Fragments           uint32
	Compression         uint16
	BlockLog            uint16
	Flags               uint16
	NoIDs               uint16
	Major, Minor        uint16
	RootInode           uint64 // a metadata reference into the inode table
	BytesUsed           uint64
	IDTableStart        uint64
	XattrIDTableStart   uint64
	InodeTableStart     uint64
	DirectoryTableStart uint64
	FragmentTableStart  uint64
	LookupTableStart    uint64
}

// DecodeSuperblock decodes the superblock from its 96 bytes and checks it
// as squashfs_fill_super does before reading any table: the magic, the
// version (4.0), the block size (4 KiB to 1 MiB, a power of two equal to
// 1<<block_log), the root inode's offset and the tables' order. Errors:
// EINVAL for what is not SquashFS 4.0 (Linux's mount fails so), EIO for
// damage.
func DecodeSuperblock(p []byte) (*Superblock, error) {
	if len(p) < SuperblockSize {
		return nil, abi.Errorf(abi.EINVAL, "squashfs: superblock: %d bytes, want %d", len(p), SuperblockSize)
	}
	s := &Superblock{
		Magic:               le.Uint32(p[0:]),
		Inodes:              le.Uint32(p[4:]),
		MkfsTime:            le.Uint32(p[8:]),
		BlockSize:           le.Uint32(p[12:]),
		Fragments:           le.Uint32(p[16:]),
		Compression:         le.Uint16(p[20:]),
		BlockLog:            le.Uint16(p[22:]),
		Flags:               le.Uint16(p[24:]),
		NoIDs:               le.Uint16(p[26:]),
		Major:               le.Uint16(p[28:]),
		Minor:               le.Uint16(p[30:]),
		RootInode:           le.Uint64(p[32:]),
		BytesUsed:           le.Uint64(p[40:]),
		IDTableStart:        le.Uint64(p[48:]),
		XattrIDTableStart:   le.Uint64(p[56:]),
		InodeTableStart:     le.Uint64(p[64:]),
		DirectoryTableStart: le.Uint64(p[72:]),
		FragmentTableStart:  le.Uint64(p[80:]),
		LookupTableStart:    le.Uint64(p[88:]),
	}
	if s.Magic != Magic {
		return nil, abi.Errorf(abi.EINVAL, "squashfs: can't find a SQUASHFS superblock (magic %#x)", s.Magic)
	}
	if s.Major != 4 || s.Minor > 0 {
		return nil, abi.Errorf(abi.EINVAL, "squashfs: major/minor mismatch, trying to mount newer %d.%d filesystem", s.Major, s.Minor)
	}
	if s.BlockSize < MinBlockSize || s.BlockSize > MaxBlockSize || s.BlockLog > MaxBlockLog || 1<<s.BlockLog != s.BlockSize {
		return nil, abi.Errorf(abi.EIO, "squashfs: superblock: invalid block size %d (block_log %d)", s.BlockSize, s.BlockLog)
	}
	if s.RootInode&0xffff >= MetadataSize {
		return nil, abi.Errorf(abi.EIO, "squashfs: superblock: invalid root inode reference %#x", s.RootInode)
	}
	if s.BytesUsed < SuperblockSize || s.BytesUsed > 1<<62 {
		return nil, abi.Errorf(abi.EIO, "squashfs: superblock: invalid bytes_used %d", s.BytesUsed)
	}
	// The inode table comes before the directory table, which comes
	// before the fragment, export, id and xattr tables, all inside
	// bytes_used.
	if s.InodeTableStart < SuperblockSize || s.InodeTableStart >= s.DirectoryTableStart || s.DirectoryTableStart >= s.BytesUsed {
		return nil, abi.Errorf(abi.EIO, "squashfs: superblock: inode table %d and directory table %d out of order (bytes_used %d)",
			s.InodeTableStart, s.DirectoryTableStart, s.BytesUsed)
	}
	if s.IDTableStart <= s.DirectoryTableStart || s.IDTableStart >= s.BytesUsed {
		return nil, abi.Errorf(abi.EIO, "squashfs: superblock: id table at %d outside the image", s.IDTableStart)
	}
	if s.NoIDs == 0 {
		return nil, abi.Errorf(abi.EIO, "squashfs: superblock: no ids")
	}
	return s, nil
}

// HasXattrs reports whether the image has an xattr id table.
func (s *Superblock) HasXattrs() bool { return s.XattrIDTableStart != InvalidBlk }

// HasFragments reports whether the image has a fragment table.
func (s *Superblock) HasFragments() bool {
	return s.Fragments != 0 && s.FragmentTableStart != InvalidBlk
}
