package virtio

import (
	"encoding/binary"
	"testing"
)

// FuzzDecodeChain feeds arbitrary descriptor tables and buffers to the
// device's chain walker and virtio-blk request decoder: they must never
// panic, must report errors for anything out of bounds, and must leave
// the busy ledger exactly as they found it on error.
func FuzzDecodeChain(f *testing.F) {
	const size = 8
	seed := func(head uint16, descs ...Desc) []byte {
		b := make([]byte, 2+size*DescSize+64)
		binary.LittleEndian.PutUint16(b, head)
		for i, d := range descs {
			PutDesc(b[2:], uint16(i), d)
		}
		return b
	}
	// Memory is the input after the 2-byte head: the table at 0, buffers after.
	const buf = size * DescSize
	f.Add(seed(0, Desc{Addr: buf, Len: 16, Flags: DescFNext, Next: 1}, Desc{Addr: buf + 16, Len: 1, Flags: DescFWrite}))
	f.Add(seed(0, Desc{Addr: buf, Len: 8, Flags: DescFNext, Next: 1}, Desc{Addr: buf + 8, Len: 8, Flags: DescFNext, Next: 2},
		Desc{Addr: buf + 16, Len: 32, Flags: DescFWrite | DescFNext, Next: 3}, Desc{Addr: buf + 48, Len: 1, Flags: DescFWrite}))
	f.Add(seed(1, Desc{Addr: buf, Len: 16, Flags: DescFNext, Next: 1}, Desc{Addr: buf, Len: 16, Flags: DescFNext, Next: 0}))
	f.Add(seed(9))
	f.Add(seed(0, Desc{Addr: 1<<64 - 1, Len: 2, Flags: DescFIndirect}))
	f.Add(seed(0, Desc{Addr: buf, Len: 0, Flags: DescFWrite | DescFNext, Next: 1}, Desc{Addr: buf, Len: 0, Flags: DescFWrite}))

	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 2+size*DescSize {
			return
		}
		head := binary.LittleEndian.Uint16(in) % 16 // sometimes out of range
		mem := SliceMemory(in[2:])
		table := mem[:size*DescSize]
		busy := make([]bool, size)
		var c chain
		if int(head) >= size {
			return // pop rejects such heads before readChain
		}
		err := readChain(mem, table, size, head, busy, in[0]&1 == 0, &c)
		if err != nil {
			for i, b := range busy {
				if b {
					t.Fatalf("descriptor %d left busy after error %v", i, err)
				}
			}
			return
		}
		if len(c.descs) == 0 || len(c.descs) > size {
			t.Fatalf("chain of %d descriptors", len(c.descs))
		}
		var r, w uint64
		for _, b := range c.readable {
			r += uint64(len(b))
		}
		for _, b := range c.writable {
			w += uint64(len(b))
		}
		if r != c.rlen || w != c.wlen {
			t.Fatalf("lengths %d/%d, recorded %d/%d", r, w, c.rlen, c.wlen)
		}
		if err := decodeBlk(&c); err != nil {
			return
		}
		if len(c.blk.status) != 1 {
			t.Fatal("no status byte")
		}
		var dl uint64
		for _, b := range c.blk.data {
			dl += uint64(len(b))
		}
		if dl != c.blk.dlen {
			t.Fatalf("data %d bytes, recorded %d", dl, c.blk.dlen)
		}
		// Serving it against a small memory backend must not panic either.
		b := &blk{be: NewMemBackend(4096, false), cfg: BlkConfig{MaxDiscardSeg: 4, MaxDiscardSectors: 8,
			MaxWriteZeroesSeg: 4, MaxWriteZeroesSectors: 8}, feat: FVersion1 | BlkFFlush | BlkFDiscard | BlkFWriteZeroes}
		b.capacity.Store(8)
		n := b.serve(&c)
		if uint64(n) > c.wlen {
			t.Fatalf("used.len %d above %d writable bytes", n, c.wlen)
		}
		if c.blk.status[0] > BlkSUnsupp {
			t.Fatalf("status %d", c.blk.status[0])
		}
	})
}

// FuzzDevice hands the whole device an arbitrary guest memory, rings
// included, and kicks it: whatever the driver wrote, the device must
// neither panic nor hang, and must stop taking chains once it has set
// DEVICE_NEEDS_RESET.
func FuzzDevice(f *testing.F) {
	const size = 8
	l, _ := NewLayout(0, size)
	mk := func(avail uint16, heads []uint16, descs ...Desc) []byte {
		b := make([]byte, 1024)
		for i, d := range descs {
			PutDesc(b, uint16(i), d)
		}
		binary.LittleEndian.PutUint16(b[l.Avail+AvailIdxOff:], avail)
		for i, h := range heads {
			binary.LittleEndian.PutUint16(b[l.Avail+uint64(AvailSlotOff(size, uint16(i))):], h)
		}
		return b
	}
	f.Add(mk(1, []uint16{0}, Desc{Addr: 512, Len: 16, Flags: DescFNext, Next: 1}, Desc{Addr: 600, Len: 1, Flags: DescFWrite}))
	f.Add(mk(2, []uint16{0, 0}, Desc{Addr: 512, Len: 16, Flags: DescFNext, Next: 1}, Desc{Addr: 600, Len: 1, Flags: DescFWrite}))
	f.Add(mk(9, nil))
	f.Add(mk(1, []uint16{0}, Desc{Addr: 512, Len: 32, Flags: DescFIndirect}))
	f.Fuzz(func(t *testing.T, in []byte) {
		mem := make(SliceMemory, 1024)
		copy(mem, in)
		dev, err := NewBlkDevice(NewMemBackend(64<<10, false), BlkConfig{QueueSize: size, Workers: 2})
		if err != nil {
			t.Fatal(err)
		}
		// used_event and avail_event are ignored; keep the used ring
		// clean so the test only sees the device's writes there.
		clear(mem[l.Used:l.End])
		dev.SetStatus(StatusAcknowledge | StatusDriver)
		dev.SetDriverFeatures(dev.DeviceFeatures())
		dev.SetStatus(StatusAcknowledge | StatusDriver | StatusFeaturesOK)
		var used, configs int // the device serialises interrupts
		dev.Attach(mem, func(c Interrupt, _ int) {
			if c == InterruptUsedBuffer {
				used++
			} else {
				configs++
			}
		})
		if err := dev.SetupQueue(0, QueueConfig{Size: size, Desc: l.Desc, Avail: l.Avail, Used: l.Used}); err != nil {
			t.Fatal(err)
		}
		dev.SetStatus(StatusAcknowledge | StatusDriver | StatusFeaturesOK | StatusDriverOK)
		dev.Notify(0)
		dev.Notify(0)
		broken := dev.Status()&StatusDeviceNeedsReset != 0
		dev.Close() // waits for every request taken
		if broken != (configs == 1) || configs > 1 {
			t.Fatalf("needs reset %v, %d config interrupts", broken, configs)
		}
		// The used ring itself is not checked: a chain may point the
		// device's data writes at the rings, as a hostile driver could.
		_ = used
	})
}
