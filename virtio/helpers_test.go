package virtio

import (
	"encoding/binary"
	"sync"
	"testing"
	"time"
)

// tdrv is a bare-hands driver for device tests: it writes descriptors and
// rings into a SliceMemory itself, so tests can write anything, malformed
// chains included.
type tdrv struct {
	t    *testing.T
	mem  SliceMemory
	dev  *Device
	l    Layout
	size int

	mu       sync.Mutex // serialises ring writes with Notify, as the package requires
	availIdx uint16

	irqMu    sync.Mutex
	usedSeen uint16
	used     chan [2]uint32 // {id, len} of each used element, in ring order
	config   chan struct{}
}

// bufBase is where tests put their buffers in memory, after the rings.
const bufBase = 1 << 16

func newTdrv(t *testing.T, dev *Device, size int, start uint16) *tdrv {
	t.Helper()
	d := &tdrv{t: t, mem: make(SliceMemory, 1<<20), dev: dev, size: size,
		used: make(chan [2]uint32, 1<<16), config: make(chan struct{}, 16)}
	l, err := NewLayout(0, size)
	if err != nil {
		t.Fatal(err)
	}
	d.l = l
	d.availIdx, d.usedSeen = start, start
	binary.LittleEndian.PutUint16(d.mem[l.Avail+AvailIdxOff:], start)
	dev.SetStatus(0)
	dev.SetStatus(StatusAcknowledge | StatusDriver)
	dev.SetDriverFeatures(dev.DeviceFeatures())
	dev.SetStatus(StatusAcknowledge | StatusDriver | StatusFeaturesOK)
	if dev.Status()&StatusFeaturesOK == 0 {
		t.Fatalf("FEATURES_OK refused")
	}
	dev.Attach(d.mem, d.irq)
	if err := dev.SetupQueue(0, QueueConfig{Size: size, Desc: l.Desc, Avail: l.Avail, Used: l.Used, StartIndex: start}); err != nil {
		t.Fatal(err)
	}
	dev.SetStatus(StatusAcknowledge | StatusDriver | StatusFeaturesOK | StatusDriverOK)
	if dev.Status()&StatusDriverOK == 0 {
		t.Fatalf("DRIVER_OK refused: %v", dev.Status())
	}
	return d
}

func (d *tdrv) irq(cause Interrupt, _ int) {
	switch cause {
	case InterruptUsedBuffer:
		idx := binary.LittleEndian.Uint16(d.mem[d.l.Used+UsedIdxOff:])
		for ; d.usedSeen != idx; d.usedSeen++ {
			off := d.l.Used + uint64(UsedSlotOff(d.size, d.usedSeen))
			d.used <- [2]uint32{binary.LittleEndian.Uint32(d.mem[off:]), binary.LittleEndian.Uint32(d.mem[off+4:])}
		}
	case InterruptConfigChange:
		d.config <- struct{}{}
	}
}

// post writes descs at descriptor indexes ids (linking them with NEXT
// unless a desc sets its own flags with noLink), publishes head ids[0]
// and kicks.
func (d *tdrv) post(ids []uint16, descs []Desc) {
	d.mu.Lock()
	defer d.mu.Unlock()
	table := d.mem[d.l.Desc : d.l.Desc+uint64(DescTableSize(d.size))]
	for k, ds := range descs {
		if k+1 < len(descs) {
			ds.Flags |= DescFNext
			ds.Next = ids[k+1]
		}
		PutDesc(table, ids[k], ds)
	}
	d.publish(ids[0])
}

// publish puts head in the next avail slot and kicks; caller holds mu.
func (d *tdrv) publish(head uint16) {
	binary.LittleEndian.PutUint16(d.mem[d.l.Avail+uint64(AvailSlotOff(d.size, d.availIdx)):], head)
	d.availIdx++
	binary.LittleEndian.PutUint16(d.mem[d.l.Avail+AvailIdxOff:], d.availIdx)
	d.dev.Notify(0)
}

func (d *tdrv) waitUsed() [2]uint32 {
	d.t.Helper()
	select {
	case u := <-d.used:
		return u
	case <-time.After(10 * time.Second):
		d.t.Fatal("no used buffer within 10s")
	}
	return [2]uint32{}
}

func (d *tdrv) waitConfig() {
	d.t.Helper()
	select {
	case <-d.config:
	case <-time.After(10 * time.Second):
		d.t.Fatal("no config change interrupt within 10s")
	}
}

// blkReq posts a virtio-blk request as header | data | status at fixed
// buffer addresses, using descriptors 0, 1, 2, and returns the status and
// used.len. data is copied in for writes and out for reads.
func (d *tdrv) blkReq(typ uint32, sector uint64, data []byte, deviceWrites bool) (uint8, uint32) {
	const hdr, dat = bufBase, bufBase + 64
	PutBlkHeader(d.mem[hdr:], typ, sector)
	stAddr := uint64(dat + len(data))
	d.mem[stAddr] = 0xff
	var dflags uint16
	if deviceWrites {
		dflags = DescFWrite
	} else {
		copy(d.mem[dat:], data)
	}
	descs := []Desc{{Addr: hdr, Len: BlkHeaderSize}}
	ids := []uint16{0}
	if len(data) > 0 {
		descs = append(descs, Desc{Addr: dat, Len: uint32(len(data)), Flags: dflags})
		ids = append(ids, 1)
	}
	descs = append(descs, Desc{Addr: stAddr, Len: 1, Flags: DescFWrite})
	ids = append(ids, 2)
	d.post(ids, descs)
	u := d.waitUsed()
	if u[0] != 0 {
		d.t.Fatalf("used id %d, want 0", u[0])
	}
	if deviceWrites {
		copy(data, d.mem[dat:])
	}
	return d.mem[stAddr], u[1]
}
