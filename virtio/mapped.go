package virtio

import (
	"errors"
	"fmt"
)

// The read-only image formats (qcow2, VMDK, VHD, VHDX, Android sparse)
// share one shape: the guest disk is a sequence of runs, each stored as is
// in a file (the image, an extent file, a backing image), made by the
// format (a compressed cluster, a fill value) or zeros. A format says what
// the run at an offset is (runAt); mapped gives it the Backend and Sender
// methods.

// run is what the guest bytes from an offset read as, for n bytes (n > 0).
type run struct {
	n    int64
	from Backend // the bytes are from's, at at; nil: fill's, or zeros
	at   int64
	// fill makes the run's bytes into part, for the guest bytes from
	// off (decompressed, a repeated value); nil with from nil: zeros.
	fill func(part [][]byte, off int64) error
}

// mapped is a read-only Backend and a Sender over a format's runAt.
type mapped struct {
	name    string // the format, for errors: "qcow2"
	size    int64  // the guest disk's, whole sectors
	runAt   func(off int64) (run, error)
	closers []interface{ Close() error }
}

// ReadAt implements Backend: the request walked a run at a time.
func (m *mapped) ReadAt(bufs [][]byte, off int64) error {
	var part [][]byte
	for len(bufs) > 0 {
		if off >= m.size {
			clearBufs(bufs)
			return nil
		}
		r, err := m.run(off)
		if err != nil {
			return err
		}
		part, bufs = cutBufs(part[:0], bufs, min(r.n, m.size-off))
		// Counted before the read: a backend reading part (a backing
		// image's ReadAt) may cut its slices.
		var got int64
		for _, b := range part {
			got += int64(len(b))
		}
		switch {
		case r.from != nil:
			err = r.from.ReadAt(part, r.at)
		case r.fill != nil:
			err = r.fill(part, off)
		default:
			clearBufs(part)
		}
		if err != nil {
			return err
		}
		off += got
	}
	return nil
}

// run is runAt with its length checked, so that a walk always advances.
func (m *mapped) run(off int64) (run, error) {
	r, err := m.runAt(off)
	if err == nil && r.n <= 0 {
		err = fmt.Errorf("virtio: %s: an empty run at %d", m.name, off)
	}
	return r, err
}

// SendTo implements Sender: the runs stored as is in a file that can
// send are sent from it; it stops at one that is not (made, zeros),
// where a read gets the rest: ErrUnsupported if that is the first byte,
// else the count so far.
func (m *mapped) SendTo(dst Sink, off, n int64) (int64, error) {
	var done int64
	for done < n && off+done < m.size {
		pos := off + done
		r, err := m.run(pos)
		if err != nil {
			return done, err
		}
		s, ok := r.from.(Sender)
		if !ok {
			if done == 0 {
				return 0, fmt.Errorf("virtio: %s: nothing stored as is at %d: %w", m.name, pos, errors.ErrUnsupported)
			}
			return done, nil
		}
		want := min(r.n, n-done, m.size-pos)
		k, err := s.SendTo(dst, r.at, want)
		done += k
		if err != nil || k < want {
			return done, err
		}
	}
	return done, nil
}

// WriteAt implements Backend: read-only.
func (m *mapped) WriteAt(bufs [][]byte, off int64) error { return ErrReadOnly }

// Flush implements Backend: nothing is ever written.
func (m *mapped) Flush() error { return nil }

// Discard implements Backend: read-only.
func (m *mapped) Discard(off, n int64) error { return ErrReadOnly }

// WriteZeroes implements Backend: read-only.
func (m *mapped) WriteZeroes(off, n int64) error { return ErrReadOnly }

// SeekData implements Backend: the runs of zeros the format says are
// holes (qcow2's unallocated and zero clusters, VMDK's grains not
// allocated, ...); a run from another file (a backing image, an extent
// file) has the holes that file has; a run the format makes (a
// compressed cluster, a fill value) is data.
func (m *mapped) SeekData(off int64) (int64, error) { return m.seek(off, true) }

// SeekHole implements Backend: see SeekData.
func (m *mapped) SeekHole(off int64) (int64, error) { return m.seek(off, false) }

// seek returns the first offset from off that is data (or, !data, a
// hole), or the size when there is none.
func (m *mapped) seek(off int64, data bool) (int64, error) {
	for off < m.size {
		r, err := m.run(off)
		if err != nil {
			return 0, err
		}
		n := min(r.n, m.size-off)
		switch {
		case r.from != nil:
			// The other file's own holes, inside the run.
			var at int64
			if data {
				at, err = r.from.SeekData(r.at)
			} else {
				at, err = r.from.SeekHole(r.at)
			}
			if err != nil {
				return 0, err
			}
			if at < r.at+n {
				return off + max(at-r.at, 0), nil
			}
		case (r.fill != nil) == data:
			return off, nil
		}
		off += n
	}
	return m.size, nil
}

// Size implements Backend.
func (m *mapped) Size() int64 { return m.size }

// ReadOnly implements Backend: always.
func (m *mapped) ReadOnly() bool { return true }

// Close implements Backend: the image file and every other it opened.
func (m *mapped) Close() error {
	var err error
	for _, c := range m.closers {
		err = errors.Join(err, c.Close())
	}
	return err
}

// openMapped opens the image at path in a read-only format (name, as
// Formats names it): refused when o asks to write it (or to make, cut or
// grow it); else parse reads its metadata from the image file, opened
// read-only (and closed again when parse fails). A refusal of parse's is
// an ImageError naming the format, unless it is one already (a backing
// file's, which names that file).
func openMapped(path string, o ImageOptions, name string, parse func(raw *RawFile) (Backend, error)) (Backend, error) {
	if !o.ReadOnly || o.Create || o.Truncate || o.Size > 0 {
		return nil, &ImageError{Path: path, Format: format(name), ReadOnly: true, Err: ErrReadOnly}
	}
	raw, err := OpenRawFile(path, RawOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	be, err := parse(raw)
	if err != nil {
		raw.Close()
		if errors.As(err, new(*ImageError)) {
			return nil, err
		}
		return nil, &ImageError{Path: path, Format: format(name), Err: err}
	}
	return be, nil
}

// clearBufs zeroes every buffer of bufs.
func clearBufs(bufs [][]byte) {
	for _, b := range bufs {
		clear(b)
	}
}

// cutBufs appends to dst the first n bytes of bufs (or all, when fewer)
// as slices of them, and returns the rest.
func cutBufs(dst, bufs [][]byte, n int64) ([][]byte, [][]byte) {
	for len(bufs) > 0 && n > 0 {
		b := bufs[0]
		if int64(len(b)) > n {
			dst = append(dst, b[:n])
			bufs[0] = b[n:]
			return dst, bufs
		}
		dst = append(dst, b)
		n -= int64(len(b))
		bufs = bufs[1:]
	}
	return dst, bufs
}
