package squashfs

import (
	"io"

	"github.com/lklimg/lklimg/kernel/abi"
)

// Directory listings (squashfs_fs.h's squashfs_dir_header,
// squashfs_dir_entry and squashfs_dir_index): a listing is a run of
// headers, each followed by 1 to 256 entries whose inodes lie in one
// metadata block of the inode table, sorted by name.

// Sizes and limits of the directory structures.
const (
	DirHeaderSize = 12
	DirEntrySize  = 8   // without the name
	DirIndexSize  = 12  // without the name
	DirCount      = 256 // SQUASHFS_DIR_COUNT: the most entries under one header
)

// DirHeader is struct squashfs_dir_header: Count entries follow (stored
// less one), their inodes in the metadata block StartBlock, their inode
// numbers relative to InodeNumber.
type DirHeader struct {
	Count       uint32
	StartBlock  uint32
	InodeNumber uint32
}

// DecodeDirHeader decodes a directory header, checking its count as
// squashfs_readdir does.
func DecodeDirHeader(p []byte) (DirHeader, error) {
	if len(p) < DirHeaderSize {
		return DirHeader{}, abi.Errorf(abi.EIO, "squashfs: directory header truncated")
	}
	h := DirHeader{Count: le.Uint32(p) + 1, StartBlock: le.Uint32(p[4:]), InodeNumber: le.Uint32(p[8:])}
	if h.Count > DirCount || h.Count == 0 {
		return h, abi.Errorf(abi.EIO, "squashfs: directory header of %d entries", h.Count)
	}
	return h, nil
}

// DirEntry is struct squashfs_dir_entry: the inode at Offset in its
// header's block, number InodeNumber + header's, of basic type Type.
type DirEntry struct {
	Offset      uint16
	InodeNumber int16 // from the header's
	Type        uint16
	Name        []byte
}

// DecodeDirEntry reads an entry from r, its name into name (which must
// hold NameLen bytes), and checks its name's length and its type. The
// fixed part is read into name too, so that nothing escapes to the heap
// through r: a directory walk decodes an entry without allocating.
func DecodeDirEntry(r io.Reader, name []byte) (DirEntry, error) {
	if len(name) < NameLen {
		return DirEntry{}, abi.Errorf(abi.EINVAL, "squashfs: directory entry name buffer of %d bytes", len(name))
	}
	p := name[:DirEntrySize]
	if _, err := io.ReadFull(r, p); err != nil {
		return DirEntry{}, readErr("directory entry", err)
	}
	e := DirEntry{Offset: le.Uint16(p), InodeNumber: int16(le.Uint16(p[2:])), Type: le.Uint16(p[4:])}
	size := int(le.Uint16(p[6:])) + 1
	if size > NameLen {
		return e, abi.Errorf(abi.EIO, "squashfs: directory entry name of %d bytes", size)
	}
	if e.Type < TypeDir || e.Type > TypeSocket {
		return e, abi.Errorf(abi.EIO, "squashfs: directory entry of type %d", e.Type)
	}
	if _, err := io.ReadFull(r, name[:size]); err != nil {
		return e, readErr("directory entry name", err)
	}
	e.Name = name[:size]
	return e, nil
}

// DirIndex is struct squashfs_dir_index, an extended directory's index
// entry: the header at byte Index of the listing starts the metadata
// block StartBlock, and its first entry is Name.
type DirIndex struct {
	Index      uint32
	StartBlock uint32
	Name       []byte
}

// DecodeDirIndex reads an index entry from r, its name into name (which
// must hold NameLen bytes; the fixed part is read there first, as
// DecodeDirEntry's).
func DecodeDirIndex(r io.Reader, name []byte) (DirIndex, error) {
	if len(name) < NameLen {
		return DirIndex{}, abi.Errorf(abi.EINVAL, "squashfs: directory index name buffer of %d bytes", len(name))
	}
	p := name[:DirIndexSize]
	if _, err := io.ReadFull(r, p); err != nil {
		return DirIndex{}, readErr("directory index", err)
	}
	x := DirIndex{Index: le.Uint32(p), StartBlock: le.Uint32(p[4:])}
	size := int(le.Uint32(p[8:])) + 1
	if size > NameLen || size <= 0 {
		return x, abi.Errorf(abi.EIO, "squashfs: directory index name of %d bytes", size)
	}
	if _, err := io.ReadFull(r, name[:size]); err != nil {
		return x, readErr("directory index name", err)
	}
	x.Name = name[:size]
	return x, nil
}
