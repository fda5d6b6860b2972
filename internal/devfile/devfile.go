// Package devfile is the userspace side of a block device for the tools
// that write filesystems (mkfs, the cut to size, the journal adder): a
// file descriptor of the library kernel on /dev/vda or /dev/vdaN, used as
// an io.ReaderAt and io.WriterAt, as e2fsprogs' unix_io uses a descriptor
// of a Linux block device. Everything it does is a syscall (Openat,
// Pread, Pwrite, Fsync and the block device ioctls), so a tool on it
// reaches the image through the block layer and virtio, and works on any
// partition of any disk format.
//
// It lives here, not in package kernel, because it is userspace: a tool
// imports it the way a C program links libc, and it sees the kernel only
// through Syscalls, so it cannot reach past the syscalls (the imports go
// cmd -> tools -> devfile -> kernel/abi; the kernel never imports it).
// It is internal so that its shape may follow the tools that move onto it.
package devfile

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/lklimg/lklimg/kernel/abi"
)

// Syscalls is what a device file needs of the kernel: *kernel.Kernel has
// these methods.
type Syscalls interface {
	Openat(dirfd int, path string, flags int, mode uint32) (int, error)
	Close(fd int) error
	Pread(fd int, p []byte, off int64) (int, error)
	Pwrite(fd int, p []byte, off int64) (int, error)
	Lseek(fd int, off int64, whence int) (int64, error)
	Sendfile(out abi.HostFile, in int, count int64) (int64, error)
	Fsync(fd int) error
	Fallocate(fd int, mode uint32, off, n int64) error
	BlkGetSize64(fd int) (uint64, error)
	BlkDiscard(fd int, off, n uint64) error
	BlkZeroout(fd int, off, n uint64) error
}

// File is an open block device. Its methods may be called concurrently,
// as preads and pwrites on one descriptor may.
type File struct {
	sys    Syscalls
	fd     int
	path   string
	size   int64
	sendMu sync.Mutex // SendTo moves the descriptor's offset
}

var (
	_ io.ReaderAt = (*File)(nil)
	_ io.WriterAt = (*File)(nil)
)

// Open opens the block device dev ("vda2" or "/dev/vda2") with open(2)'s
// flags: abi.O_RDWR|abi.O_EXCL for a tool that writes a filesystem and
// must not find the device mounted, abi.O_RDONLY to read it.
//
// Errors: ENOENT for a device the kernel does not have; ENOTTY if the
// path is not a block device; EBUSY for O_EXCL on a device that is
// mounted or held, or whose disk or partition is; the errno is kept, with
// the path, for errors.Is.
func Open(sys Syscalls, dev string, flags int) (*File, error) {
	path := dev
	if !strings.HasPrefix(path, "/") {
		path = "/dev/" + dev
	}
	fd, err := sys.Openat(abi.AT_FDCWD, path, flags, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	size, err := sys.BlkGetSize64(fd)
	if err != nil {
		sys.Close(fd)
		return nil, fmt.Errorf("%s: BLKGETSIZE64: %w", path, err)
	}
	return &File{sys: sys, fd: fd, path: path, size: int64(size)}, nil
}

// Fd returns the file descriptor, for the syscalls File does not wrap.
func (f *File) Fd() int { return f.fd }

// Path returns the device's path ("/dev/vda2").
func (f *File) Path() string { return f.path }

// Size returns the device's size in bytes.
func (f *File) Size() int64 { return f.size }

// SendTo sends n bytes of the device from off to out at out's file
// position, by sendfile(2) on the device: the kernel has the disk's host
// side copy them (a read-only disk's: kernel/block SendTo), never
// through the page cache or this process's memory. It returns the bytes
// sent, which may be fewer than n where the image does not hold the
// bytes as they are (a compressed cluster): a read gets those. Errors:
// EOPNOTSUPP (nothing sent: read instead), *abi.HostWriteError (out
// failed). Calls are serialised: they move the descriptor's offset.
func (f *File) SendTo(out abi.HostFile, off, n int64) (int64, error) {
	f.sendMu.Lock()
	defer f.sendMu.Unlock()
	if _, err := f.sys.Lseek(f.fd, off, abi.SEEK_SET); err != nil {
		return 0, fmt.Errorf("%s: lseek to %d: %w", f.path, off, err)
	}
	return f.sys.Sendfile(out, f.fd, n)
}

// NextData returns the next run of the device's data at or after off,
// [start, end), by lseek's SEEK_DATA and SEEK_HOLE: the rest reads as
// zeros. No data after off is start == end == Size(). The kernel says
// the holes of a read-only disk's image; elsewhere all is data.
func (f *File) NextData(off int64) (start, end int64, err error) {
	if off >= f.size {
		return f.size, f.size, nil
	}
	start, err = f.sys.Lseek(f.fd, off, abi.SEEK_DATA)
	if errors.Is(err, abi.ENXIO) {
		return f.size, f.size, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("%s: SEEK_DATA at %d: %w", f.path, off, err)
	}
	if end, err = f.sys.Lseek(f.fd, start, abi.SEEK_HOLE); err != nil {
		return 0, 0, fmt.Errorf("%s: SEEK_HOLE at %d: %w", f.path, start, err)
	}
	return start, end, nil
}

// ReadAt reads len(p) bytes from off, as io.ReaderAt: a read that reaches
// the end of the device returns the bytes before it and io.EOF.
// Errors: EIO and what Pread returns, with the path and offset.
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	done := 0
	for done < len(p) {
		n, err := f.sys.Pread(f.fd, p[done:], off+int64(done))
		done += n
		if err != nil {
			return done, fmt.Errorf("%s: read at %d: %w", f.path, off+int64(done), err)
		}
		if n == 0 {
			return done, io.EOF
		}
	}
	return done, nil
}

// WriteAt writes p at off, as io.WriterAt: all of it, or the count before
// an error. The data reaches the disk at Sync or Close.
// Errors: ENOSPC for the part past the end of the device; EPERM on a
// read-only disk; EIO; with the path and offset.
func (f *File) WriteAt(p []byte, off int64) (int, error) {
	done := 0
	for done < len(p) {
		n, err := f.sys.Pwrite(f.fd, p[done:], off+int64(done))
		done += n
		if err != nil {
			return done, fmt.Errorf("%s: write at %d: %w", f.path, off+int64(done), err)
		}
		if n == 0 {
			return done, fmt.Errorf("%s: write at %d: %w", f.path, off+int64(done), io.ErrShortWrite)
		}
	}
	return done, nil
}

// Sync makes what was written durable (fsync(2): the disk's dirty pages
// are written and the disk flushed). Errors: EIO.
func (f *File) Sync() error {
	if err := f.sys.Fsync(f.fd); err != nil {
		return fmt.Errorf("%s: fsync: %w", f.path, err)
	}
	return nil
}

// Discard discards n bytes from off (BLKDISCARD), which then read as
// zeros; the image file gets a hole. off and n are multiples of 512.
// Errors: EINVAL for a range not of whole sectors or past the end;
// EOPNOTSUPP; EIO.
func (f *File) Discard(off, n int64) error {
	if off < 0 || n < 0 {
		return abi.Errorf(abi.EINVAL, "%s: discard of %d bytes at %d", f.path, n, off)
	}
	if err := f.sys.BlkDiscard(f.fd, uint64(off), uint64(n)); err != nil {
		return fmt.Errorf("%s: discard of %d bytes at %d: %w", f.path, n, off, err)
	}
	return nil
}

// Zeroout makes n bytes from off read as zeros (BLKZEROOUT). off and n
// are multiples of 512. Errors: as Discard.
func (f *File) Zeroout(off, n int64) error {
	if off < 0 || n < 0 {
		return abi.Errorf(abi.EINVAL, "%s: zeroout of %d bytes at %d", f.path, n, off)
	}
	if err := f.sys.BlkZeroout(f.fd, uint64(off), uint64(n)); err != nil {
		return fmt.Errorf("%s: zeroout of %d bytes at %d: %w", f.path, n, off, err)
	}
	return nil
}

// ZeroUnmap makes n bytes from off read as zeros by deallocating them
// (fallocate(2) FALLOC_FL_WRITE_ZEROES): a raw image file gets a hole,
// at no cost whatever n is. It is how a tool asks for what mke2fs gets
// from discarding a regular file: a device that reads as zeros. off and
// n are multiples of 512.
// Errors: EOPNOTSUPP when the disk cannot deallocate what it zeroes (a
// host block device; then nothing changed); EINVAL; EIO.
func (f *File) ZeroUnmap(off, n int64) error {
	if err := f.sys.Fallocate(f.fd, abi.FALLOC_FL_WRITE_ZEROES, off, n); err != nil {
		return fmt.Errorf("%s: write zeroes (unmap) of %d bytes at %d: %w", f.path, n, off, err)
	}
	return nil
}

// Close closes the descriptor: what was written reaches the disk (not
// necessarily its platter: Sync for that), and an O_EXCL hold ends.
func (f *File) Close() error {
	if err := f.sys.Close(f.fd); err != nil {
		return fmt.Errorf("%s: close: %w", f.path, err)
	}
	return nil
}
