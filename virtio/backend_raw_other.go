//go:build !linux

package virtio

import (
	"errors"
	"io"
)

// The portable host calls: os.File's ReadAt and WriteAt, a buffer at a
// time. Systems without a hole-punching call here report ErrUnsupported,
// and the device then writes zeros; SEEK_DATA/SEEK_HOLE are not assumed,
// so the whole device is reported as data.

func preadv(r *RawFile, bufs [][]byte, off int64) (int64, error) {
	var done int64
	for _, b := range bufs {
		n, err := r.f.ReadAt(b, off+done)
		done += int64(n)
		if err == io.EOF {
			return done, nil
		}
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

func pwritev(r *RawFile, bufs [][]byte, off int64) error {
	for _, b := range bufs {
		n, err := r.f.WriteAt(b, off)
		if err != nil {
			return err
		}
		off += int64(n)
	}
	return nil
}

func datasync(r *RawFile) error { return r.f.Sync() }

func punchHole(r *RawFile, off, n int64) error { return errors.ErrUnsupported }

func zeroRange(r *RawFile, off, n int64) error { return errors.ErrUnsupported }

func seekData(r *RawFile, off int64) (int64, error) { return off, nil }

func seekHole(r *RawFile, off int64) (int64, error) { return r.size, nil }

func sendTo(r *RawFile, dst Sink, off, n int64) (int64, error) { return 0, errors.ErrUnsupported }
