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

// dirEntry is an entry as a dirCursor reads it.
type dirEntry struct {
	sq.DirEntry
	ino  uint32 // its inode number
	ref  sq.Ref // its inode, in the inode table
	next int64  // the listing's offset after it: the next entry's position
}

// dirCursor is a place in a directory's listing, between two entries:
// the metadata reader there, the listing offset, and the header the
// entries that follow are under (left of its entries still to read). It
// holds the entry last read and its name, so that a walk allocates
// nothing per entry.
type dirCursor struct {
	r    metaReader
	at   int64
	h    sq.DirHeader
	left uint32
	e    dirEntry
	name [sq.NameLen]byte
}

// seek puts c at the header at listing offset from: 0, or an index
// entry's (whose header starts the metadata block at block).
func (d dirInode) seek(c *dirCursor, from int64, block uint64) {
	f := d.f
	ref := sq.MakeRef(block, uint16((int64(d.sq.Offset)+from)%sq.MetadataSize))
	if from == 0 {
		ref = sq.MakeRef(d.sq.StartBlock, uint16(d.sq.Offset))
	}
	c.r = metaReader{f: f, start: int64(f.sb.DirectoryTableStart), block: ref.Block(), off: ref.Offset()}
	c.at, c.left = from, 0
}

// next reads the entry at c into c.e, reading the header before it
// first where one starts; false at the listing's end.
func (d dirInode) next(c *dirCursor) (bool, error) {
	length := d.listing()
	if c.at >= length {
		return false, nil
	}
	if c.left == 0 {
		if length-c.at < sq.DirHeaderSize {
			return false, abi.Errorf(abi.EIO, "squashfs: directory inode %d: listing ends in a header", d.sq.InodeNumber)
		}
		hb := c.name[:sq.DirHeaderSize]
		if _, err := c.r.Read(hb); err != nil {
			return false, where(err, "directory inode %d", d.sq.InodeNumber)
		}
		h, err := sq.DecodeDirHeader(hb)
		if err != nil {
			return false, where(err, "directory inode %d", d.sq.InodeNumber)
		}
		c.h, c.left = h, h.Count
		c.at += sq.DirHeaderSize
	}
	de, err := sq.DecodeDirEntry(&c.r, c.name[:])
	if err != nil {
		return false, where(err, "directory inode %d", d.sq.InodeNumber)
	}
	c.at += sq.DirEntrySize + int64(len(de.Name))
	if c.at > length {
		return false, abi.Errorf(abi.EIO, "squashfs: directory inode %d: entry past the listing's %d bytes", d.sq.InodeNumber, length)
	}
	c.left--
	c.e = dirEntry{DirEntry: de, ino: c.h.InodeNumber + uint32(int32(de.InodeNumber)),
		ref: sq.MakeRef(uint64(c.h.StartBlock), de.Offset), next: c.at}
	return true, nil
}

// walk calls fn for each entry from the header at listing offset from
// (0, or an index entry's), in order, until fn returns false. The entry
// is the cursor's: fn copies what it keeps.
func (d dirInode) walk(from int64, block uint64, fn func(e *dirEntry) bool) error {
	var c dirCursor
	d.seek(&c, from, block)
	for {
		ok, err := d.next(&c)
		if err != nil || !ok {
			return err
		}
		if !fn(&c.e) {
			return nil
		}
	}
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
//
// Names are mostly looked up in the listing's order (a walk stats a
// directory's entries as getdents64 lists them), so a lookup goes on
// from where the last one that found its name stopped, rather than
// scanning again the entries before it, when that finds what Linux's
// scan would: when it starts from the same index entry's header as the
// scans since the last seek, which passed over every entry from there
// up to here, each one before name (name is after the greatest of
// them) and so neither equal to it nor stopping it (each was passed by
// a name not after name, whose first byte was not past name's).
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
	ref, err := d.find(name, from, block)
	if err != nil {
		return nil, err
	}
	ip, err := d.f.readInode(ref)
	if err != nil {
		return nil, err
	}
	return ip.vfsInode(), nil
}

// lookState is where the last lookup that found its name stopped (the
// entry after it) and in which directory: one for the mount, as a walk
// looks a directory's names up one after another, guarded by fsys.lookMu.
type lookState struct {
	dir   *inode
	c     dirCursor
	start int64  // the header the scans since the last seek started from
	max   []byte // the greatest name passed since start
	maxb  [sq.NameLen]byte
}

// find scans for name from the header at listing offset from, or goes
// on from the last lookup's place (see Lookup), and returns the inode
// reference of the entry found (ENOENT for none).
func (d dirInode) find(name string, from int64, block uint64) (sq.Ref, error) {
	f := d.f
	f.lookMu.Lock()
	defer f.lookMu.Unlock()
	s := &f.look
	if s.dir != d.inode || s.max == nil || from != s.start || bytes.Compare([]byte(name), s.max) <= 0 {
		d.seek(&s.c, from, block)
		s.dir, s.start, s.max = d.inode, from, s.maxb[:0]
	}
	for {
		ok, err := d.next(&s.c)
		if err != nil || !ok {
			s.max = nil // the next lookup seeks
			if err == nil {
				err = abi.ENOENT
			}
			return 0, err
		}
		e := &s.c.e
		// Linux compares the first bytes as its C types are: the
		// name's unsigned, the entry's a (signed, on x86) char, so
		// that an entry starting with a byte over 0x7f never stops
		// the scan.
		if int(name[0]) < int(int8(e.Name[0])) {
			s.max = nil
			return 0, abi.ENOENT
		}
		if bytes.Compare(e.Name, s.max) > 0 {
			s.max = append(s.maxb[:0], e.Name...)
		}
		if string(e.Name) == name {
			return e.ref, nil
		}
	}
}
