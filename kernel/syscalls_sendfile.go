package kernel

import "github.com/lklimg/lklimg/kernel/abi"

// Sendfile is sendfile(2) with its output a descriptor of the host (a
// pipe, a file: abi.HostFile, such as *os.File) instead of one of the
// kernel's: it sends up to count bytes from the file position of the
// regular file in to out, at out's own position, and advances in's
// position by the bytes sent. The bytes go from the image file to out on
// the host (sendfile there: a pipe gets references to the host's page
// cache), never through the caller's memory or the kernel's page cache.
// It returns 0 at the end of the file, and may send fewer bytes than
// asked, stopping where the data does not lie on the disk as it is read
// (a hole, an unwritten extent, inline data): Read gets that part.
//
// Only a filesystem on a disk that refuses writes can send (the page
// cache of a writable one may be newer than the image), and only where
// the driver reads the disk as is (not through a journal replayed in
// memory); elsewhere Sendfile fails with EOPNOTSUPP and Read works.
//
// Errors: EBADF for a descriptor not open, O_PATH or write-only; EINVAL
// for anything but a regular file, or a negative count; EOPNOTSUPP as
// above, when nothing was sent; *abi.HostWriteError (wrapping the host's
// errno, EPIPE...) when out failed; EIO when the image did.
func (k *Kernel) Sendfile(out abi.HostFile, in int, count int64) (int64, error) {
	f, err := k.fds.Get(in)
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	return f.Sendfile(out, count)
}
