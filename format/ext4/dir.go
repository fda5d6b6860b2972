package ext4

import (
	"encoding/binary"

	"github.com/lklimg/lklimg/kernel/abi"
)

// Linear directories (Documentation/filesystems/ext4/directory.rst,
// "Linear (Classic) Directories"): each block is a chain of struct
// ext4_dir_entry_2 {inode u32, rec_len u16, name_len u8, file_type u8,
// name}, or without the filetype feature struct ext4_dir_entry with a
// 16-bit name_len; the last entry's rec_len reaches the end of the block.
// With metadata_csum each leaf block ends in struct ext4_dir_entry_tail, a
// fake entry {0, 12, 0, 0xDE, checksum}.
const (
	DirentHeaderSize = 8
	DirTailSize      = 12
	DirTailFt        = 0xDE
	MaxRecLen        = 65535 // EXT4_MAX_REC_LEN
)

// Dirent is a decoded struct ext4_dir_entry_2; name aliases the block.
type Dirent struct {
	Inode  uint32
	RecLen uint32
	Name   []byte
	Ftype  uint8
}

// RecLenFromDisk decodes rec_len (ext4_rec_len_from_disk): with 64 KiB
// blocks 65535 or 0 mean the whole block and the low two bits carry bits
// 16-17.
func RecLenFromDisk(v uint16, blockSize uint32) uint32 {
	if blockSize < 65536 {
		return uint32(v)
	}
	if v == MaxRecLen || v == 0 {
		return blockSize
	}
	return uint32(v&65532) | uint32(v&3)<<16
}

// DirRecLen is EXT4_DIR_REC_LEN: the room an entry with a name of n bytes
// needs.
func DirRecLen(n int) uint32 { return uint32(n+DirentHeaderSize+3) &^ 3 }

// ParseDirBlock calls fn for each entry of a directory block (inode 0
// included) with its offset, checking each as ext4_check_dir_entry does. It
// stops when fn returns false. filetype says whether file_type is valid.
func ParseDirBlock(b []byte, blockSize uint32, filetype bool, fn func(off int, d Dirent) bool) error {
	off := 0
	for off < len(b) {
		d, err := DecodeDirent(b, off, blockSize, filetype)
		if err != nil {
			return err
		}
		if !fn(off, d) {
			return nil
		}
		off += int(d.RecLen)
	}
	return nil
}

// DecodeDirent decodes the entry at off in directory block b with the
// checks of ext4_check_dir_entry.
func DecodeDirent(b []byte, off int, blockSize uint32, filetype bool) (Dirent, error) {
	if len(b)-off < DirentHeaderSize {
		return Dirent{}, abi.Errorf(abi.EUCLEAN, "entry at offset %d: truncated", off)
	}
	e := b[off:]
	d := Dirent{
		Inode:  binary.LittleEndian.Uint32(e[0:]),
		RecLen: RecLenFromDisk(binary.LittleEndian.Uint16(e[4:]), blockSize),
	}
	nameLen := int(e[6])
	if filetype {
		d.Ftype = e[7]
	}
	switch {
	case d.RecLen < DirRecLen(1):
		return d, abi.Errorf(abi.EUCLEAN, "entry at offset %d: rec_len is smaller than minimal (%d)", off, d.RecLen)
	case d.RecLen%4 != 0:
		return d, abi.Errorf(abi.EUCLEAN, "entry at offset %d: rec_len %% 4 != 0 (%d)", off, d.RecLen)
	case d.RecLen < DirRecLen(nameLen):
		return d, abi.Errorf(abi.EUCLEAN, "entry at offset %d: rec_len %d is too small for name_len %d", off, d.RecLen, nameLen)
	case uint64(off)+uint64(d.RecLen) > uint64(len(b)):
		return d, abi.Errorf(abi.EUCLEAN, "entry at offset %d: directory entry overrun (rec_len %d)", off, d.RecLen)
	case off+int(d.RecLen) > len(b)-int(DirRecLen(1)) && off+int(d.RecLen) != len(b):
		// No room for another entry after this one, yet it does
		// not reach the end.
		return d, abi.Errorf(abi.EUCLEAN, "entry at offset %d: directory entry too close to block end (rec_len %d)", off, d.RecLen)
	case off+int(d.RecLen) == len(b) && nameLen == 1 && e[DirentHeaderSize] == '.':
		return d, abi.Errorf(abi.EUCLEAN, "entry at offset %d: '.' directory cannot be the last in data block", off)
	}
	d.Name = e[DirentHeaderSize : DirentHeaderSize+nameLen]
	return d, nil
}

// IsDirTail reports whether the last 12 bytes of b are struct
// ext4_dir_entry_tail.
func IsDirTail(b []byte) bool {
	if len(b) < DirTailSize {
		return false
	}
	t := b[len(b)-DirTailSize:]
	le := binary.LittleEndian
	return le.Uint32(t[0:]) == 0 && le.Uint16(t[4:]) == DirTailSize && t[6] == 0 && t[7] == DirTailFt
}

func IsDot(name []byte) bool {
	return len(name) == 1 && name[0] == '.' || len(name) == 2 && name[0] == '.' && name[1] == '.'
}

// Positions in an inline directory (ext4_read_inline_dir): "." at 0, ".."
// at EXT4_DIR_REC_LEN(1), and an entry at byte o of the inline data (i_block
// then system.data) at o plus inlineDirShift, as if "." and ".." took
// their usual 24 bytes in place of the 4-byte parent inode number.
const (
	InlineDotdotPos = 12
	InlineDirShift  = 24 - 4
)

// RecLenToDisk encodes rec_len (ext4_rec_len_to_disk): a whole 64 KiB
// block is 65535.
func RecLenToDisk(n uint32) uint16 {
	if n >= 65536 {
		return MaxRecLen
	}
	return uint16(n)
}

const (
	InlineDotdotSize = 4      // EXT4_INLINE_DOTDOT_SIZE: the parent in i_block[0..3]
	XattrRound       = 3      // EXT4_XATTR_ROUND
	InlineDataName   = "data" // EXT4_XATTR_SYSTEM_DATA, in the "system." index
)
