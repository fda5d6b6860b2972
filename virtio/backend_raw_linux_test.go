//go:build linux

package virtio

import (
	"bytes"
	"testing"
)

func TestRawFileHoles(t *testing.T) {
	p := tempImage(t, 1<<20, 0x77)
	r, err := OpenRaw(p, false)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if h, _ := r.SeekHole(0); h != 1<<20 {
		t.Fatalf("hole at %d in a full file", h)
	}
	if err := r.Discard(256<<10, 256<<10); err != nil {
		t.Fatal(err)
	}
	h, err := r.SeekHole(0)
	if err != nil || h != 256<<10 {
		t.Fatalf("SeekHole after punch: %d %v", h, err)
	}
	if d, err := r.SeekData(h); err != nil || d != 512<<10 {
		t.Fatalf("SeekData after hole: %d %v", d, err)
	}
	if err := r.WriteZeroes(4096, 8192); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1<<20)
	if err := r.ReadAt([][]byte{b}, 0); err != nil {
		t.Fatal(err)
	}
	for i, c := range b {
		zero := (i >= 4096 && i < 12288) || (i >= 256<<10 && i < 512<<10)
		if (c == 0) != zero {
			t.Fatalf("byte %d = %#x", i, c)
		}
	}
	if !bytes.Equal(b[:4096], bytes.Repeat([]byte{0x77}, 4096)) {
		t.Fatal("head changed")
	}
}
