package isofs

import (
	"bytes"

	"github.com/lklimg/lklimg/format/iso9660"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// Directories (fs/isofs/dir.c and namei.c). A directory is its extent:
// records one after another, a zero length byte ending a sector's
// records (the next starts at the next 2048-byte boundary). A position is
// a byte offset in the directory, as Linux's f_pos.

// isoBlockSize is ISOFS_BLOCK_SIZE: where a zero length byte sends the
// scan, whatever the logical block size.
const isoBlockSize = 2048

// dirScanner yields a directory's records in order.
type dirScanner struct {
	f     *fsys
	start int64 // the directory's data on the device
	size  int64
	pos   int64  // position of the next record
	buf   []byte // two blocks: the one holding pos, and the next on demand
	blk   int64  // the directory block in buf[:bsize]; -1 none
	next  bool   // buf[bsize:] holds block blk+1
}

func (ip *inode) scanner(pos int64) *dirScanner {
	f := ip.f
	return &dirScanner{f: f, start: ip.sections[0].start, size: ip.sections[0].size, pos: pos, blk: -1,
		buf: make([]byte, 2*f.bsize)}
}

// load reads directory block b into buf[off:].
func (s *dirScanner) load(b int64, off int64) error {
	f := s.f
	dev := s.start + b<<f.shift
	if _, err := f.dev.ReadAt(s.buf[off:off+f.bsize], dev); err != nil {
		s.blk = -1
		return abi.Errorf(abi.EIO, "isofs: directory at %d: block %d: %v", s.start, b, err)
	}
	return nil
}

// nextRecord returns the record at s.pos, its position and its device
// offset, and moves on; ok is false at the end of the directory. A record
// too short for its identifier is EIO, as do_isofs_readdir says
// "Corrupted directory entry".
func (s *dirScanner) nextRecord() (r iso9660.DirRecord, pos, dev int64, ok bool, err error) {
	f := s.f
	for s.pos < s.size {
		b, off := s.pos>>f.shift, s.pos&(f.bsize-1)
		if b != s.blk {
			if err := s.load(b, 0); err != nil {
				return r, 0, 0, false, err
			}
			s.blk, s.next = b, false
		}
		n := int64(s.buf[off])
		if n == 0 {
			s.pos = (s.pos + isoBlockSize) &^ (isoBlockSize - 1)
			continue
		}
		if off+n > f.bsize && !s.next {
			if err := s.load(b+1, f.bsize); err != nil {
				return r, 0, 0, false, err
			}
			s.next = true
		}
		pos, dev = s.pos, s.start+s.pos
		s.pos += n
		r, err = f.decodeRecord(s.buf[off : off+n])
		if err != nil {
			f.log.Printf("iso9660: Corrupted directory entry in block %d of directory %d", (s.start+pos)>>f.shift, inoOf(s.start))
			return r, pos, dev, false, abi.Errorf(abi.EIO, "isofs: directory at %d, position %d: %v", s.start, pos, err)
		}
		return r, pos, dev, true, nil
	}
	return r, 0, 0, false, nil
}

// recordIno is the inode number of a record at dev: a directory's comes
// from its extent (isofs_normalize_block_and_offset), so that it is the
// same from every name and from its own ".".
func (f *fsys) recordPos(r *iso9660.DirRecord, dev int64) int64 {
	if r.Flags&iso9660.FlagDirectory != 0 {
		return (int64(r.Extent) + int64(r.ExtAttrLen)) << f.shift
	}
	return dev
}

// hidden reports whether a record is left out of listings and lookups:
// hidden ones under hide, associated ones without showassoc.
func (f *fsys) hidden(r *iso9660.DirRecord) bool {
	return f.opts.hide && r.Flags&iso9660.FlagHidden != 0 ||
		!f.opts.showassoc && r.Flags&iso9660.FlagAssociated != 0
}

// recordName appends the name Linux shows for r to dst: Rock Ridge's NM,
// else Joliet's, else the identifier mapped (map=normal) or as stored
// (map=off). show is false for a record not to be shown: a relocated
// directory (RE), an empty name, or an area Linux cannot read.
func (f *fsys) recordName(dst []byte, r *iso9660.DirRecord) (name []byte, show bool) {
	start := len(dst)
	if f.rock != rockOff {
		name, found, relocated, err := f.rockName(dst, r)
		if err != nil {
			f.log.Printf("isofs: name of the record for block %d: %v", r.Extent, err)
			return dst, false
		}
		if relocated {
			return dst, false
		}
		if found {
			return name, true
		}
	}
	switch {
	case f.joliet != 0:
		dst = iso9660.JolietName(dst, r.Name)
	case f.opts.mapping == 'n':
		dst = iso9660.TranslateName(dst, r.Name)
	default:
		dst = append(dst, r.Name...)
	}
	return dst, len(dst) > start
}

// ReadDir lists the records from position pos (do_isofs_readdir): "."
// and ".." are the VFS's; a multi-extent file is shown at its last
// record, with its first record's inode number. Entries carry no type
// (DT_UNKNOWN), as Linux's.
func (ip *inode) ReadDir(pos int64, emit func(vfs.DirEntry) bool) error {
	if ip.mode&abi.S_IFMT != abi.S_IFDIR {
		return abi.ENOTDIR
	}
	f := ip.f
	s := ip.scanner(pos)
	var name []byte
	firstPos, inRun := int64(0), false
	for {
		r, _, dev, ok, err := s.nextRecord()
		if err != nil || !ok {
			return err
		}
		if r.IsDot() || r.IsDotDot() {
			continue
		}
		if !inRun {
			firstPos = f.recordPos(&r, dev)
		}
		if r.Flags&iso9660.FlagMultiExtent != 0 {
			inRun = true
			continue
		}
		inRun = false
		if f.hidden(&r) {
			continue
		}
		var show bool
		name, show = f.recordName(name[:0], &r)
		if !show {
			continue
		}
		if !emit(vfs.DirEntry{Name: string(name), Ino: inoOf(firstPos), Type: abi.DT_UNKNOWN, Next: s.pos}) {
			return nil
		}
	}
}

// Lookup finds name as isofs_find_entry does, through the directory's
// index: the first record whose shown name matches (a multi-extent
// file's first), compared as the mount's check= and Joliet say.
func (ip *inode) Lookup(name string) (vfs.Inode, error) {
	if ip.mode&abi.S_IFMT != abi.S_IFDIR {
		return nil, abi.ENOTDIR
	}
	f := ip.f
	idx, err := f.index(ip)
	if err != nil {
		return nil, err
	}
	pos, ok := idx.names[f.lookupKey(name)]
	if !ok {
		return nil, abi.ENOENT
	}
	return f.readInode(pos, false)
}

// lookupKey is the form names are compared in (isofs_dentry_cmp_common):
// Joliet's without trailing dots, relaxed ones in lower case.
func (f *fsys) lookupKey(name string) string {
	if f.joliet != 0 {
		name = string(bytes.TrimRight([]byte(name), "."))
	}
	if f.opts.check == 'r' {
		b := []byte(name)
		for i, c := range b {
			if c >= 'A' && c <= 'Z' {
				b[i] = c | 0x20
			}
		}
		name = string(b)
	}
	return name
}

// dirIndex maps a directory's lookup keys to the position of the record
// an inode is read from: Linux's linear search answered by one scan.
type dirIndex struct {
	names map[string]int64
}

// maxIndexed bounds the names the mount's indexes hold together; past
// it they are dropped and built again as needed.
const maxIndexed = 1 << 18

// index returns the directory's index, built by one scan.
func (f *fsys) index(ip *inode) (*dirIndex, error) {
	key := ip.sections[0].start
	f.imu.Lock()
	idx := f.indexes[key]
	f.imu.Unlock()
	if idx != nil {
		return idx, nil
	}
	idx = &dirIndex{names: make(map[string]int64)}
	s := ip.scanner(0)
	var name []byte
	for {
		r, _, dev, ok, err := s.nextRecord()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		if r.IsDot() || r.IsDotDot() || f.hidden(&r) {
			continue
		}
		var show bool
		name, show = f.recordName(name[:0], &r)
		if !show {
			continue
		}
		k := f.lookupKey(string(name))
		if _, dup := idx.names[k]; !dup {
			idx.names[k] = f.recordPos(&r, dev)
		}
	}
	f.imu.Lock()
	defer f.imu.Unlock()
	if f.indexed+len(idx.names) > maxIndexed {
		clear(f.indexes)
		f.indexed = 0
	}
	f.indexes[key] = idx
	f.indexed += len(idx.names)
	return idx, nil
}
