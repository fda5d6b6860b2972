//go:build linux || darwin

package fusefs

import (
	"context"
	"math"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/lklimg/lklimg/kernel/abi"
)

// handle is an open file or directory of the host: a descriptor of the
// kernel, closed when the host releases it.
type handle struct {
	srv *server
	fd  int

	// Directories: getdents64 records read and not yet handed out.
	buf  []byte
	ents []abi.Dirent
}

var (
	_ fs.NodeOpener         = (*node)(nil)
	_ fs.NodeOpendirHandler = (*node)(nil)
	_ fs.NodeReader         = (*node)(nil)
	_ fs.NodeLseeker        = (*node)(nil)
	_ fs.NodeFlusher        = (*node)(nil)
	_ fs.NodeCopyFileRanger = (*node)(nil)

	_ fs.FileReader       = (*handle)(nil)
	_ fs.FileWriter       = (*handle)(nil)
	_ fs.FileFlusher      = (*handle)(nil)
	_ fs.FileReleaser     = (*handle)(nil)
	_ fs.FileFsyncer      = (*handle)(nil)
	_ fs.FileAllocater    = (*handle)(nil)
	_ fs.FileLseeker      = (*handle)(nil)
	_ fs.FileReaddirenter = (*handle)(nil)
	_ fs.FileSeekdirer    = (*handle)(nil)
	_ fs.FileReleasedirer = (*handle)(nil)
	_ fs.FileFsyncdirer   = (*handle)(nil)
)

// openFlags are the flags of the kernel's open for FUSE's (the host's
// numbers, kernelOpenFlags): the access mode and the flags that change what the descriptor does. O_APPEND is left
// to the host, which sends each append at the end it knows; O_TRUNC has
// already been a setattr (no FUSE_ATOMIC_O_TRUNC); O_CREAT and O_EXCL are
// Create's.
func openFlags(flags uint32) int {
	flags = kernelOpenFlags(flags)
	const keep = abi.O_ACCMODE | abi.O_SYNC | abi.O_DSYNC | abi.O_NOATIME | abi.O_DIRECTORY | abi.O_NOFOLLOW | abi.O_LARGEFILE
	return int(flags)&keep | abi.O_CLOEXEC
}

// fileOpenFlags are the FOPEN_ flags of an open file: the host's page
// cache may keep what it read (FOPEN_KEEP_CACHE), as the file changes
// only through this server, and no FUSE_FLUSH is sent at each close
// (FOPEN_NOFLUSH, Linux 5.13), since Flush has nothing to do: a third of
// the requests of reading a tree through the mount.
const fileOpenFlags = fuse.FOPEN_KEEP_CACHE | fuse.FOPEN_NOFLUSH

// Open is FUSE_OPEN: openat(2) of the path; ENOSYS for a read with
// Options.NoOpen, which tells the host to send no more opens of files.
func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	n.srv.names.RLock()
	defer n.srv.names.RUnlock()
	if n.srv.noOpen && kernelOpenFlags(flags)&abi.O_ACCMODE == abi.O_RDONLY {
		return nil, 0, syscall.ENOSYS
	}
	fd, err := n.srv.k.Openat(abi.AT_FDCWD, n.path(), openFlags(flags)|abi.O_NOFOLLOW, 0)
	if err != nil {
		return nil, 0, errno(err)
	}
	return n.srv.newHandle(fd), fileOpenFlags, 0
}

// OpendirHandle is FUSE_OPENDIR.
func (n *node) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	n.srv.names.RLock()
	defer n.srv.names.RUnlock()
	fd, err := n.srv.k.Openat(abi.AT_FDCWD, n.path(), abi.O_RDONLY|abi.O_DIRECTORY|abi.O_CLOEXEC, 0)
	if err != nil {
		return nil, 0, errno(err)
	}
	return n.srv.newHandle(fd), fuse.FOPEN_KEEP_CACHE, 0
}

// Read is FUSE_READ on the open file f, or (Options.NoOpen) on the file
// n names, opened by its path for this read.
func (n *node) Read(ctx context.Context, f fs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if h, ok := f.(*handle); ok {
		return h.Read(ctx, dest, off)
	}
	h, e := n.openForRead()
	if e != 0 {
		return nil, e
	}
	defer h.Release(ctx)
	return h.Read(ctx, dest, off)
}

// Lseek is FUSE_LSEEK on f, or (Options.NoOpen) on the file n names.
func (n *node) Lseek(ctx context.Context, f fs.FileHandle, off uint64, whence uint32) (uint64, syscall.Errno) {
	if h, ok := f.(*handle); ok {
		return h.Lseek(ctx, off, whence)
	}
	h, e := n.openForRead()
	if e != 0 {
		return 0, e
	}
	defer h.Release(ctx)
	return h.Lseek(ctx, off, whence)
}

// CopyFileRange is FUSE_COPY_FILE_RANGE: copy_file_range(2) between the
// two open files, in the kernel, so the data never crosses to the host
// and back. Without open files (Options.NoOpen: a read-only mount, where
// the host refuses the write side first) ENOSYS, which makes the host
// copy by reads and writes.
func (n *node) CopyFileRange(ctx context.Context, fhIn fs.FileHandle, offIn uint64, out *fs.Inode, fhOut fs.FileHandle,
	offOut uint64, size uint64, flags uint64) (uint32, syscall.Errno) {
	in, ok1 := fhIn.(*handle)
	dst, ok2 := fhOut.(*handle)
	if !ok1 || !ok2 {
		return 0, syscall.ENOSYS
	}
	if offIn > math.MaxInt64 || offOut > math.MaxInt64 || flags > math.MaxUint32 {
		return 0, syscall.EINVAL
	}
	pi, po := int64(offIn), int64(offOut)
	// A FUSE reply counts in 32 bits.
	m, err := n.srv.k.CopyFileRange(in.fd, &pi, dst.fd, &po, int64(min(size, math.MaxUint32&^0xfff)), uint32(flags))
	return uint32(m), errno(err)
}

// Flush is FUSE_FLUSH on f; without one (Options.NoOpen) ENOSYS, which
// tells the host to send no more flushes.
func (n *node) Flush(ctx context.Context, f fs.FileHandle) syscall.Errno {
	if h, ok := f.(*handle); ok {
		return h.Flush(ctx)
	}
	return syscall.ENOSYS
}

// openForRead opens the file n names for reading, for a request that
// came without an open file (Options.NoOpen).
func (n *node) openForRead() (*handle, syscall.Errno) {
	n.srv.names.RLock()
	defer n.srv.names.RUnlock()
	fd, err := n.srv.k.Openat(abi.AT_FDCWD, n.path(), abi.O_RDONLY|abi.O_NOFOLLOW|abi.O_CLOEXEC, 0)
	if err != nil {
		return nil, errno(err)
	}
	return n.srv.newHandle(fd), 0
}

// Read is FUSE_READ: pread(2).
func (h *handle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	m, err := h.srv.k.Pread(h.fd, dest, off)
	if err != nil {
		return nil, errno(err)
	}
	return fuse.ReadResultData(dest[:m]), 0
}

// Write is FUSE_WRITE: pwrite(2).
func (h *handle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	m, err := h.srv.k.Pwrite(h.fd, data, off)
	return uint32(m), errno(err)
}

// Flush is FUSE_FLUSH, sent at each close(2) of a host descriptor: the
// kernel's descriptor stays open until the release, and its data reaches
// the image at the next commit, as after a close on Linux.
func (h *handle) Flush(ctx context.Context) syscall.Errno { return 0 }

// Release is FUSE_RELEASE: the last host descriptor of the open file is
// gone.
func (h *handle) Release(ctx context.Context) syscall.Errno {
	return errno(h.close())
}

// Fsync is FUSE_FSYNC: fsync(2), or fdatasync(2) for FUSE_FSYNC_FDATASYNC.
func (h *handle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	if flags&1 != 0 {
		return errno(h.srv.k.Fdatasync(h.fd))
	}
	return errno(h.srv.k.Fsync(h.fd))
}

// Allocate is FUSE_FALLOCATE: fallocate(2) with its mode.
func (h *handle) Allocate(ctx context.Context, off, size uint64, mode uint32) syscall.Errno {
	return errno(h.srv.k.Fallocate(h.fd, kernelFallocateMode(mode), int64(off), int64(size)))
}

// Lseek is FUSE_LSEEK: SEEK_DATA and SEEK_HOLE find the image's holes.
func (h *handle) Lseek(ctx context.Context, off uint64, whence uint32) (uint64, syscall.Errno) {
	pos, err := h.srv.k.Lseek(h.fd, int64(off), int(kernelWhence(whence)))
	return uint64(pos), errno(err)
}

// Readdirent hands out the next entry of getdents64, whose d_off is the
// position after it, the offset FUSE wants with each entry.
func (h *handle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	if len(h.ents) == 0 {
		if h.buf == nil {
			h.buf = make([]byte, 32<<10)
		}
		m, err := h.srv.k.Getdents64(h.fd, h.buf)
		if err != nil {
			return nil, errno(err)
		}
		if m == 0 {
			return nil, 0
		}
		h.ents = abi.ParseDirents(h.buf[:m], h.ents[:0])
	}
	d := h.ents[0]
	h.ents = h.ents[1:]
	return &fuse.DirEntry{Name: d.Name, Ino: d.Ino, Mode: uint32(d.Type) << 12, Off: uint64(d.Off)}, 0
}

// Seekdir moves to a position an entry's offset gave.
func (h *handle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	h.ents = h.ents[:0]
	_, err := h.srv.k.Lseek(h.fd, int64(off), abi.SEEK_SET)
	return errno(err)
}

// Releasedir is FUSE_RELEASEDIR.
func (h *handle) Releasedir(ctx context.Context, flags uint32) { h.close() }

// Fsyncdir is FUSE_FSYNCDIR.
func (h *handle) Fsyncdir(ctx context.Context, flags uint32) syscall.Errno {
	return h.Fsync(ctx, flags)
}
