package archive

import (
	"errors"
	"io"

	"github.com/lklimg/lklimg/kernel/abi"
)

// file archives a regular file open as fd: it finds its data regions,
// writes the header (sparse when there is a hole) and the data, read from
// the kernel straight into the output buffer, or sent to the output
// (Sendfile). It reports whether it handed fd to the output goroutine,
// which then closes it.
func (x *exporter) file(fd int, rel string, h *Header, id fileID, linked bool) (handed bool, err error) {
	if h.Size > 0 {
		ext, err := dataExtents(x.sys, fd, h.Size)
		if err != nil {
			x.fail(rel, "lseek", err)
			return false, nil
		}
		if ext != nil {
			h.Sparse = AlignExtents(ext, h.Size)
		}
	}
	if err := x.writeHeader(h); err != nil {
		if f := x.fatal(); f != nil {
			return false, f
		}
		x.fail(rel, "archive", err)
		return false, nil
	}
	if linked {
		x.links[id] = h.Name
	}
	r := &fdReader{sys: x.sys, fd: fd}
	regions := h.Sparse
	if regions == nil {
		regions = []Extent{{0, h.Size}}
	}
	for _, e := range regions {
		// SEEK_DATA and SEEK_HOLE moved the file position: set it.
		if _, err := x.sys.Lseek(fd, e.Offset, abi.SEEK_SET); err != nil {
			return false, x.dataFailed(rel, "lseek", err)
		}
		if x.out != nil && !x.cannotSend.Load() && h.Sparse == nil && e.Length >= sendMin {
			// The whole file, sent by the output goroutine.
			return true, x.sendQueued(fd, rel, e.Length)
		}
		sent, err := x.send(fd, e)
		if err != nil {
			return false, err
		}
		if sent > 0 {
			// Sendfile stopped early (a hole, the image's end): read
			// the rest from where it stopped.
			if _, err := x.sys.Lseek(fd, e.Offset+sent, abi.SEEK_SET); err != nil {
				return false, x.dataFailed(rel, "lseek", err)
			}
		}
		n, err := x.tw.ReadFrom(io.LimitReader(r, e.Length-sent))
		if f := x.fatal(); f != nil {
			return false, f
		}
		if err != nil {
			return false, x.dataFailed(rel, "read", err)
		}
		if n < e.Length-sent {
			return false, x.dataFailed(rel, "read", errShrank)
		}
	}
	return false, nil
}

// sendMin is the smallest data region sent by Sendfile: smaller ones are
// copied into the output buffer, which holds many of them and their
// headers for one write, where a send would need a write of the buffer
// and a sendfile each.
const sendMin = 16 << 10

// send sends as much of region e of the file open as fd, its position at
// e.Offset, to the output by Sendfile as the kernel can, after what the
// output goroutine has queued, and returns how many bytes went; the
// caller reads the rest. It returns an error only when the output failed.
func (x *exporter) send(fd int, e Extent) (int64, error) {
	if x.sendfile == nil || x.cannotSend.Load() || e.Length < sendMin {
		return 0, nil
	}
	sent, _ := x.tw.SendFrom(e.Length, func(n int64) (int64, error) {
		if x.out != nil {
			if err := x.out.wait(); err != nil {
				return 0, &abi.HostWriteError{Err: err}
			}
		}
		return x.sendRun(fd, n)
	})
	return sent, x.fatal()
}

// sendRun sends up to n bytes of the file open as fd, from its position,
// by Sendfile for as long as the kernel sends, and returns how many went.
// It returns only the output's failure (an *abi.HostWriteError); where
// the kernel stops (a hole, the image's end, a failure) the caller reads
// the rest. A kernel that cannot send at all (EOPNOTSUPP before any byte
// of the export went) is not asked again (cannotSend). The walk and the
// output goroutine both call it.
func (x *exporter) sendRun(fd int, n int64) (int64, error) {
	var sent int64
	for sent < n {
		k, err := x.sendfile(fd, n-sent)
		sent += k
		if k > 0 {
			x.sentAny.Store(true)
		} else if errors.Is(err, abi.EOPNOTSUPP) && !x.sentAny.Load() {
			x.cannotSend.Store(true)
		}
		if errors.As(err, new(*abi.HostWriteError)) {
			return sent, err
		}
		if err != nil || k == 0 {
			break
		}
	}
	return sent, nil
}

var errShrank = errors.New("file shrank while read; padded with zeros")

// dataFailed reports a failure in an entry's data, whose header is
// already written, and fills the rest of the entry with zeros.
func (x *exporter) dataFailed(rel, op string, err error) error {
	x.fail(rel, op, err)
	x.tw.ZeroFill()
	return x.fatal()
}

// dataExtents returns the data regions of an open file of size bytes, or
// nil if it has no hole: SEEK_HOLE finds the first hole (the end of the
// file if there is none), then SEEK_DATA and SEEK_HOLE alternate. A
// filesystem without them (EINVAL) has no holes to keep.
func dataExtents(sys Syscalls, fd int, size int64) ([]Extent, error) {
	hole, err := sys.Lseek(fd, 0, abi.SEEK_HOLE)
	if errors.Is(err, abi.EINVAL) || errors.Is(err, abi.ENOSYS) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if hole >= size {
		return nil, nil
	}
	ext := []Extent{}
	for off := int64(0); off < size; {
		data, err := sys.Lseek(fd, off, abi.SEEK_DATA)
		if errors.Is(err, abi.ENXIO) {
			break // only a hole remains
		}
		if err != nil {
			return nil, err
		}
		if data >= size {
			break
		}
		end, err := sys.Lseek(fd, data, abi.SEEK_HOLE)
		if err != nil {
			return nil, err
		}
		end = min(end, size)
		if end <= data {
			return nil, abi.Errorf(abi.EIO, "SEEK_HOLE from %d returned %d", data, end)
		}
		ext = append(ext, Extent{Offset: data, Length: end - data})
		off = end
	}
	return ext, nil
}

// fdReader reads a kernel file descriptor: read(2) as an io.Reader.
type fdReader struct {
	sys Syscalls
	fd  int
}

func (r *fdReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, err := r.sys.Read(r.fd, p)
	if err != nil {
		return n, err
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}
