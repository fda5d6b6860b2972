package squashfs

import (
	"encoding/binary"

	sq "github.com/lklimg/lklimg/format/squashfs"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// EncodeFH returns an inode's file handle (vfs.Exporter) as Linux gives
// it: an image with an export table has s_export_op (fs/squashfs/export.c,
// no encode_fh of its own), so name_to_handle_at(2) gets the generic
// FILEID_INO32_GEN handle, the inode number and a generation of 0; an
// image without one has none, and the call fails with EOPNOTSUPP.
func (f *fsys) EncodeFH(ino vfs.Inode) (abi.FileHandle, error) {
	if f.sb.LookupTableStart == sq.InvalidBlk || f.sb.Flags&sq.FlagExport == 0 {
		return abi.FileHandle{}, abi.EOPNOTSUPP
	}
	b := make([]byte, 8)
	binary.LittleEndian.PutUint32(b, uint32(ino.Ino()))
	return abi.FileHandle{Type: abi.FILEID_INO32_GEN, Bytes: b}, nil
}
