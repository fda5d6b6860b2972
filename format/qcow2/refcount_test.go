package qcow2

import (
	"errors"
	"testing"
)

// FuzzRefcount sets entries of a refcount block of every width: each
// reads back as set, changes only the bytes SetRefcount says, and leaves
// every other entry as it was. A refcount table entry is checked.
func FuzzRefcount(f *testing.F) {
	f.Add(uint8(4), uint16(7), uint64(1), []byte{1, 2, 3})
	f.Add(uint8(0), uint16(511), uint64(1), []byte{0xff})
	f.Add(uint8(6), uint16(0), uint64(1<<63), []byte{})
	f.Fuzz(func(t *testing.T, order uint8, index uint16, v uint64, fill []byte) {
		h := &Header{ClusterBits: 9, RefcountOrder: uint32(order % 7)}
		block := make([]byte, h.ClusterSize())
		for i := range block {
			if len(fill) > 0 {
				block[i] = fill[i%len(fill)]
			}
		}
		before := append([]byte(nil), block...)
		i := uint64(index) % h.RefcountsPerBlock()
		v &= h.MaxRefcount()
		var others []uint64
		for j := range h.RefcountsPerBlock() {
			others = append(others, Refcount(block, j, h.RefcountOrder))
		}
		from, to := SetRefcount(block, i, h.RefcountOrder, v)
		if got := Refcount(block, i, h.RefcountOrder); got != v {
			t.Fatalf("order %d: entry %d set to %d reads %d", h.RefcountOrder, i, v, got)
		}
		for j := range h.RefcountsPerBlock() {
			if j != i && Refcount(block, j, h.RefcountOrder) != others[j] {
				t.Fatalf("order %d: setting entry %d changed entry %d", h.RefcountOrder, i, j)
			}
		}
		for k := range block {
			if (k < from || k >= to) && block[k] != before[k] {
				t.Fatalf("order %d: byte %d changed outside [%d, %d)", h.RefcountOrder, k, from, to)
			}
		}
		if _, err := RefcountBlockOffset(v, h); (err == nil) != (v%512 == 0) || err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("refcount table entry %#x: %v", v, err)
		}
	})
}
