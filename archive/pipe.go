package archive

import (
	"io"
	"sync"
)

// Pipe is an in-memory pipe for a tar stream one goroutine writes (a
// Writer, as Export's over a host tree for mkfs -d DIR) and another
// reads (a Reader, as an import's), like io.Pipe but handing whole
// buffers over. io.Pipe has the writer and the reader meet for every
// Read: a 512-byte header or a small file's data read is two switches
// between the goroutines, thousands for a tree, each a futex wake and a
// spinning thread on a machine where those are syscalls into a
// hypervisor. Here a Writer's full buffer goes to the reading side as it
// is (bufferWriter) and the goroutines meet once a buffer: the reader
// copies out of the buffer it holds, and gives it back when it is done
// with it for the writer to fill again.
func Pipe(size int) (*PipeReader, *PipeWriter) {
	p := &pipe{
		full: make(chan []byte, pipeBuffers),
		free: make(chan []byte, pipeBuffers),
		done: make(chan struct{}),
	}
	for range pipeBuffers - 1 {
		p.free <- make([]byte, 0, size)
	}
	return &PipeReader{p: p}, &PipeWriter{p: p}
}

// pipeBuffers is how many buffers a Pipe has, the Writer's own among
// them: one filled, one being read, one waiting between.
const pipeBuffers = 3

type pipe struct {
	full chan []byte   // written buffers in order; closed when the writer is
	free chan []byte   // read buffers, for the writer to fill
	done chan struct{} // closed when the reader is

	mu   sync.Mutex
	werr error // why the writer closed; nil: the stream's end
	rerr error // why the reader closed
	once sync.Once
}

// PipeReader is the reading half of a Pipe.
type PipeReader struct {
	p    *pipe
	cur  []byte // what is left to read of held
	held []byte // the buffer being read, nil when none
}

// Read reads what the writer wrote, in order; at the end it returns
// io.EOF, or the error the writer closed with.
func (r *PipeReader) Read(b []byte) (int, error) {
	select {
	case <-r.p.done:
		return 0, io.ErrClosedPipe
	default:
	}
	for len(r.cur) == 0 {
		if r.held != nil {
			r.p.free <- r.held[:0] // never blocks: free holds every buffer
			r.held = nil
		}
		buf, ok := <-r.p.full
		if !ok {
			r.p.mu.Lock()
			defer r.p.mu.Unlock()
			if r.p.werr != nil {
				return 0, r.p.werr
			}
			return 0, io.EOF
		}
		r.cur, r.held = buf, buf
	}
	n := copy(b, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

// CloseWithError closes the reading half: the writer's writes then fail
// with err (io.ErrClosedPipe if nil).
func (r *PipeReader) CloseWithError(err error) error {
	if err == nil {
		err = io.ErrClosedPipe
	}
	r.p.once.Do(func() {
		r.p.mu.Lock()
		r.p.rerr = err
		r.p.mu.Unlock()
		close(r.p.done)
	})
	return nil
}

// PipeWriter is the writing half of a Pipe.
type PipeWriter struct {
	p      *pipe
	closed bool
}

// readErr is why the reader closed.
func (w *PipeWriter) readErr() error {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.rerr
}

// writeBuffer hands b to the reader whole and returns an empty buffer to
// fill next, once the reader has given one back (bufferWriter).
func (w *PipeWriter) writeBuffer(b []byte) ([]byte, error) {
	if w.closed {
		return b[:0], io.ErrClosedPipe
	}
	if len(b) == 0 {
		return b, nil
	}
	if err := w.send(b); err != nil {
		return b[:0], err
	}
	select {
	case next := <-w.p.free:
		return next, nil
	case <-w.p.done:
		return make([]byte, 0, cap(b)), w.readErr()
	}
}

// send hands the full buffer b to the reader.
func (w *PipeWriter) send(b []byte) error {
	select {
	case w.p.full <- b:
		return nil
	case <-w.p.done:
		return w.readErr()
	}
}

// Write copies p into the pipe's free buffers and hands them over, for a
// writer other than a Writer.
func (w *PipeWriter) Write(p []byte) (int, error) {
	if w.closed {
		return 0, io.ErrClosedPipe
	}
	n := 0
	for n < len(p) {
		var buf []byte
		select {
		case buf = <-w.p.free:
		case <-w.p.done:
			return n, w.readErr()
		}
		k := copy(buf[:cap(buf)], p[n:])
		if err := w.send(buf[:k]); err != nil {
			return n, err
		}
		n += k
	}
	return n, nil
}

// CloseWithError closes the writing half: the reader gets err after what
// was written (io.EOF if err is nil).
func (w *PipeWriter) CloseWithError(err error) error {
	if w.closed {
		return nil
	}
	w.closed = true
	w.p.mu.Lock()
	w.p.werr = err
	w.p.mu.Unlock()
	close(w.p.full)
	return nil
}
