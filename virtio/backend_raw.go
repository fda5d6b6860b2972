package virtio

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// RawFile is a Backend over a raw image file: byte n of the disk is byte n
// of the file. Its capacity is the file's size when opened, rounded down to
// whole sectors; bytes past the file's end (it may shrink) read as zeros.
// The host calls are in backend_raw_linux.go and, for every other system,
// backend_raw_other.go.
type RawFile struct {
	f  *os.File
	fd uintptr // f.Fd(), taken once; f keeps it open
	ro bool
	// regular: a regular file (not a host block device), which can be
	// resized and whose holes read as zeros.
	regular bool
	size    int64
	// sector is a host disk's own sector size when it is larger than a
	// virtio sector (a 4Kn disk): its I/O must be aligned to it, which
	// the portable calls do through a buffer (backend_raw_other.go).
	sector  int64
	alignMu sync.Mutex
	aligned []byte // alignedIO's buffer
	zeros   []byte // a run of zeros to write when the host cannot zero a range; never written
	// sparseOnce marks the file sparse before its first hole (Windows).
	sparseOnce sync.Once
	// unsafe: Flush does not flush (SetCacheUnsafe).
	unsafe bool
}

// SetCacheUnsafe makes Flush a no-op, as QEMU's cache=unsafe ignores the
// guest's flushes: writes still reach the file (the host's page cache)
// when they complete, but nothing waits for the host's disk. For images
// built from scratch, where a crash means building again.
func (r *RawFile) SetCacheUnsafe() { r.unsafe = true }

// RawOptions says how OpenRawFile opens an image file.
type RawOptions struct {
	// ReadOnly opens the file O_RDONLY, so nothing can ever be written
	// to it.
	ReadOnly bool
	// Create makes the file if it does not exist (O_CREAT, mode 0644
	// less the host's umask), Truncate cuts it to nothing first
	// (O_TRUNC); both need a writable backend.
	Create, Truncate bool
	// Size, when larger than a regular file, extends it to Size bytes
	// (a sparse file: the new part is a hole, which reads as zeros).
	// A larger file, and a block device, keep their size.
	Size int64
}

// OpenRaw opens the image at path, read-only or not (OpenRawFile).
func OpenRaw(path string, readOnly bool) (*RawFile, error) {
	return OpenRawFile(path, RawOptions{ReadOnly: readOnly})
}

// OpenRawFile opens the image at path as o says: a regular file or a
// host block device.
func OpenRawFile(path string, o RawOptions) (*RawFile, error) {
	flag := os.O_RDWR
	switch {
	case o.ReadOnly && (o.Create || o.Truncate || o.Size > 0):
		return nil, fmt.Errorf("virtio: %s: a read-only image cannot be created, truncated or extended", path)
	case o.ReadOnly:
		flag = os.O_RDONLY
	}
	if o.Create {
		flag |= os.O_CREATE
	}
	if o.Truncate {
		flag |= os.O_TRUNC
	}
	f, err := os.OpenFile(path, flag, 0o644)
	if err != nil {
		return nil, err
	}
	// A disk as the host names it where it is not a block device of
	// Linux's kind (\\.\PhysicalDriveN on Windows, /dev/rdiskN on
	// macOS): its size and sector from the host's ioctls.
	if size, sector, ok, err := hostDisk(f, path); ok || err != nil {
		if err != nil {
			f.Close()
			return nil, err
		}
		return &RawFile{f: f, fd: f.Fd(), ro: o.ReadOnly, size: size &^ (max(sector, SectorSize) - 1),
			sector: sector, zeros: make([]byte, 1<<16)}, nil
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	size := st.Size()
	regular := st.Mode().IsRegular()
	switch {
	case regular:
	case st.IsDir():
		f.Close()
		return nil, &os.PathError{Op: "open", Path: path, Err: ErrIsDir}
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
	r := &RawFile{f: f, fd: f.Fd(), ro: o.ReadOnly, regular: regular, size: size &^ (SectorSize - 1),
		zeros: make([]byte, 1<<16)}
	if err := r.grow(o.Size); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// ErrIsDir is OpenRawFile's refusal of a directory (which a read-only
// open(2) would accept), as the host's EISDIR for a writable one.
var ErrIsDir = errors.New("is a directory")

// grow extends a regular file shorter than n bytes to n, sparse (the new
// part is a hole, which reads as zeros); a larger file, and a block
// device, keep their size.
func (r *RawFile) grow(n int64) error {
	if !r.regular {
		return nil
	}
	st, err := r.f.Stat()
	if err != nil || n <= st.Size() {
		return err
	}
	if r.ro {
		return fmt.Errorf("virtio: %s: a read-only image cannot be extended", r.f.Name())
	}
	if err := r.f.Truncate(n); err != nil {
		return err
	}
	r.size = n &^ (SectorSize - 1)
	return nil
}

// CanUnmap reports whether Discard deallocates, so that a discarded
// range reads as zeros at no cost: a regular file's holes do; what a host
// block device does with a discard is not known.
func (r *RawFile) CanUnmap() bool { return r.regular && !r.ro }

// Resize makes the file n bytes long (ftruncate: a cut drops the bytes
// past n, a growth adds a hole), as a host's `truncate -s` or `qemu-img
// resize` of a raw image does; the capacity becomes n rounded down to
// whole sectors. Only a writable regular file can be resized: a block
// device's size is the hardware's (errors.ErrUnsupported).
func (r *RawFile) Resize(n int64) error {
	if !r.regular || r.ro {
		return fmt.Errorf("virtio: resize a block device or a read-only image: %w", errors.ErrUnsupported)
	}
	if err := r.f.Truncate(n); err != nil {
		return err
	}
	r.size = n &^ (SectorSize - 1)
	return nil
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
	err := punchHole(r, off, n)
	if errors.Is(err, errors.ErrUnsupported) && r.regular && off+n >= r.size {
		// A host without hole punching (backend_raw_other.go) can
		// still drop a file's tail: cut it at off and extend it back.
		err = r.dropTail(off)
	}
	return err
}

// dropTail makes the file's bytes from off read as zeros by cutting it
// there and extending it back to its size, which leaves a hole.
func (r *RawFile) dropTail(off int64) error {
	st, err := r.f.Stat()
	if err != nil {
		return err
	}
	if err := r.f.Truncate(off); err != nil {
		return err
	}
	return r.f.Truncate(st.Size())
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
	return r.writeZeros(off, n)
}

// writeZeros writes n zero bytes at off.
func (r *RawFile) writeZeros(off, n int64) error {
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

// SendTo implements Sender: the host's sendfile(2) where it has one
// (backend_raw_linux.go), else errors.ErrUnsupported.
func (r *RawFile) SendTo(dst Sink, off, n int64) (int64, error) { return sendTo(r, dst, off, n) }
