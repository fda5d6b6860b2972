package virtioblk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/mm"
	"github.com/lklimg/lklimg/virtio"
)

func newArena(t *testing.T) *mm.Arena {
	t.Helper()
	a, err := mm.NewArena(16 << 20)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// memDisk is a driver on a device on a memory backend.
func memDisk(t *testing.T, a *mm.Arena, size int64, ro bool, cfg virtio.BlkConfig, opts Options) (*Disk, *virtio.MemBackend) {
	return memDiskHiding(t, a, size, ro, cfg, opts, 0)
}

// hideFeatures is a device that does not offer some of its features.
type hideFeatures struct {
	*virtio.Device
	mask virtio.Features
}

func (h hideFeatures) DeviceFeatures() virtio.Features { return h.Device.DeviceFeatures() &^ h.mask }

// memDiskHiding is memDisk on a device that hides the features in mask.
func memDiskHiding(t *testing.T, a *mm.Arena, size int64, ro bool, cfg virtio.BlkConfig, opts Options, mask virtio.Features) (*Disk, *virtio.MemBackend) {
	t.Helper()
	be := virtio.NewMemBackend(size, ro)
	dev, err := virtio.NewBlkDevice(be, cfg)
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(hideFeatures{dev, mask}, a, opts)
	if err != nil {
		t.Fatal(err)
	}
	d.owned = dev
	t.Cleanup(func() { d.Close() })
	return d, be
}

// alloc returns n arena pages as one segment per page.
func alloc(t *testing.T, a *mm.Arena, n int) []mm.Seg {
	t.Helper()
	segs := make([]mm.Seg, n)
	for i := range segs {
		p, err := a.Alloc(1)
		if err != nil {
			t.Fatal(err)
		}
		segs[i] = mm.Seg{Addr: p, Len: mm.PageSize}
	}
	return segs
}

func fill(a *mm.Arena, segs []mm.Seg, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 1))
	for _, s := range segs {
		b := a.Slice(s)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
	}
}

func concat(a *mm.Arena, segs []mm.Seg) []byte {
	var out []byte
	for _, s := range segs {
		out = append(out, a.Slice(s)...)
	}
	return out
}

// bothChainKinds runs f with indirect descriptor tables and without.
func bothChainKinds(t *testing.T, f func(t *testing.T, mask virtio.Features)) {
	t.Run("indirect", func(t *testing.T) { f(t, 0) })
	t.Run("direct", func(t *testing.T) { f(t, virtio.FIndirectDesc) })
}

func TestReadWriteSplit(t *testing.T) { bothChainKinds(t, testReadWriteSplit) }

func testReadWriteSplit(t *testing.T, mask virtio.Features) {
	a := newArena(t)
	free := a.FreePages()
	// Small limits force splitting by segment count, by bytes, and of a
	// single segment larger than a chain may carry.
	d, be := memDiskHiding(t, a, 4<<20, false, virtio.BlkConfig{SegMax: 3}, Options{QueueSize: 16, MaxTransfer: 8192 + 512}, mask)
	if d.indirect != (mask == 0) {
		t.Fatalf("indirect %v", d.indirect)
	}
	if d.Size() != 4<<20 || d.ReadOnly() || d.ID() != "" {
		t.Fatalf("size %d ro %v id %q", d.Size(), d.ReadOnly(), d.ID())
	}
	if d.maxSegs != 3 {
		t.Fatalf("maxSegs %d, want seg_max 3", d.maxSegs)
	}
	segs := alloc(t, a, 9)
	fill(a, segs, 1)
	want := concat(a, segs)
	if err := d.Write(1<<20, segs); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(be.Bytes()[1<<20:1<<20+len(want)], want) {
		t.Fatal("written bytes differ")
	}
	big, err := a.Alloc(9)
	if err != nil {
		t.Fatal(err)
	}
	one := []mm.Seg{{Addr: big, Len: 9 * mm.PageSize}}
	if err := d.Read(1<<20, one); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Slice(one[0]), want) {
		t.Fatal("read back differs")
	}
	// Mixed sizes, including 512-byte segments.
	mixed := []mm.Seg{{Addr: big, Len: 512}, {Addr: big + 4096, Len: 3 * 512}, {Addr: big + 8192, Len: 4 * 4096}}
	if err := d.Read(1<<20+512, mixed); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Slice(mixed[0]), want[512:1024]) || !bytes.Equal(a.Slice(mixed[2]), want[512+2048:512+2048+16384]) {
		t.Fatal("mixed read differs")
	}
	if err := d.Flush(); err != nil {
		t.Fatal(err)
	}

	// Errors before anything reaches the device.
	for _, c := range []struct {
		err  error
		off  int64
		segs []mm.Seg
	}{
		{abi.EINVAL, 100, segs[:1]},
		{abi.EINVAL, 0, []mm.Seg{{Addr: big, Len: 100}}},
		{abi.EFAULT, 0, []mm.Seg{{Addr: mm.Addr(a.Size()), Len: 512}}},
		{abi.EIO, 4<<20 - 512, segs[:1]},
		{abi.EIO, 1 << 62, segs[:1]},
	} {
		if err := d.Read(c.off, c.segs); !errors.Is(err, c.err) {
			t.Errorf("Read(%d, %v) = %v, want %v", c.off, c.segs, err, c.err)
		}
	}
	if err := d.Read(4<<20-4096, segs[:1]); err != nil {
		t.Errorf("read of the last page: %v", err)
	}

	for _, s := range segs {
		a.Free(s.Addr, 1)
	}
	a.Free(big, 9)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if a.FreePages() != free {
		t.Fatalf("%d pages free after Close, %d before New", a.FreePages(), free)
	}
	if err := d.Read(0, nil); !errors.Is(err, abi.ENXIO) && err != nil {
		t.Fatalf("read after close: %v", err)
	}
	if err := d.Flush(); !errors.Is(err, abi.ENXIO) {
		t.Fatalf("flush after close: %v", err)
	}
}

// TestWrapAround sends more than 2^16 requests through a queue of 4
// descriptors whose indexes start just below the wrap, from two
// goroutines, checking every one.
func TestWrapAround(t *testing.T) { bothChainKinds(t, testWrapAround) }

func testWrapAround(t *testing.T, mask virtio.Features) {
	a := newArena(t)
	d, _ := memDiskHiding(t, a, 1<<20, false, virtio.BlkConfig{QueueSize: 4, Workers: 2}, Options{QueueSize: 4, StartIndex: 65500}, mask)
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for g := 0; g < 2; g++ {
		seg := alloc(t, a, 1)[0]
		seg.Len = 512
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := a.Slice(seg)
			off := int64(g) * 4096
			for i := 0; i < 35000; i++ {
				binary.LittleEndian.PutUint64(b, uint64(i))
				if err := d.Write(off, []mm.Seg{seg}); err != nil {
					errs <- err
					return
				}
				clear(b)
				if err := d.Read(off, []mm.Seg{seg}); err != nil {
					errs <- err
					return
				}
				if v := binary.LittleEndian.Uint64(b); v != uint64(i) {
					errs <- errors.New("read back wrong value")
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	d.mu.Lock()
	idx := d.availIdx
	d.mu.Unlock()
	if want := uint16((65500 + 1 + 140000) % 65536); idx != want { // +1: GET_ID at New
		t.Fatalf("avail idx %d, want %d", idx, want)
	}
}

func tempFile(t *testing.T, size int64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "disk.img")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return p
}

// TestParallel runs 64 writers and readers at once on a raw file, each on
// its own region, and checks every byte; run it under -race.
func TestParallel(t *testing.T) {
	a := newArena(t)
	p := tempFile(t, 64<<20)
	d, err := Open(p, OpenOptions{}, a)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	const workers, region = 64, 1 << 20
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		segs := alloc(t, a, 4)
		check := alloc(t, a, 4)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				off := int64(w)*region + int64(i%16)*16384
				fill(a, segs, uint64(w*1000+i))
				if err := d.Write(off, segs); err != nil {
					errs <- err
					return
				}
				if err := d.Read(off, check); err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(concat(a, segs), concat(a, check)) {
					errs <- errors.New("parallel read-back differs")
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := d.Flush(); err != nil {
		t.Fatal(err)
	}
	// The file holds what the last round of each worker wrote.
	img, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	seg := alloc(t, a, 4)
	for w := 0; w < workers; w++ {
		fill(a, seg, uint64(w*1000+19))
		off := w*region + 3*16384
		if !bytes.Equal(img[off:off+16384], concat(a, seg)) {
			t.Fatalf("worker %d: file contents differ", w)
		}
	}
}

// TestBeyond2TiB uses a sparse 3 TiB image: sectors above 2^32 must work.
func TestBeyond2TiB(t *testing.T) {
	a := newArena(t)
	const size = 3 << 40
	p := tempFile(t, size)
	d, err := Open(p, OpenOptions{}, a)
	if err != nil {
		t.Skipf("sparse 3 TiB file: %v", err)
	}
	defer d.Close()
	if d.Size() != size {
		t.Fatalf("size %d", d.Size())
	}
	segs := alloc(t, a, 2)
	fill(a, segs, 42)
	want := concat(a, segs)
	for _, off := range []int64{size - 8192, 2<<40 + 4096, 2<<40 - 4096} {
		if err := d.Write(off, segs); err != nil {
			t.Fatalf("write at %d: %v", off, err)
		}
	}
	if err := d.Flush(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := make([]byte, 8192)
	for _, off := range []int64{size - 8192, 2<<40 + 4096, 2<<40 - 4096} {
		if _, err := f.ReadAt(got, off); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("file at %d: %v", off, err)
		}
	}
	check := alloc(t, a, 2)
	if err := d.Read(size-8192, check); err != nil || !bytes.Equal(concat(a, check), want) {
		t.Fatalf("read near end: %v", err)
	}
	if err := d.Read(size-4096, check); !errors.Is(err, abi.EIO) {
		t.Fatalf("read across end: %v", err)
	}
	if err := d.WriteZeroes(size-4096, 4096); err != nil {
		t.Fatal(err)
	}
	if err := d.Read(size-8192, check); err != nil || !bytes.Equal(concat(a, check)[4096:], make([]byte, 4096)) {
		t.Fatalf("zeroes near end: %v", err)
	}
}

func TestReadOnlyFile(t *testing.T) {
	a := newArena(t)
	p := filepath.Join(t.TempDir(), "ro.img")
	content := bytes.Repeat([]byte("lklimg!\n"), 1<<14)
	if err := os.WriteFile(p, content, 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	d, err := Open(p, OpenOptions{ReadOnly: true}, a)
	if err != nil {
		t.Fatal(err)
	}
	if !d.ReadOnly() || !d.Features().Has(virtio.BlkFRO) {
		t.Fatal("not read-only")
	}
	segs := alloc(t, a, 1)
	if err := d.Read(4096, segs); err != nil || !bytes.Equal(concat(a, segs), content[4096:8192]) {
		t.Fatalf("read: %v", err)
	}
	for _, err := range []error{d.Write(0, segs), d.Discard(0, 4096), d.WriteZeroes(0, 4096)} {
		if !errors.Is(err, abi.EROFS) {
			t.Fatalf("err %v, want EROFS", err)
		}
	}
	if err := d.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(p)
	st, _ := os.Stat(p)
	if !bytes.Equal(got, content) || !st.ModTime().Equal(old) {
		t.Fatalf("file changed: mtime %v, want %v", st.ModTime(), old)
	}
}

func TestGetID(t *testing.T) {
	a := newArena(t)
	d, _ := memDisk(t, a, 1<<20, false, virtio.BlkConfig{Serial: "LKLIMG-SERIAL-000001"}, Options{})
	if d.ID() != "LKLIMG-SERIAL-000001" {
		t.Fatalf("ID %q", d.ID())
	}
	d2, _ := memDisk(t, a, 1<<20, false, virtio.BlkConfig{Serial: "short"}, Options{})
	if d2.ID() != "short" {
		t.Fatalf("ID %q", d2.ID())
	}
}

func TestDiscardPunchesHole(t *testing.T) {
	a := newArena(t)
	p := filepath.Join(t.TempDir(), "d.img")
	if err := os.WriteFile(p, bytes.Repeat([]byte{0x5a}, 4<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := Open(p, OpenOptions{}, a)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	d.maxDiscard = 256 // 128 KiB per request: the 1 MiB discard is split
	if err := d.Discard(1<<20, 1<<20); err != nil {
		t.Fatal(err)
	}
	r, err := virtio.OpenRaw(p, true)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if h, err := r.SeekHole(0); err != nil || h != 1<<20 {
		t.Fatalf("first hole at %d (%v), want 1 MiB", h, err)
	}
	if dt, err := r.SeekData(1 << 20); err != nil || dt != 2<<20 {
		t.Fatalf("data resumes at %d (%v), want 2 MiB", dt, err)
	}
	segs := alloc(t, a, 1)
	if err := d.Read(1<<20+4096, segs); err != nil || !bytes.Equal(concat(a, segs), make([]byte, 4096)) {
		t.Fatalf("discarded range: %v", err)
	}
	if err := d.Discard(100, 512); !errors.Is(err, abi.EINVAL) {
		t.Fatalf("unaligned discard: %v", err)
	}
	if err := d.Discard(4<<20, 512); !errors.Is(err, abi.EIO) {
		t.Fatalf("discard past end: %v", err)
	}
}

func TestWriteZeroes(t *testing.T) {
	a := newArena(t)
	for _, unmap := range []bool{false, true} {
		p := filepath.Join(t.TempDir(), "z.img")
		if err := os.WriteFile(p, bytes.Repeat([]byte{0xee}, 1<<20), 0o644); err != nil {
			t.Fatal(err)
		}
		d, err := Open(p, OpenOptions{}, a)
		if err != nil {
			t.Fatal(err)
		}
		d.zeroUnmap = unmap
		if err := d.WriteZeroes(8192, 3*4096); err != nil {
			t.Fatal(err)
		}
		d.Close()
		img, _ := os.ReadFile(p)
		for i, c := range img {
			if (c == 0) != (i >= 8192 && i < 8192+3*4096) {
				t.Fatalf("unmap=%v: byte %d = %#x", unmap, i, c)
			}
		}
	}
}

func TestStatusErrors(t *testing.T) {
	if err := statusErr(nil, virtio.BlkSUnsupp, 99, 0); !errors.Is(err, abi.EOPNOTSUPP) {
		t.Fatal(err)
	}
	if err := statusErr(nil, virtio.BlkSIOErr, 0, 5); !errors.Is(err, abi.EIO) {
		t.Fatal(err)
	}
	if err := statusErr(nil, 0xff, 0, 5); !errors.Is(err, abi.EIO) {
		t.Fatal(err)
	}
	if statusErr(nil, virtio.BlkSOK, 0, 0) != nil {
		t.Fatal("OK is an error")
	}
}

// corruptingTransport breaks the avail ring before passing the kick on,
// as a buggy driver would: the device must report NEEDS_RESET and the
// driver must fail the request with EIO rather than hang.
type corruptingTransport struct {
	*virtio.Device
	d     *Disk
	armed bool
}

func (c *corruptingTransport) Notify(q int) {
	if c.armed {
		slot := virtio.AvailSlotOff(c.d.size, c.d.availIdx-1)
		binary.LittleEndian.PutUint16(c.d.avail[slot:], uint16(c.d.size)+3)
	}
	c.Device.Notify(q)
}

func TestDeviceNeedsReset(t *testing.T) {
	a := newArena(t)
	dev, err := virtio.NewBlkDevice(virtio.NewMemBackend(1<<20, false), virtio.BlkConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ct := &corruptingTransport{Device: dev}
	d, err := New(ct, a, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ct.d = d
	segs := alloc(t, a, 1)
	if err := d.Read(0, segs); err != nil {
		t.Fatal(err)
	}
	ct.armed = true
	done := make(chan error, 1)
	go func() { done <- d.Read(0, segs) }()
	select {
	case err := <-done:
		if !errors.Is(err, abi.EIO) {
			t.Fatalf("err %v, want EIO", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("request hung after the device needed reset")
	}
	if dev.Status()&virtio.StatusDeviceNeedsReset == 0 {
		t.Fatalf("device status %v", dev.Status())
	}
	if err := d.Read(0, segs); !errors.Is(err, abi.EIO) {
		t.Fatalf("later request: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	dev.Close()
}

func TestCloseNoLeak(t *testing.T) {
	a := newArena(t)
	p := tempFile(t, 1<<20)
	before := runtime.NumGoroutine()
	free := a.FreePages()
	for i := 0; i < 5; i++ {
		d, err := Open(p, OpenOptions{}, a)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines after Close, %d before", n, before)
	}
	if a.FreePages() != free {
		t.Fatalf("leaked %d arena pages", free-a.FreePages())
	}
}

func TestNewRefusesOtherDevices(t *testing.T) {
	a := newArena(t)
	dev, _ := virtio.NewBlkDevice(virtio.NewMemBackend(1<<20, false), virtio.BlkConfig{})
	defer dev.Close()
	free := a.FreePages()
	if _, err := New(noVersion1{dev}, a, Options{}); err == nil {
		t.Fatal("device without VERSION_1 accepted")
	}
	if a.FreePages() != free {
		t.Fatal("failed New leaked pages")
	}
}

type noVersion1 struct{ *virtio.Device }

func (n noVersion1) DeviceFeatures() virtio.Features {
	return n.Device.DeviceFeatures() &^ virtio.FVersion1
}
