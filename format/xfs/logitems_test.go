package xfs

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/lklimg/lklimg/kernel/abi"
)

// bui lays out a BUI's format region as Linux logs it (host-endian on a
// little-endian machine): the header, then n copies of one extent.
func bui(n uint32, m MapExtent) []byte {
	r := make([]byte, 16+32*int(n))
	binary.LittleEndian.PutUint16(r, LiBUI)
	binary.LittleEndian.PutUint16(r[2:], 1)
	binary.LittleEndian.PutUint32(r[4:], n)
	binary.LittleEndian.PutUint64(r[8:], 0xffff888211653c30)
	for i := range int(n) {
		x := r[16+32*i:]
		binary.LittleEndian.PutUint64(x, m.Owner)
		binary.LittleEndian.PutUint64(x[8:], m.StartBlock)
		binary.LittleEndian.PutUint64(x[16:], m.StartOff)
		binary.LittleEndian.PutUint32(x[24:], m.Len)
		binary.LittleEndian.PutUint32(x[28:], m.Flags)
	}
	return r
}

func TestDecodeBUI(t *testing.T) {
	good := MapExtent{Owner: 131, StartBlock: 5000, StartOff: 12, Len: 3, Flags: BmapUnmap | BmapExtentUnwritten}
	b, err := DecodeBUI(bui(1, good))
	if err != nil {
		t.Fatal(err)
	}
	if b.ID != 0xffff888211653c30 || len(b.Extents) != 1 || b.Extents[0] != good || b.Extents[0].Type() != BmapUnmap {
		t.Errorf("decoded %+v", b)
	}
	for _, c := range []struct {
		name string
		r    []byte
	}{
		{"cut", bui(1, good)[:40]},
		{"two extents", bui(2, good)},
		{"no extent", bui(0, good)},
		{"type 3", bui(1, MapExtent{Owner: 131, StartBlock: 1, Len: 1, Flags: 3})},
		{"unknown flag", bui(1, MapExtent{Owner: 131, StartBlock: 1, Len: 1, Flags: BmapMap | 1<<20})},
		{"empty", bui(1, MapExtent{Owner: 131, StartBlock: 1, Flags: BmapMap})},
		{"beyond files", bui(1, MapExtent{Owner: 131, StartBlock: 1, StartOff: 1 << 54, Len: 1, Flags: BmapMap})},
	} {
		if _, err := DecodeBUI(c.r); !errors.Is(err, abi.EUCLEAN) {
			t.Errorf("%s: %v, want EUCLEAN", c.name, err)
		}
	}
}
