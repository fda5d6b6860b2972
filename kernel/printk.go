package kernel

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// LogBufSize is the size of the kernel log ring buffer (CONFIG_LOG_BUF_SHIFT
// of 16): the oldest lines are dropped beyond it.
const LogBufSize = 64 << 10

// printk is the kernel log (kernel/printk/printk.c): a bounded buffer of
// whole lines, each stamped with the time since boot as dmesg shows it, and
// optionally copied to a writer as it is written. It implements vfs.Logger
// for the drivers. mu guards buf and serialises writes to out.
type printk struct {
	start time.Time
	out   io.Writer

	mu  sync.Mutex
	buf []byte // whole lines, oldest first; at most LogBufSize bytes
}

func newPrintk(out io.Writer) *printk {
	return &printk{start: time.Now(), out: out}
}

// Printf logs one message; a message of several lines is logged as
// several lines, each with the time stamp.
func (p *printk) Printf(format string, args ...any) {
	msg := strings.TrimRight(fmt.Sprintf(format, args...), "\n")
	d := time.Since(p.start)
	stamp := fmt.Sprintf("[%5d.%06d] ", int64(d/time.Second), int64(d%time.Second/time.Microsecond))
	var b strings.Builder
	for _, line := range strings.Split(msg, "\n") {
		b.WriteString(stamp)
		b.WriteString(line)
		b.WriteByte('\n')
	}
	lines := b.String()
	if len(lines) > LogBufSize {
		lines = lines[len(lines)-LogBufSize:]
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if excess := len(p.buf) + len(lines) - LogBufSize; excess > 0 {
		// Drop whole lines from the front: cut at the first line
		// boundary at or after excess.
		cut := len(p.buf)
		if excess < len(p.buf) {
			cut = excess
			if p.buf[cut-1] != '\n' {
				if i := bytes.IndexByte(p.buf[cut:], '\n'); i >= 0 {
					cut += i + 1
				} else {
					cut = len(p.buf)
				}
			}
		}
		n := copy(p.buf, p.buf[cut:])
		p.buf = p.buf[:n]
	}
	p.buf = append(p.buf, lines...)
	if p.out != nil {
		// One write a line, as the console gets them.
		for len(lines) > 0 {
			i := strings.IndexByte(lines, '\n') + 1
			io.WriteString(p.out, lines[:i])
			lines = lines[i:]
		}
	}
}

// String returns the log.
func (p *printk) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return string(p.buf)
}
