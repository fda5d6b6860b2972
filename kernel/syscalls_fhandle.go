package kernel

import (
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// NameToHandleAt is name_to_handle_at(2): the file handle of path's
// inode and the ID of the mount it is on (mount_id). flags may hold
// AT_SYMLINK_FOLLOW (the handle of what a final symlink points to, not
// of the link) and AT_EMPTY_PATH (an empty path names dirfd itself,
// which may be an O_PATH descriptor). ext4 hands out FILEID_INO32_GEN
// handles; the ramfs at "/" none, as Linux's ramfs. The handle is
// returned whole: there is no handle_bytes to negotiate (EOVERFLOW).
//
// Errors: EINVAL for other flags (AT_HANDLE_FID and the newer ones
// included: first); EBADF/ENOTDIR for a bad dirfd; the walk's ENOENT
// (for an empty path without AT_EMPTY_PATH), ENOTDIR, ELOOP,
// ENAMETOOLONG; EOPNOTSUPP for a filesystem without file handles.
func (k *Kernel) NameToHandleAt(dirfd int, path string, flags int) (fh abi.FileHandle, mountID int, err error) {
	if flags&^(abi.AT_SYMLINK_FOLLOW|abi.AT_EMPTY_PATH) != 0 {
		return abi.FileHandle{}, 0, abi.EINVAL
	}
	wf := vfs.WalkNoFollow
	if flags&abi.AT_SYMLINK_FOLLOW != 0 {
		wf = 0
	}
	if flags&abi.AT_EMPTY_PATH != 0 {
		wf |= vfs.WalkEmptyPath
	}
	d, err := k.walkAt(dirfd, path, wf)
	if err != nil {
		return abi.FileHandle{}, 0, err
	}
	defer k.vfs.Put(d)
	return k.vfs.EncodeFH(d)
}
