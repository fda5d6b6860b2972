package xfs

import (
	"github.com/lklimg/lklimg/kernel/abi"
)

// The inode (struct xfs_dinode, xfs_format.h): a core of 100 bytes (v1,
// v2) or 176 (v3, on v5 filesystems), then the data fork and, from
// di_forkoff*8 bytes into the literal area, the attribute fork:
//
//	  0 di_magic "IN"    2 di_mode u16     4 di_version u8  5 di_format u8
//	  6 di_onlink u16    8 di_uid         12 di_gid        16 di_nlink
//	 20 di_projid_lo u16 22 di_projid_hi u16
//	 24 di_big_nextents u64 (nrext64), else padding and di_flushiter
//	 32 di_atime        40 di_mtime       48 di_ctime  (xfs_timestamp_t)
//	 56 di_size u64     64 di_nblocks u64 72 di_extsize
//	 76 di_nextents u32, di_anextents u16; or (nrext64) di_big_anextents
//	    u32 and padding
//	 82 di_forkoff u8   83 di_aformat s8  84 di_dmevmask  88 di_dmstate u16
//	 90 di_flags u16    92 di_gen         96 di_next_unlinked
//	    (v3 from here)
//	100 di_crc (le32)  104 di_changecount u64 112 di_lsn u64
//	120 di_flags2 u64  128 di_cowextsize  132 di_pad2[12]
//	144 di_crtime      152 di_ino u64     160 di_uuid[16]
const (
	// DinodeMagic is di_magic, "IN" (XFS_DINODE_MAGIC).
	DinodeMagic = 0x494e
	// DinodeCoreV2 and DinodeCoreV3 are where the data fork starts
	// (xfs_dinode_size).
	DinodeCoreV2 = 100
	DinodeCoreV3 = 176
	// DinodeCRCOff is di_crc's offset (XFS_DINODE_CRC_OFF).
	DinodeCRCOff = 100
)

// Fork formats (enum xfs_dinode_fmt).
const (
	FmtDev     = 0 // a device number in the data fork
	FmtLocal   = 1 // data in the fork (shortform directory, symlink, attributes)
	FmtExtents = 2 // a list of bmbt records
	FmtBtree   = 3 // a bmap btree root
	FmtUUID    = 4 // unused
)

// di_flags bits (XFS_DIFLAG_*).
const (
	DiflagRealtime  = 1 << 0
	DiflagPrealloc  = 1 << 1
	DiflagImmutable = 1 << 3
	DiflagAppend    = 1 << 4
	DiflagSync      = 1 << 5
	DiflagNoatime   = 1 << 6
	DiflagNodump    = 1 << 7
)

// di_flags2 bits (XFS_DIFLAG2_*).
const (
	Diflag2Dax     = 1 << 0
	Diflag2Reflink = 1 << 1
	Diflag2Bigtime = 1 << 3
	Diflag2Nrext64 = 1 << 4
)

// Timestamp is a decoded xfs_timestamp_t.
type Timestamp struct {
	Sec  int64
	Nsec int64
}

// bigtimeEpochOffset is XFS_BIGTIME_EPOCH_OFFSET: a bigtime stamp counts
// nanoseconds from 1901-12-13T20:45:52Z, the smallest 32-bit time.
const bigtimeEpochOffset = 1 << 31

// decodeTimestamp decodes 8 bytes: seconds and nanoseconds (s32, u32),
// or with bigtime one u64 of nanoseconds from the bigtime epoch
// (xfs_inode_from_disk_ts).
func decodeTimestamp(p []byte, bigtime bool) Timestamp {
	if bigtime {
		ns := be.Uint64(p)
		return Timestamp{Sec: int64(ns/1e9) - bigtimeEpochOffset, Nsec: int64(ns % 1e9)}
	}
	return Timestamp{Sec: int64(int32(be.Uint32(p))), Nsec: int64(be.Uint32(p[4:]))}
}

// Dinode is struct xfs_dinode's core, decoded.
type Dinode struct {
	Magic     uint16
	Mode      uint16
	Version   uint8
	Format    uint8
	Uid, Gid  uint32
	Nlink     uint32
	ProjID    uint32
	Atime     Timestamp
	Mtime     Timestamp
	Ctime     Timestamp
	Crtime    Timestamp // v3 only
	Size      int64
	NBlocks   uint64
	ExtSize   uint32
	NExtents  uint64 // data fork extents (di_nextents or di_big_nextents)
	ANExtents uint32 // attribute fork extents
	Forkoff   uint8
	AFormat   uint8
	Flags     uint16
	Gen       uint32
	Flags2    uint64
	Ino       uint64 // v3 only
	UUID      [16]byte
}

// CoreSize is where the data fork starts.
func (d *Dinode) CoreSize() int {
	if d.Version >= 3 {
		return DinodeCoreV3
	}
	return DinodeCoreV2
}

// DecodeDinode decodes the inode core from p, an inode's inodesize
// bytes, and checks what xfs_dinode_verify checks that a reader needs:
// the magic, the version (3 on v5 filesystems, 1 or 2 otherwise), the
// fork formats for the file type, the fork offset within the inode, the
// extent counts within the forks, a size not negative. crc says the
// filesystem is v5: the checksum and di_ino are checked then (ino).
func DecodeDinode(p []byte, crc bool, ino uint64) (*Dinode, error) {
	bad := func(what string, args ...any) (*Dinode, error) {
		return nil, abi.Errorf(abi.EUCLEAN, "xfs: inode %d: "+what, append([]any{ino}, args...)...)
	}
	if len(p) < DinodeCoreV2 {
		return bad("cut at %d bytes", len(p))
	}
	d := &Dinode{
		Magic:   be.Uint16(p[0:]),
		Mode:    be.Uint16(p[2:]),
		Version: p[4],
		Format:  p[5],
		Uid:     be.Uint32(p[8:]),
		Gid:     be.Uint32(p[12:]),
		Nlink:   be.Uint32(p[16:]),
		ProjID:  uint32(be.Uint16(p[20:])) | uint32(be.Uint16(p[22:]))<<16,
		Size:    int64(be.Uint64(p[56:])),
		NBlocks: be.Uint64(p[64:]),
		ExtSize: be.Uint32(p[72:]),
		Forkoff: p[82],
		AFormat: p[83],
		Flags:   be.Uint16(p[90:]),
		Gen:     be.Uint32(p[92:]),
	}
	if d.Magic != DinodeMagic {
		return bad("bad magic 0x%04x", d.Magic)
	}
	if crc {
		if d.Version != 3 || len(p) < DinodeCoreV3 {
			return bad("version %d on a v5 filesystem", d.Version)
		}
		if !VerifyChecksum(p, DinodeCRCOff) {
			return bad("bad checksum")
		}
		d.Flags2 = be.Uint64(p[120:])
		d.Ino = be.Uint64(p[152:])
		copy(d.UUID[:], p[160:176])
		if d.Ino != ino {
			return bad("di_ino is %d", d.Ino)
		}
	} else if d.Version != 1 && d.Version != 2 {
		return bad("version %d", d.Version)
	}
	if d.Version == 1 {
		// v1 inodes keep the link count in di_onlink and no project
		// id high half (xfs_inode_from_disk).
		d.Nlink = uint32(be.Uint16(p[6:]))
		d.ProjID = 0
	}
	bigtime := d.Flags2&Diflag2Bigtime != 0
	d.Atime = decodeTimestamp(p[32:], bigtime)
	d.Mtime = decodeTimestamp(p[40:], bigtime)
	d.Ctime = decodeTimestamp(p[48:], bigtime)
	if d.Version >= 3 {
		d.Crtime = decodeTimestamp(p[144:], bigtime)
	}
	for _, t := range []Timestamp{d.Atime, d.Mtime, d.Ctime, d.Crtime} {
		// Linux takes them as they are; a stat showing 10^9 or more
		// nanoseconds is of no use to anyone: damage.
		if t.Nsec >= 1e9 {
			return bad("timestamp of %d nanoseconds", t.Nsec)
		}
	}
	if d.Flags2&Diflag2Nrext64 != 0 {
		d.NExtents = be.Uint64(p[24:])
		d.ANExtents = be.Uint32(p[76:])
	} else {
		d.NExtents = uint64(be.Uint32(p[76:]))
		d.ANExtents = uint32(be.Uint16(p[80:]))
	}
	if d.Size < 0 {
		return bad("size %d", d.Size)
	}
	lit := len(p) - d.CoreSize()
	if int(d.Forkoff)*8 >= lit {
		return bad("fork offset %d beyond the inode", d.Forkoff)
	}
	switch d.Format {
	case FmtDev, FmtLocal, FmtExtents, FmtBtree:
	default:
		return bad("data fork format %d", d.Format)
	}
	if d.Forkoff == 0 && d.AFormat != FmtExtents && d.AFormat != 0 {
		return bad("attribute fork format %d without a fork", d.AFormat)
	}
	if d.Forkoff != 0 {
		switch d.AFormat {
		case FmtLocal, FmtExtents, FmtBtree:
		default:
			return bad("attribute fork format %d", d.AFormat)
		}
	}
	mode := uint32(d.Mode)
	switch mode & abi.S_IFMT {
	case abi.S_IFCHR, abi.S_IFBLK, abi.S_IFIFO, abi.S_IFSOCK:
		if d.Format != FmtDev {
			return bad("special file with fork format %d", d.Format)
		}
	case abi.S_IFREG:
		if d.Format != FmtExtents && d.Format != FmtBtree {
			return bad("regular file with fork format %d", d.Format)
		}
	case abi.S_IFDIR, abi.S_IFLNK:
		if d.Format == FmtDev {
			return bad("fork format %d", d.Format)
		}
	case 0:
		// A free inode: mode 0 (the caller refuses it).
	default:
		return bad("mode 0%o", d.Mode)
	}
	if d.Format == FmtExtents && d.NExtents > uint64(d.DataForkSize(len(p))/BmbtRecSize) {
		return bad("%d extents in a data fork of %d bytes", d.NExtents, d.DataForkSize(len(p)))
	}
	if d.Forkoff != 0 && d.AFormat == FmtExtents && int(d.ANExtents) > d.AttrForkSize(len(p))/BmbtRecSize {
		return bad("%d attribute extents in a fork of %d bytes", d.ANExtents, d.AttrForkSize(len(p)))
	}
	return d, nil
}

// DataForkSize is the data fork's room in bytes in an inode of isize
// bytes (XFS_DFORK_DSIZE).
func (d *Dinode) DataForkSize(isize int) int {
	if d.Forkoff != 0 {
		return int(d.Forkoff) * 8
	}
	return isize - d.CoreSize()
}

// AttrForkSize is the attribute fork's room (XFS_DFORK_ASIZE), 0
// without one.
func (d *Dinode) AttrForkSize(isize int) int {
	if d.Forkoff == 0 {
		return 0
	}
	return isize - d.CoreSize() - int(d.Forkoff)*8
}

// DataFork returns the data fork's bytes of p, the inode.
func (d *Dinode) DataFork(p []byte) []byte {
	return p[d.CoreSize() : d.CoreSize()+d.DataForkSize(len(p))]
}

// AttrFork returns the attribute fork's bytes of p, nil without one.
func (d *Dinode) AttrFork(p []byte) []byte {
	if d.Forkoff == 0 {
		return nil
	}
	return p[d.CoreSize()+int(d.Forkoff)*8:]
}

// Rdev decodes a device inode's number (the data fork's be32 xfs_dev_t)
// as Linux's xfs_to_linux_dev_t: SysV's 14-bit major (of which Linux
// keeps 9 bits) above an 18-bit minor.
func Rdev(fork []byte) (major, minor uint32) {
	if len(fork) < 4 {
		return 0, 0
	}
	dev := be.Uint32(fork)
	return (dev >> 18) & 0x1ff, dev & 0x3ffff
}
