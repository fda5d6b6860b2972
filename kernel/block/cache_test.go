package block

import (
	"github.com/lklimg/lklimg/format/mbr"

	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/mm"
)

type rig struct {
	arena *mm.Arena
	cache *Cache
	mgr   *Manager
	disk  *memDisk
	dev   *Device
}

// newRig attaches a disk of random bytes (no partition table) to a cache of
// cachePages pages in an arena of arenaPages.
func newRig(t testing.TB, arenaPages, cachePages int, diskBytes int, seed uint64) *rig {
	t.Helper()
	a := newTestArena(t, arenaPages)
	c := NewCache(a, cachePages)
	d := newMemDisk(a, randomBytes(diskBytes, seed))
	return newRigDisk(t, a, c, d)
}

func newRigDisk(t testing.TB, a *mm.Arena, c *Cache, d Disk) *rig {
	t.Helper()
	mgr := NewManager(c, t.Logf)
	dev, err := mgr.AddDisk(d)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{arena: a, cache: c, mgr: mgr, dev: dev}
	switch d := d.(type) {
	case *memDisk:
		r.disk = d
	case limitedDisk:
		r.disk = d.memDisk
	}
	t.Cleanup(func() {
		if err := mgr.Close(); err != nil {
			t.Error(err)
		}
		if err := c.Close(); err != nil {
			t.Error(err)
		}
		if a.FreePages() != a.Pages() {
			t.Errorf("arena: %d of %d pages still allocated after Close", a.Pages()-a.FreePages(), a.Pages())
		}
	})
	return r
}

// checkBound fails if the cache holds more pages than its bound.
func (r *rig) checkBound(t testing.TB) {
	t.Helper()
	s := r.cache.Stats()
	if s.Pages > s.MaxPages || s.Cached > s.MaxPages {
		t.Fatalf("cache holds %d pages (%d cached), bound %d", s.Pages, s.Cached, s.MaxPages)
	}
	if used := r.arena.Pages() - r.arena.FreePages(); used > s.MaxPages {
		t.Fatalf("arena: %d pages used, cache bound %d", used, s.MaxPages)
	}
}

// waitIdle waits for background readahead to end.
func (r *rig) waitIdle(t testing.TB) {
	t.Helper()
	for i := 0; i < 1000; i++ {
		r.cache.mu.Lock()
		idle := r.cache.raRunning == 0 && r.cache.raLen == 0
		r.cache.mu.Unlock()
		if idle {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("readahead does not end")
}

func TestDiskName(t *testing.T) {
	for i, want := range map[int]string{0: "vda", 1: "vdb", 25: "vdz", 26: "vdaa", 27: "vdab", 701: "vdzz", 702: "vdaaa"} {
		if got := diskName(i); got != want {
			t.Errorf("diskName(%d) = %q, want %q", i, got, want)
		}
	}
	if got := partName("vda", 5); got != "vda5" {
		t.Errorf("partName = %q", got)
	}
	if got := partName("nvme0n1", 2); got != "nvme0n1p2" {
		t.Errorf("partName = %q", got)
	}
}

// TestRandomReadsUnderPressure reads random ranges of a disk 32 times the
// cache's size: every byte must be right and memory stay bounded.
func TestRandomReadsUnderPressure(t *testing.T) {
	const size = 8 << 20
	r := newRig(t, 128, 64, size, 1)
	want := r.disk.bytes()
	rnd := rand.New(rand.NewPCG(2, 2))
	buf := make([]byte, 300<<10)
	for i := 0; i < 400; i++ {
		off := rnd.Int64N(size)
		n := rnd.IntN(len(buf))
		got, err := r.dev.ReadAt(buf[:n], off)
		wantN := min(n, size-int(off))
		if got != wantN || (err != nil && !(err == io.EOF && wantN < n)) {
			t.Fatalf("ReadAt(%d, %d) = %d, %v", n, off, got, err)
		}
		if !bytes.Equal(buf[:got], want[off:off+int64(got)]) {
			t.Fatalf("ReadAt(%d, %d): wrong bytes", n, off)
		}
		r.checkBound(t)
	}
	r.waitIdle(t)
	r.checkBound(t)
	if s := r.cache.Stats(); s.Pages != 64 {
		t.Errorf("cache uses %d pages, want all 64", s.Pages)
	}
}

// TestRandomReadsStaySmall: scattered small reads must not be mistaken
// for streams and read ahead.
func TestRandomReadsStaySmall(t *testing.T) {
	const size = 64 << 20
	a := newTestArena(t, 1024)
	r := newRigDisk(t, a, NewCache(a, 512), newMemDisk(a, make([]byte, size)))
	r.disk.reset()
	rnd := rand.New(rand.NewPCG(24, 24))
	buf := make([]byte, 4096)
	for i := 0; i < 200; i++ {
		if _, err := r.dev.ReadAt(buf, rnd.Int64N(size/4096)*4096); err != nil {
			t.Fatal(err)
		}
	}
	r.waitIdle(t)
	reads, _ := r.disk.requests()
	var total int64
	for _, n := range reads {
		total += n
	}
	if total > 2*200*4096 {
		t.Errorf("200 random page reads read %d bytes from the disk", total)
	}
}

// TestConcurrentReaders has many goroutines read the same and different
// pages at once through a small cache (run with -race).
func TestConcurrentReaders(t *testing.T) {
	const size = 4 << 20
	r := newRig(t, 128, 48, size, 3)
	want := r.disk.bytes()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(uint64(g), 9))
			buf := make([]byte, 64<<10)
			for i := 0; i < 150; i++ {
				var off int64
				if g%2 == 0 {
					off = int64(i) * int64(len(buf)) % size // sequential streams
				} else if g == 1 {
					off = rnd.Int64N(64 << 10) // everybody on the same few pages
				} else {
					off = rnd.Int64N(size - int64(len(buf)))
				}
				n, err := r.dev.ReadAt(buf, off)
				if err != nil && err != io.EOF {
					errs <- err
					return
				}
				if !bytes.Equal(buf[:n], want[off:off+int64(n)]) {
					errs <- errors.New("wrong bytes")
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	r.waitIdle(t)
	r.checkBound(t)
}

// TestNoDoubleRead has readers race for the same missing pages: each page
// must be read from the disk once.
func TestNoDoubleRead(t *testing.T) {
	r := newRig(t, 512, 256, 512<<10, 4)
	r.dev.m.detachPages()
	r.disk.reset()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 4096)
			for p := int64(0); p < 128; p++ {
				if _, err := r.dev.ReadAt(buf, p*4096); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	r.waitIdle(t)
	reads, _ := r.disk.requests()
	var total int64
	for _, n := range reads {
		total += n
	}
	if total != 512<<10 {
		t.Errorf("read %d bytes from the disk for a 512 KiB disk (requests %v)", total, reads)
	}
}

// TestSequentialReadahead reads 4 MiB in 16 KiB chunks: the disk must see a
// few large requests, and the cache must serve almost every read.
func TestSequentialReadahead(t *testing.T) {
	const size = 4 << 20
	r := newRig(t, 2048, 2048, size, 5)
	want := r.disk.bytes()
	r.dev.m.detachPages() // forget the partition table's page
	r.disk.reset()
	buf := make([]byte, 16<<10)
	for off := int64(0); off < size; off += int64(len(buf)) {
		if _, err := r.dev.ReadAt(buf, off); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf, want[off:off+int64(len(buf))]) {
			t.Fatalf("wrong bytes at %d", off)
		}
	}
	r.waitIdle(t)
	reads, _ := r.disk.requests()
	var total, largest int64
	for _, n := range reads {
		total += n
		largest = max(largest, n)
	}
	t.Logf("%d requests: %v", len(reads), reads)
	if len(reads) > 12 {
		t.Errorf("%d requests for a sequential read of 4 MiB", len(reads))
	}
	if largest < 1<<20 {
		t.Errorf("largest request %d bytes, want 1 MiB", largest)
	}
	if total != size {
		t.Errorf("read %d bytes from the disk, want %d", total, size)
	}
	// Fresh pages are adjacent in the arena: they merge into segments.
	if r.disk.maxSegs > 4 {
		t.Errorf("up to %d segments per request from a fresh cache", r.disk.maxSegs)
	}
}

// TestReadaheadAhead reads a slow disk sequentially: after the first
// windows the reader should find its pages read ahead, not miss them.
func TestReadaheadAhead(t *testing.T) {
	const size = 8 << 20
	r := newRig(t, 2048, 1024, size, 22) // windows of 512 KiB
	r.disk.delay = 2 * time.Millisecond
	r.dev.m.detachPages()
	r.disk.reset()
	buf := make([]byte, 32<<10)
	for off := int64(0); off < size; off += int64(len(buf)) {
		if _, err := r.dev.ReadAt(buf, off); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Microsecond) // the reader's own work
	}
	r.waitIdle(t)
	s := r.cache.Stats()
	reads, _ := r.disk.requests()
	t.Logf("misses %d, hits %d, requests %v", s.Misses, s.Hits, reads)
	if s.Misses > 6 {
		t.Errorf("%d misses on a sequential read", s.Misses)
	}
	if len(reads) > 20 { // 8 MiB in windows of 512 KiB, after a ramp
		t.Errorf("%d requests", len(reads))
	}
}

// TestRequestLimits checks that requests respect the disk's segment limit
// when the cache's pages are scattered in the arena.
func TestRequestLimits(t *testing.T) {
	a := newTestArena(t, 512)
	c := NewCache(a, 256)
	d := newMemDisk(a, randomBytes(2<<20, 6))
	d.segs = 8
	r := newRigDisk(t, a, c, limitedDisk{d})
	// Scatter the cache's pages: fill the cache, drop everything and
	// shuffle the free list.
	all := make([]byte, 1<<20)
	r.dev.ReadAt(all, 0)
	r.waitIdle(t)
	r.dev.m.detachPages()
	rand.New(rand.NewPCG(6, 6)).Shuffle(len(c.free), func(i, j int) { c.free[i], c.free[j] = c.free[j], c.free[i] })
	d.mu.Lock()
	d.maxSegs = 0
	d.mu.Unlock()
	if _, err := r.dev.ReadAt(all, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(all, d.bytes()[:1<<20]) {
		t.Fatal("wrong bytes")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.maxSegs > 8 {
		t.Errorf("a request of %d segments to a disk taking 8", d.maxSegs)
	}
	if d.maxSegs < 4 {
		t.Errorf("at most %d segments per request: pages not scattered, the test tests nothing", d.maxSegs)
	}
}

func TestReadaheadCall(t *testing.T) {
	r := newRig(t, 1024, 1024, 8<<20, 7)
	r.disk.reset()
	r.dev.Readahead(1<<20, 1<<20)
	r.waitIdle(t)
	reads, _ := r.disk.requests()
	if len(reads) != 1 || reads[0] != 1<<20 {
		t.Errorf("Readahead(1 MiB) made requests %v", reads)
	}
	buf := make([]byte, 1<<20)
	if _, err := r.dev.ReadAt(buf, 1<<20); err != nil {
		t.Fatal(err)
	}
	if reads2, _ := r.disk.requests(); len(reads2) != len(reads) {
		t.Errorf("read after Readahead went to the disk: %v", reads2)
	}
	if !bytes.Equal(buf, r.disk.bytes()[1<<20:2<<20]) {
		t.Fatal("wrong bytes")
	}
	// Readahead beyond the device or of nothing is ignored.
	r.dev.Readahead(8<<20, 1<<20)
	r.dev.Readahead(-1, 10)
	r.dev.Readahead(0, 0)
}

// TestReadaheadMemoryShort asks for far more readahead than the cache
// holds: it must not exceed the cache nor push out pages being read.
func TestReadaheadMemoryShort(t *testing.T) {
	r := newRig(t, 128, 64, 16<<20, 8)
	for i := int64(0); i < 16; i++ {
		r.dev.Readahead(i<<20, 1<<20)
	}
	r.waitIdle(t)
	r.checkBound(t)
	s := r.cache.Stats()
	if s.Cached > 64/2+1 {
		t.Errorf("readahead filled %d pages of 64", s.Cached)
	}
	buf := make([]byte, 100<<10)
	if _, err := r.dev.ReadAt(buf, 5<<20); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf, r.disk.bytes()[5<<20:5<<20+len(buf)]) {
		t.Fatal("wrong bytes")
	}
}

func TestReadError(t *testing.T) {
	r := newRig(t, 128, 64, 1<<20, 9)
	r.disk.failFrom, r.disk.failTo = 64<<10, 68<<10
	buf := make([]byte, 8192)
	n, err := r.dev.ReadAt(buf, 60<<10)
	if !errors.Is(err, abi.EIO) {
		t.Fatalf("read of a bad sector: %d, %v; want EIO", n, err)
	}
	t.Log(err)
	// The page stays readable once the disk heals, and the pages before
	// the bad one were not affected.
	r.disk.mu.Lock()
	r.disk.failFrom, r.disk.failTo = 0, 0
	r.disk.mu.Unlock()
	if _, err := r.dev.ReadAt(buf, 60<<10); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf, r.disk.bytes()[60<<10:68<<10]) {
		t.Fatal("wrong bytes")
	}
}

func TestDeviceBounds(t *testing.T) {
	r := newRig(t, 128, 64, 1<<20, 10)
	buf := make([]byte, 100)
	if n, err := r.dev.ReadAt(buf, 1<<20); n != 0 || err != io.EOF {
		t.Errorf("read at the end: %d, %v", n, err)
	}
	if n, err := r.dev.ReadAt(buf, 1<<20-10); n != 10 || err != io.EOF {
		t.Errorf("read across the end: %d, %v", n, err)
	}
	if _, err := r.dev.ReadAt(buf, -1); !errors.Is(err, abi.EINVAL) {
		t.Errorf("read at -1: %v", err)
	}
	if n, err := r.dev.WriteAt(buf, 1<<20-10); n != 10 || !errors.Is(err, abi.ENOSPC) {
		t.Errorf("write across the end: %d, %v", n, err)
	}
	if r.dev.Name() != "vda" || r.dev.Size() != 1<<20 || r.dev.ReadOnly() || r.dev.Parent() != nil {
		t.Errorf("device %s size %d ro %v", r.dev.Name(), r.dev.Size(), r.dev.ReadOnly())
	}
}

// TestPartitionWindow puts a partition at sector 63, as old mbr.MBR tools do:
// reads are byte-granular over the disk's pages and never leave the
// partition, nor do writes.
func TestPartitionWindow(t *testing.T) {
	a := newTestArena(t, 256)
	c := NewCache(a, 128)
	data := randomBytes(2<<20, 11)
	clear(data[:512])
	mb := mbr.MBR{DiskSignature: 0x1234}
	mb.Entries[0] = mbr.Entry{Type: 0x83, StartLBA: 63, Sectors: 1000}
	mb.Entries[1] = mbr.Entry{Type: 0x83, StartLBA: 1063, Sectors: 2000}
	mb.Encode(data[:512])
	d := newMemDisk(a, data)
	r := newRigDisk(t, a, c, d)
	p1, err := r.mgr.Device("/dev/vda1")
	if err != nil {
		t.Fatal(err)
	}
	p2, err := r.mgr.Device("vda2")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.mgr.Device("vda3"); !errors.Is(err, abi.ENOENT) {
		t.Errorf("vda3: %v", err)
	}
	if p1.Size() != 1000*512 || p1.Start() != 63*512 || p1.Parent() != r.dev {
		t.Fatalf("vda1: start %d size %d", p1.Start(), p1.Size())
	}
	buf := make([]byte, 1000*512+100)
	n, err := p1.ReadAt(buf, 0)
	if n != 1000*512 || err != io.EOF {
		t.Fatalf("read of all of vda1: %d, %v", n, err)
	}
	if !bytes.Equal(buf[:n], data[63*512:1063*512]) {
		t.Fatal("vda1: wrong bytes")
	}
	// Fill vda1 and check that vda2 and the mbr.MBR are intact.
	fill := bytes.Repeat([]byte{0xA5}, len(buf))
	if n, err := p1.WriteAt(fill, 0); n != 1000*512 || !errors.Is(err, abi.ENOSPC) {
		t.Fatalf("write of vda1 and beyond: %d, %v", n, err)
	}
	if err := p1.Sync(); err != nil {
		t.Fatal(err)
	}
	got := d.bytes()
	if !bytes.Equal(got[:63*512], data[:63*512]) || !bytes.Equal(got[1063*512:], data[1063*512:]) {
		t.Fatal("a write to vda1 changed bytes outside it")
	}
	if !bytes.Equal(got[63*512:1063*512], fill[:1000*512]) {
		t.Fatal("vda1 not written")
	}
	n, err = p2.ReadAt(buf[:4096], 0)
	if n != 4096 || err != nil || !bytes.Equal(buf[:4096], data[1063*512:][:4096]) {
		t.Fatalf("vda2 after writing vda1: %d, %v", n, err)
	}
}

// TestWriteZeroesDiscard zeroes and discards ranges of a partition that
// starts mid-page, with the pages cached and some dirty.
func TestWriteZeroesDiscard(t *testing.T) {
	t.Run("disk", func(t *testing.T) { testWriteZeroesDiscard(t, false) })
	t.Run("fallback", func(t *testing.T) { testWriteZeroesDiscard(t, true) })
}

func testWriteZeroesDiscard(t *testing.T, noWZ bool) {
	a := newTestArena(t, 256)
	c := NewCache(a, 128)
	data := randomBytes(1<<20, 30)
	clear(data[:512])
	var mb mbr.MBR
	mb.Entries[0] = mbr.Entry{Type: 0x83, StartLBA: 63, Sectors: 1500}
	mb.Encode(data[:512])
	d := newMemDisk(a, data)
	d.noWZ = noWZ
	r := newRigDisk(t, a, c, d)
	p1, err := r.mgr.Device("vda1")
	if err != nil {
		t.Fatal(err)
	}
	want := append([]byte(nil), data[63*512:1563*512]...)
	all := make([]byte, len(want))
	p1.ReadAt(all, 0) // cache everything
	p1.WriteAt(bytes.Repeat([]byte{7}, 20000), 1000)
	copy(want[1000:], bytes.Repeat([]byte{7}, 20000))
	for _, z := range [][2]int64{{512, 512}, {1024, 64 << 10}, {100 << 10, 3 * 4096}} {
		if err := p1.WriteZeroes(z[0], z[1]); err != nil {
			t.Fatal(err)
		}
		clear(want[z[0] : z[0]+z[1]])
	}
	if err := p1.Discard(200<<10, 300<<10); noWZ {
		if !errors.Is(err, abi.EOPNOTSUPP) {
			t.Fatalf("Discard on a disk without: %v", err)
		}
	} else if err != nil {
		t.Fatal(err)
	} else {
		clear(want[200<<10 : 500<<10])
	}
	// Inside one page: through the cache only.
	if err := p1.Discard(600<<10+512, 1024); err != nil {
		t.Fatal(err)
	}
	clear(want[600<<10+512 : 600<<10+1536])
	if err := p1.WriteZeroes(1, 512); !errors.Is(err, abi.EINVAL) {
		t.Errorf("unaligned WriteZeroes: %v", err)
	}
	if err := p1.Discard(0, p1.Size()+512); !errors.Is(err, abi.EINVAL) {
		t.Errorf("Discard past the end: %v", err)
	}
	if _, err := p1.ReadAt(all, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(all, want) {
		t.Fatal("cache after WriteZeroes/Discard: wrong bytes")
	}
	if err := p1.Sync(); err != nil {
		t.Fatal(err)
	}
	got := d.bytes()
	if !bytes.Equal(got[63*512:1563*512], want) {
		t.Fatal("disk after Sync: wrong bytes")
	}
	if !bytes.Equal(got[1563*512:], data[1563*512:]) || !bytes.Equal(got[:63*512], data[:63*512]) {
		t.Fatal("bytes outside vda1 changed")
	}
}

// TestWriteBack writes unaligned ranges, reads them back from the cache,
// syncs and checks the disk, then checks the writes were merged.
func TestWriteBack(t *testing.T) {
	const size = 4 << 20
	// A cache four times the disk: a quarter of it is the whole disk, so
	// the flusher (TestBackgroundWriteback) never starts and the pages
	// stay dirty until Sync.
	r := newRig(t, 4096, 4096, size, 12)
	want := r.disk.bytes()
	rnd := rand.New(rand.NewPCG(13, 13))
	for i := 0; i < 50; i++ {
		off := rnd.Int64N(size - 70000)
		p := randomBytes(rnd.IntN(70000)+1, uint64(i)+100)
		if n, err := r.dev.WriteAt(p, off); n != len(p) || err != nil {
			t.Fatalf("WriteAt: %d, %v", n, err)
		}
		copy(want[off:], p)
	}
	got := make([]byte, size)
	if _, err := r.dev.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("reading back before Sync: wrong bytes")
	}
	if s := r.cache.Stats(); s.Dirty == 0 {
		t.Fatal("no dirty pages before Sync")
	}
	if err := r.dev.Sync(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r.disk.bytes(), want) {
		t.Fatal("disk after Sync: wrong bytes")
	}
	_, writes := r.disk.requests()
	if len(writes) > 50 {
		t.Errorf("%d write requests for 50 writes", len(writes))
	}
	if s := r.cache.Stats(); s.Dirty != 0 {
		t.Errorf("%d dirty pages after Sync", s.Dirty)
	}
	r.disk.mu.Lock()
	if r.disk.flushes == 0 {
		t.Error("Sync did not flush")
	}
	r.disk.mu.Unlock()

	// A large sequential write goes out in large requests.
	r.disk.mu.Lock()
	r.disk.writes = nil
	r.disk.mu.Unlock()
	big := randomBytes(2<<20, 14)
	if _, err := r.dev.WriteAt(big, 1<<20); err != nil {
		t.Fatal(err)
	}
	if err := r.dev.Sync(); err != nil {
		t.Fatal(err)
	}
	_, writes = r.disk.requests()
	if len(writes) > 4 {
		t.Errorf("2 MiB written in %d requests: %v", len(writes), writes)
	}
	if !bytes.Equal(r.disk.bytes()[1<<20:3<<20], big) {
		t.Fatal("big write: wrong bytes on disk")
	}
}

// TestWriteUnderPressure writes far more than the cache holds, from
// several goroutines to disjoint ranges, with readers alongside: dirty
// pages must be written back on the way, memory stays bounded.
func TestWriteUnderPressure(t *testing.T) {
	const size = 4 << 20
	r := newRig(t, 128, 64, size, 15)
	want := r.disk.bytes()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			base := int64(g) * size / 4
			for off := base; off < base+size/4; off += 10000 {
				n := min(10000, base+size/4-off)
				p := randomBytes(int(n), uint64(off))
				if _, err := r.dev.WriteAt(p, off); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				copy(want[off:], p)
				mu.Unlock()
			}
		}(g)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 8192)
		for i := 0; i < 200; i++ {
			if _, err := r.dev.ReadAt(buf, int64(i)*20000%(size-8192)); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	wg.Wait()
	r.checkBound(t)
	if err := r.dev.Sync(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r.disk.bytes(), want) {
		t.Fatal("disk after Sync: wrong bytes")
	}
}

func TestReadOnly(t *testing.T) {
	a := newTestArena(t, 64)
	c := NewCache(a, 32)
	d := newMemDisk(a, randomBytes(1<<20, 16))
	d.ro = true
	r := newRigDisk(t, a, c, d)
	if !r.dev.ReadOnly() {
		t.Fatal("device of a read-only disk is writable")
	}
	if _, err := r.dev.WriteAt([]byte{1}, 0); !errors.Is(err, abi.EROFS) {
		t.Errorf("write to a read-only disk: %v", err)
	}
	if err := r.dev.Sync(); err != nil {
		t.Error(err)
	}
}

// TestCacheSharedByDisks attaches two disks to one cache: pages are kept
// apart by disk, memory is shared.
func TestCacheSharedByDisks(t *testing.T) {
	a := newTestArena(t, 128)
	c := NewCache(a, 64)
	mgr := NewManager(c, t.Logf)
	d1 := newMemDisk(a, randomBytes(1<<20, 17))
	d2 := newMemDisk(a, randomBytes(1<<20, 18))
	v1, err := mgr.AddDisk(d1)
	if err != nil {
		t.Fatal(err)
	}
	v2, err := mgr.AddDisk(d2)
	if err != nil {
		t.Fatal(err)
	}
	if v1.Name() != "vda" || v2.Name() != "vdb" {
		t.Errorf("names %s %s", v1.Name(), v2.Name())
	}
	b1, b2 := make([]byte, 1<<20), make([]byte, 1<<20)
	for i := 0; i < 3; i++ {
		if _, err := v1.ReadAt(b1, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := v2.ReadAt(b2, 0); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b1, d1.bytes()) || !bytes.Equal(b2, d2.bytes()) {
			t.Fatal("wrong bytes")
		}
	}
	if err := mgr.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if a.FreePages() != a.Pages() {
		t.Errorf("arena not released")
	}
}

// BenchmarkReadHit reads cached pages: no allocation per read.
func BenchmarkReadHit(b *testing.B) {
	r := newRig(b, 1024, 1024, 1<<20, 20)
	buf := make([]byte, 64<<10)
	r.dev.ReadAt(buf, 0)
	r.waitIdle(b)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := r.dev.ReadAt(buf, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSequentialCold reads a disk of 16 MiB through a cache of 2 MiB.
func BenchmarkSequentialCold(b *testing.B) {
	r := newRig(b, 1024, 512, 16<<20, 21)
	buf := make([]byte, 64<<10)
	b.SetBytes(16 << 20)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		for off := int64(0); off < 16<<20; off += int64(len(buf)) {
			if _, err := r.dev.ReadAt(buf, off); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// TestCloseWritesBack: Manager.Close writes dirty pages back and flushes.
func TestCloseWritesBack(t *testing.T) {
	a := newTestArena(t, 64)
	c := NewCache(a, 32)
	mgr := NewManager(c, nil)
	d := newMemDisk(a, make([]byte, 1<<20))
	dev, err := mgr.AddDisk(d)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dev.WriteAt([]byte("written before Close"), 5000); err != nil {
		t.Fatal(err)
	}
	if err := mgr.Close(); err != nil {
		t.Fatal(err)
	}
	if got := string(d.bytes()[5000:5020]); got != "written before Close" || d.flushes != 1 {
		t.Errorf("disk after Close: %q, %d flushes", got, d.flushes)
	}
	if _, err := mgr.Device("vda"); !errors.Is(err, abi.ENOENT) {
		t.Errorf("Device after Close: %v", err)
	}
	if _, err := mgr.AddDisk(d); !errors.Is(err, abi.ENXIO) {
		t.Errorf("AddDisk after Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestBackgroundWriteback: once more than a quarter of the cache is dirty
// the flusher writes pages back while the writer goes on, without a flush
// of the disk; Writeback writes the rest back, still without flushing; a
// Sync after it flushes, and the disk holds every byte.
func TestBackgroundWriteback(t *testing.T) {
	const pages = 256
	r := newRig(t, 2*pages, pages, 4<<20, 30)
	want := r.disk.bytes()
	// 3/8 of the cache: past the flusher's quarter, short of the half at
	// which the writer writes back itself.
	p := randomBytes(3*pages/8*4096, 31)
	if _, err := r.dev.WriteAt(p, 8192); err != nil {
		t.Fatal(err)
	}
	copy(want[8192:], p)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, writes := r.disk.requests()
		if len(writes) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no write reached the disk without a Sync: no background writeback")
		}
		time.Sleep(time.Millisecond)
	}
	if err := r.dev.Writeback(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r.disk.bytes(), want) {
		t.Fatal("disk after Writeback: wrong bytes")
	}
	if s := r.cache.Stats(); s.Dirty != 0 {
		t.Errorf("%d dirty pages after Writeback", s.Dirty)
	}
	r.cache.mu.Lock()
	if n := r.dev.m.ndirty; n != 0 {
		t.Errorf("the disk counts %d dirty pages after Writeback", n)
	}
	r.cache.mu.Unlock()
	r.disk.mu.Lock()
	flushes := r.disk.flushes
	r.disk.mu.Unlock()
	if flushes != 0 {
		t.Errorf("%d flushes before Sync: background writeback and Writeback must not flush", flushes)
	}
	if err := r.dev.Sync(); err != nil {
		t.Fatal(err)
	}
	r.disk.mu.Lock()
	flushes = r.disk.flushes
	r.disk.mu.Unlock()
	if flushes != 1 {
		t.Errorf("%d flushes after Sync, want 1", flushes)
	}
}
