package squashfs

import (
	"errors"
	"fmt"
	"strings"

	sq "github.com/lklimg/lklimg/format/squashfs"
	"github.com/lklimg/lklimg/kernel/abi"
)

// The block caches (Linux's struct squashfs_cache, fs/squashfs/cache.c):
// a few decompressed blocks of each kind, found by their position on the
// device, the least recently used one given up for a new one and its
// buffer reused, so that a read allocates nothing once the caches are
// full. Linux keeps 8 metadata blocks (SQUASHFS_CACHED_BLKS) and 3
// fragment blocks (CONFIG_SQUASHFS_FRAGMENT_CACHE_SIZE), ours 4; its
// data blocks live in the page cache, ours in a third cache of a few
// blocks (the one read and readahead's after it), so that a file read in
// pieces smaller than a block decompresses each block once. The caches
// are live Go heap, which the commands' memory limit bounds
// (cliflags.LimitHeap): more blocks kept make the collector run more
// often. On fs2tar of the bench's corpus, 16 fragment blocks and 12 data
// blocks saved 39 of 1,770 decompressions but made 24 collections
// instead of 10, and cost more CPU than they saved. Every cache is
// guarded by fsys.mu, held while a block is used.

// Cache sizes.
const (
	metaCacheBlocks = 8
	fragCacheBlocks = 4
	dataCacheBlocks = 8
)

// cacheEntry is one decompressed block.
type cacheEntry struct {
	pos  int64  // the block's position on the device; -1 while empty
	data []byte // the decompressed bytes (len: what the block held)
	buf  []byte // data's buffer, kept for the next block
	next int64  // a metadata block's next block (pos + header + length)
	used uint64 // when it was last used, for the LRU choice
	// ahead: made by readahead and not read yet. Such a block is given
	// up only when every other is too: by recency alone, the blocks a
	// reader has just finished with would outlive the ones it reads
	// next.
	ahead bool
}

// cache is a set of blocks of one kind, each of at most size bytes.
type cache struct {
	name string
	size int
	ents []cacheEntry
	tick uint64
}

func newCache(name string, n, size int) *cache {
	c := &cache{name: name, size: size, ents: make([]cacheEntry, n)}
	for i := range c.ents {
		c.ents[i].pos = -1
	}
	return c
}

// lookup returns the entry at pos, or the one to fill (pos -1): an
// empty one, else the least recently used of those not read ahead, else
// of all.
func (c *cache) lookup(pos int64) *cacheEntry {
	c.tick++
	victim := &c.ents[0]
	for i := range c.ents {
		e := &c.ents[i]
		if e.pos == pos {
			e.used, e.ahead = c.tick, false
			return e
		}
		if victim.pos < 0 {
			continue
		}
		if e.pos < 0 || e.ahead != victim.ahead && !e.ahead || e.ahead == victim.ahead && e.used < victim.used {
			victim = e
		}
	}
	victim.pos, victim.used, victim.ahead = -1, c.tick, false
	if victim.buf == nil {
		victim.buf = sq.NewBlockBuffer(c.size)
	}
	return victim
}

// has reports whether the block at pos is in the cache.
func (c *cache) has(pos int64) bool {
	for i := range c.ents {
		if c.ents[i].pos == pos {
			return true
		}
	}
	return false
}

// readRaw reads n bytes at pos into the fsys's scratch buffer (readStored).
// The caller holds f.mu.
func (f *fsys) readRaw(pos int64, n int) ([]byte, error) {
	if n > len(f.scratch) {
		return nil, abi.Errorf(abi.EIO, "squashfs: block of %d bytes at %d", n, pos)
	}
	return f.readStored(f.scratch[:n], pos)
}

// readStored reads len(p) bytes at pos into p, checking that they lie
// inside the image (bytes_used), as squashfs_read_data does.
func (f *fsys) readStored(p []byte, pos int64) ([]byte, error) {
	n := len(p)
	if pos < 0 || uint64(pos)+uint64(n) > f.sb.BytesUsed {
		return nil, abi.Errorf(abi.EIO, "squashfs: read of %d bytes at %d past the image's end (%d)", n, pos, f.sb.BytesUsed)
	}
	if _, err := f.dev.ReadAt(p, pos); err != nil {
		return nil, abi.Errorf(abi.EIO, "squashfs: reading %d bytes at %d: %v", n, pos, err)
	}
	return p, nil
}

// metaBlock returns the metadata block at pos (its data and the position
// of the block after it). The caller holds f.mu and uses the data
// before releasing it.
func (f *fsys) metaBlock(pos int64) (*cacheEntry, error) {
	e := f.meta.lookup(pos)
	if e.pos == pos {
		return e, nil
	}
	h, err := f.readRaw(pos, sq.MetadataHeaderSize)
	if err != nil {
		return nil, err
	}
	size, compressed, err := sq.DecodeMetadataHeader(h)
	if err != nil {
		return nil, where(err, "metadata block at %d", pos)
	}
	src, err := f.readRaw(pos+sq.MetadataHeaderSize, size)
	if err != nil {
		return nil, err
	}
	n, err := f.decompress(e.buf, src, compressed)
	if err != nil {
		err = where(err, "metadata block at %d", pos)
		f.logError(err)
		return nil, err
	}
	e.pos, e.data, e.next = pos, e.buf[:n], pos+sq.MetadataHeaderSize+int64(size)
	return e, nil
}

// dataBlock returns the data or fragment block at pos whose size word is
// w, from cache c, decompressed; it must hold want bytes or more (a data
// block exactly want, as Linux's squashfs_readpage_block wants). The
// caller holds f.mu, which is released while the block is read and
// decompressed, so that the readahead workers put the blocks they made
// into the caches meanwhile and other readers read what is cached. A
// block being made by a worker or another reader is waited for; one still
// queued for the workers is taken and made here. The caller uses the data
// before releasing f.mu.
func (f *fsys) dataBlock(c *cache, pos int64, w uint32, want int, exact bool) ([]byte, error) {
	var b *raBlock
	for {
		if c.has(pos) {
			return c.lookup(pos).check(c, pos, want, exact)
		}
		b = f.inflight[pos]
		if b == nil || !b.started {
			break
		}
		f.mu.Unlock()
		<-b.done
		f.mu.Lock()
	}
	if b == nil {
		b = &raBlock{done: make(chan struct{})}
		f.inflight[pos] = b
	}
	b.started = true
	m, err := f.getMaker()
	if err != nil {
		delete(f.inflight, pos)
		close(b.done)
		return nil, err
	}
	defer f.putMaker(m)
	f.mu.Unlock()
	n, err := f.makeBlock(m, pos, w)
	f.mu.Lock()
	delete(f.inflight, pos)
	close(b.done)
	if err != nil {
		err = where(err, "%s block at %d", c.name, pos)
		f.logError(err)
		return nil, err
	}
	f.blocksMade.Add(1)
	return c.install(pos, m, n, false).check(c, pos, want, exact)
}

// check returns the entry's data if it holds want bytes or more (exactly
// want if exact), else EIO.
func (e *cacheEntry) check(c *cache, pos int64, want int, exact bool) ([]byte, error) {
	if len(e.data) < want || exact && len(e.data) != want {
		return nil, abi.Errorf(abi.EIO, "squashfs: %s block at %d holds %d bytes, want %d", c.name, pos, len(e.data), want)
	}
	return e.data, nil
}

// install puts the n bytes block made by m at pos into c, unless it is
// there already, swapping buffers with the entry it takes so that nothing
// is allocated, and returns the block's entry. ahead: made by readahead,
// not read yet. The caller holds f.mu.
func (c *cache) install(pos int64, m *blockMaker, n int, ahead bool) *cacheEntry {
	e := c.lookup(pos)
	if e.pos != pos {
		if len(e.buf) < len(m.buf) {
			e.buf = sq.NewBlockBuffer(len(m.buf))
		}
		e.buf, m.buf = m.buf, e.buf
		e.pos, e.data, e.ahead = pos, e.buf[:n], ahead
	}
	return e
}

// where returns err with where it happened put before its reason
// ("squashfs: metadata block at 4096: zlib decompression failed ..."),
// its errno kept (EIO for an error without one).
func where(err error, format string, args ...any) error {
	var e *abi.Error
	reason := err.Error()
	errno := abi.ErrnoOf(err)
	if errors.As(err, &e) {
		reason = e.Detail
	}
	return abi.Errorf(errno, "squashfs: %s: %s", fmt.Sprintf(format, args...), strings.TrimPrefix(reason, "squashfs: "))
}

// decompress decompresses src into dst (or copies it, stored as it is).
func (f *fsys) decompress(dst, src []byte, compressed bool) (int, error) {
	if !compressed {
		if len(src) > len(dst) {
			return 0, abi.Errorf(abi.EIO, "squashfs: uncompressed block of %d bytes", len(src))
		}
		return copy(dst, src), nil
	}
	return f.dec.Decompress(dst, src)
}
