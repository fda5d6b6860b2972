//go:build linux

package archive

import (
	"testing"

	"github.com/lklimg/lklimg/kernel/abi"
)

// noXattrSys has no xattrs on any file.
type noXattrSys struct{ hostSys }

func (noXattrSys) Flistxattr(int, []byte) (int, error)    { return 0, nil }
func (noXattrSys) Llistxattr(string, []byte) (int, error) { return 0, nil }

// TestXattrsNoneAllocs: reading the xattrs of an entry that has none, from
// its descriptor or by its path, allocates nothing (issue #4: most entries
// have no xattrs, and there are hundreds of thousands of them).
func TestXattrsNoneAllocs(t *testing.T) {
	x := &exporter{sys: noXattrSys{}, root: "/mnt"}
	for _, fd := range []int{3, abi.AT_FDCWD} {
		if _, err := x.xattrs(fd, "/etc"); err != nil {
			t.Fatal(err)
		}
		n := testing.AllocsPerRun(100, func() {
			if xs, err := x.xattrs(fd, "/etc"); err != nil || xs != nil {
				t.Fatal(xs, err)
			}
		})
		if fd != abi.AT_FDCWD && n != 0 {
			t.Errorf("xattrs from a descriptor: %v allocations, want 0", n)
		}
		if fd == abi.AT_FDCWD && n > 1 {
			t.Errorf("xattrs by path: %v allocations, want at most 1 (the path)", n)
		}
	}
}
