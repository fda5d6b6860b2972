package squashfs

import (
	"io"

	"github.com/lklimg/lklimg/kernel/abi"
)

// Inode types (squashfs_fs.h's SQUASHFS_DIR_TYPE ... SQUASHFS_LSOCKET_TYPE):
// the basic ones, then the extended ones (more fields: xattrs, link
// counts, 64-bit sizes) 7 above them.
const (
	TypeDir      = 1
	TypeReg      = 2
	TypeSymlink  = 3
	TypeBlkdev   = 4
	TypeChrdev   = 5
	TypeFifo     = 6
	TypeSocket   = 7
	TypeLDir     = 8
	TypeLReg     = 9
	TypeLSymlink = 10
	TypeLBlkdev  = 11
	TypeLChrdev  = 12
	TypeLFifo    = 13
	TypeLSocket  = 14
)

// InodeHeaderSize is the size of struct squashfs_base_inode.
const InodeHeaderSize = 16

// MaxSymlink is the longest symlink target Linux reads (a page:
// squashfs_read_inode's "Corrupted symlink" check).
const MaxSymlink = 4096

// Inode is an inode of any type (the structs squashfs_*_inode of
// squashfs_fs.h): the base header and the fields of its type, the basic
// types' narrower fields widened. A regular file's block list and an
// extended directory's index follow the fixed part in the inode table;
// DecodeInode leaves them to be read where they are.
type Inode struct {
	Type        uint16
	Mode        uint16 // permission bits
	UID, GUID   uint16 // indexes into the id table
	Mtime       uint32
	InodeNumber uint32
	Nlink       uint32
	// StartBlock is a directory's listing's metadata block, from the
	// directory table's start; a regular file's first data block, on
	// the device.
	StartBlock uint64
	// Offset is the listing's offset in that block (a directory), the
	// file's offset in its fragment (a regular file).
	Offset      uint32
	FileSize    uint64
	ParentInode uint32 // directories
	IndexCount  uint16 // extended directories: directory index entries
	Fragment    uint32 // regular files: InvalidFrag for none
	Sparse      uint64 // extended regular files: bytes in sparse blocks
	Rdev        uint32 // devices, new_encode_dev's form
	Xattr       uint32 // index into the xattr id table, InvalidXattr for none
	Target      []byte // a symlink's target
}

// BasicType is the inode's type as a basic one (TypeDir for TypeLDir).
func (i *Inode) BasicType() uint16 {
	if i.Type >= TypeLDir {
		return i.Type - 7
	}
	return i.Type
}

// Blocks returns how many entries a regular file's block list has: its
// whole blocks, and the last partial one unless that is in a fragment.
func (i *Inode) Blocks(blockLog uint16) uint64 {
	if i.Fragment != InvalidFrag {
		return i.FileSize >> blockLog
	}
	return (i.FileSize + 1<<blockLog - 1) >> blockLog
}

// Rdev decodes a device number stored as new_encode_dev does
// (include/linux/kdev_t.h): the major and minor.
func DecodeRdev(dev uint32) (major, minor uint32) {
	return dev & 0xfff00 >> 8, dev&0xff | dev>>12&0xfff00
}

// inodeReader reads the fields of an inode in order.
type inodeReader struct {
	r   io.Reader
	buf [8]byte
	err error
}

func (ir *inodeReader) read(n int) []byte {
	if ir.err != nil {
		return ir.buf[:n]
	}
	if _, err := io.ReadFull(ir.r, ir.buf[:n]); err != nil {
		ir.err = err
		clear(ir.buf[:])
	}
	return ir.buf[:n]
}

func (ir *inodeReader) u16() uint16 { return le.Uint16(ir.read(2)) }
func (ir *inodeReader) u32() uint32 { return le.Uint32(ir.read(4)) }
func (ir *inodeReader) u64() uint64 { return le.Uint64(ir.read(8)) }

// DecodeInode reads an inode from r (the inode table from the inode's
// reference on), checking what squashfs_read_inode checks: a known type
// and a symlink target of at most MaxSymlink bytes. It reads the fixed
// part and a symlink's target (and an extended symlink's xattr index);
// a regular file's block list and a directory's index are what r holds
// next. Errors: EIO naming the inode, r's errors wrapped in EIO.
func DecodeInode(r io.Reader) (*Inode, error) {
	ir := &inodeReader{r: r}
	i := &Inode{
		Type:        ir.u16(),
		Mode:        ir.u16(),
		UID:         ir.u16(),
		GUID:        ir.u16(),
		Mtime:       ir.u32(),
		InodeNumber: ir.u32(),
		Nlink:       1,
		Fragment:    InvalidFrag,
		Xattr:       InvalidXattr,
	}
	switch i.Type {
	case TypeDir:
		i.StartBlock = uint64(ir.u32())
		i.Nlink = ir.u32()
		i.FileSize = uint64(ir.u16())
		i.Offset = uint32(ir.u16())
		i.ParentInode = ir.u32()
	case TypeLDir:
		i.Nlink = ir.u32()
		i.FileSize = uint64(ir.u32())
		i.StartBlock = uint64(ir.u32())
		i.ParentInode = ir.u32()
		i.IndexCount = ir.u16()
		i.Offset = uint32(ir.u16())
		i.Xattr = ir.u32()
	case TypeReg:
		i.StartBlock = uint64(ir.u32())
		i.Fragment = ir.u32()
		i.Offset = ir.u32()
		i.FileSize = uint64(ir.u32())
	case TypeLReg:
		i.StartBlock = ir.u64()
		i.FileSize = ir.u64()
		i.Sparse = ir.u64()
		i.Nlink = ir.u32()
		i.Fragment = ir.u32()
		i.Offset = ir.u32()
		i.Xattr = ir.u32()
	case TypeSymlink, TypeLSymlink:
		i.Nlink = ir.u32()
		size := ir.u32()
		if ir.err == nil && size > MaxSymlink {
			return nil, abi.Errorf(abi.EIO, "squashfs: inode %d: corrupted symlink of %d bytes", i.InodeNumber, size)
		}
		i.FileSize = uint64(size)
		if ir.err == nil {
			i.Target = make([]byte, size)
			if _, err := io.ReadFull(r, i.Target); err != nil {
				ir.err = err
			}
		}
		if i.Type == TypeLSymlink {
			i.Xattr = ir.u32()
		}
	case TypeBlkdev, TypeChrdev, TypeLBlkdev, TypeLChrdev:
		i.Nlink = ir.u32()
		i.Rdev = ir.u32()
		if i.Type >= TypeLDir {
			i.Xattr = ir.u32()
		}
	case TypeFifo, TypeSocket, TypeLFifo, TypeLSocket:
		i.Nlink = ir.u32()
		if i.Type >= TypeLDir {
			i.Xattr = ir.u32()
		}
	default:
		if ir.err == nil {
			return nil, abi.Errorf(abi.EIO, "squashfs: inode %d: unknown type %d", i.InodeNumber, i.Type)
		}
	}
	if ir.err != nil {
		return nil, readErr("inode", ir.err)
	}
	if i.Type == TypeReg || i.Type == TypeLReg {
		if i.FileSize > 1<<62 {
			return nil, abi.Errorf(abi.EIO, "squashfs: inode %d: file size %d", i.InodeNumber, i.FileSize)
		}
	}
	return i, nil
}

// readErr wraps a reader's error in EIO naming what was read, unless it
// is an errno already.
func readErr(what string, err error) error {
	if _, ok := err.(*abi.Error); ok {
		return err
	}
	if e, ok := err.(abi.Errno); ok {
		return e
	}
	return abi.Errorf(abi.EIO, "squashfs: %s truncated: %v", what, err)
}
