package mm

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
	"unsafe"
)

// TestArenaHugePages: on Linux the arena is mapped apart from the Go heap,
// aligned to a huge page and eligible for transparent huge pages where the
// host allows them (/proc/self/smaps THPeligible), and Release leaves it
// reading zeros.
func TestArenaHugePages(t *testing.T) {
	a, err := NewArena(8 << 20)
	if err != nil {
		t.Fatal(err)
	}
	start := uintptr(unsafe.Pointer(&a.mem[0]))
	if start%hugePage != 0 {
		t.Errorf("arena at %#x, not aligned to %d", start, hugePage)
	}
	addr, err := a.Alloc(4)
	if err != nil {
		t.Fatal(err)
	}
	p := a.Bytes(addr, 4*PageSize)
	for i := range p {
		p[i] = byte(i)
	}
	if mode, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled"); err == nil && !bytes.Contains(mode, []byte("[never]")) {
		eligible, err := thpEligible(start)
		if err != nil {
			t.Fatal(err)
		}
		if !eligible {
			t.Errorf("arena at %#x is not THPeligible in /proc/self/smaps (host THP: %s)", start, strings.TrimSpace(string(mode)))
		}
	}
	a.Release()
	if !bytes.Equal(p, make([]byte, len(p))) {
		t.Error("arena pages hold their bytes after Release")
	}
}

// thpEligible reports the THPeligible field of the mapping holding addr.
func thpEligible(addr uintptr) (bool, error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return false, err
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		var lo, hi uintptr
		if f := strings.Fields(line); len(f) >= 5 && !strings.HasSuffix(f[0], ":") {
			if n, _ := fmt.Sscanf(f[0], "%x-%x", &lo, &hi); n == 2 {
				in = addr >= lo && addr < hi
				continue
			}
		}
		if in && strings.HasPrefix(line, "THPeligible:") {
			return strings.TrimSpace(strings.TrimPrefix(line, "THPeligible:")) == "1", nil
		}
	}
	return false, fmt.Errorf("no mapping of %#x in /proc/self/smaps", addr)
}
