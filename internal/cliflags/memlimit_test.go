package cliflags

import (
	"runtime/debug"
	"testing"
)

// TestLimitHeap: the soft memory limit follows -m, and GOMEMLIMIT wins.
func TestLimitHeap(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(old)
	d := Disk{MemoryMB: 32}
	if got, want := d.LimitHeap(func(string) string { return "" }, false), int64(32<<20+HeapHeadroom); got != want {
		t.Errorf("LimitHeap(-m 32) = %d, want %d", got, want)
	}
	if got := debug.SetMemoryLimit(-1); got != 32<<20+HeapHeadroom {
		t.Errorf("limit in force %d", got)
	}
	if got, want := d.LimitHeap(func(string) string { return "" }, true), int64(32<<20+HeapHeadroom+WriteHeadroom); got != want {
		t.Errorf("LimitHeap(-m 32) for writing = %d, want %d", got, want)
	}
	debug.SetMemoryLimit(old)
	env := func(k string) string {
		if k == "GOMEMLIMIT" {
			return "1GiB"
		}
		return ""
	}
	if got := d.LimitHeap(env, true); got != old {
		t.Errorf("LimitHeap with GOMEMLIMIT set = %d, want the limit unchanged (%d)", got, old)
	}
}
