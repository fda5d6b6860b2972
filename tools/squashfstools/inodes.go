package squashfstools

import (
	"fmt"
	"math"

	"github.com/lklimg/lklimg/format/squashfs"
)

// The inode and directory tables, written as mksquashfs writes them:
//
//  1. Inode numbers go to inodes in the order of a walk of the tree,
//     names sorted, each directory's number before its contents'; a
//     hard-linked inode takes the number of its first name; the root
//     is numbered last (mksquashfs's dir_scan2).
//  2. The tables are written in a walk after the contents: a
//     directory's entries' inodes first (a subdirectory's whole
//     subtree), then its listing into the directory table, then its
//     own inode, which points at the listing (dir_scan6, write_dir).
//  3. A listing's entries are grouped under headers; a new header
//     starts at 256 entries, at an inode in another metadata block, at
//     an inode number too far from the header's for 16 bits, and where
//     the listing since the last index point would pass a metadata
//     block's size: there an index entry is made too (an extended
//     directory's index, which lookups use to skip blocks).

// numberInodes gives numbers to the tree's inodes and returns their
// count.
func numberInodes(root *inode) uint32 {
	n := uint32(0)
	var walk func(dir *inode)
	walk = func(dir *inode) {
		for _, d := range dir.children {
			if d.inode.number == 0 {
				n++
				d.inode.number = n
				if d.inode.typ == squashfs.TypeDir {
					walk(d.inode)
				}
			}
		}
	}
	walk(root)
	n++
	root.number = n
	return n
}

// tables writes the inode and directory tables.
type tables struct {
	inodes, dirs *metaWriter
	blockLog     uint16
	ids          *idTable
	xattrs       *xattrTable
	allRoot      bool
	lookup       []squashfs.Ref // the export table: each inode's ref by number-1
	buf          []byte
}

// writeDir writes dir's subtree and dir's own inode, whose parent is
// parent, and returns dir's ref.
func (t *tables) writeDir(dir *inode, parent uint32) (squashfs.Ref, error) {
	type entry struct {
		name string
		in   *inode
	}
	subdirs := uint32(0)
	for _, d := range dir.children {
		in := d.inode
		if in.typ == squashfs.TypeDir {
			subdirs++
		}
		if in.written {
			continue
		}
		if in.typ == squashfs.TypeDir {
			if _, err := t.writeDir(in, dir.number); err != nil {
				return 0, err
			}
			continue
		}
		if err := t.writeInode(in); err != nil {
			return 0, err
		}
	}
	// The listing (step 3).
	var listing []byte
	var index []squashfs.DirIndex
	header, count := -1, uint32(0)
	var hdr squashfs.DirHeader
	indexAt := 0
	for _, d := range dir.children {
		in := d.inode
		size := squashfs.DirEntrySize + len(d.name)
		delta := int64(in.number) - int64(hdr.InodeNumber)
		newHeader := header < 0 || count == squashfs.DirCount || uint32(in.ref.Block()) != hdr.StartBlock ||
			delta > math.MaxInt16 || delta < math.MinInt16
		tooFar := header >= 0 && len(listing)+size-indexAt > squashfs.MetadataSize
		if newHeader || tooFar {
			if header >= 0 {
				hdr.Count = count
				hdr.Append(listing[:header])
				if tooFar {
					index = append(index, squashfs.DirIndex{Index: uint32(len(listing)), Name: []byte(d.name)})
					indexAt = len(listing)
				}
			}
			header = len(listing)
			hdr = squashfs.DirHeader{StartBlock: uint32(in.ref.Block()), InodeNumber: in.number}
			count = 0
			listing = append(listing, make([]byte, squashfs.DirHeaderSize)...)
		}
		listing = squashfs.DirEntry{Offset: uint16(in.ref.Offset()), InodeNumber: int16(int64(in.number) - int64(hdr.InodeNumber)),
			Type: in.typ, Name: []byte(d.name)}.Append(listing)
		count++
	}
	if header >= 0 {
		hdr.Count = count
		hdr.Append(listing[:header])
	}
	start := t.dirs.ref()
	t.dirs.write(listing)
	for i := range index {
		index[i].StartBlock = uint32(t.dirs.blockAt(start, int(index[i].Index)))
	}
	dir.nlink = 2 + subdirs
	i := t.base(dir)
	i.StartBlock, i.Offset = start.Block(), uint32(start.Offset())
	i.FileSize = uint64(len(listing)) + 3
	i.ParentInode = parent
	i.IndexCount = uint16(len(index))
	if len(index) > 0 || i.FileSize > math.MaxUint16 || i.StartBlock > math.MaxUint32 || i.Xattr != squashfs.InvalidXattr {
		i.Type = squashfs.TypeLDir
	}
	if len(index) > math.MaxUint16 || i.FileSize > math.MaxUint32 {
		return 0, fmt.Errorf("a directory of %d entries is too large", len(dir.children))
	}
	t.buf = i.Append(t.buf[:0])
	for _, x := range index {
		t.buf = x.Append(t.buf)
	}
	return t.put(dir), t.inodes.err
}

// base returns the inode's header fields and xattrs, its type the basic
// one, or the extended one when it has xattrs.
func (t *tables) base(in *inode) *squashfs.Inode {
	uid, gid := in.uid, in.gid
	if t.allRoot {
		uid, gid = 0, 0
	}
	i := &squashfs.Inode{
		Type: in.typ, Mode: in.mode, UID: t.ids.get(uid), GUID: t.ids.get(gid),
		Mtime: in.mtime, InodeNumber: in.number, Nlink: in.nlink,
		Fragment: squashfs.InvalidFrag, Xattr: t.xattrs.get(in.xattrs),
	}
	if i.Xattr != squashfs.InvalidXattr {
		i.Type += 7
	}
	return i
}

// put writes t.buf, the inode's bytes, to the inode table.
func (t *tables) put(in *inode) squashfs.Ref {
	in.ref = t.inodes.ref()
	in.written = true
	t.lookup[in.number-1] = in.ref
	t.inodes.write(t.buf)
	return in.ref
}

// writeInode writes an inode that is not a directory.
func (t *tables) writeInode(in *inode) error {
	i := t.base(in)
	switch in.typ {
	case squashfs.TypeReg:
		f := in.file
		i.StartBlock, i.FileSize, i.Sparse = f.start, f.size, f.sparse
		i.Fragment, i.Offset = f.frag, f.fragOff
		if f.frag == squashfs.InvalidFrag {
			i.Offset = 0
		}
		if i.Type == squashfs.TypeReg && (f.size > math.MaxUint32 || f.start > math.MaxUint32 || f.sparse != 0 || in.nlink > 1) {
			i.Type = squashfs.TypeLReg
		}
		t.buf = i.Append(t.buf[:0])
		t.buf = squashfs.AppendBlockList(t.buf, f.words)
	case squashfs.TypeSymlink:
		i.Target = []byte(in.target)
		t.buf = i.Append(t.buf[:0])
	default:
		i.Rdev = in.rdev
		t.buf = i.Append(t.buf[:0])
	}
	t.put(in)
	return t.inodes.err
}

// idTable is the id table: each uid and gid once, in the order the
// inodes first name them.
type idTable struct {
	ids   []uint32
	index map[uint32]uint16
	err   error
}

func (t *idTable) get(id uint32) uint16 {
	if i, ok := t.index[id]; ok {
		return i
	}
	if len(t.ids) > math.MaxUint16 {
		t.err = fmt.Errorf("more than %d distinct uids and gids", math.MaxUint16+1)
		return 0
	}
	t.index[id] = uint16(len(t.ids))
	t.ids = append(t.ids, id)
	return uint16(len(t.ids) - 1)
}
