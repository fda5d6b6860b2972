package virtio

import (
	"bytes"
	"encoding/binary"
	"runtime"
	"testing"
	"time"
)

func newMemDevice(t *testing.T, size int64, ro bool, cfg BlkConfig) (*Device, *MemBackend) {
	t.Helper()
	be := NewMemBackend(size, ro)
	dev, err := NewBlkDevice(be, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return dev, be
}

func TestNegotiation(t *testing.T) {
	dev, _ := newMemDevice(t, 1<<20, false, BlkConfig{})
	defer dev.Close()
	if dev.DeviceID() != DeviceIDBlock {
		t.Fatal("device id")
	}
	off := dev.DeviceFeatures()
	if !off.Has(FVersion1|BlkFFlush|BlkFDiscard|BlkFWriteZeroes|BlkFSegMax|BlkFBlkSize) || off.Has(BlkFRO) || !off.Has(FIndirectDesc) || off.Has(FEventIdx) {
		t.Fatalf("offered %#x", uint64(off))
	}
	for _, f := range []Features{off &^ FVersion1, off | BlkFMQ} {
		dev.SetStatus(0)
		dev.SetStatus(StatusAcknowledge | StatusDriver)
		dev.SetDriverFeatures(f)
		dev.SetStatus(StatusAcknowledge | StatusDriver | StatusFeaturesOK)
		if dev.Status()&StatusFeaturesOK != 0 {
			t.Errorf("features %#x accepted", uint64(f))
		}
	}
	// DRIVER_OK without a queue is an error the device flags.
	dev.SetStatus(0)
	dev.SetStatus(StatusAcknowledge | StatusDriver)
	dev.SetDriverFeatures(FVersion1)
	dev.SetStatus(StatusAcknowledge | StatusDriver | StatusFeaturesOK)
	dev.SetStatus(StatusAcknowledge | StatusDriver | StatusFeaturesOK | StatusDriverOK)
	if s := dev.Status(); s&StatusDriverOK != 0 || s&StatusDeviceNeedsReset == 0 {
		t.Errorf("status %v after DRIVER_OK without queue", s)
	}
	dev.SetStatus(0)
	if dev.Status() != 0 {
		t.Errorf("status %v after reset", dev.Status())
	}
	// Config space (§5.2.4).
	var cfg [64]byte
	dev.ReadConfig(0, cfg[:])
	if c := binary.LittleEndian.Uint64(cfg[BlkCfgCapacity:]); c != 2048 {
		t.Errorf("capacity %d sectors", c)
	}
	if s := binary.LittleEndian.Uint32(cfg[BlkCfgSegMax:]); s != 254 {
		t.Errorf("seg_max %d", s)
	}
	if cfg[60] != 0 || cfg[BlkCfgWriteZeroesMayUnmap] != 1 {
		t.Error("config tail")
	}
}

func TestSetupQueueChecks(t *testing.T) {
	dev, _ := newMemDevice(t, 1<<20, false, BlkConfig{QueueSize: 64})
	defer dev.Close()
	dev.SetStatus(StatusAcknowledge | StatusDriver)
	dev.SetDriverFeatures(FVersion1)
	dev.SetStatus(StatusAcknowledge | StatusDriver | StatusFeaturesOK)
	dev.Attach(make(SliceMemory, 8192), nil)
	for _, qc := range []QueueConfig{
		{Size: 128, Desc: 0, Avail: 2048, Used: 4096},    // above QueueMaxSize
		{Size: 6, Desc: 0, Avail: 2048, Used: 4096},      // not a power of 2
		{Size: 64, Desc: 8, Avail: 2048, Used: 4096},     // desc misaligned
		{Size: 64, Desc: 0, Avail: 2048, Used: 4098},     // used misaligned
		{Size: 64, Desc: 0, Avail: 2048, Used: 8192 - 8}, // used outside memory
	} {
		if dev.SetupQueue(0, qc) == nil {
			t.Errorf("queue %+v accepted", qc)
		}
	}
}

func TestBlkRequests(t *testing.T) {
	dev, be := newMemDevice(t, 1<<20, false, BlkConfig{Serial: "serial-0123"})
	defer dev.Close()
	d := newTdrv(t, dev, 8, 0)

	data := bytes.Repeat([]byte("0123456789abcdef"), 64) // 1 KiB
	if st, n := d.blkReq(BlkTOut, 10, data, false); st != BlkSOK || n != 1 {
		t.Fatalf("OUT: status %d len %d", st, n)
	}
	if !bytes.Equal(be.Bytes()[10*512:10*512+1024], data) {
		t.Fatal("OUT did not reach the backend")
	}
	got := make([]byte, 1024)
	if st, n := d.blkReq(BlkTIn, 10, got, true); st != BlkSOK || n != 1025 || !bytes.Equal(got, data) {
		t.Fatalf("IN: status %d len %d", st, n)
	}
	// The last sector is readable, one past it is not (§5.2.6.1).
	if st, _ := d.blkReq(BlkTIn, 2047, got[:512], true); st != BlkSOK {
		t.Fatalf("IN at last sector: %d", st)
	}
	if st, n := d.blkReq(BlkTIn, 2047, got[:1024], true); st != BlkSIOErr || n != 1 {
		t.Fatalf("IN past end: status %d len %d", st, n)
	}
	if st, _ := d.blkReq(BlkTIn, 1<<63, got[:512], true); st != BlkSIOErr {
		t.Fatalf("IN at huge sector: %d", st)
	}
	if st, _ := d.blkReq(BlkTIn, 0, got[:100], true); st != BlkSIOErr {
		t.Fatalf("IN of 100 bytes: %d", st)
	}
	id := make([]byte, 20)
	if st, n := d.blkReq(BlkTGetID, 0, id, true); st != BlkSOK || n != 21 || string(id) != "serial-0123\x00\x00\x00\x00\x00\x00\x00\x00\x00" {
		t.Fatalf("GET_ID: status %d len %d %q", st, n, id)
	}
	if st, _ := d.blkReq(BlkTFlush, 0, nil, false); st != BlkSOK {
		t.Fatalf("FLUSH: %d", st)
	}
	if st, _ := d.blkReq(99, 0, nil, false); st != BlkSUnsupp {
		t.Fatalf("type 99: %d", st)
	}
	seg := make([]byte, 16)
	PutBlkDiscardSeg(seg, 10, 1, 0)
	if st, _ := d.blkReq(BlkTDiscard, 0, seg, false); st != BlkSOK {
		t.Fatalf("DISCARD: %d", st)
	}
	if !bytes.Equal(be.Bytes()[10*512:11*512], make([]byte, 512)) || be.Bytes()[11*512] != '0' {
		t.Fatal("DISCARD did not zero exactly one sector of the memory backend")
	}
	PutBlkDiscardSeg(seg, 10, 1, BlkDWZFUnmap)
	if st, _ := d.blkReq(BlkTDiscard, 0, seg, false); st != BlkSUnsupp {
		t.Fatalf("DISCARD with UNMAP: %d", st)
	}
	PutBlkDiscardSeg(seg, 11, 1, BlkDWZFUnmap)
	if be.Bytes()[11*512] != '0' {
		t.Fatal("sector 11 not written")
	}
	if st, _ := d.blkReq(BlkTWriteZeroes, 0, seg, false); st != BlkSOK || !bytes.Equal(be.Bytes()[11*512:12*512], make([]byte, 512)) {
		t.Fatalf("WRITE_ZEROES: %d", st)
	}
	PutBlkDiscardSeg(seg, 2047, 2, 0)
	if st, _ := d.blkReq(BlkTWriteZeroes, 0, seg, false); st != BlkSIOErr {
		t.Fatalf("WRITE_ZEROES past end: %d", st)
	}
	if st, _ := d.blkReq(BlkTWriteZeroes, 0, seg[:10], false); st != BlkSIOErr {
		t.Fatalf("WRITE_ZEROES with a partial segment: %d", st)
	}
	// Nothing was malformed at the virtqueue level.
	if dev.Status()&StatusDeviceNeedsReset != 0 {
		t.Fatalf("needs reset: %v", dev.Err())
	}
}

func TestReadOnlyDevice(t *testing.T) {
	dev, be := newMemDevice(t, 1<<20, true, BlkConfig{})
	defer dev.Close()
	if !dev.DeviceFeatures().Has(BlkFRO) {
		t.Fatal("RO not offered")
	}
	be.b[0] = 7
	d := newTdrv(t, dev, 8, 0)
	if st, n := d.blkReq(BlkTOut, 0, make([]byte, 512), false); st != BlkSIOErr || n != 1 {
		t.Fatalf("OUT on RO: status %d len %d", st, n)
	}
	seg := make([]byte, 16)
	PutBlkDiscardSeg(seg, 0, 1, 0)
	for _, typ := range []uint32{BlkTDiscard, BlkTWriteZeroes} {
		if st, _ := d.blkReq(typ, 0, seg, false); st != BlkSIOErr {
			t.Fatalf("type %d on RO: %d", typ, st)
		}
	}
	if be.b[0] != 7 {
		t.Fatal("RO backend changed")
	}
}

// TestWrapAround drives more than 2^16 requests through a queue of 4,
// starting the free-running indexes just below the wrap, and checks each
// completion and its data.
func TestWrapAround(t *testing.T) {
	dev, _ := newMemDevice(t, 1<<20, false, BlkConfig{QueueSize: 4, Workers: 2})
	defer dev.Close()
	d := newTdrv(t, dev, 4, 65530)
	buf := make([]byte, 512)
	for i := 0; i < 70000; i++ {
		sector := uint64(i % 2048)
		binary.LittleEndian.PutUint64(buf, uint64(i))
		if i%2 == 0 {
			if st, _ := d.blkReq(BlkTOut, sector, buf, false); st != BlkSOK {
				t.Fatalf("request %d: status %d", i, st)
			}
			continue
		}
		clear(buf)
		if st, n := d.blkReq(BlkTIn, sector-1, buf, true); st != BlkSOK || n != 513 {
			t.Fatalf("request %d: status %d len %d", i, st, n)
		}
		if v := binary.LittleEndian.Uint64(buf); v != uint64(i-1) {
			t.Fatalf("request %d read %d", i, v)
		}
	}
	if d.availIdx != uint16((65530+70000)%65536) {
		t.Fatalf("avail idx %d", d.availIdx)
	}
	if u := binary.LittleEndian.Uint16(d.mem[d.l.Used+UsedIdxOff:]); u != d.availIdx {
		t.Fatalf("used idx %d, avail idx %d", u, d.availIdx)
	}
}

// TestMalformed posts one good request, then a malformed one: the device
// must complete the good one, set NEEDS_RESET, interrupt with a config
// change and take nothing more, without panicking or hanging; after a
// reset it works again.
func TestMalformed(t *testing.T) {
	const hdr, dat, st, ind = bufBase, bufBase + 512, bufBase + 4096, bufBase + 8192
	good := []Desc{{Addr: hdr, Len: 16}, {Addr: dat, Len: 512, Flags: DescFWrite}, {Addr: st, Len: 1, Flags: DescFWrite}}
	cases := []struct {
		name  string
		write func(d *tdrv) // posts the bad chain
	}{
		{"loop", func(d *tdrv) {
			d.post([]uint16{4, 5, 4}, []Desc{{Addr: hdr, Len: 16}, {Addr: dat, Len: 512}, {Addr: st, Len: 1, Flags: DescFWrite}})
		}},
		{"self loop", func(d *tdrv) {
			d.post([]uint16{4}, []Desc{{Addr: hdr, Len: 16, Flags: DescFNext, Next: 4}})
		}},
		{"next out of range", func(d *tdrv) {
			d.post([]uint16{4}, []Desc{{Addr: hdr, Len: 16, Flags: DescFNext, Next: 8}})
		}},
		{"head out of range", func(d *tdrv) {
			d.mu.Lock()
			d.publish(9)
			d.mu.Unlock()
		}},
		{"buffer outside memory", func(d *tdrv) {
			d.post([]uint16{4, 5}, []Desc{{Addr: hdr, Len: 16}, {Addr: 1<<20 - 4, Len: 5, Flags: DescFWrite}})
		}},
		{"huge address", func(d *tdrv) {
			d.post([]uint16{4, 5}, []Desc{{Addr: hdr, Len: 16}, {Addr: 1<<64 - 1, Len: 0xffffffff, Flags: DescFWrite}})
		}},
		{"readable after writable", func(d *tdrv) {
			d.post([]uint16{4, 5, 6}, []Desc{{Addr: hdr, Len: 16}, {Addr: st, Len: 1, Flags: DescFWrite}, {Addr: dat, Len: 512}})
		}},
		{"indirect with next", func(d *tdrv) {
			d.post([]uint16{4, 5}, []Desc{{Addr: ind, Len: 32, Flags: DescFIndirect}, {Addr: st, Len: 1, Flags: DescFWrite}})
		}},
		{"indirect table outside memory", func(d *tdrv) {
			d.post([]uint16{4}, []Desc{{Addr: 1<<20 - 16, Len: 32, Flags: DescFIndirect}})
		}},
		{"indirect table of partial descriptors", func(d *tdrv) {
			d.post([]uint16{4}, []Desc{{Addr: ind, Len: 24, Flags: DescFIndirect}})
		}},
		{"indirect loop", func(d *tdrv) {
			PutDesc(d.mem[ind:], 0, Desc{Addr: hdr, Len: 16, Flags: DescFNext, Next: 1})
			PutDesc(d.mem[ind:], 1, Desc{Addr: hdr, Len: 16, Flags: DescFNext, Next: 0})
			d.post([]uint16{4}, []Desc{{Addr: ind, Len: 32, Flags: DescFIndirect}})
		}},
		{"indirect next beyond table", func(d *tdrv) {
			PutDesc(d.mem[ind:], 0, Desc{Addr: hdr, Len: 16, Flags: DescFNext, Next: 2})
			d.post([]uint16{4}, []Desc{{Addr: ind, Len: 32, Flags: DescFIndirect}})
		}},
		{"nested indirect", func(d *tdrv) {
			PutDesc(d.mem[ind:], 0, Desc{Addr: ind, Len: 32, Flags: DescFIndirect})
			d.post([]uint16{4}, []Desc{{Addr: ind, Len: 32, Flags: DescFIndirect}})
		}},
		{"short header", func(d *tdrv) {
			d.post([]uint16{4, 5}, []Desc{{Addr: hdr, Len: 15}, {Addr: st, Len: 1, Flags: DescFWrite}})
		}},
		{"no status", func(d *tdrv) {
			d.post([]uint16{4}, []Desc{{Addr: hdr, Len: 16}})
		}},
		{"descriptor shared with a request in flight", func(d *tdrv) {
			// Descriptor 2, the good request's status, is taken by
			// the device with it in the same kick; chaining to it
			// again must be refused.
			d.mu.Lock()
			PutDesc(d.mem[d.l.Desc:], 4, Desc{Addr: hdr, Len: 16, Flags: DescFNext, Next: 2})
			d.publish(4)
			d.mu.Unlock()
		}},
		{"avail idx far ahead", func(d *tdrv) {
			d.mu.Lock()
			d.dev.Notify(0) // the good request goes first
			d.availIdx += 100
			binary.LittleEndian.PutUint16(d.mem[d.l.Avail+AvailIdxOff:], d.availIdx)
			d.dev.Notify(0)
			d.mu.Unlock()
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dev, _ := newMemDevice(t, 1<<20, false, BlkConfig{QueueSize: 8})
			defer dev.Close()
			d := newTdrv(t, dev, 8, 0)
			PutBlkHeader(d.mem[hdr:], BlkTIn, 0)
			d.mu.Lock()
			// The good request and the bad one in a single kick, when
			// the bad one is a separate chain.
			table := d.mem[d.l.Desc:]
			for k, ds := range good {
				if k+1 < len(good) {
					ds.Flags |= DescFNext
					ds.Next = uint16(k + 1)
				}
				PutDesc(table, uint16(k), ds)
			}
			binary.LittleEndian.PutUint16(d.mem[d.l.Avail+uint64(AvailSlotOff(8, d.availIdx)):], 0)
			d.availIdx++
			binary.LittleEndian.PutUint16(d.mem[d.l.Avail+AvailIdxOff:], d.availIdx)
			d.mu.Unlock()
			c.write(d)
			d.waitConfig()
			if u := d.waitUsed(); u[0] != 0 || u[1] != 513 {
				t.Fatalf("good request: used %v", u)
			}
			if dev.Status()&StatusDeviceNeedsReset == 0 || dev.Err() == nil {
				t.Fatalf("status %v", dev.Status())
			}
			t.Logf("device error: %v", dev.Err())
			select {
			case u := <-d.used:
				t.Fatalf("bad chain completed: %v", u)
			case <-time.After(20 * time.Millisecond):
			}
			// Reset, and the device serves again.
			d2 := newTdrv(t, dev, 8, 0)
			if s, _ := d2.blkReq(BlkTFlush, 0, nil, false); s != BlkSOK {
				t.Fatalf("after reset: %d", s)
			}
		})
	}
}

func TestResetStopsWorkers(t *testing.T) {
	before := runtime.NumGoroutine()
	for i := 0; i < 5; i++ {
		dev, _ := newMemDevice(t, 1<<20, false, BlkConfig{Workers: 8})
		d := newTdrv(t, dev, 8, 0)
		d.blkReq(BlkTIn, 0, make([]byte, 512), true)
		if runtime.NumGoroutine() < before+8 {
			t.Fatalf("%d goroutines with 8 workers running (before %d)", runtime.NumGoroutine(), before)
		}
		dev.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines after Close, %d before", n, before)
	}
}

// TestIndirect sends a request whose header, two data buffers and status
// sit in an indirect table after a direct descriptor (§2.7.5.3).
func TestIndirect(t *testing.T) {
	dev, be := newMemDevice(t, 1<<20, false, BlkConfig{})
	defer dev.Close()
	copy(be.Bytes()[512:], bytes.Repeat([]byte{0xab}, 1024))
	d := newTdrv(t, dev, 8, 0)
	const hdr, dat, st, ind = bufBase, bufBase + 512, bufBase + 4096, bufBase + 8192
	PutBlkHeader(d.mem[hdr:], BlkTIn, 1)
	tbl := d.mem[ind:]
	// Entries out of order on purpose: the chain starts at entry 0 and
	// follows next.
	PutDesc(tbl, 0, Desc{Addr: hdr + 8, Len: 8, Flags: DescFNext, Next: 3})
	PutDesc(tbl, 3, Desc{Addr: dat, Len: 700, Flags: DescFWrite | DescFNext, Next: 1})
	PutDesc(tbl, 1, Desc{Addr: dat + 700, Len: 324, Flags: DescFWrite | DescFNext, Next: 2})
	PutDesc(tbl, 2, Desc{Addr: st, Len: 1, Flags: DescFWrite})
	d.post([]uint16{6, 7}, []Desc{{Addr: hdr, Len: 8}, {Addr: ind, Len: 4 * DescSize, Flags: DescFIndirect}})
	u := d.waitUsed()
	if u[0] != 6 || u[1] != 1025 || d.mem[st] != BlkSOK {
		t.Fatalf("used %v status %d", u, d.mem[st])
	}
	if !bytes.Equal(d.mem[dat:dat+1024], bytes.Repeat([]byte{0xab}, 1024)) {
		t.Fatal("data not read through the indirect table")
	}
}
