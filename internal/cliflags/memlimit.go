package cliflags

import (
	"math"
	"runtime/debug"
)

// HeapHeadroom is the Go heap a command may use beyond the kernel's memory
// (-m): the kernel's bounded caches outside the arena (8,192 unused
// dentries, 4,096 decoded inodes: about 9 MiB live on the bench images),
// the tar buffer, and the garbage made between two collections.
const HeapHeadroom = 20 << 20

// LimitHeap sets the Go runtime's soft memory limit to the kernel's memory
// plus HeapHeadroom, unless the user set GOMEMLIMIT, and returns the limit
// in force. The arena is a live 32 MiB (by default) of the Go heap, so the
// default GOGC=100 lets the heap grow to twice that before it collects:
// with the limit, a command's peak RSS stays near -m + 28 MiB whatever the
// size of the image, at the cost of a collection every few tens of MiB of
// garbage (cheap: the arena holds no pointers and is not scanned).
func (d *Disk) LimitHeap(getenv func(string) string) int64 {
	if getenv("GOMEMLIMIT") != "" || d.MemoryMB <= 0 || d.MemoryMB > (math.MaxInt64-HeapHeadroom)>>20 {
		return debug.SetMemoryLimit(-1)
	}
	limit := int64(d.MemoryMB)<<20 + HeapHeadroom
	debug.SetMemoryLimit(limit)
	return limit
}
