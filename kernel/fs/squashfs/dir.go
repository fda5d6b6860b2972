package squashfs

import (
	"bytes"

	sq "github.com/lklimg/lklimg/format/squashfs"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// Directories (fs/squashfs/dir.c, namei.c): a listing of headers and
// entries in the directory table, file_size-3 bytes from the inode's
// start_block and offset. An entry's position is the listing's offset
// where the entry before it ends (0 for the first): getdents64 resumes
// there, a header between them read again. An extended directory's index
// (a header every metadata block, with its first name) lets a read or a
// lookup start near where it is going, as Linux's
// get_dir_index_using_offset and get_dir_index_using_name do.

// dtypes are the d_type of each basic type.
var dtypes = [...]uint8{
	sq.TypeDir: abi.DT_DIR, sq.TypeReg: abi.DT_REG, sq.TypeSymlink: abi.DT_LNK,
	sq.TypeBlkdev: abi.DT_BLK, sq.TypeChrdev: abi.DT_CHR, sq.TypeFifo: abi.DT_FIFO, sq.TypeSocket: abi.DT_SOCK,
}

// listing returns the length of a directory's listing.
func (d dirInode) listing() int64 { return max(int64(d.sq.FileSize)-3, 0) }

// dirEntry is an entry as walk yields it.
type dirEntry struct {
	sq.DirEntry
	ino  uint32 // its inode number
	ref  sq.Ref // its inode, in the inode table
	next int64  // the listing's offset after it: the next entry's position
}

// walk calls fn for each entry from the header at listing offset from
// (0, or an index entry's), in order, until fn returns false.
func (d dirInode) walk(from int64, block uint64, fn func(e *dirEntry) bool) error {
	f := d.f
	length := d.listing()
	r := f.reader(int64(f.sb.DirectoryTableStart), sq.MakeRef(block, uint16((int64(d.sq.Offset)+from)%sq.MetadataSize)))
	if from == 0 {
		r = f.reader(int64(f.sb.DirectoryTableStart), sq.MakeRef(d.sq.StartBlock, uint16(d.sq.Offset)))
	}
	var name [sq.NameLen]byte
	var hb [sq.DirHeaderSize]byte
	at := from
	for at < length {
		if length-at < sq.DirHeaderSize {
			return abi.Errorf(abi.EIO, "squashfs: directory inode %d: listing ends in a header", d.sq.InodeNumber)
		}
		if _, err := r.Read(hb[:]); err != nil {
			return where(err, "directory inode %d", d.sq.InodeNumber)
		}
		h, err := sq.DecodeDirHeader(hb[:])
		if err != nil {
			return where(err, "directory inode %d", d.sq.InodeNumber)
		}
		at += sq.DirHeaderSize
		for range h.Count {
			de, err := sq.DecodeDirEntry(r, name[:])
			if err != nil {
				return where(err, "directory inode %d", d.sq.InodeNumber)
			}
			at += sq.DirEntrySize + int64(len(de.Name))
			if at > length {
				return abi.Errorf(abi.EIO, "squashfs: directory inode %d: entry past the listing's %d bytes", d.sq.InodeNumber, length)
			}
			e := &dirEntry{DirEntry: de, ino: h.InodeNumber + uint32(int32(de.InodeNumber)),
				ref: sq.MakeRef(uint64(h.StartBlock), de.Offset), next: at}
			if !fn(e) {
				return nil
			}
		}
	}
	return nil
}

// index calls fn for each directory index entry until it returns false.
func (d dirInode) index(fn func(x *sq.DirIndex) bool) error {
	if d.sq.Type != sq.TypeLDir || d.sq.IndexCount == 0 {
		return nil
	}
	r := d.f.reader(int64(d.f.sb.InodeTableStart), d.extra)
	var name [sq.NameLen]byte
	for range d.sq.IndexCount {
		x, err := sq.DecodeDirIndex(r, name[:])
		if err != nil {
			return where(err, "directory inode %d", d.sq.InodeNumber)
		}
		if int64(x.Index) >= d.listing() {
			return abi.Errorf(abi.EIO, "squashfs: directory inode %d: index entry at %d past the listing", d.sq.InodeNumber, x.Index)
		}
		if !fn(&x) {
			break
		}
	}
	return nil
}

// ReadDir emits the entries from position pos in the listing's order
// (squashfs_readdir); "." and ".." are the VFS's.
func (d dirInode) ReadDir(pos int64, emit func(vfs.DirEntry) bool) error {
	var from int64
	var block uint64
	if pos > 0 {
		err := d.index(func(x *sq.DirIndex) bool {
			if int64(x.Index) > pos {
				return false
			}
			from, block = int64(x.Index), uint64(x.StartBlock)
			return true
		})
		if err != nil {
			return err
		}
	}
	prev := from
	return d.walk(from, block, func(e *dirEntry) bool {
		p := prev
		prev = e.next
		if p < pos {
			return true
		}
		return emit(vfs.DirEntry{Name: string(e.Name), Ino: uint64(e.ino), Type: dtypes[e.Type], Next: e.next})
	})
}

// Lookup finds name (squashfs_lookup): from the index entry of the last
// header whose first name is not after it, entry by entry, stopping at a
// name whose first byte is past name's, as Linux does (on x86, where
// char is signed).
func (d dirInode) Lookup(name string) (vfs.Inode, error) {
	var from int64
	var block uint64
	err := d.index(func(x *sq.DirIndex) bool {
		if bytes.Compare(x.Name, []byte(name)) > 0 {
			return false
		}
		from, block = int64(x.Index), uint64(x.StartBlock)
		return true
	})
	if err != nil {
		return nil, err
	}
	var found *dirEntry
	err = d.walk(from, block, func(e *dirEntry) bool {
		// Linux compares the first bytes as its C types are: the
		// name's unsigned, the entry's a (signed, on x86) char, so
		// that an entry starting with a byte over 0x7f never stops
		// the scan.
		if int(name[0]) < int(int8(e.Name[0])) {
			return false
		}
		if string(e.Name) == name {
			found = &dirEntry{ino: e.ino, ref: e.ref}
			return false
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	if found == nil {
		return nil, abi.ENOENT
	}
	ip, err := d.f.readInode(found.ref)
	if err != nil {
		return nil, err
	}
	return ip.vfsInode(), nil
}
