package btrfs

import (
	"github.com/lklimg/lklimg/kernel/abi"
)

// The inode item (struct btrfs_inode_item, key (ino, INODE_ITEM, 0)),
// 160 bytes:
//
//	  0 generation u64   8 transid u64   16 size u64    24 nbytes u64
//	 32 block_group u64 40 nlink u32     44 uid u32     48 gid u32
//	 52 mode u32        56 rdev u64      64 flags u64   72 sequence u64
//	 80 reserved[4] u64
//	112 atime  124 ctime  136 mtime  148 otime (struct btrfs_timespec:
//	    sec u64, nsec u32)
const InodeItemSize = 160

// Inode flags (BTRFS_INODE_*): what statx's attributes report.
const (
	InodeNodatasum  = 1 << 0
	InodeNodatacow  = 1 << 1
	InodeReadonly   = 1 << 2
	InodeNocompress = 1 << 3
	InodePrealloc   = 1 << 4
	InodeSync       = 1 << 5
	InodeImmutable  = 1 << 6
	InodeAppend     = 1 << 7
	InodeNodump     = 1 << 8
	InodeNoatime    = 1 << 9
	InodeDirsync    = 1 << 10
	InodeCompress   = 1 << 11
)

// InodeItem is the decoded struct btrfs_inode_item.
type InodeItem struct {
	Generation uint64
	Size       uint64
	Nbytes     uint64
	Nlink      uint32
	Uid, Gid   uint32
	Mode       uint32
	// Rdev is the kernel's dev_t of a device node: major << 20 | minor
	// (btrfs stores inode->i_rdev as it is).
	Rdev                       uint64
	Flags                      uint64
	Atime, Ctime, Mtime, Otime abi.Timespec
}

func decodeTimespec(b []byte) abi.Timespec {
	return abi.Timespec{Sec: int64(le.Uint64(b)), Nsec: int64(le.Uint32(b[8:]))}
}

// TimespecSize is sizeof(struct btrfs_timespec).
const TimespecSize = 12

// DecodeInodeItem decodes an inode item's data (at least 160 bytes,
// as btrfs_check_inode_item wants it; a nanosecond count past a second
// is refused there too).
func DecodeInodeItem(b []byte) (InodeItem, error) {
	if len(b) < InodeItemSize {
		return InodeItem{}, abi.Errorf(abi.EUCLEAN, "btrfs: inode item of %d bytes, want %d", len(b), InodeItemSize)
	}
	in := InodeItem{
		Generation: le.Uint64(b[0:]),
		Size:       le.Uint64(b[16:]),
		Nbytes:     le.Uint64(b[24:]),
		Nlink:      le.Uint32(b[40:]),
		Uid:        le.Uint32(b[44:]),
		Gid:        le.Uint32(b[48:]),
		Mode:       le.Uint32(b[52:]),
		Rdev:       le.Uint64(b[56:]),
		Flags:      le.Uint64(b[64:]),
		Atime:      decodeTimespec(b[112:]),
		Ctime:      decodeTimespec(b[124:]),
		Mtime:      decodeTimespec(b[136:]),
		Otime:      decodeTimespec(b[148:]),
	}
	if in.Size > 1<<63-1 {
		return in, abi.Errorf(abi.EUCLEAN, "btrfs: inode item: size %d too large", in.Size)
	}
	switch in.Mode & abi.S_IFMT {
	case abi.S_IFREG, abi.S_IFDIR, abi.S_IFLNK, abi.S_IFCHR, abi.S_IFBLK, abi.S_IFIFO, abi.S_IFSOCK:
	default:
		return in, abi.Errorf(abi.EUCLEAN, "btrfs: inode item: invalid mode %o", in.Mode)
	}
	return in, nil
}

// RdevMajorMinor splits the stored dev_t (MAJOR and MINOR of Linux's
// include/linux/kdev_t.h: 12 bits above 20).
func (in InodeItem) RdevMajorMinor() (uint32, uint32) {
	return uint32(in.Rdev>>20) & 0xfff, uint32(in.Rdev) & 0xfffff
}

// An inode ref (struct btrfs_inode_ref, key (ino, INODE_REF, parent)):
// entries of index u64, name_len u16 and the name, one per hard link
// in that parent. An extended ref (struct btrfs_inode_extref, key (ino,
// INODE_EXTREF, hash)): parent_objectid u64, index u64, name_len u16,
// name.
const (
	InodeRefSize    = 10
	InodeExtrefSize = 18
)

// InodeRef is one name of an inode.
type InodeRef struct {
	Parent uint64
	Index  uint64
	Name   []byte
}

// DecodeInodeRefs decodes the entries of an INODE_REF item (extended:
// an INODE_EXTREF item) whose key offset is keyOffset.
func DecodeInodeRefs(b []byte, keyOffset uint64, extended bool) ([]InodeRef, error) {
	var refs []InodeRef
	for len(b) > 0 {
		var r InodeRef
		var n, head int
		if extended {
			if len(b) < InodeExtrefSize {
				return nil, abi.Errorf(abi.EUCLEAN, "btrfs: inode extref cut at %d bytes", len(b))
			}
			r = InodeRef{Parent: le.Uint64(b), Index: le.Uint64(b[8:])}
			n, head = int(le.Uint16(b[16:])), InodeExtrefSize
		} else {
			if len(b) < InodeRefSize {
				return nil, abi.Errorf(abi.EUCLEAN, "btrfs: inode ref cut at %d bytes", len(b))
			}
			r = InodeRef{Parent: keyOffset, Index: le.Uint64(b)}
			n, head = int(le.Uint16(b[8:])), InodeRefSize
		}
		if n > len(b)-head || n == 0 || n > NameLen {
			return nil, abi.Errorf(abi.EUCLEAN, "btrfs: inode ref name of %d bytes in %d", n, len(b)-head)
		}
		r.Name = b[head : head+n]
		refs = append(refs, r)
		b = b[head+n:]
	}
	return refs, nil
}
