package archive

import (
	"errors"
	"io"
	"sync"

	"github.com/lklimg/lklimg/kernel/abi"
)

// The archive's output on a goroutine of its own, when file data is sent
// by Sendfile: a write of the output buffer or a send to a pipe waits
// for the reader to drain it (a third of an export's time went there),
// and the walk can go on meanwhile on the other core. The walk hands
// full buffers and whole files to send to the output goroutine, which
// does them in order; it owns a handed file's descriptor and closes it.

// outputBuffers is how many output buffers there are: the one being
// filled and those waiting for the output goroutine.
const outputBuffers = 3

// outputQueue is how many writes and sends may wait for the output
// goroutine; each send holds its file open until it is done.
const outputQueue = 16

// bufferWriter is an output that takes a full buffer whole (the Writer
// does not copy it) and returns an empty one to fill next.
type bufferWriter interface {
	writeBuffer(b []byte) (next []byte, err error)
}

// asyncOutput writes the archive to w on its own goroutine.
type asyncOutput struct {
	w    io.Writer
	ops  chan func(failed bool) error // failed: the output failed, only clean up
	free chan []byte
	done chan struct{}

	mu   sync.Mutex
	err  error        // the output's first failure, sticky
	late []*PathError // failures of sent files' data, for the walk to report

	scratch []byte // the output goroutine's buffer for what could not be sent
	closed  bool   // close was called (by the walk)
}

// newAsyncOutput starts the output goroutine on w with buffers of size
// bytes besides the Writer's own.
func newAsyncOutput(w io.Writer, size int) *asyncOutput {
	a := &asyncOutput{w: w, ops: make(chan func(bool) error, outputQueue),
		free: make(chan []byte, outputBuffers-1), done: make(chan struct{})}
	for range outputBuffers - 1 {
		a.free <- make([]byte, 0, size)
	}
	go a.run()
	return a
}

func (a *asyncOutput) run() {
	defer close(a.done)
	for op := range a.ops {
		if err := op(a.Err() != nil); err != nil {
			a.mu.Lock()
			if a.err == nil {
				a.err = err
			}
			a.mu.Unlock()
		}
	}
}

// Err returns the output's first failure.
func (a *asyncOutput) Err() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

// writeBuffer queues b for writing and returns an empty buffer, waiting
// for one if the output goroutine has them all.
func (a *asyncOutput) writeBuffer(b []byte) ([]byte, error) {
	if err := a.Err(); err != nil {
		return b[:0], err
	}
	a.ops <- func(failed bool) error {
		defer func() { a.free <- b[:0] }()
		if failed {
			return nil
		}
		n, err := a.w.Write(b)
		if err == nil && n < len(b) {
			err = io.ErrShortWrite
		}
		return err
	}
	return <-a.free, a.Err()
}

// Write writes p after everything queued (for a Writer that does not
// hand its buffers over).
func (a *asyncOutput) Write(p []byte) (int, error) {
	if err := a.wait(); err != nil {
		return 0, err
	}
	return a.w.Write(p)
}

// do queues op, which the output goroutine runs in turn; failed tells it
// that the output has failed, and it should only clean up.
func (a *asyncOutput) do(op func(failed bool) error) { a.ops <- op }

// wait waits for the queued writes and sends and returns the output's
// failure.
func (a *asyncOutput) wait() error {
	ch := make(chan struct{})
	a.ops <- func(bool) error { close(ch); return nil }
	<-ch
	return a.Err()
}

// close ends the output goroutine after its queue and returns the
// output's failure.
func (a *asyncOutput) close() error {
	if !a.closed {
		a.closed = true
		close(a.ops)
		<-a.done
	}
	return a.Err()
}

// lateFail records a failure of the output goroutine's, for takeLate.
func (a *asyncOutput) lateFail(pe *PathError) {
	a.mu.Lock()
	a.late = append(a.late, pe)
	a.mu.Unlock()
}

// takeLate returns the failures recorded since the last call.
func (a *asyncOutput) takeLate() []*PathError {
	a.mu.Lock()
	defer a.mu.Unlock()
	late := a.late
	a.late = nil
	return late
}

// sendQueued queues the data of the regular file open as fd, n bytes
// from its position, to be sent by the output goroutine, which then
// closes fd; the Writer's buffer goes first. The entry's data is then
// complete for the Writer. Where the send stops early, the output
// goroutine reads the rest (read failures are reported later by the walk,
// the rest of the entry zero-filled, as dataFailed does).
func (x *exporter) sendQueued(fd int, rel string, n int64) error {
	tw := x.tw
	if tw.flush(); tw.err != nil {
		x.sys.Close(fd)
		return x.fatal()
	}
	tw.remain -= n
	x.out.do(func(failed bool) error {
		defer x.sys.Close(fd)
		if failed {
			return nil
		}
		return x.sendAll(fd, rel, n)
	})
	return nil
}

// sendAll sends n bytes of fd from its position to the output, on the
// output goroutine, and reads what Sendfile could not send. It returns
// only the output's failures.
func (x *exporter) sendAll(fd int, rel string, n int64) error {
	a := x.out
	k, err := x.sendRun(fd, n)
	if we := new(*abi.HostWriteError); errors.As(err, we) {
		return (*we).Err
	}
	n -= k
	if n == 0 {
		return nil
	}
	if a.scratch == nil {
		a.scratch = make([]byte, 256<<10)
	}
	var failure error
	for n > 0 {
		b := a.scratch[:min(n, int64(len(a.scratch)))]
		k := 0
		if failure == nil {
			var err error
			k, err = x.sys.Read(fd, b)
			switch {
			case err != nil:
				failure = &PathError{Path: showPath(rel), Op: "read", Err: err}
			case k == 0:
				failure = &PathError{Path: showPath(rel), Op: "read", Err: errShrank}
			}
		}
		if failure != nil {
			clear(b[k:])
			k = len(b)
		}
		if _, err := a.w.Write(b[:k]); err != nil {
			return err
		}
		n -= int64(k)
	}
	if failure != nil {
		a.lateFail(failure.(*PathError))
	}
	return nil
}
