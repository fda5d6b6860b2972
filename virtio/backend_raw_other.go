//go:build !linux

package virtio

import (
	"errors"
	"io"
)

// The portable host calls: os.File's ReadAt and WriteAt, a buffer at a
// time. Holes are each host's (backend_raw_holes_*.go): a host without a
// hole-punching call reports ErrUnsupported, and the device then writes
// zeros; one without SEEK_DATA reports the whole device as data.

func preadv(r *RawFile, bufs [][]byte, off int64) (int64, error) {
	if r.sector > SectorSize {
		return alignedIO(r, bufs, off, false)
	}
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
	if r.sector > SectorSize {
		_, err := alignedIO(r, bufs, off, true)
		return err
	}
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

func sendTo(r *RawFile, dst Sink, off, n int64) (int64, error) { return 0, errors.ErrUnsupported }

// alignedIO reads or writes bufs at off on a host disk whose sectors are
// larger than a virtio sector (r.sector: a 4Kn disk, which takes only
// whole sectors): each buffer goes through the whole sectors around it,
// read first, and for a write changed and written back. The buffer is
// r.aligned, kept between calls, under r.alignMu (a read-modify-write
// must not interleave with another on the same sector).
func alignedIO(r *RawFile, bufs [][]byte, off int64, write bool) (int64, error) {
	r.alignMu.Lock()
	defer r.alignMu.Unlock()
	var done int64
	for _, b := range bufs {
		start := off &^ (r.sector - 1)
		end := (off + int64(len(b)) + r.sector - 1) &^ (r.sector - 1)
		if int64(cap(r.aligned)) < end-start {
			r.aligned = make([]byte, end-start) // large: page-aligned by Go's allocator
		}
		a := r.aligned[:end-start]
		n, err := r.f.ReadAt(a, start)
		if err != nil && err != io.EOF {
			return done, err
		}
		clear(a[n:])
		if write {
			copy(a[off-start:], b)
			if _, err := r.f.WriteAt(a, start); err != nil {
				return done, err
			}
		} else {
			copy(b, a[off-start:])
		}
		done += int64(len(b))
		off += int64(len(b))
	}
	return done, nil
}
