package kernel

import (
	"github.com/lklimg/lklimg/kernel/abi"
)

// The write syscalls. Each follows its Linux man page: the flags it
// takes, the errno for each failure. They act as a task with root's
// capabilities whose owner for new files is Config.Uid/Gid, whose clock is
// Config.Now and whose umask is Umask's (022 at boot).
//
// STUBS: the signatures are the contract the tools (archive, hostcopy,
// cmd/cptofs) are written against; each returns ENOSYS until implemented.

// Write is write(2): at the file's offset, or at its end with O_APPEND.
func (k *Kernel) Write(fd int, p []byte) (int, error) { return 0, abi.ENOSYS }

// Pwrite is pwrite64(2). As on Linux, O_APPEND files write at the end
// whatever off says.
func (k *Kernel) Pwrite(fd int, p []byte, off int64) (int, error) { return 0, abi.ENOSYS }

// Ftruncate is ftruncate(2).
func (k *Kernel) Ftruncate(fd int, size int64) error { return abi.ENOSYS }

// Truncate is truncate(2).
func (k *Kernel) Truncate(path string, size int64) error { return abi.ENOSYS }

// Fallocate is fallocate(2): mode 0, FALLOC_FL_KEEP_SIZE,
// FALLOC_FL_PUNCH_HOLE|FALLOC_FL_KEEP_SIZE, FALLOC_FL_ZERO_RANGE.
func (k *Kernel) Fallocate(fd int, mode uint32, off, n int64) error { return abi.ENOSYS }

// Mknodat is mknodat(2): devices, FIFOs, sockets and regular files.
func (k *Kernel) Mknodat(dirfd int, path string, mode uint32, dev uint64) error { return abi.ENOSYS }

// Symlinkat is symlinkat(2).
func (k *Kernel) Symlinkat(target string, dirfd int, path string) error { return abi.ENOSYS }

// Linkat is linkat(2); flags may hold AT_SYMLINK_FOLLOW and AT_EMPTY_PATH.
func (k *Kernel) Linkat(olddirfd int, oldpath string, newdirfd int, newpath string, flags int) error {
	return abi.ENOSYS
}

// Unlinkat is unlinkat(2); AT_REMOVEDIR makes it rmdir.
func (k *Kernel) Unlinkat(dirfd int, path string, flags int) error { return abi.ENOSYS }

// Renameat2 is renameat2(2); flags: RENAME_NOREPLACE, RENAME_EXCHANGE.
func (k *Kernel) Renameat2(olddirfd int, oldpath string, newdirfd int, newpath string, flags uint32) error {
	return abi.ENOSYS
}

// Fchmodat is fchmodat(2) (flags: AT_SYMLINK_NOFOLLOW gives EOPNOTSUPP
// on a symlink, as Linux's fchmodat2 does).
func (k *Kernel) Fchmodat(dirfd int, path string, mode uint32, flags int) error { return abi.ENOSYS }

// Fchmod is fchmod(2).
func (k *Kernel) Fchmod(fd int, mode uint32) error { return abi.ENOSYS }

// Fchownat is fchownat(2): -1 leaves the owner or group unchanged; flags:
// AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH.
func (k *Kernel) Fchownat(dirfd int, path string, uid, gid int, flags int) error { return abi.ENOSYS }

// Fchown is fchown(2).
func (k *Kernel) Fchown(fd int, uid, gid int) error { return abi.ENOSYS }

// Utimensat is utimensat(2): times nil sets both to now; a Nsec of
// UTIME_NOW or UTIME_OMIT means now or unchanged. flags:
// AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH.
func (k *Kernel) Utimensat(dirfd int, path string, times *[2]abi.Timespec, flags int) error {
	return abi.ENOSYS
}

// Futimens is futimens(3).
func (k *Kernel) Futimens(fd int, times *[2]abi.Timespec) error { return abi.ENOSYS }

// Setxattr is setxattr(2); flags: XATTR_CREATE, XATTR_REPLACE.
func (k *Kernel) Setxattr(path, name string, value []byte, flags int) error { return abi.ENOSYS }

// Lsetxattr is lsetxattr(2).
func (k *Kernel) Lsetxattr(path, name string, value []byte, flags int) error { return abi.ENOSYS }

// Fsetxattr is fsetxattr(2).
func (k *Kernel) Fsetxattr(fd int, name string, value []byte, flags int) error { return abi.ENOSYS }

// Removexattr is removexattr(2).
func (k *Kernel) Removexattr(path, name string) error { return abi.ENOSYS }

// Lremovexattr is lremovexattr(2).
func (k *Kernel) Lremovexattr(path, name string) error { return abi.ENOSYS }

// Fremovexattr is fremovexattr(2).
func (k *Kernel) Fremovexattr(fd int, name string) error { return abi.ENOSYS }

// Fsync is fsync(2).
func (k *Kernel) Fsync(fd int) error { return abi.ENOSYS }

// Fdatasync is fdatasync(2).
func (k *Kernel) Fdatasync(fd int) error { return abi.ENOSYS }

// Syncfs is syncfs(2): it syncs the filesystem fd is on.
func (k *Kernel) Syncfs(fd int) error { return abi.ENOSYS }

// Sync is sync(2): every writable filesystem is synced, and every disk
// flushed. Unlike Linux's, it returns the first error.
func (k *Kernel) Sync() error { return abi.ENOSYS }

// Umask is umask(2): it sets the mask and returns the old one.
func (k *Kernel) Umask(mask uint32) uint32 { return 0o022 }
