package mm

import "testing"

func TestAllocFree(t *testing.T) {
	a, err := NewArena(64 * PageSize)
	if err != nil {
		t.Fatal(err)
	}
	x, err := a.Alloc(10)
	if err != nil {
		t.Fatal(err)
	}
	y, err := a.Alloc(54)
	if err != nil {
		t.Fatal(err)
	}
	if x == y {
		t.Fatalf("two allocations at %#x", x)
	}
	if _, err := a.Alloc(1); err == nil {
		t.Fatal("alloc from a full arena succeeded")
	}
	a.Bytes(x, PageSize)[5] = 7
	a.Free(x, 10)
	if a.FreePages() != 10 {
		t.Fatalf("free pages %d, want 10", a.FreePages())
	}
	z, err := a.Alloc(10)
	if err != nil || z != x {
		t.Fatalf("realloc = %#x, %v; want %#x", z, err, x)
	}
	if a.Bytes(z, PageSize)[5] != 0 {
		t.Fatal("allocated page not zeroed")
	}
	if a.Bytes(Addr(a.Size()-1), 2) != nil {
		t.Fatal("Bytes past the end returned a slice")
	}
}

func TestFragmentation(t *testing.T) {
	a, _ := NewArena(128 * PageSize)
	var addrs []Addr
	for i := 0; i < 128; i++ {
		p, err := a.Alloc(1)
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, p)
	}
	for i := 0; i < 128; i += 2 {
		a.Free(addrs[i], 1)
	}
	if _, err := a.Alloc(2); err == nil {
		t.Fatal("found a run of 2 in a checkerboard")
	}
	a.Free(addrs[1], 1)
	if p, err := a.Alloc(3); err != nil || p != addrs[0] {
		t.Fatalf("alloc(3) = %#x, %v; want %#x", p, err, addrs[0])
	}
}
