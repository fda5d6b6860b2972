package virtio

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// RawFile is a Backend over a raw image file: byte n of the disk is byte n
// of the file. Its capacity is the file's size when opened, rounded down to
// whole sectors; bytes past the file's end (it may shrink) read as zeros.
// The host calls are in backend_raw_linux.go and, for every other system,
// backend_raw_other.go.
type RawFile struct {
	f     *os.File
	fd    uintptr // f.Fd(), taken once; f keeps it open
	ro    bool
	size  int64
	zeros []byte // a run of zeros to write when the host cannot zero a range; never written
	// unsafe: Flush does not flush (SetCacheUnsafe).
	unsafe bool
}

// SetCacheUnsafe makes Flush a no-op, as QEMU's cache=unsafe ignores the
// guest's flushes: writes still reach the file (the host's page cache)
// when they complete, but nothing waits for the host's disk. For images
// built from scratch, where a crash means building again.
func (r *RawFile) SetCacheUnsafe() { r.unsafe = true }

// OpenRaw opens the image at path. A read-only backend opens the file
// O_RDONLY, so nothing can ever be written to it.
func OpenRaw(path string, readOnly bool) (*RawFile, error) {
	flag := os.O_RDWR
	if readOnly {
		flag = os.O_RDONLY
	}
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	size := st.Size()
	switch {
	case st.Mode().IsRegular():
	case st.Mode()&os.ModeDevice != 0 && st.Mode()&os.ModeCharDevice == 0:
		// A host block device: its size is where a seek to the end lands.
		if size, err = f.Seek(0, io.SeekEnd); err != nil {
			f.Close()
			return nil, err
		}
	default:
		f.Close()
		return nil, fmt.Errorf("virtio: %s: not a regular file or block device", path)
	}
	return &RawFile{f: f, fd: f.Fd(), ro: readOnly, size: size &^ (SectorSize - 1),
		zeros: make([]byte, 1<<16)}, nil
}

// ReadAt implements Backend.
func (r *RawFile) ReadAt(bufs [][]byte, off int64) error {
	n, err := preadv(r, bufs, off)
	if err != nil {
		return err
	}
	// Short: the file ended. The rest of the disk reads as zeros.
	for _, b := range bufs {
		if n >= int64(len(b)) {
			n -= int64(len(b))
			continue
		}
		clear(b[n:])
		n = 0
	}
	return nil
}

// WriteAt implements Backend.
func (r *RawFile) WriteAt(bufs [][]byte, off int64) error {
	if r.ro {
		return ErrReadOnly
	}
	return pwritev(r, bufs, off)
}

// Flush implements Backend.
func (r *RawFile) Flush() error {
	if r.ro || r.unsafe {
		return nil
	}
	return datasync(r)
}

// Discard implements Backend.
func (r *RawFile) Discard(off, n int64) error {
	if r.ro {
		return ErrReadOnly
	}
	return punchHole(r, off, n)
}

// WriteZeroes implements Backend: the host zeroes the range in place if it
// can, else zeros are written.
func (r *RawFile) WriteZeroes(off, n int64) error {
	if r.ro {
		return ErrReadOnly
	}
	err := zeroRange(r, off, n)
	if !errors.Is(err, errors.ErrUnsupported) {
		return err
	}
	for n > 0 {
		k := min(n, int64(len(r.zeros)))
		if err := pwritev(r, [][]byte{r.zeros[:k]}, off); err != nil {
			return err
		}
		off += k
		n -= k
	}
	return nil
}

// SeekData implements Backend.
func (r *RawFile) SeekData(off int64) (int64, error) {
	if off >= r.size {
		return r.size, nil
	}
	d, err := seekData(r, off)
	return min(d, r.size), err
}

// SeekHole implements Backend.
func (r *RawFile) SeekHole(off int64) (int64, error) {
	if off >= r.size {
		return r.size, nil
	}
	h, err := seekHole(r, off)
	return min(h, r.size), err
}

// Size implements Backend.
func (r *RawFile) Size() int64 { return r.size }

// ReadOnly implements Backend.
func (r *RawFile) ReadOnly() bool { return r.ro }

// Close implements Backend.
func (r *RawFile) Close() error { return r.f.Close() }
