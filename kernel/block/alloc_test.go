package block

import (
	"bytes"
	"testing"
)

// TestReadHitAllocs: a read of cached pages, whatever its size, allocates
// nothing (issue #4: no allocation per block on fs2tar's data path); the
// indexes and batches are fixed, and references are counted in place.
func TestReadHitAllocs(t *testing.T) {
	r := newRig(t, 1024, 600, 2<<20, 7)
	buf := make([]byte, 2<<20)
	if _, err := r.dev.ReadAt(buf, 0); err != nil {
		t.Fatal(err)
	}
	r.waitIdle(t)
	if !bytes.Equal(buf, r.disk.data) {
		t.Fatal("read returned other bytes than the disk's")
	}
	for _, size := range []int{100, 4096, 64 << 10, 1 << 20} {
		n := testing.AllocsPerRun(20, func() {
			if _, err := r.dev.ReadAt(buf[:size], 1000); err != nil {
				t.Fatal(err)
			}
		})
		if n != 0 {
			t.Errorf("ReadAt of %d cached bytes: %v allocations, want 0", size, n)
		}
	}
}
