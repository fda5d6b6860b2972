//go:build !linux

package cliflags

// adviseHugeHeap does nothing: transparent huge pages are Linux's.
func adviseHugeHeap(int64) {}
