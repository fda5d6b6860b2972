// Package progress draws a one-line progress bar on a terminal: bytes
// done of a total, entries, rate and time left. It draws only when told
// its writer is a terminal (IsTerminal); a command whose stderr is a file
// or a pipe gets nothing from it, so logs stay clean.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Interval is how often the bar is redrawn: often enough to look alive,
// rarely enough to cost nothing.
const Interval = 200 * time.Millisecond

// Bar is a progress bar on one terminal line. Add and Entry may be called
// from any goroutine; Println, Stop and the redraws are serialised.
type Bar struct {
	w     io.Writer
	total int64
	width int
	now   func() time.Time
	start time.Time

	bytes   atomic.Int64
	entries atomic.Int64

	mu      sync.Mutex // serialises drawing; guards started, stopped
	started bool
	stopped bool
	quit    chan struct{}
	done    chan struct{}
}

// New returns a bar that will draw on w (a terminal width columns wide)
// towards total bytes; total 0 means unknown (no percentage, no ETA). now
// is the clock (time.Now, or a fake in tests). Start begins the redraws.
func New(w io.Writer, total int64, width int, now func() time.Time) *Bar {
	if width <= 0 {
		width = 80
	}
	return &Bar{w: w, total: total, width: width, now: now, start: now(),
		quit: make(chan struct{}), done: make(chan struct{})}
}

// Start draws the bar, then redraws it every Interval until Stop.
func (b *Bar) Start() {
	b.mu.Lock()
	b.started = true
	b.draw()
	b.mu.Unlock()
	go func() {
		defer close(b.done)
		t := time.NewTicker(Interval)
		defer t.Stop()
		for {
			select {
			case <-b.quit:
				return
			case <-t.C:
				b.mu.Lock()
				if !b.stopped {
					b.draw()
				}
				b.mu.Unlock()
			}
		}
	}()
}

// Add counts n more bytes done.
func (b *Bar) Add(n int64) { b.bytes.Add(n) }

// Entry counts one more entry done.
func (b *Bar) Entry() { b.entries.Add(1) }

// Writer returns a writer that passes writes to w and counts them as done.
func (b *Bar) Writer(w io.Writer) io.Writer { return &counter{w: w, b: b} }

type counter struct {
	w io.Writer
	b *Bar
}

func (c *counter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.b.Add(int64(n))
	return n, err
}

// Println prints a line above the bar (a message, a -v listing), on the
// bar's writer, without tearing it.
func (b *Bar) Println(line string) { b.PrintlnTo(b.w, line) }

// PrintlnTo prints a line on w, another stream on the bar's terminal
// (stdout beside a bar on stderr): the bar is erased first and drawn
// again after, so the line does not land in the middle of it.
func (b *Bar) PrintlnTo(w io.Writer, line string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if w == b.w {
		fmt.Fprintf(b.w, "\r\x1b[K%s\n", line)
	} else {
		fmt.Fprint(b.w, "\r\x1b[K")
		fmt.Fprintln(w, line)
	}
	if !b.stopped {
		b.draw()
	}
}

// Stop ends the redraws and erases the bar; nothing is drawn afterwards.
// The last state is what the caller reports, if anything.
func (b *Bar) Stop() {
	b.mu.Lock()
	if b.stopped {
		b.mu.Unlock()
		return
	}
	b.stopped = true
	started := b.started
	b.mu.Unlock()
	close(b.quit)
	if started {
		<-b.done
	}
	b.mu.Lock()
	fmt.Fprint(b.w, "\r\x1b[K")
	b.mu.Unlock()
}

// draw writes the bar over the current line; b.mu is held.
func (b *Bar) draw() {
	line := Format(b.bytes.Load(), b.total, b.entries.Load(), b.now().Sub(b.start), b.width)
	fmt.Fprintf(b.w, "\r%s\x1b[K", line)
}

// Format renders the bar's line, at most width columns:
//
//	512.0 MiB / 2.0 GiB  25% [=====>              ] 1234 entries  64.0 MiB/s  ETA 0:24
//
// done may pass total (the total is an estimate, as the used bytes of a
// filesystem are for an archive): the percentage stops at 99% until the
// end, and the ETA is left out. The bar part shrinks, then goes, on
// narrow terminals.
func Format(done, total, entries int64, elapsed time.Duration, width int) string {
	rate := 0.0
	if elapsed > 0 {
		rate = float64(done) / elapsed.Seconds()
	}
	head := Bytes(done)
	tail := fmt.Sprintf(" %d entries  %s/s", entries, Bytes(int64(rate)))
	frac := -1.0
	if total > 0 {
		head += " / " + Bytes(total)
		frac = min(float64(done)/float64(total), 0.99)
		head += fmt.Sprintf(" %3d%%", int(frac*100))
		if done < total && rate > 0 {
			eta := time.Duration(float64(total-done) / rate * float64(time.Second))
			tail += "  ETA " + clock(eta)
		}
	}
	line := head + tail
	barWidth := width - len(line) - 4 // " [" "] " and a column spare
	if frac >= 0 && barWidth >= 10 {
		barWidth = min(barWidth, 40)
		fill := int(frac * float64(barWidth))
		bar := strings.Repeat("=", fill)
		if fill < barWidth {
			bar += ">" + strings.Repeat(" ", barWidth-fill-1)
		}
		line = head + " [" + bar + "]" + tail
	}
	if len(line) >= width {
		line = strings.TrimRight(line[:width-1], " ")
	}
	return line
}

// Bytes formats n with a binary unit: "512 B", "1.5 KiB", "2.0 GiB".
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v := float64(n) / unit
	for _, u := range []string{"KiB", "MiB", "GiB", "TiB"} {
		if v < unit {
			return fmt.Sprintf("%.1f %s", v, u)
		}
		v /= unit
	}
	return fmt.Sprintf("%.1f PiB", v)
}

// clock formats a duration as m:ss or h:mm:ss.
func clock(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// OnTerminal returns a bar on w towards total() bytes (asked only then)
// when w is a terminal (an *os.File IsTerminal says is one), nil
// otherwise: a command's stderr in a log or a pipe gets no bar.
func OnTerminal(w io.Writer, total func() int64) *Bar {
	file, ok := w.(*os.File)
	if !ok {
		return nil
	}
	term, width := IsTerminal(file)
	if !term {
		return nil
	}
	return New(w, total(), width, time.Now)
}
