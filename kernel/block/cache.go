package block

import (
	"slices"
	"sync"

	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/mm"
)

// This file is the page cache: Linux's page cache of block devices (the
// bdev address_space) reduced to what the library kernel needs. Pages are
// mm.PageSize bytes of the arena, keyed by (disk, page index of the disk);
// one Cache serves every disk of a kernel, so its memory bound is the
// kernel's, whatever the number and size of the images.
//
// Locking: every field of every page descriptor, the index and the
// counters are guarded by Cache.mu. Page contents are not: a reader holds a
// reference (page.ref) while it copies a page out, a writer holds pgLocked
// while it copies in, and the two exclude each other through the
// descriptor, as Linux's page lock and writeback bit do. Disk I/O is always
// done without Cache.mu held.

// pageKey names a cached page: page index of the disk whose part of the
// cache is m. The index of hashed pages is per disk (mapping.index), keyed
// by the page index alone: an int64 key takes the Go map's fast path,
// where a struct key is hashed and compared by generic code (the profile
// of a 3 GiB file's export had 16% of its CPU in that hashing).
type pageKey struct {
	m     *mapping
	index int64
}

// Page flags, as Linux's PG_* bits.
const (
	pgHashed     uint16 = 1 << iota // in Cache.index under key
	pgUptodate                      // holds the disk's data (or newer)
	pgLoading                       // a read from the disk is in flight
	pgLocked                        // a writer is copying into the page
	pgDirty                         // newer than the disk
	pgReferenced                    // used since the clock hand last passed
	pgReadahead                     // marker: reading it starts the next window (PG_readahead)
	pgUnused                        // brought in by readahead and not read yet
)

// page is a page descriptor (struct page). The descriptors are allocated
// once, with the Cache; descriptor i owns the arena page at addr as soon as
// i < Cache.nalloc.
type page struct {
	key   pageKey
	addr  mm.Addr
	ref   int32 // readers copying out, plus writeback in flight
	flags uint16
}

// pinned reports whether the page is in use: it will be released without
// anyone's help, unlike a dirty page, which waits for a writeback.
func (pg *page) pinned() bool {
	return pg.ref > 0 || pg.flags&(pgLoading|pgLocked) != 0
}

// Readahead limits, in pages. Linux starts a stream at 128 KiB
// (VM_READAHEAD_PAGES) and grows it to read_ahead_kb; we allow 1 MiB, the
// size of one large request, and never more than an eighth of the cache.
const (
	raInitPages = 128 << 10 / mm.PageSize
	raMaxPages  = 1 << 20 / mm.PageSize
	// maxRequestPages bounds one Disk.Read or Disk.Write.
	maxRequestPages = 1 << 20 / mm.PageSize
	// maxSegments bounds the segments of one request when the disk does
	// not say (see Limiter); virtio-blk devices commonly offer 126 or more.
	maxSegments = 128
	// raWorkers is the number of goroutines running asynchronous
	// readahead at once; raQueueLen the requests waiting for them. A full
	// queue drops readahead, never blocks the caller.
	raWorkers  = 4
	raQueueLen = 64
)

// CacheStats are counters of a Cache, for tests and for lklimg's -v output.
type CacheStats struct {
	MaxPages   int   // the cache's bound
	Pages      int   // pages holding arena memory
	Cached     int   // pages holding a disk page
	Dirty      int   // dirty pages
	Hits       int64 // pages found in the cache by readers
	Misses     int64 // pages a reader had to wait for the disk for
	Reads      int64 // Disk.Read requests
	ReadBytes  int64
	Writes     int64 // Disk.Write requests
	WriteBytes int64
	RADropped  int64 // readahead requests dropped (queue full, memory short)
}

// Cache is the page cache shared by the disks of a kernel. It is safe for
// concurrent use.
type Cache struct {
	arena *mm.Arena
	max   int

	mu      sync.Mutex
	cond    sync.Cond // broadcast when a page is unlocked, unreferenced or loaded, if waiters > 0
	waiters int
	pages   []page // len max; [0, nalloc) own arena memory
	nalloc  int
	grow    bool    // arena.Alloc may still succeed
	free    []int32 // descriptors owning memory but not hashed
	nhashed int     // pages in the mappings' indexes
	hand    int     // the CLOCK hand, in [0, nalloc)
	ndirty  int
	nunused int // pages with pgUnused
	stats   CacheStats

	raQueue   [raQueueLen]raJob // ring of pending asynchronous readahead
	raHead    int
	raLen     int
	raRunning int // worker goroutines
}

// NewCache returns a page cache that takes at most maxPages pages from
// arena. Pages are taken as they are needed, and recycled (CLOCK over clean
// unreferenced pages) once maxPages are in use or the arena has none left.
func NewCache(arena *mm.Arena, maxPages int) *Cache {
	maxPages = max(1, min(maxPages, arena.Pages()))
	c := &Cache{
		arena: arena,
		max:   maxPages,
		pages: make([]page, maxPages),
		grow:  true,
		free:  make([]int32, 0, maxPages),
	}
	c.cond.L = &c.mu
	return c
}

// MaxPages returns the cache's bound in pages.
func (c *Cache) MaxPages() int { return c.max }

// Stats returns the cache's counters.
func (c *Cache) Stats() CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	s.MaxPages = c.max
	s.Pages = c.nalloc
	s.Cached = c.nhashed
	s.Dirty = c.ndirty
	return s
}

// Close returns the cache's pages to the arena. Every disk must have been
// detached (Manager.Close); the Cache is not used afterwards.
func (c *Cache) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nhashed != 0 {
		return abi.Errorf(abi.EBUSY, "block: cache closed with %d pages still cached", c.nhashed)
	}
	for i := 0; i < c.nalloc; i++ {
		c.arena.Free(c.pages[i].addr, 1)
	}
	c.nalloc, c.free, c.hand, c.grow = 0, c.free[:0], 0, false
	return nil
}

// wait sleeps until another goroutine changes a page. c.mu is held.
func (c *Cache) wait() {
	c.waiters++
	c.cond.Wait()
	c.waiters--
}

// wake wakes the waiters after a page changed. c.mu is held.
func (c *Cache) wake() {
	if c.waiters > 0 {
		c.cond.Broadcast()
	}
}

// allocPage returns a descriptor owning an arena page and not hashed, or
// -1. It takes a free descriptor, else a new arena page while fewer than
// max are in use, else it evicts by CLOCK: the hand skips pinned and dirty
// pages and clears pgReferenced, taking the first clean unreferenced page
// it finds.
// Readahead (ra) never takes a page another readahead brought in and
// nobody read yet: it must not push out what is about to be used. sawBusy
// reports that pinned pages exist, so that waiting may help; no page and
// no pinned page means every page is dirty. c.mu is held.
func (c *Cache) allocPage(ra bool) (i int32, sawBusy bool) {
	if n := len(c.free); n > 0 {
		i = c.free[n-1]
		c.free = c.free[:n-1]
		return i, false
	}
	if c.grow && c.nalloc < c.max {
		addr, err := c.arena.Alloc(1)
		if err == nil {
			i = int32(c.nalloc)
			c.pages[i] = page{addr: addr}
			c.nalloc++
			return i, false
		}
		// The rest of the arena belongs to others (virtqueues, buffers):
		// live within what we have.
		c.grow = false
	}
	for steps := 2 * c.nalloc; steps > 0; steps-- {
		pg := &c.pages[c.hand]
		i = int32(c.hand)
		c.hand++
		if c.hand >= c.nalloc {
			c.hand = 0
		}
		if pg.pinned() {
			sawBusy = true
			continue
		}
		if pg.flags&pgDirty != 0 {
			continue
		}
		if ra && pg.flags&pgUnused != 0 {
			continue
		}
		if pg.flags&pgReferenced != 0 {
			pg.flags &^= pgReferenced
			continue
		}
		c.unhash(pg)
		return i, false
	}
	return -1, sawBusy
}

// unhash removes a clean, unreferenced page from the index. c.mu is held.
func (c *Cache) unhash(pg *page) {
	if pg.flags&pgHashed != 0 {
		delete(pg.key.m.index, pg.key.index)
		c.nhashed--
	}
	if pg.flags&pgUnused != 0 {
		c.nunused--
	}
	pg.flags = 0
}

// release puts an unhashed descriptor on the free list. c.mu is held.
func (c *Cache) release(i int32) {
	c.unhash(&c.pages[i])
	c.free = append(c.free, i)
}

// attach registers d with the cache and returns its mapping.
func (c *Cache) attach(d Disk) *mapping {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := &mapping{c: c, disk: d, size: d.Size() &^ 511, index: map[int64]int32{}}
	m.pages = (m.size + mm.PageSize - 1) / mm.PageSize
	m.maxReq, m.maxSegs, m.maxSegLen = maxRequestPages, maxSegments, 1<<20
	if l, ok := d.(Limiter); ok {
		segs, segLen := l.Limits()
		if segs > 0 {
			m.maxSegs = segs
		}
		if segLen > 0 {
			m.maxSegLen = max(segLen, mm.PageSize)
		}
	}
	m.raMax = int64(max(1, min(raMaxPages, c.max/8)))
	return m
}

// Limiter is implemented by disks that bound one request, as virtio-blk's
// configuration space does with seg_max and size_max (virtio 1.2 §5.2.4).
// A zero means no bound. Without it the cache assumes 128 segments.
type Limiter interface {
	Limits() (maxSegments, maxSegmentSize int)
}

// mapping is one disk's part of the cache (the bdev's address_space and its
// file_ra_state). Its fields after attach are read-only but for streams and
// closed, guarded by Cache.mu.
type mapping struct {
	c         *Cache
	disk      Disk
	index     map[int64]int32 // the disk's hashed pages by page index; guarded by Cache.mu
	size      int64           // bytes, whole sectors
	pages     int64           // pages covering size; the last may be partial
	maxReq    int             // pages per request
	maxSegs   int
	maxSegLen int
	raMax     int64 // largest readahead window, in pages

	streams [raStreams]raStream
	tick    uint64
	closed  bool
	// flushing: a background writeback runs (backgroundWriteback).
	flushing bool
	ndirty   int // the disk's dirty pages (of Cache.ndirty)
	// jobs counts asynchronous readahead and background writeback queued
	// or running.
	jobs sync.WaitGroup
}

// pageLen returns how many bytes of page idx lie on the disk.
func (m *mapping) pageLen(idx int64) int {
	return int(min(mm.PageSize, m.size-idx*mm.PageSize))
}

// readAt copies the disk's bytes at off into p, through the cache, and
// returns how many it copied. off+len(p) must not exceed the disk.
func (m *mapping) readAt(p []byte, off int64) (int, error) {
	c := m.c
	var batch [16]int32
	done := 0
	for done < len(p) {
		idx := off / mm.PageSize
		pofs := int(off % mm.PageSize)
		want := (int64(pofs) + int64(len(p)-done) + mm.PageSize - 1) / mm.PageSize
		n, err := m.getPages(idx, want, batch[:])
		if err != nil {
			return done, err
		}
		for _, i := range batch[:n] {
			src := c.arena.Bytes(c.pages[i].addr+mm.Addr(pofs), mm.PageSize-pofs)
			k := copy(p[done:], src)
			done, off, pofs = done+k, off+int64(k), 0
		}
		c.mu.Lock()
		for _, i := range batch[:n] {
			c.pages[i].ref--
		}
		c.wake()
		c.mu.Unlock()
	}
	return done, nil
}

// getPages references up to len(out) up-to-date pages from idx on, at
// least one, reading the first from the disk if it is missing (with
// readahead sized by want, the pages the caller still needs), and returns
// how many it referenced. The caller drops the references.
func (m *mapping) getPages(idx, want int64, out []int32) (int, error) {
	c := m.c
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for n < len(out) && int64(n) < want {
		i, ok := m.index[idx+int64(n)]
		if !ok {
			if n > 0 {
				break
			}
			c.stats.Misses++
			if err := m.syncRead(idx, want); err != nil {
				return 0, err
			}
			continue
		}
		pg := &c.pages[i]
		if pg.flags&(pgLoading|pgLocked) != 0 {
			if n > 0 {
				break
			}
			c.wait()
			continue
		}
		pg.ref++
		pg.flags |= pgReferenced
		if pg.flags&pgUnused != 0 {
			pg.flags &^= pgUnused
			c.nunused--
		}
		if pg.flags&pgReadahead != 0 {
			pg.flags &^= pgReadahead
			m.asyncWindow(pg.key.index)
		}
		c.stats.Hits++
		out[n] = i
		n++
	}
	return n, nil
}

// syncRead reads page idx, missing, from the disk together with the
// missing pages after it in the readahead window; it returns once page idx
// is loaded or failed, or when it had to wait (the caller looks again).
// c.mu is held, and released during the I/O.
func (m *mapping) syncRead(idx, want int64) error {
	c := m.c
	start, size, marker := m.syncWindow(idx, want)
	run, err := m.allocRun(start, size, false)
	if err != nil {
		return err
	}
	if run == nil {
		// Every page was busy: one will be released.
		c.wait()
		return nil
	}
	m.setMarker(run, start, marker)
	if rest := int64(len(run)); rest < size {
		m.queue(raJob{m: m, start: start + rest, n: size - rest, marker: marker})
	}
	c.mu.Unlock()
	err = m.io(run, false)
	c.mu.Lock()
	m.complete(run, err)
	if err != nil {
		return abi.Errorf(abi.EIO, "read of %d bytes at %d: %v", len(run)*mm.PageSize, start*mm.PageSize, err)
	}
	return nil
}

// allocRun hashes descriptors, marked pgLoading, for the missing pages
// from idx on, up to n, stopping at a cached page, at the end of the disk,
// at the request limits, or when memory runs out. A synchronous read (!ra)
// gets at least page idx unless every page is busy (nil, nil); readahead
// may get nothing. c.mu is held.
func (m *mapping) allocRun(idx, n int64, ra bool) ([]int32, error) {
	c := m.c
	n = min(n, m.pages-idx, int64(m.maxReq))
	var run []int32
	segs := 0
	var prev mm.Addr
	for k := int64(0); k < n; k++ {
		key := pageKey{m, idx + k}
		if _, ok := m.index[key.index]; ok {
			break
		}
		if ra && c.nunused >= c.max/2 {
			break
		}
		i, sawBusy := c.allocPage(ra)
		if i < 0 {
			if k == 0 && !ra && !sawBusy {
				return nil, abi.Errorf(abi.ENOMEM, "block: page cache of %d pages is full of dirty pages", c.max)
			}
			break
		}
		pg := &c.pages[i]
		if k == 0 || pg.addr != prev+mm.PageSize {
			if segs == m.maxSegs {
				c.free = append(c.free, i)
				break
			}
			segs++
		}
		prev = pg.addr
		pg.key = key
		pg.flags = pgHashed | pgLoading
		if ra {
			pg.flags |= pgUnused | pgReferenced
			c.nunused++
		}
		m.index[key.index] = i
		c.nhashed++
		if run == nil {
			run = make([]int32, 0, n)
		}
		run = append(run, i)
	}
	return run, nil
}

// segments returns the arena segments of the pages of run, merging pages
// adjacent in the arena.
func (m *mapping) segments(run []int32) ([]mm.Seg, int64) {
	c := m.c
	segs := make([]mm.Seg, 0, min(len(run), m.maxSegs))
	first := c.pages[run[0]].key.index
	var total int64
	for k, i := range run {
		pg := &c.pages[i]
		l := uint32(m.pageLen(first + int64(k)))
		total += int64(l)
		if n := len(segs); n > 0 && segs[n-1].Addr+mm.Addr(segs[n-1].Len) == pg.addr &&
			int(segs[n-1].Len)+int(l) <= m.maxSegLen {
			segs[n-1].Len += l
			continue
		}
		segs = append(segs, mm.Seg{Addr: pg.addr, Len: l})
	}
	return segs, total
}

// io transfers the pages of run, consecutive pages of the disk, in one
// request. The pages are pinned by pgLoading (read) or a reference
// (write), so their descriptors' key and addr are stable without c.mu.
func (m *mapping) io(run []int32, write bool) error {
	c := m.c
	segs, total := m.segments(run)
	off := c.pages[run[0]].key.index * mm.PageSize
	var err error
	if write {
		err = m.disk.Write(off, segs)
	} else {
		err = m.disk.Read(off, segs)
	}
	c.mu.Lock()
	if write {
		c.stats.Writes++
		c.stats.WriteBytes += total
	} else {
		c.stats.Reads++
		c.stats.ReadBytes += total
	}
	c.mu.Unlock()
	return err
}

// complete ends the loading of run: the pages become up to date, or, on
// error, leave the cache so that the next reader tries again and gets the
// error itself. c.mu is held.
func (m *mapping) complete(run []int32, err error) {
	c := m.c
	for _, i := range run {
		pg := &c.pages[i]
		if err != nil {
			c.release(i)
			continue
		}
		pg.flags = pg.flags&^pgLoading | pgUptodate
	}
	c.wake()
}

// writeAt copies p into the disk's pages at off through the cache, reading
// the pages it covers partly, marks them dirty (Sync writes them back) and
// returns how many bytes it copied. off+len(p) must not exceed the disk.
func (m *mapping) writeAt(p []byte, off int64) (int, error) {
	c := m.c
	done := 0
	for done < len(p) {
		idx := off / mm.PageSize
		pofs := int(off % mm.PageSize)
		plen := m.pageLen(idx)
		whole := pofs == 0 && len(p)-done >= plen
		i, err := m.lockPage(idx, whole)
		if err != nil {
			return done, err
		}
		pg := &c.pages[i]
		k := copy(c.arena.Bytes(pg.addr+mm.Addr(pofs), plen-pofs), p[done:])
		done, off = done+k, off+int64(k)

		c.mu.Lock()
		pg.flags = pg.flags&^pgLocked | pgUptodate | pgReferenced
		if pg.flags&pgDirty == 0 {
			pg.flags |= pgDirty
			c.ndirty++
			m.ndirty++
		}
		c.wake()
		throttle := c.ndirty > c.max/2
		// The flusher starts on this disk's own dirty pages, so that
		// another disk's do not start one for every page written here.
		background := !throttle && m.ndirty > c.max/4 && !m.flushing && !m.closed
		if background {
			m.flushing = true
			m.jobs.Add(1)
		}
		c.mu.Unlock()
		if background {
			go m.backgroundWriteback()
		}
		if throttle {
			// balance_dirty_pages: a writer pays for its dirt before the
			// cache fills with pages nobody can evict.
			if err := m.writeback(true); err != nil {
				return done, err
			}
		}
	}
	return done, nil
}

// lockPage returns page idx locked (pgLocked) for a writer, with no reader
// or writeback on it. A page the writer overwrites whole need not be read
// first.
func (m *mapping) lockPage(idx int64, whole bool) (int32, error) {
	c := m.c
	c.mu.Lock()
	defer c.mu.Unlock()
	key := pageKey{m, idx}
	for {
		i, ok := m.index[idx]
		if !ok && whole {
			j, sawBusy := c.allocPage(false)
			if j < 0 {
				if !sawBusy {
					return 0, abi.Errorf(abi.ENOMEM, "block: page cache of %d pages is full of dirty pages", c.max)
				}
				c.wait()
				continue
			}
			pg := &c.pages[j]
			pg.key = key
			pg.flags = pgHashed | pgLocked
			m.index[idx] = j
			c.nhashed++
			return j, nil
		}
		if !ok {
			if err := m.syncRead(idx, 1); err != nil {
				return 0, err
			}
			continue
		}
		pg := &c.pages[i]
		if pg.ref > 0 || pg.flags&(pgLoading|pgLocked) != 0 {
			c.wait()
			continue
		}
		pg.flags |= pgLocked
		if pg.flags&pgUnused != 0 {
			pg.flags &^= pgUnused
			c.nunused--
		}
		return i, nil
	}
}

// backgroundWriteback is the flusher (Linux's writeback work, started at
// dirty_background_ratio): once a quarter of the cache is dirty it writes
// the dirty pages back while the writer goes on, so that the writer's own
// writeback at half (writeAt's throttle) is seldom needed and the copy in
// and the writes out overlap. A failed write leaves its pages dirty: the
// next sync writes them again and reports the error.
func (m *mapping) backgroundWriteback() {
	defer m.jobs.Done()
	m.writeback(false)
	m.c.mu.Lock()
	m.flushing = false
	m.c.wake()
	m.c.mu.Unlock()
}

// writeback writes the disk's dirty pages in requests of consecutive
// pages, in disk order. Pages written again meanwhile stay dirty. With
// wait, a page a writer holds locked is waited for, so that everything
// dirty when it was called is written when it returns (sync); without,
// such a page is left for later (the flusher).
func (m *mapping) writeback(wait bool) error {
	c := m.c
	c.mu.Lock()
	var list []int32
	for {
		// Pages the flusher took are clean but maybe not written yet: a
		// writeback that must cover them waits for it, again after every
		// wait below (a writer may start a flusher meanwhile).
		for wait && m.flushing {
			c.wait()
		}
		locked := false
		list = list[:0]
		for i := 0; i < c.nalloc; i++ {
			pg := &c.pages[i]
			if pg.flags&pgDirty == 0 || pg.key.m != m {
				continue
			}
			if pg.flags&pgLocked != 0 {
				if !wait {
					continue
				}
				locked = true
				break
			}
			list = append(list, int32(i))
		}
		if !locked {
			break
		}
		// A write in progress: wait for it to end so that it is written.
		c.wait()
	}
	for _, i := range list {
		pg := &c.pages[i]
		pg.ref++
		pg.flags &^= pgDirty
		c.ndirty--
		m.ndirty--
	}
	c.mu.Unlock()
	if len(list) == 0 {
		return nil
	}
	slices.SortFunc(list, func(a, b int32) int {
		ka, kb := c.pages[a].key.index, c.pages[b].key.index
		switch {
		case ka < kb:
			return -1
		case ka > kb:
			return 1
		}
		return 0
	})
	var firstErr error
	for len(list) > 0 {
		n := 1
		segs := 1
		for n < len(list) && n < m.maxReq &&
			c.pages[list[n]].key.index == c.pages[list[n-1]].key.index+1 {
			if c.pages[list[n]].addr != c.pages[list[n-1]].addr+mm.PageSize {
				if segs == m.maxSegs {
					break
				}
				segs++
			}
			n++
		}
		run := list[:n]
		list = list[n:]
		err := m.io(run, true)
		c.mu.Lock()
		for _, i := range run {
			pg := &c.pages[i]
			pg.ref--
			if err != nil && pg.flags&pgDirty == 0 {
				// Keep the data: a later sync may succeed.
				pg.flags |= pgDirty
				c.ndirty++
				m.ndirty++
			}
		}
		c.wake()
		c.mu.Unlock()
		if err != nil && firstErr == nil {
			firstErr = abi.Errorf(abi.EIO, "write of %d bytes at %d: %v",
				len(run)*mm.PageSize, c.pages[run[0]].key.index*mm.PageSize, err)
		}
	}
	return firstErr
}

// sync writes back the disk's dirty pages and flushes the disk's cache.
func (m *mapping) sync() error {
	if err := m.writeback(true); err != nil {
		return err
	}
	if err := m.disk.Flush(); err != nil {
		return abi.Errorf(abi.EIO, "flush: %v", err)
	}
	return nil
}

// detach waits for the disk's readahead, writes back its dirty pages
// (unless the disk is read-only) and drops its pages from the cache. No
// reader or writer may use the disk any more.
func (m *mapping) detach() error {
	c := m.c
	c.mu.Lock()
	m.closed = true
	c.mu.Unlock()
	m.jobs.Wait()
	var err error
	if !m.disk.ReadOnly() {
		err = m.sync()
	}
	m.detachPages()
	return err
}

// detachPages drops the disk's pages from the cache, dirty or not. No
// reader or writer may be using them.
func (m *mapping) detachPages() {
	c := m.c
	c.mu.Lock()
	defer c.mu.Unlock()
	// Backwards, so that the free list (a stack) hands the pages out in
	// arena order again and they merge into large segments.
	for i := c.nalloc - 1; i >= 0; i-- {
		pg := &c.pages[i]
		if pg.flags&pgHashed == 0 || pg.key.m != m {
			continue
		}
		if pg.flags&pgDirty != 0 {
			c.ndirty--
			m.ndirty--
		}
		c.release(int32(i))
	}
}

// invalidate drops the disk's pages first..last (inclusive) from the
// cache, dirty or not, waiting for readers and writers of them to finish:
// their contents on the disk are about to change behind the cache (discard,
// write zeroes), as truncate_inode_pages_range does for BLKDISCARD.
func (m *mapping) invalidate(first, last int64) {
	c := m.c
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		pinned := false
		drop := func(i int32) {
			pg := &c.pages[i]
			if pg.pinned() {
				pinned = true
				return
			}
			if pg.flags&pgDirty != 0 {
				c.ndirty--
				m.ndirty--
			}
			c.release(i)
		}
		if last-first+1 > int64(c.nalloc) {
			for i := 0; i < c.nalloc; i++ {
				pg := &c.pages[i]
				if pg.flags&pgHashed != 0 && pg.key.m == m && pg.key.index >= first && pg.key.index <= last {
					drop(int32(i))
				}
			}
		} else {
			for idx := first; idx <= last; idx++ {
				if i, ok := m.index[idx]; ok {
					drop(i)
				}
			}
		}
		if !pinned {
			return
		}
		c.wait()
	}
}

// dropClean drops the disk's clean pages first..last (inclusive) that
// nobody uses from the cache, leaving dirty and busy ones alone: what
// invalidate_mapping_pages does for BLKFLSBUF, so that the next reads
// come from the disk.
func (m *mapping) dropClean(first, last int64) {
	c := m.c
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := 0; i < c.nalloc; i++ {
		pg := &c.pages[i]
		if pg.flags&pgHashed == 0 || pg.key.m != m || pg.key.index < first || pg.key.index > last ||
			pg.flags&pgDirty != 0 || pg.pinned() {
			continue
		}
		c.release(int32(i))
	}
}
