package cliflags

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// TestAdviseHugeHeap: after adviseHugeHeap, the memory the Go heap hands
// out next lies in a mapping advised for huge pages ("hg" in its VmFlags,
// Documentation/filesystems/proc.rst).
func TestAdviseHugeHeap(t *testing.T) {
	if _, err := os.Stat("/sys/kernel/mm/transparent_hugepage"); err != nil {
		t.Skip("no transparent huge pages in this kernel:", err)
	}
	adviseHugeHeap(8 << 20)
	// Spans for new objects come from the lowest free pages: the range
	// just freed, unless older free pages below it come first. Allocate
	// until one lands in an advised mapping.
	var keep [][]byte
	for range 64 {
		b := make([]byte, 64<<10)
		b[0] = 1
		keep = append(keep, b)
		if advised(t, uintptr(unsafe.Pointer(&b[0]))) {
			return
		}
	}
	t.Fatalf("no allocation of %d KiB landed in a mapping advised MADV_HUGEPAGE", len(keep)*64)
}

// advised reports whether addr lies in a mapping of this process whose
// VmFlags have hg (MADV_HUGEPAGE).
func advised(t *testing.T, addr uintptr) bool {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if lo, hi, ok := strings.Cut(strings.Fields(line)[0], "-"); ok && !strings.HasSuffix(strings.Fields(line)[0], ":") {
			a, err1 := strconv.ParseUint(lo, 16, 64)
			b, err2 := strconv.ParseUint(hi, 16, 64)
			if err1 == nil && err2 == nil {
				in = uint64(addr) >= a && uint64(addr) < b
				continue
			}
		}
		if in && strings.HasPrefix(line, "VmFlags:") {
			return strings.Contains(line+" ", " hg ")
		}
	}
	return false
}
