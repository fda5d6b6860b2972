package btrfs

import (
	"github.com/lklimg/lklimg/kernel/abi"
)

// A directory item (struct btrfs_dir_item), the data of DIR_ITEM (key
// (dir, DIR_ITEM, name hash)), DIR_INDEX (key (dir, DIR_INDEX, index))
// and XATTR_ITEM (key (ino, XATTR_ITEM, name hash)) items, 30 bytes and
// the name, then data_len bytes (an xattr's value):
//
//	 0 location (struct btrfs_disk_key)  17 transid u64
//	25 data_len u16  27 name_len u16  29 type u8
//
// A DIR_ITEM or XATTR_ITEM holds several when names share a hash.
const DirItemSize = 30

// File types (BTRFS_FT_*): a dir item's type, the low bits of it.
const (
	FtUnknown = 0
	FtRegFile = 1
	FtDir     = 2
	FtChrdev  = 3
	FtBlkdev  = 4
	FtFifo    = 5
	FtSock    = 6
	FtSymlink = 7
	FtXattr   = 8
	FtMax     = 9
	// FtMask keeps the type from the flags above it (BTRFS_FT_ENCRYPTED).
	FtMask = 0x0f
)

// DirItem is one decoded struct btrfs_dir_item with its name and data.
type DirItem struct {
	Location Key
	Transid  uint64
	Type     uint8
	Name     []byte
	Data     []byte
}

// DecodeDirItems decodes every dir item of an item's data, checking each
// name and data against the room (btrfs_check_dir_item): names of 1 to
// 255 bytes (xattr names up to XATTR_NAME_MAX), data only for xattrs.
func DecodeDirItems(b []byte) ([]DirItem, error) {
	var items []DirItem
	for len(b) > 0 {
		if len(b) < DirItemSize {
			return nil, abi.Errorf(abi.EUCLEAN, "btrfs: dir item cut at %d bytes", len(b))
		}
		d := DirItem{Location: DecodeKey(b), Transid: le.Uint64(b[17:]), Type: b[29]}
		dataLen, nameLen := int(le.Uint16(b[25:])), int(le.Uint16(b[27:]))
		typ := d.Type & FtMask
		if typ >= FtMax {
			return nil, abi.Errorf(abi.EUCLEAN, "btrfs: dir item: invalid type %d", d.Type)
		}
		max := NameLen
		if typ == FtXattr {
			max = 255 // XATTR_NAME_MAX
		} else if dataLen != 0 {
			return nil, abi.Errorf(abi.EUCLEAN, "btrfs: dir item: data_len %d for a non-xattr", dataLen)
		}
		if nameLen == 0 || nameLen > max {
			return nil, abi.Errorf(abi.EUCLEAN, "btrfs: dir item: name of %d bytes", nameLen)
		}
		if nameLen+dataLen > len(b)-DirItemSize {
			return nil, abi.Errorf(abi.EUCLEAN, "btrfs: dir item: name %d and data %d in %d bytes", nameLen, dataLen, len(b)-DirItemSize)
		}
		d.Name = b[DirItemSize : DirItemSize+nameLen]
		d.Data = b[DirItemSize+nameLen : DirItemSize+nameLen+dataLen]
		items = append(items, d)
		b = b[DirItemSize+nameLen+dataLen:]
	}
	return items, nil
}

// DType is the DT_* of a dir item's type (btrfs_type_by_mode's inverse,
// fs_ftype_to_dtype), its flag bits masked off.
func DType(ft uint8) uint8 { return abi.FtypeToDT(ft & FtMask) }
