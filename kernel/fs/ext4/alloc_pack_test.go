package ext4

import (
	"errors"
	"testing"

	"github.com/lklimg/lklimg/kernel/abi"
)

// TestAllocOption: "alloc=pack" turns the packing policy on; any other
// value of alloc is refused with EINVAL, as ext4 refuses a bad value.
func TestAllocOption(t *testing.T) {
	for _, tc := range []struct {
		data string
		pack bool
		err  error
	}{
		{"", false, nil},
		{"alloc=pack", true, nil},
		{"noatime,alloc=pack,rw", true, nil},
		{"alloc=spread", false, abi.EINVAL},
		{"alloc", false, abi.EINVAL},
		{"alloc=", false, abi.EINVAL},
	} {
		o, err := parseMountOptions(tc.data)
		if !errors.Is(err, tc.err) && (err != nil || tc.err != nil) {
			t.Errorf("%q: %v, want %v", tc.data, err, tc.err)
		}
		if err == nil && o.pack != tc.pack {
			t.Errorf("%q: pack %v, want %v", tc.data, o.pack, tc.pack)
		}
	}
}
