// Package kernel is the library kernel: Boot it with a Config, add disks,
// mount their filesystems and use them through Linux-like syscalls that
// return Linux errno values (package abi). It is the idea of the Linux
// Kernel Library in Go: a virtio-blk disk, a block layer with a page cache,
// a VFS and filesystem drivers, all inside the process and bounded by
// Config.Memory.
//
// Every syscall is safe for concurrent callers.
package kernel

import (
	"io"

	"github.com/lklimg/lklimg/kernel/abi"
)

// DefaultMemory is the kernel's memory when Config.Memory is zero, as LKL's
// default mem=.
const DefaultMemory = 32 << 20

// Config describes the kernel to boot.
type Config struct {
	// Memory is the size of the kernel's whole memory in bytes: the page
	// cache and the virtqueues live in it. Zero means DefaultMemory.
	Memory int64
	// Printk, when set, receives the kernel log as it is written, a line
	// at a time (LKL's printk on stderr). The log is kept in a ring buffer
	// either way (Kernel.Dmesg).
	Printk io.Writer
}

// DiskOptions describes a disk to attach.
type DiskOptions struct {
	// ReadOnly opens the image file read-only and offers the disk as
	// VIRTIO_BLK_F_RO: nothing is ever written to the file.
	ReadOnly bool
}

// Kernel is a booted library kernel.
type Kernel struct {
	cfg Config
}

// Boot starts a kernel.
func Boot(cfg Config) (*Kernel, error) {
	if cfg.Memory == 0 {
		cfg.Memory = DefaultMemory
	}
	return &Kernel{cfg: cfg}, nil
}

// Halt unmounts every filesystem, stops the devices and releases the
// kernel's memory. The Kernel is not used afterwards.
func (k *Kernel) Halt() error { return abi.ENOSYS }

// AddDisk attaches the image file at path as the next virtio disk and
// returns its device name ("vda"); its partitions appear as "vda1", ...
func (k *Kernel) AddDisk(path string, opts DiskOptions) (string, error) { return "", abi.ENOSYS }

// Partitions returns the names of the partitions found on disk ("vda1",
// ...), in table order; none for a disk without a partition table.
func (k *Kernel) Partitions(disk string) ([]string, error) { return nil, abi.ENOSYS }

// Probe returns the filesystem type found on the block device dev ("vda1"),
// from its superblock magic, or ENODEV ("unknown filesystem type").
func (k *Kernel) Probe(dev string) (string, error) { return "", abi.ENOSYS }

// Mount is mount(2): it mounts the filesystem on block device source
// ("/dev/vda1") of type fstype ("" probes it) on the directory target.
func (k *Kernel) Mount(source, target, fstype string, flags uint64, data string) error {
	return abi.ENOSYS
}

// MountDev mounts block device dev ("vda1") on a new directory /mnt/<dev>,
// as LKL's lkl_mount_dev does, and returns that directory.
func (k *Kernel) MountDev(dev, fstype string, flags uint64, data string) (string, error) {
	return "", abi.ENOSYS
}

// Umount is umount2(2).
func (k *Kernel) Umount(target string, flags int) error { return abi.ENOSYS }

// Openat is openat(2) and returns a file descriptor.
func (k *Kernel) Openat(dirfd int, path string, flags int, mode uint32) (int, error) {
	return -1, abi.ENOSYS
}

// Close is close(2).
func (k *Kernel) Close(fd int) error { return abi.ENOSYS }

// Read is read(2): 0 bytes and a nil error at the end of the file.
func (k *Kernel) Read(fd int, p []byte) (int, error) { return 0, abi.ENOSYS }

// Pread is pread64(2).
func (k *Kernel) Pread(fd int, p []byte, off int64) (int, error) { return 0, abi.ENOSYS }

// Lseek is lseek(2), with SEEK_DATA and SEEK_HOLE.
func (k *Kernel) Lseek(fd int, off int64, whence int) (int64, error) { return 0, abi.ENOSYS }

// Getdents64 is getdents64(2): it fills buf with linux_dirent64 records
// (abi.ParseDirents decodes them) and returns the bytes used, 0 at the end.
func (k *Kernel) Getdents64(fd int, buf []byte) (int, error) { return 0, abi.ENOSYS }

// Fstatat is newfstatat(2).
func (k *Kernel) Fstatat(dirfd int, path string, st *abi.Stat, flags int) error {
	return abi.ENOSYS
}

// Statx is statx(2).
func (k *Kernel) Statx(dirfd int, path string, flags int, mask uint32, stx *abi.Statx) error {
	return abi.ENOSYS
}

// Readlinkat is readlinkat(2): it returns the bytes of the target copied
// into buf, truncated to len(buf) as Linux does.
func (k *Kernel) Readlinkat(dirfd int, path string, buf []byte) (int, error) {
	return 0, abi.ENOSYS
}

// Getxattr is getxattr(2): with an empty dest it returns the value's size;
// ERANGE if dest is too small; ENODATA if there is no such attribute.
func (k *Kernel) Getxattr(path, name string, dest []byte) (int, error) { return 0, abi.ENOSYS }

// Lgetxattr is lgetxattr(2): Getxattr without following a final symlink.
func (k *Kernel) Lgetxattr(path, name string, dest []byte) (int, error) { return 0, abi.ENOSYS }

// Listxattr is listxattr(2): NUL-terminated names; with an empty dest it
// returns the size needed; ERANGE if dest is too small.
func (k *Kernel) Listxattr(path string, dest []byte) (int, error) { return 0, abi.ENOSYS }

// Llistxattr is llistxattr(2).
func (k *Kernel) Llistxattr(path string, dest []byte) (int, error) { return 0, abi.ENOSYS }

// Dmesg returns the kernel log kept in the ring buffer.
func (k *Kernel) Dmesg() string { return "" }
