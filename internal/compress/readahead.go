package compress

import (
	"io"
	"sync"
)

// Reading ahead: a reader that fills a few large buffers from its source
// on a goroutine of its own, so that a decoder that runs on one core (xz,
// bzip2) goes on while the consumer works on what was decoded before.
// tar2fs's input is the stream that feeds everything it writes; on two
// cores this takes decoding off its critical path.

// ReadAheadSize and ReadAheadBuffers are the size and number of the
// buffers a read-ahead reader fills: 4 MiB in flight at most.
const (
	ReadAheadSize    = 1 << 20
	ReadAheadBuffers = 4
)

type chunk struct {
	buf []byte
	n   int
	err error
}

type readAhead struct {
	full chan chunk
	free chan []byte
	done chan struct{}

	cur  chunk // being consumed: cur.buf[off:cur.n]
	off  int
	err  error // the source's error, returned once cur is consumed
	once sync.Once
}

// ReadAhead returns a reader of r's bytes that reads r ahead on its own
// goroutine, in ReadAheadSize reads, up to ReadAheadBuffers of them. Close
// stops the goroutine (without closing r); it must be called. The bytes
// and the error (io.EOF at the end) are r's, in order.
func ReadAhead(r io.Reader) io.ReadCloser {
	ra := &readAhead{
		full: make(chan chunk, ReadAheadBuffers),
		free: make(chan []byte, ReadAheadBuffers),
		done: make(chan struct{}),
	}
	for range ReadAheadBuffers {
		ra.free <- make([]byte, ReadAheadSize)
	}
	go ra.fill(r)
	return ra
}

// fill reads r into free buffers and queues them, until r fails or ends
// (the error is queued last) or the reader is closed.
func (ra *readAhead) fill(r io.Reader) {
	for {
		var buf []byte
		select {
		case buf = <-ra.free:
		case <-ra.done:
			return
		}
		n, err := io.ReadFull(r, buf)
		if err == io.ErrUnexpectedEOF {
			err = io.EOF
		}
		select {
		case ra.full <- chunk{buf, n, err}:
		case <-ra.done:
			return
		}
		if err != nil {
			return
		}
	}
}

func (ra *readAhead) Read(p []byte) (int, error) {
	for ra.off == ra.cur.n {
		if ra.err != nil {
			return 0, ra.err
		}
		if ra.cur.buf != nil {
			ra.free <- ra.cur.buf
		}
		ra.cur, ra.off = <-ra.full, 0
		ra.err = ra.cur.err
	}
	n := copy(p, ra.cur.buf[ra.off:ra.cur.n])
	ra.off += n
	return n, nil
}

// Close stops reading ahead: the goroutine ends after the read it may be
// in (on a pipe that can be a while; it is not waited for).
func (ra *readAhead) Close() error {
	ra.once.Do(func() { close(ra.done) })
	return nil
}
