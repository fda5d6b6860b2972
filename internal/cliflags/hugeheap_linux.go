package cliflags

import (
	"runtime/debug"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// hugePage is the size of a transparent huge page on x86-64 and arm64
// with 4 KiB pages (HPAGE_PMD_SIZE).
const hugePage = 2 << 20

// hugeHeapDefault is the Go heap advised for huge pages when no memory
// limit bounds it (GOMEMLIMIT set, or -m 0).
const hugeHeapDefault = 32 << 20

var hugeHeapOnce sync.Once

// adviseHugeHeap has the kernel back the next size bytes of the Go heap
// with transparent huge pages (MADV_HUGEPAGE,
// Documentation/admin-guide/mm/transhuge.rst), as the kernel's arena is
// (mm's mapping). Where transparent huge pages are "madvise" only, as on
// most distributions, the Go runtime advises none of its heap, and the
// first touch of each 4 KiB page of it is a fault of its own: 3,000 to
// 4,000 a command's run (the dentries and inodes a walk keeps, the tar
// buffers, the garbage made between two collections), on a virtual
// machine where a fault exits to the hypervisor about a fifth of fs2tar's
// time of an ISO 9660 image. The runtime takes memory for its heap at the
// end of what it has mapped and gives out the lowest free pages first: a
// large slice allocated now, never touched, lies where the heap grows
// next; the advice on its range outlives it, and once the collector has
// freed it (FreeOSMemory, at once: the heap is small at start-up) the
// spans made there are faulted in 2 MiB at a time. Only advice: with
// transparent huge pages off, or none free, nothing changes.
func adviseHugeHeap(size int64) {
	hugeHeapOnce.Do(func() {
		if size <= 0 || size > 4*hugeHeapDefault {
			size = hugeHeapDefault
		}
		adviseNext(size)
		debug.FreeOSMemory()
	})
}

// adviseNext allocates size bytes and more of the Go heap, the huge pages
// inside them advised MADV_HUGEPAGE, and drops them.
func adviseNext(size int64) {
	b := make([]byte, size+hugePage)
	skew := int(uintptr(unsafe.Pointer(unsafe.SliceData(b))) % hugePage)
	off := (hugePage - skew) % hugePage
	n := (len(b) - off) &^ (hugePage - 1)
	_ = unix.Madvise(b[off:off+n], unix.MADV_HUGEPAGE)
}
