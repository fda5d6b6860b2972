package block

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/mm"
)

// memDisk is a Disk in memory that moves data between its bytes and arena
// segments, as the virtio-blk device does, and records the requests.
type memDisk struct {
	arena *mm.Arena
	ro    bool
	segs  int           // Limits: 0 for none
	delay time.Duration // latency of every Read
	noWZ  bool          // no WriteZeroes nor Discard: EOPNOTSUPP

	mu       sync.Mutex
	data     []byte
	reads    []int64 // sizes of Read requests
	maxSegs  int     // most segments seen in one request
	writes   []int64
	flushes  int
	failFrom int64 // reads touching [failFrom, failTo) fail
	failTo   int64
}

var errMedium = errors.New("medium error")

func newMemDisk(a *mm.Arena, data []byte) *memDisk { return &memDisk{arena: a, data: data} }

func (d *memDisk) check(off int64, segs []mm.Seg) int64 {
	var n int64
	for _, s := range segs {
		n += int64(s.Len)
	}
	if off%512 != 0 || n%512 != 0 || off < 0 || off+n > int64(len(d.data)) {
		panic("memDisk: bad request")
	}
	return n
}

func (d *memDisk) Read(off int64, segs []mm.Seg) error {
	n := d.check(off, segs)
	time.Sleep(d.delay)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.reads = append(d.reads, n)
	d.maxSegs = max(d.maxSegs, len(segs))
	if off < d.failTo && off+n > d.failFrom {
		return errMedium
	}
	for _, s := range segs {
		off += int64(copy(d.arena.Slice(s), d.data[off:]))
	}
	return nil
}

func (d *memDisk) Write(off int64, segs []mm.Seg) error {
	n := d.check(off, segs)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ro {
		return errors.New("read-only")
	}
	d.writes = append(d.writes, n)
	for _, s := range segs {
		off += int64(copy(d.data[off:], d.arena.Slice(s)))
	}
	return nil
}

func (d *memDisk) Flush() error {
	d.mu.Lock()
	d.flushes++
	d.mu.Unlock()
	return nil
}

// Discard punches a hole: the bytes read as zeros, as a raw image's do.
func (d *memDisk) Discard(off, n int64) error { return d.WriteZeroes(off, n) }

func (d *memDisk) WriteZeroes(off, n int64) error {
	d.check(off, []mm.Seg{{Len: uint32(n)}})
	if d.noWZ {
		return abi.EOPNOTSUPP
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	clear(d.data[off : off+n])
	return nil
}
func (d *memDisk) Size() int64    { return int64(len(d.data)) }
func (d *memDisk) ReadOnly() bool { return d.ro }
func (d *memDisk) ID() string     { return "mem" }

// requests returns the sizes of the Read and Write requests so far.
func (d *memDisk) requests() (reads, writes []int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]int64(nil), d.reads...), append([]int64(nil), d.writes...)
}

func (d *memDisk) bytes() []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]byte(nil), d.data...)
}

type limitedDisk struct{ *memDisk }

func (d limitedDisk) Limits() (int, int) { return d.segs, 0 }

// randomBytes returns n reproducible random bytes.
func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for k := 0; k < 8; k++ {
			b[i+k] = byte(v >> (8 * k))
		}
	}
	return b
}

// newTestArena returns an arena of pages pages.
func newTestArena(t testing.TB, pages int) *mm.Arena {
	t.Helper()
	a, err := mm.NewArena(int64(pages) * mm.PageSize)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// testLog collects the manager's messages.
type testLog struct {
	t     testing.TB
	mu    sync.Mutex
	lines []string
}

func (l *testLog) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := fmt.Sprintf(format, args...)
	l.lines = append(l.lines, s)
	l.t.Log(s)
}

// reset forgets the requests so far (such as the partition table's).
func (d *memDisk) reset() {
	d.mu.Lock()
	d.reads, d.writes = nil, nil
	d.mu.Unlock()
}
