package vfs

import "github.com/lklimg/lklimg/kernel/abi"

// Sendfile: a regular file's data sent to a host descriptor without
// passing through the caller's memory, or the page cache (the kernel's
// sendfile(2) to a descriptor of the host; see Kernel.Sendfile). The
// driver maps the file's blocks to the device, the block device has its
// disk's host side send them (kernel/block/sendfile.go).

// BlockSender is implemented by block devices that can send a range of
// their bytes to a host descriptor (kernel/block.Device).
type BlockSender interface {
	// SendTo sends n bytes from off to dst and returns how many it
	// sent; fewer without an error means the device's image ended.
	// Errors: EOPNOTSUPP when it cannot (nothing sent),
	// *abi.HostWriteError when dst failed, EIO.
	SendTo(dst abi.HostFile, off, n int64) (int64, error)
}

// FileSender is implemented by regular files whose data can be sent to a
// host descriptor (file_operations.splice_read, for sendfile).
type FileSender interface {
	// SendTo sends up to n bytes of the file from off to dst and returns
	// how many it sent, 0 at or past the end of the file. It may stop
	// early at data that does not lie on the device as is (a hole, an
	// unwritten extent, inline data), where a read gets it: it then
	// returns EOPNOTSUPP if it sent nothing. Other errors: as
	// BlockSender's.
	SendTo(dst abi.HostFile, off, n int64) (int64, error)
}

// Sendfile sends up to n bytes from the file's offset to dst and
// advances the offset by the bytes sent; 0 at the end of the file.
//
// A block device's file sends its own bytes when it is a BlockSender (a
// read-only disk's: kernel/block), as Linux's sendfile reads a block
// device through its page cache.
//
// Errors: EBADF for an O_PATH or write-only file; EINVAL for anything
// but a regular file or a block device; EOPNOTSUPP when the driver or
// the device cannot send the data at the offset (read(2) can);
// *abi.HostWriteError when dst failed; what the driver returns.
func (f *File) Sendfile(dst abi.HostFile, n int64) (int64, error) {
	if err := f.readable(); err != nil {
		return 0, err
	}
	if f.dev != nil && n >= 0 {
		s, ok := f.dev.(BlockSender)
		if !ok {
			return 0, abi.Errorf(abi.EOPNOTSUPP, "the device cannot send its bytes")
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		k, err := s.SendTo(dst, f.pos, n)
		if k < 0 || k > n {
			return 0, abi.Errorf(abi.EIO, "device sent %d of %d bytes", k, n)
		}
		f.pos += k
		return k, err
	}
	if f.dev != nil || f.d.IsDir() || n < 0 {
		return 0, abi.EINVAL
	}
	s, ok := f.d.inode.(FileSender)
	if !ok {
		return 0, abi.Errorf(abi.EOPNOTSUPP, "the filesystem cannot send a file's data")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	k, err := s.SendTo(dst, f.pos, n)
	if k < 0 || k > n {
		return 0, abi.Errorf(abi.EIO, "driver sent %d of %d bytes", k, n)
	}
	f.pos += k
	return k, err
}
