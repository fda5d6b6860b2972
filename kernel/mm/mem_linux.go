package mm

import (
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// InGoHeap reports whether the arena is memory of the Go heap, which the
// Go runtime's memory limit counts (cliflags.LimitHeap). Not on Linux.
const InGoHeap = false

// hugePage is the size of a transparent huge page on x86-64 and arm64
// with 4 KiB pages (HPAGE_PMD_SIZE).
const hugePage = 2 << 20

// mapping is the arena's memory: an anonymous private mapping apart from
// the Go heap, its usable part aligned to a huge page and advised
// MADV_HUGEPAGE (Documentation/admin-guide/mm/transhuge.rst), so that
// the kernel backs it with 2 MiB pages where it can. The first touch of
// each 4 KiB page would otherwise be a fault of its own: 8,192 faults to
// fill the default 32 MiB arena, ~100 ms on a virtual machine where a
// fault exits to the hypervisor (measured here: 12 us a fault), more
// than the whole of some commands' work. The advice is only advice: where
// transparent huge pages are off, the pages are faulted in one by one as
// before.
type mapping struct {
	whole []byte // the mapping as made, for munmap
}

// allocMem returns size bytes of zeroed memory for the arena and the
// function that gives the memory back to the host. Until then the memory
// stays mapped: release drops its pages (they read as zeros again) but
// keeps the range, so that a slice of the arena still held somewhere reads
// zeros rather than faulting; the range itself is unmapped once the arena
// is unreachable.
func allocMem(owner *Arena, size int64) ([]byte, func()) {
	whole, err := unix.Mmap(-1, 0, int(size)+hugePage, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		mem := make([]byte, size)
		return mem, func() {}
	}
	skew := int(uintptr(unsafe.Pointer(&whole[0])) % hugePage)
	off := (hugePage - skew) % hugePage
	mem := whole[off : off+int(size) : off+int(size)]
	_ = unix.Madvise(mem, unix.MADV_HUGEPAGE)
	runtime.AddCleanup(owner, func(m mapping) { _ = unix.Munmap(m.whole) }, mapping{whole: whole})
	return mem, func() { _ = unix.Madvise(mem, unix.MADV_DONTNEED) }
}
