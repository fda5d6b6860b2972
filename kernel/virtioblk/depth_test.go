package virtioblk

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lklimg/lklimg/kernel/mm"
	"github.com/lklimg/lklimg/virtio"
)

// gateBackend holds every read until the gate opens, counting how many
// run at once.
type gateBackend struct {
	*virtio.MemBackend
	gate      chan struct{}
	cur, peak atomic.Int32
}

func (g *gateBackend) ReadAt(bufs [][]byte, off int64) error {
	n := g.cur.Add(1)
	for {
		p := g.peak.Load()
		if n <= p || g.peak.CompareAndSwap(p, n) {
			break
		}
	}
	<-g.gate
	g.cur.Add(-1)
	return g.MemBackend.ReadAt(bufs, off)
}

// TestQueueDepth posts 100 reads at once: all must be in the ring together
// (a depth of at least 64), served by the device's workers in parallel.
func TestQueueDepth(t *testing.T) {
	a := newArena(t)
	be := &gateBackend{MemBackend: virtio.NewMemBackend(1<<20, false), gate: make(chan struct{})}
	dev, err := virtio.NewBlkDevice(be, virtio.BlkConfig{Workers: 8})
	if err != nil {
		t.Fatal(err)
	}
	// GET_ID at New does not read; the gate only holds data reads.
	d, err := New(dev, a, Options{})
	if err != nil {
		t.Fatal(err)
	}
	d.owned = dev
	defer d.Close()
	const n = 100
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		p, err := a.Alloc(1)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- d.Read(int64(i)*4096, []mm.Seg{{Addr: p, Len: 4096}})
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		d.mu.Lock()
		active := d.active
		d.mu.Unlock()
		if active == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d requests in flight", active, n)
		}
		time.Sleep(time.Millisecond)
	}
	for be.cur.Load() < 8 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	close(be.gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if p := be.peak.Load(); p != 8 {
		t.Fatalf("%d reads served at once, want the 8 workers", p)
	}
	if dev.Status()&virtio.StatusDeviceNeedsReset != 0 {
		t.Fatal(dev.Err())
	}
}
