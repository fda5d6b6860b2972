//go:build !linux

package mm

// InGoHeap reports whether the arena is memory of the Go heap, which the
// Go runtime's memory limit counts (cliflags.LimitHeap). Here it is.
const InGoHeap = true

// allocMem returns size bytes of zeroed memory for the arena from the Go
// heap, and a release that leaves it to the collector. (Linux maps it
// apart, in huge pages: mem_linux.go.)
func allocMem(owner *Arena, size int64) ([]byte, func()) {
	return make([]byte, size), func() {}
}
