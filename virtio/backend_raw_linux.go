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

// sendTo is sendfile(2) from the image at off to dst's file position, in
// chunks of at most 1 GiB, waiting (poll) when dst is a non-blocking
// pipe that is full. To a pipe the host moves page references, not bytes
// (splice_file_to_pipe). Errors are sorted by side: EIO and ENOMEM are
// the image's; EINVAL, ESPIPE, ENOSYS and EOPNOTSUPP before anything was
// sent mean the host cannot send to dst (errors.ErrUnsupported); the
// rest (EPIPE, ENOSPC, EBADF, ...) are dst's, as a *SinkError.
func sendTo(r *RawFile, dst Sink, off, n int64) (int64, error) {
	out := int(dst.Fd())
	var done int64
	for done < n {
		pos := off + done
		k, err := unix.Sendfile(out, int(r.fd), &pos, int(min(n-done, 1<<30)))
		if k > 0 {
			done += int64(k)
		}
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			pfd := []unix.PollFd{{Fd: int32(out), Events: unix.POLLOUT}}
			if _, perr := unix.Poll(pfd, -1); perr != nil && perr != unix.EINTR {
				return done, &SinkError{Err: perr}
			}
			continue
		case err == unix.EIO || err == unix.ENOMEM:
			return done, fmt.Errorf("virtio: sendfile at %d: %w", pos, err)
		case (err == unix.EINVAL || err == unix.ESPIPE || err == unix.ENOSYS || err == unix.EOPNOTSUPP) && done == 0:
			return 0, fmt.Errorf("virtio: sendfile: %w (%w)", errors.ErrUnsupported, err)
		case err != nil:
			return done, &SinkError{Err: err}
		case k == 0:
			return done, nil // the image file ended
		}
	}
	return done, nil
}
