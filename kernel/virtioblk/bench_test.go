package virtioblk

import (
	"testing"

	"github.com/lklimg/lklimg/kernel/mm"
	"github.com/lklimg/lklimg/virtio"
)

// BenchmarkRead4K measures one 4 KiB read from many goroutines at once:
// the cost of a round trip through the ring, the workers and the
// interrupt, the backend being memory.
func BenchmarkRead4K(b *testing.B) {
	a, err := mm.NewArena(32 << 20)
	if err != nil {
		b.Fatal(err)
	}
	be := virtio.NewMemBackend(64<<20, false)
	dev, err := virtio.NewBlkDevice(be, virtio.BlkConfig{})
	if err != nil {
		b.Fatal(err)
	}
	d, err := New(dev, a, Options{})
	if err != nil {
		b.Fatal(err)
	}
	d.owned = dev
	defer d.Close()
	b.SetBytes(4096)
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		p, err := a.Alloc(1)
		if err != nil {
			b.Error(err)
			return
		}
		seg := []mm.Seg{{Addr: p, Len: 4096}}
		off := int64(p) % (64 << 20)
		for pb.Next() {
			if err := d.Read(off, seg); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
