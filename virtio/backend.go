package virtio

import "errors"

// Backend is the host side of a block device: where its bytes live.
// Offsets and lengths are in bytes; the device has checked them against
// Size. Implementations are safe for concurrent use on distinct ranges.
type Backend interface {
	// ReadAt fills bufs, in order, from off. Bytes past the end of the
	// underlying file read as zeros.
	ReadAt(bufs [][]byte, off int64) error
	// WriteAt writes bufs, in order, at off.
	WriteAt(bufs [][]byte, off int64) error
	// Flush makes completed writes durable (fdatasync).
	Flush() error
	// Discard deallocates n bytes from off, which then read as zeros
	// (punch a hole). It returns an error matching errors.ErrUnsupported
	// when the host cannot.
	Discard(off, n int64) error
	// WriteZeroes makes n bytes from off read as zeros, keeping them
	// allocated.
	WriteZeroes(off, n int64) error
	// SeekData returns the first offset >= off holding data, or Size()
	// if there is none (lseek SEEK_DATA).
	SeekData(off int64) (int64, error)
	// SeekHole returns the first offset >= off in a hole; the end of the
	// device counts as one (lseek SEEK_HOLE).
	SeekHole(off int64) (int64, error)
	// Size is the capacity in bytes.
	Size() int64
	// ReadOnly reports that writes are refused (and the host file was
	// opened read-only).
	ReadOnly() bool
	// Close releases the backend.
	Close() error
}

// ErrReadOnly is returned by a read-only backend asked to change data.
var ErrReadOnly = errors.New("virtio: backend is read-only")

// totalLen is the total length of bufs.
func totalLen(bufs [][]byte) int64 {
	var n int64
	for _, b := range bufs {
		n += int64(len(b))
	}
	return n
}
