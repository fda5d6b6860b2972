package cliflags

import (
	"runtime/debug"
	"testing"

	"github.com/lklimg/lklimg/kernel/mm"
)

// TestLimitHeap: the soft memory limit follows -m where the arena is in
// the Go heap, is the headroom alone where it is not, and GOMEMLIMIT wins.
func TestLimitHeap(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(old)
	d := Disk{MemoryMB: 32}
	arena := int64(0)
	if mm.InGoHeap {
		arena = 32 << 20
	}
	if got, want := d.LimitHeap(func(string) string { return "" }), arena+HeapHeadroom; got != want {
		t.Errorf("LimitHeap(-m 32) = %d, want %d", got, want)
	}
	if got := debug.SetMemoryLimit(-1); got != arena+HeapHeadroom {
		t.Errorf("limit in force %d", got)
	}
	debug.SetMemoryLimit(old)
	env := func(k string) string {
		if k == "GOMEMLIMIT" {
			return "1GiB"
		}
		return ""
	}
	if got := d.LimitHeap(env); got != old {
		t.Errorf("LimitHeap with GOMEMLIMIT set = %d, want the limit unchanged (%d)", got, old)
	}
}
