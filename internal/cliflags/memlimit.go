package cliflags

import (
	"math"
	"runtime/debug"

	"github.com/lklimg/lklimg/kernel/mm"
)

// HeapHeadroom is the Go heap a command may use beyond the kernel's memory
// (-m): the kernel's bounded caches outside the arena (8,192 unused
// dentries and the inodes they hold: about 9 MiB live on the bench
// images), the tar buffers, a writer's running ext4 transaction (its
// metadata blocks kept until it commits: at most an eighth of the page
// cache's bound, 4 MiB at the default -m) and the import's read-ahead
// buffers (4 MiB), and the garbage made between two collections. A limit
// nearer the live heap has the collector run back to back: at 20 MiB,
// fs2tar of the bench's squashfs image made 15 collections and took 10%
// more CPU than at 28 MiB (its ISO and ext4 images 6 and 5% more), and
// tar2fs's import had its live heap at the limit. At the default -m the
// peak RSS stays under 64 MiB (issue 13): 60 MiB for fs2tar, 63 MiB for
// tar2fs, the arena's and the heap's huge pages included.
const HeapHeadroom = 28 << 20

// LimitHeap has the Go heap backed by huge pages where it can
// (adviseHugeHeap), sets the Go runtime's soft memory limit to
// HeapHeadroom, plus the kernel's memory where the arena is part of the
// Go heap (mm.InGoHeap: not on Linux, where it is mapped apart), unless
// the user set GOMEMLIMIT, and returns the limit in force. Either way a
// command's peak RSS stays near -m + 28 MiB whatever the size of the
// image. Where the arena is in the heap, a live 32 MiB (by default) that
// the default GOGC=100 would let the heap grow to twice before it
// collects, the limit costs a collection every few tens of MiB of garbage
// (cheap: the arena holds no pointers and is not scanned).
func (d *Disk) LimitHeap(getenv func(string) string) int64 {
	headroom := int64(HeapHeadroom)
	if getenv("GOMEMLIMIT") != "" || d.MemoryMB <= 0 || int64(d.MemoryMB) > (math.MaxInt64-headroom)>>20 {
		adviseHugeHeap(0)
		return debug.SetMemoryLimit(-1)
	}
	limit := headroom
	if mm.InGoHeap {
		limit += int64(d.MemoryMB) << 20
	}
	adviseHugeHeap(limit)
	debug.SetMemoryLimit(limit)
	return limit
}
