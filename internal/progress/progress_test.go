package progress

import (
	"bytes"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestFormat(t *testing.T) {
	const MiB = 1 << 20
	for _, tc := range []struct {
		done, total, entries int64
		elapsed              time.Duration
		width                int
		want                 string
	}{
		{512 * MiB, 2048 * MiB, 1234, 8 * time.Second, 100,
			"512.0 MiB / 2.0 GiB  25% [=========>                           ] 1234 entries  64.0 MiB/s  ETA 0:24"},
		{512 * MiB, 2048 * MiB, 1234, 8 * time.Second, 80,
			"512.0 MiB / 2.0 GiB  25% [====>            ] 1234 entries  64.0 MiB/s  ETA 0:24"},
		// Too narrow for a bar: the figures alone, cut to the width.
		{512 * MiB, 2048 * MiB, 1234, 8 * time.Second, 40,
			"512.0 MiB / 2.0 GiB  25% 1234 entries"},
		// Past the estimated total: 99%, no ETA.
		{3 * MiB, 2 * MiB, 7, time.Second, 80,
			"3.0 MiB / 2.0 MiB  99% [================================>] 7 entries  3.0 MiB/s"},
		// Unknown total.
		{100, 0, 1, 0, 80, "100 B 1 entries  0 B/s"},
		// Hours.
		{1 * MiB, 10000 * MiB, 1, 10 * time.Second, 120,
			"1.0 MiB / 9.8 GiB   0% [>                                       ] 1 entries  102.4 KiB/s  ETA 27:46:30"},
	} {
		got := Format(tc.done, tc.total, tc.entries, tc.elapsed, tc.width)
		if got != tc.want {
			t.Errorf("Format(%d, %d, %d, %v, %d) =\n%q, want\n%q", tc.done, tc.total, tc.entries, tc.elapsed, tc.width, got, tc.want)
		}
		if len(got) >= tc.width {
			t.Errorf("%q: %d columns, width %d", got, len(got), tc.width)
		}
	}
}

// syncBuffer is a terminal stand-in that the redraw goroutine may write.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestBar draws on a fake terminal: lines printed above the bar, counted
// writes, and the bar erased at the end.
func TestBar(t *testing.T) {
	var term syncBuffer
	clock := time.Unix(1000, 0)
	now := func() time.Time { return clock }
	b := New(&term, 4096, 80, now)
	clock = clock.Add(2 * time.Second)
	var sink bytes.Buffer
	w := b.Writer(&sink)
	w.Write(make([]byte, 1024))
	b.Entry()
	b.Println("./etc/passwd")
	out := term.String()
	if !strings.HasPrefix(out, "\r\x1b[K./etc/passwd\n\r1.0 KiB / 4.0 KiB  25% [") ||
		!strings.HasSuffix(out, "] 1 entries  512 B/s  ETA 0:06\x1b[K") {
		t.Errorf("after Println: %q", out)
	}
	var stdout bytes.Buffer
	b.PrintlnTo(&stdout, "./usr/")
	if stdout.String() != "./usr/\n" {
		t.Errorf("PrintlnTo: %q", stdout.String())
	}
	if got := term.String()[len(out):]; !strings.HasPrefix(got, "\r\x1b[K\r1.0 KiB / 4.0 KiB") {
		t.Errorf("PrintlnTo: the bar not erased and drawn again: %q", got)
	}
	if sink.Len() != 1024 {
		t.Errorf("the writer passed %d bytes", sink.Len())
	}
	b.Start()
	time.Sleep(3 * Interval)
	b.Stop()
	out = term.String()
	if strings.Count(out, "\r1.0 KiB") < 2 || !strings.HasSuffix(out, "\r\x1b[K") {
		t.Errorf("redraws, then erased: %q", out)
	}
	stdout.Reset()
	b.PrintlnTo(&stdout, "./other")
	if stdout.String() != "./other\n" || !strings.HasSuffix(term.String(), "\r\x1b[K") {
		t.Errorf("PrintlnTo after Stop: %q, terminal %q", stdout.String(), term.String())
	}
	n := len(term.String())
	b.Println("late")
	time.Sleep(2 * Interval)
	if got := term.String()[n:]; got != "\r\x1b[Klate\n" {
		t.Errorf("after Stop: %q", got)
	}
	b.Stop() // twice is fine
}

// TestIsTerminal: a file and a pipe are not terminals.
func TestIsTerminal(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "x")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	for _, f := range []*os.File{f, r, w} {
		if ok, _ := IsTerminal(f); ok {
			t.Errorf("%s: a terminal", f.Name())
		}
	}
}
