package virtioblk

import (
	"testing"

	"github.com/lklimg/lklimg/virtio"
)

// TestNoAllocPerRequest checks the hot path allocates nothing: header and
// status live in preallocated tags, descriptors come from a free list.
func TestNoAllocPerRequest(t *testing.T) { bothChainKinds(t, testNoAllocPerRequest) }

func testNoAllocPerRequest(t *testing.T, mask virtio.Features) {
	a := newArena(t)
	d, _ := memDiskHiding(t, a, 1<<20, false, virtio.BlkConfig{}, Options{}, mask)
	segs := alloc(t, a, 4)
	if err := d.Read(0, segs); err != nil {
		t.Fatal(err)
	}
	n := testing.AllocsPerRun(200, func() {
		if err := d.Write(8192, segs); err != nil {
			t.Fatal(err)
		}
		if err := d.Read(8192, segs); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Fatalf("%v allocations per write+read", n)
	}
}
