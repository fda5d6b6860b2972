package abi

// FileHandle is struct file_handle as name_to_handle_at(2) fills it
// (include/linux/fs.h): the filesystem's type of handle and its opaque
// bytes (handle_bytes of them), which identify an inode of the
// filesystem for as long as it lives, across mounts and reboots.
type FileHandle struct {
	Type  int32
	Bytes []byte
}

// Handle types (enum fid_type, include/linux/exportfs.h) and the
// largest handle (MAX_HANDLE_SZ, include/linux/exportfs.h).
const (
	// FILEID_INO32_GEN: a 32-bit inode number then a 32-bit
	// generation, each in the host's order (little-endian here), as
	// generic_encode_ino32_fh writes them.
	FILEID_INO32_GEN = 1
	MAX_HANDLE_SZ    = 128
)
