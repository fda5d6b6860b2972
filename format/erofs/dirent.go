package erofs

import "github.com/lklimg/lklimg/kernel/abi"

// Directory blocks (struct erofs_dirent, erofs_fs.h). A directory's data
// is a run of blocks, the last maybe partial (the directory's size ends
// it). Each block begins with an array of 12-byte entries:
//
//	0 nid u64   8 nameoff u16   10 file_type u8   11 reserved u8
//
// and the names follow, not NUL-terminated, each from its nameoff to the
// next entry's (the last to its first NUL or the block's end, or the
// directory's). The first entry's nameoff is therefore the array's
// size: nameoff/12 entries. Entries are sorted by name.
const DirentSize = 12

// File types (EROFS_FT_*, Linux's FT_*).
const (
	FTUnknown = 0
	FTRegFile = 1
	FTDir     = 2
	FTChrdev  = 3
	FTBlkdev  = 4
	FTFifo    = 5
	FTSock    = 6
	FTSymlink = 7
)

// Dirent is one directory entry of a block: Name is a slice of the block.
type Dirent struct {
	Nid      uint64
	Name     []byte
	FileType uint8
}

// DirBlock is one decoded directory block (a view of its bytes).
type DirBlock struct {
	b []byte
	n int // entries
}

// DecodeDirBlock checks the directory block b (maxsize bytes: a whole
// block, or what of the last block the size covers) as erofs_readdir and
// erofs_fill_dentries do: the first nameoff covers whole entries and
// lies in the block, every nameoff follows the one before, and every name
// is 1 to 255 bytes. Errors are EUCLEAN.
func DecodeDirBlock(b []byte) (DirBlock, error) {
	if len(b) < DirentSize {
		return DirBlock{}, abi.Errorf(abi.EUCLEAN, "erofs: directory block of %d bytes", len(b))
	}
	nameoff := int(le.Uint16(b[8:]))
	if nameoff < DirentSize || nameoff >= len(b) || nameoff%DirentSize != 0 {
		return DirBlock{}, abi.Errorf(abi.EUCLEAN, "erofs: invalid de[0].nameoff %d", nameoff)
	}
	d := DirBlock{b: b, n: nameoff / DirentSize}
	prev := nameoff
	for i := 0; i < d.n; i++ {
		off := int(le.Uint16(b[i*DirentSize+8:]))
		end := len(b)
		if i+1 < d.n {
			end = int(le.Uint16(b[(i+1)*DirentSize+8:]))
		}
		if off < prev || end < off || end > len(b) {
			return DirBlock{}, abi.Errorf(abi.EUCLEAN, "erofs: bogus dirent %d: nameoff %d to %d in %d bytes", i, off, end, len(b))
		}
		if i+1 == d.n {
			end = lastNameEnd(b, off)
		}
		if end == off || end-off > NameLen {
			return DirBlock{}, abi.Errorf(abi.EUCLEAN, "erofs: bogus dirent %d: name of %d bytes", i, end-off)
		}
		prev = off
	}
	return d, nil
}

// Len returns the number of entries.
func (d DirBlock) Len() int { return d.n }

// Entry returns entry i (0 <= i < Len()).
func (d DirBlock) Entry(i int) Dirent {
	p := d.b[i*DirentSize:]
	off := int(le.Uint16(p[8:]))
	end := len(d.b)
	if i+1 < d.n {
		end = int(le.Uint16(p[DirentSize+8:]))
	} else {
		end = lastNameEnd(d.b, off)
	}
	return Dirent{Nid: le.Uint64(p), Name: d.b[off:end], FileType: p[10]}
}

// lastNameEnd returns where the block's last name, from off, ends: at its
// first NUL or the block's end (strnlen in erofs_fill_dentries).
func lastNameEnd(b []byte, off int) int {
	for i := off; i < len(b); i++ {
		if b[i] == 0 {
			return i
		}
	}
	return len(b)
}

// DType returns the DT_* of an EROFS_FT_* (fs_ftype_to_dtype: the same
// values as every Linux filesystem's FT_*).
func DType(ft uint8) uint8 { return abi.FtypeToDT(ft) }
