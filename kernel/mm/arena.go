// Package mm is the library kernel's memory: one fixed arena, sized by
// Config.Memory as LKL's mem= sizes its kernel, and a page allocator over it.
// The page cache and the virtqueues live in the arena, so the kernel's memory
// stays bounded whatever the size of the images it reads.
//
// Addresses are byte offsets into the arena. They play the part of guest
// physical addresses: the virtio device is handed them in descriptors and
// reads and writes the arena through them, as a device DMAs to bus addresses.
package mm

import (
	"fmt"
	"math/bits"
	"sync"
)

// PageSize is the size of a page of the arena.
const PageSize = 4096

// Addr is an address in the arena: a byte offset from its start.
type Addr uint64

// Seg is a run of bytes in the arena, as a virtio descriptor names one.
type Seg struct {
	Addr Addr
	Len  uint32
}

// Arena is the kernel's memory and its page allocator. Pages are handed out
// in contiguous runs, first fit over a bitmap; it is safe for concurrent use.
type Arena struct {
	mem     []byte
	release func() // gives mem's pages back to the host (allocMem)

	mu   sync.Mutex
	used []uint64 // one bit per page, set when allocated; guarded by mu
	// dirty has a bit per page set once it was allocated: a page never
	// handed out is still the zeros make gave it, and Alloc does not
	// clear it again (the page cache's first fill of the arena would
	// write every page twice). Guarded by mu.
	dirty []uint64
	free  int // number of free pages; guarded by mu
	hint  int // page index where the next search starts; guarded by mu
}

// NewArena allocates an arena of size bytes, rounded down to whole pages.
func NewArena(size int64) (*Arena, error) {
	pages := size / PageSize
	if pages < 16 {
		return nil, fmt.Errorf("mm: arena of %d bytes is too small (at least %d)", size, 16*PageSize)
	}
	if pages > 1<<28 {
		return nil, fmt.Errorf("mm: arena of %d bytes is too large", size)
	}
	a := &Arena{
		used:  make([]uint64, (pages+63)/64),
		dirty: make([]uint64, (pages+63)/64),
		free:  int(pages),
	}
	a.mem, a.release = allocMem(a, pages*PageSize)
	return a, nil
}

// Release gives the arena's memory back to the host, at the kernel's halt:
// its pages read as zeros afterwards and the arena must not be used again.
func (a *Arena) Release() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.release()
	a.release = func() {}
}

// Size returns the size of the arena in bytes.
func (a *Arena) Size() int64 { return int64(len(a.mem)) }

// Pages returns the number of pages in the arena.
func (a *Arena) Pages() int { return len(a.mem) / PageSize }

// FreePages returns the number of pages not allocated.
func (a *Arena) FreePages() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.free
}

// Alloc allocates n contiguous pages and returns the address of the first.
// The pages are zeroed. It fails when no run of n free pages exists.
func (a *Arena) Alloc(n int) (Addr, error) {
	if n <= 0 {
		return 0, fmt.Errorf("mm: alloc of %d pages", n)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	total := a.Pages()
	if n <= a.free {
		for pass := 0; pass < 2; pass++ {
			start, end := a.hint, total
			if pass == 1 {
				start, end = 0, min(a.hint+n, total)
			}
			if p, ok := a.findRun(start, end, n); ok {
				a.mark(p, n, true)
				a.hint = p + n
				if a.hint >= total {
					a.hint = 0
				}
				for i := p; i < p+n; i++ {
					if a.dirty[i/64]&(1<<(i%64)) != 0 {
						clear(a.mem[i*PageSize : (i+1)*PageSize])
					}
					a.dirty[i/64] |= 1 << (i % 64)
				}
				return Addr(p * PageSize), nil
			}
		}
	}
	return 0, fmt.Errorf("mm: out of memory: no run of %d free pages in %d MiB arena (%d pages free)",
		n, len(a.mem)>>20, a.free)
}

// findRun returns the first page index p in [start, end) with pages p..p+n-1
// all free and p+n <= end.
func (a *Arena) findRun(start, end, n int) (int, bool) {
	run := 0
	for p := start; p < end; {
		w := a.used[p/64] >> (p % 64)
		if p%64 == 0 && a.used[p/64] == 0 && p+64 <= end {
			run += 64
			p += 64
		} else if w&1 == 0 {
			run++
			p++
		} else {
			run = 0
			// Skip the run of set bits in this word at once.
			skip := bits.TrailingZeros64(^w)
			p += skip
		}
		if run >= n {
			return p - run, true
		}
	}
	return 0, false
}

func (a *Arena) mark(p, n int, used bool) {
	for i := p; i < p+n; i++ {
		if used {
			a.used[i/64] |= 1 << (i % 64)
		} else {
			a.used[i/64] &^= 1 << (i % 64)
		}
	}
	if used {
		a.free -= n
	} else {
		a.free += n
	}
}

// Free returns n pages starting at addr to the allocator. Freeing pages that
// are not allocated is a kernel bug and panics.
func (a *Arena) Free(addr Addr, n int) {
	if addr%PageSize != 0 || int(addr/PageSize)+n > a.Pages() {
		panic(fmt.Sprintf("mm: free of %d pages at %#x", n, addr))
	}
	p := int(addr / PageSize)
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := p; i < p+n; i++ {
		if a.used[i/64]&(1<<(i%64)) == 0 {
			panic(fmt.Sprintf("mm: double free of page %d", i))
		}
	}
	a.mark(p, n, false)
}

// Bytes returns the n bytes of the arena at addr, aliasing the arena. It
// returns nil if the range lies outside the arena.
func (a *Arena) Bytes(addr Addr, n int) []byte {
	if n < 0 || addr > Addr(len(a.mem)) || uint64(n) > uint64(len(a.mem))-uint64(addr) {
		return nil
	}
	return a.mem[addr : int(addr)+n : int(addr)+n]
}

// Slice is Bytes for a segment.
func (a *Arena) Slice(s Seg) []byte { return a.Bytes(s.Addr, int(s.Len)) }
