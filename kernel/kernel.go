// Package kernel is the library kernel: Boot it with a Config, add disks,
// mount their filesystems and use them through Linux-like syscalls that
// return Linux errno values (package abi). It is the idea of the Linux
// Kernel Library in Go: a virtio-blk disk, a block layer with a page cache,
// a VFS and filesystem drivers, all inside the process and bounded by
// Config.Memory.
//
// # The process
//
// The kernel serves one process: one fd table (lowest free descriptor
// first, at most Config.MaxFiles), and a working directory, the root of
// the namespace until Chdir, where AT_FDCWD and relative paths start.
// The *Kernel Boot returns is the process's first thread;
// Kernel.As makes others, each with its own credentials and umask (a
// Cred), sharing everything else: as a file server's threads, each
// serving another user after setfsuid, setfsgid and umask in its own
// fs_struct (virtiofsd, lklfuse). The
// namespace starts as a ramfs with /dev (a block device node per disk and
// partition, made by AddDisk) and /mnt (where MountDev mounts).
//
// # Writing
//
// A filesystem mounted without MS_RDONLY is writable unless its disk is
// read-only or its driver refuses (then it is mounted read-only and the
// log says why). The write syscalls (syscalls_write.go) act as root
// (no permission is checked), own new files by the calling thread's
// Cred (Config.Uid/Gid for the first thread; a set-group-ID directory's
// group and the directory's S_ISGID pass on as inode_init_owner says),
// apply its umask (Umask, 022 at boot; a default ACL on the directory
// replaces it) and stamp changes with Config.Now (so that images can be
// reproducible).
// Changes are durable after Fsync, Syncfs, Sync, Umount or Halt. The ramfs
// at "/" is writable too: files made there live in memory.
//
// # Errors
//
// Every syscall returns an abi.Errno, or an *abi.Error wrapping one with the
// reason, so errors.Is(err, abi.ENOENT) and errors.Is(err, fs.ErrNotExist)
// both work; abi.ErrnoOf extracts the number.
//
// # Concurrency
//
// Every syscall is safe for concurrent callers. The fd table has its own lock;
// each open file description has a mutex for its offset, so reads on one fd
// are serialised as read(2)'s are, while preads on it and reads on different
// fds run in parallel, down to the disk; path walks take the VFS's namespace
// lock only for short cache steps, never across a disk read (see package vfs
// for the lock order). AddDisk, Mount, MountDev, Umount and Halt are
// serialised with each other by one kernel mutex taken before any VFS lock.
// Halt must not race with other calls: the Kernel is not used after it.
package kernel

import (
	"io"
	"sync"
	"sync/atomic"

	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/mm"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// DefaultMemory is the kernel's memory when Config.Memory is zero, as LKL's
// default mem=.
const DefaultMemory = 32 << 20

// MaxFiles is the number of file descriptors the process may hold open
// (RLIMIT_NOFILE) when Config.MaxFiles is zero: openat returns EMFILE
// beyond it.
const MaxFiles = vfs.DefaultMaxFiles

// Config describes the kernel to boot.
type Config struct {
	// Memory is the size of the kernel's whole memory in bytes: the page
	// cache and the virtqueues live in it. Zero means DefaultMemory.
	Memory int64
	// Printk, when set, receives the kernel log as it is written, a line
	// at a time (LKL's printk on stderr). The log is kept in a ring buffer
	// either way (Kernel.Dmesg).
	Printk io.Writer
	// Now is the kernel's clock (current_time): the time stamp of every
	// change. Nil means the host's clock. A fixed clock (SOURCE_DATE_EPOCH)
	// makes images reproducible.
	Now func() abi.Timespec
	// Uid and Gid own the files the kernel's first thread creates (its
	// fsuid and fsgid); 0 is root. Kernel.As gives other threads others.
	Uid, Gid uint32
	// MaxFiles is RLIMIT_NOFILE: the most file descriptors open at once
	// (EMFILE beyond). Zero means MaxFiles.
	MaxFiles int
}

// DiskOptions describes a disk to attach.
type DiskOptions struct {
	// Format is the image file's format, a virtio backend's name:
	// "raw", or "" (as "auto") to probe it by its magic numbers. A file
	// in a format the kernel knows but has no backend for (VMDK, VHD,
	// VHDX, Android sparse) is refused (EMEDIUMTYPE, saying how to
	// convert it) rather than read as raw bytes; qcow2 is read, and
	// refused for writing.
	Format string
	// ReadOnly opens the image file read-only and offers the disk as
	// VIRTIO_BLK_F_RO: nothing is ever written to the file.
	ReadOnly bool
	// CacheUnsafe makes the disk's flush requests succeed without
	// flushing the image file to the host's disk (QEMU's cache=unsafe):
	// for an image built from scratch, which is thrown away if the build
	// is interrupted, so that nothing waits for the host's disk. What was
	// written is in the file when the kernel halts either way.
	CacheUnsafe bool
	// Create makes the image file if it does not exist (O_CREAT, mode
	// 0644 less the host's umask); Truncate cuts it to nothing first
	// (O_TRUNC). For the tools that make an image (mkfs, tar2fs).
	Create, Truncate bool
	// Size, when larger than the image file, extends it to Size bytes
	// as a sparse file (the disk then reads as zeros past the old end);
	// a larger file, or a host block device, keeps its size.
	// Kernel.ResizeDisk sets the size exactly.
	Size int64
}

// Cred is what a thread of the kernel's process makes inodes with: its
// fsuid and fsgid (struct cred) and its umask (fs_struct). Kernel.As
// takes one.
type Cred = vfs.Cred

// Kernel is a booted library kernel, as one thread of its process calls
// it: the system it shares with the other threads (mounts, fd table,
// page cache) and its own credentials (Boot's: Config.Uid/Gid and the
// umask 022; As makes others). Every syscall works on any thread.
type Kernel struct {
	*system
	uid, gid uint32        // fsuid and fsgid: the owner of new inodes
	umask    atomic.Uint32 // fs_struct.umask
}

// As returns a thread of k's process with the credentials and umask of
// c (as a file server's thread after setfsuid, setfsgid and umask): the
// inodes its syscalls make (Openat with O_CREAT, Mkdirat, Mknodat,
// Symlinkat, a RENAME_WHITEOUT's whiteout) are owned by c.Uid and c.Gid
// with c.Umask applied; every other call acts as the first thread's, as
// root. It shares everything else with k, costs one small allocation
// and may be dropped at any time; its Umask changes its own umask only.
func (k *Kernel) As(c Cred) *Kernel {
	t := &Kernel{system: k.system, uid: c.Uid, gid: c.Gid}
	t.umask.Store(c.Umask & 0o777)
	return t
}

// cred returns the calling thread's credentials for the VFS.
func (k *Kernel) cred() vfs.Cred {
	return vfs.Cred{Uid: k.uid, Gid: k.gid, Umask: k.umask.Load()}
}

// system is the state every thread of the kernel's process shares.
type system struct {
	cfg   Config
	log   *printk
	arena *mm.Arena // nil in tests without a block layer
	devs  devices
	vfs   *vfs.VFS
	fds   *vfs.FDTable

	// cwdMu guards cwd, the working directory (fs_struct.pwd) with its
	// reference; nil is the root.
	cwdMu sync.RWMutex
	cwd   *vfs.Dentry

	// mountMu serialises AddDisk, Mount, Umount and Halt, and guards
	// nextExt and halted, and devNames with devMu: a writer of
	// devNames holds both, a reader either (opens of device nodes take
	// devMu alone).
	mountMu  sync.Mutex
	devMu    sync.RWMutex
	devNames map[uint64]string // /dev node rdev -> device name
	nextExt  uint32            // next minor of the extended major
	halted   bool
}

// Dmesg returns the kernel log kept in the ring buffer (the last
// LogBufSize bytes, whole lines).
func (k *Kernel) Dmesg() string { return k.log.String() }

// Logger returns the kernel log as drivers see it; messages logged there
// appear in Dmesg.
func (k *Kernel) Logger() vfs.Logger { return k.log }
