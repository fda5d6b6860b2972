//go:build linux

package virtio

import (
	"errors"
	"fmt"
	"io"

	"golang.org/x/sys/unix"
)

// iovMax is the most iovecs one preadv/pwritev takes (Linux UIO_MAXIOV).
const iovMax = 1024

// preadv reads into bufs from off with preadv(2), straight into guest
// memory, and returns the bytes read; fewer than asked means end of file.
func preadv(r *RawFile, bufs [][]byte, off int64) (int64, error) {
	return vectored(r, bufs, off, false)
}

// pwritev writes bufs at off with pwritev(2).
func pwritev(r *RawFile, bufs [][]byte, off int64) error {
	_, err := vectored(r, bufs, off, true)
	return err
}

// vectored loops over short transfers without copying or reslicing bufs:
// whole buffers go by preadv/pwritev, the rest of a partly transferred one
// by pread/pwrite.
func vectored(r *RawFile, bufs [][]byte, off int64, write bool) (int64, error) {
	fd := int(r.fd)
	var done int64
	i, inner := 0, 0
	for {
		for i < len(bufs) && inner == len(bufs[i]) {
			i, inner = i+1, 0
		}
		if i == len(bufs) {
			return done, nil
		}
		var n int
		var err error
		switch {
		case inner == 0 && write:
			n, err = unix.Pwritev(fd, bufs[i:min(len(bufs), i+iovMax)], off+done)
		case inner == 0:
			n, err = unix.Preadv(fd, bufs[i:min(len(bufs), i+iovMax)], off+done)
		case write:
			n, err = unix.Pwrite(fd, bufs[i][inner:], off+done)
		default:
			n, err = unix.Pread(fd, bufs[i][inner:], off+done)
		}
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return done, fmt.Errorf("virtio: raw file at %d: %w", off+done, err)
		}
		if n == 0 {
			if write {
				return done, io.ErrShortWrite
			}
			return done, nil // end of file
		}
		done += int64(n)
		for n > 0 {
			k := len(bufs[i]) - inner
			if n < k {
				inner += n
				break
			}
			n -= k
			i, inner = i+1, 0
		}
	}
}

func datasync(r *RawFile) error { return unix.Fdatasync(int(r.fd)) }

// punchHole deallocates a range, keeping the file size
// (fallocate(2) FALLOC_FL_PUNCH_HOLE, which requires KEEP_SIZE).
func punchHole(r *RawFile, off, n int64) error {
	return fallocate(r, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
}

// zeroRange zeroes a range in place (FALLOC_FL_ZERO_RANGE).
func zeroRange(r *RawFile, off, n int64) error {
	return fallocate(r, unix.FALLOC_FL_ZERO_RANGE|unix.FALLOC_FL_KEEP_SIZE, off, n)
}

func fallocate(r *RawFile, mode uint32, off, n int64) error {
	for {
		err := unix.Fallocate(int(r.fd), mode, off, n)
		switch err {
		case nil:
			return nil
		case unix.EINTR:
			continue
		case unix.EOPNOTSUPP, unix.ENOSYS:
			return fmt.Errorf("virtio: fallocate %#x: %w (%w)", mode, errors.ErrUnsupported, err)
		}
		return fmt.Errorf("virtio: fallocate %#x at %d+%d: %w", mode, off, n, err)
	}
}

// seekData is lseek(2) SEEK_DATA; past the last data (ENXIO) there is
// none until the end of the device.
func seekData(r *RawFile, off int64) (int64, error) {
	d, err := unix.Seek(int(r.fd), off, unix.SEEK_DATA)
	if err == unix.ENXIO {
		return r.size, nil
	}
	return d, err
}

// seekHole is lseek(2) SEEK_HOLE; at or past the file's end (ENXIO) the
// device reads zeros, a hole.
func seekHole(r *RawFile, off int64) (int64, error) {
	h, err := unix.Seek(int(r.fd), off, unix.SEEK_HOLE)
	if err == unix.ENXIO {
		return off, nil
	}
	return h, err
}
