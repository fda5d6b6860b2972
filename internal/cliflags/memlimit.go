package cliflags

import (
	"math"
	"runtime/debug"

	"github.com/lklimg/lklimg/kernel/mm"
)

// HeapHeadroom is the Go heap a command may use beyond the kernel's memory
// (-m): the kernel's bounded caches outside the arena (8,192 unused
// dentries and the inodes they hold: about 9 MiB live on the bench images),
// the tar buffer, and the garbage made between two collections.
const HeapHeadroom = 20 << 20

// WriteHeadroom is the Go heap a command that writes needs on top of
// HeapHeadroom: the ext4 driver's running transaction keeps its metadata
// blocks in memory until it commits, at most an eighth of the page
// cache's bound (4 MiB at the default -m), plus what the commit builds
// and the import's read-ahead buffers (4 MiB). Without it a long write
// (tar2fs's import) has its live heap at the limit and the collector
// runs back to back. At the default -m a writing command's limit is
// 60 MiB, which keeps its peak RSS under 64 MiB (issue 13).
const WriteHeadroom = 8 << 20

// LimitHeap has the Go heap backed by huge pages where it can
// (adviseHugeHeap), sets the Go runtime's soft memory limit to HeapHeadroom (and
// WriteHeadroom when the command writes), plus the kernel's memory where
// the arena is part of the Go heap (mm.InGoHeap: not on Linux, where it
// is mapped apart), unless the user set GOMEMLIMIT, and returns the limit
// in force. Either way a command's peak RSS stays near -m + 28 MiB
// whatever the size of the image. Where the arena is in the heap, a live
// 32 MiB (by default) that the default GOGC=100 would let the heap grow
// to twice before it collects, the limit costs a collection every few
// tens of MiB of garbage (cheap: the arena holds no pointers and is not
// scanned).
func (d *Disk) LimitHeap(getenv func(string) string, write bool) int64 {
	headroom := int64(HeapHeadroom)
	if write {
		headroom += WriteHeadroom
	}
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
