//go:build darwin || freebsd

package virtio

import (
	"errors"

	"golang.org/x/sys/unix"
)

// Holes on macOS and FreeBSD: lseek(2) SEEK_DATA and SEEK_HOLE (APFS, ZFS,
// UFS); a filesystem without them (EINVAL) is all data. Punching is
// hostPunch's (backend_raw_holes_darwin.go, _freebsd.go).

func punchHole(r *RawFile, off, n int64) error { return hostPunch(r, off, n) }

// zeroRange is a punched hole: it reads as zeros, which is all WRITE
// ZEROES asks.
func zeroRange(r *RawFile, off, n int64) error { return hostPunch(r, off, n) }

// seekData is SEEK_DATA; past the last data (ENXIO) there is none until
// the end of the device.
func seekData(r *RawFile, off int64) (int64, error) {
	d, err := unix.Seek(int(r.fd), off, unix.SEEK_DATA)
	switch {
	case errors.Is(err, unix.ENXIO):
		return r.size, nil
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOTSUP):
		return off, nil // no SEEK_DATA here: all data
	}
	return d, err
}

// seekHole is SEEK_HOLE; at or past the file's end (ENXIO) the device
// reads zeros, a hole.
func seekHole(r *RawFile, off int64) (int64, error) {
	h, err := unix.Seek(int(r.fd), off, unix.SEEK_HOLE)
	switch {
	case errors.Is(err, unix.ENXIO):
		return off, nil
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOTSUP):
		return r.size, nil
	}
	return h, err
}
