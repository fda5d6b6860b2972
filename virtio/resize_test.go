package virtio

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestRawFileCreateResize: OpenRawFile creates and extends a file;
// the device's Resize cuts it, and the config space's capacity and
// generation follow; a read-only image is neither extended nor resized,
// and offers no unmapping write-zeroes.
func TestRawFileCreateResize(t *testing.T) {
	p := filepath.Join(t.TempDir(), "new.img")
	r, err := OpenRawFile(p, RawOptions{Create: true, Size: 1<<20 + 100})
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(p); err != nil || fi.Size() != 1<<20+100 || r.Size() != 1<<20 || !r.CanUnmap() {
		t.Fatalf("created: %v %v, capacity %d, unmap %t", fi, err, r.Size(), r.CanUnmap())
	}
	dev, err := NewBlkDevice(r, BlkConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	capacity := func() uint64 {
		var b [8]byte
		dev.ReadConfig(BlkCfgCapacity, b[:])
		return binary.LittleEndian.Uint64(b[:])
	}
	var unmap [1]byte
	dev.ReadConfig(BlkCfgWriteZeroesMayUnmap, unmap[:])
	if capacity() != 2048 || unmap[0] != 1 {
		t.Errorf("config: capacity %d, write_zeroes_may_unmap %d", capacity(), unmap[0])
	}
	gen := dev.ConfigGeneration()
	if err := dev.Resize(64 << 10); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(p); err != nil || fi.Size() != 64<<10 {
		t.Errorf("resized: %v %v", fi, err)
	}
	if capacity() != 128 || dev.ConfigGeneration() == gen {
		t.Errorf("after the resize: capacity %d, generation %d (was %d)", capacity(), dev.ConfigGeneration(), gen)
	}

	ro, err := OpenRawFile(p, RawOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	rodev, err := NewBlkDevice(ro, BlkConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer rodev.Close()
	rodev.ReadConfig(BlkCfgWriteZeroesMayUnmap, unmap[:])
	if err := rodev.Resize(1 << 20); !errors.Is(err, errors.ErrUnsupported) || unmap[0] != 0 {
		t.Errorf("read-only: resize %v, write_zeroes_may_unmap %d", err, unmap[0])
	}
	if _, err := OpenRawFile(p, RawOptions{ReadOnly: true, Size: 1 << 20}); err == nil {
		t.Errorf("a read-only open extended the file")
	}
}
