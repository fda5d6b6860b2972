package ext4

import (
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// EncodeFH returns the file handle of an inode (vfs.Exporter), as
// ext4_export_ops' encode_fh, generic_encode_ino32_fh (fs/libfs.c), makes
// it without a parent: FILEID_INO32_GEN, the inode number then
// i_generation, two 32-bit words in the host's order, which is
// little-endian for the ABI the kernel speaks.
func (f *fsys) EncodeFH(ino vfs.Inode) (abi.FileHandle, error) {
	ip, ok := f.toInode(ino)
	if !ok {
		return abi.FileHandle{}, abi.Errorf(abi.EINVAL, "ext4: encode_fh of an inode of another filesystem")
	}
	defer f.rlock()()
	b := make([]byte, 8)
	le.PutUint32(b, ip.ino)
	le.PutUint32(b[4:], ip.generation)
	return abi.FileHandle{Type: abi.FILEID_INO32_GEN, Bytes: b}, nil
}
