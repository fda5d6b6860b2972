package squashfs

import (
	"runtime"

	sq "github.com/lklimg/lklimg/format/squashfs"
	"github.com/lklimg/lklimg/kernel/abi"
)

// Readahead of data and fragment blocks (Linux's squashfs_readahead
// decompresses the blocks a read will want next): a file read block
// after block, as fs2tar and cat read, has the next blocks decompressed
// by workers on the other cores while the reader copies this one out,
// the next fragment block with them, and past a file's end the first
// blocks of the file stored after it (file.go's readahead). A worker has
// its own decompressor and buffers (a blockMaker); it puts the block it
// made into the cache under fsys.mu, swapping buffers with the entry it
// takes, so nothing is allocated per block. A reader wanting a block
// being made waits for it (fsys.inflight) rather than making it twice;
// one wanting a block still queued takes it and makes it itself, with a
// blockMaker of fsys.makers and fsys.mu released, rather than wait for
// the workers to reach it (on a busy machine, for them to be scheduled).
// A worker's failure is dropped: the reader then makes the block itself
// and reports it.

// raDepth is how many blocks after the one read are asked for: enough
// for the workers to stay ahead of a reader that goes through small
// files (lookups, headers) between blocks. fragRaDepth is how many
// fragment blocks after the one read: one, as mksquashfs does not
// number a directory's fragments quite in the order of its files, and a
// second one ahead was made and dropped unread about one time in ten on
// the bench's corpus.
const (
	raDepth     = 4
	fragRaDepth = 1
)

// raBlock is a block asked of the workers, in fsys.inflight until made:
// started once a worker has taken it, done closed when it is made or
// given up.
type raBlock struct {
	done    chan struct{}
	started bool
}

// raJob is a block to make: its cache, place and size word.
type raJob struct {
	c   *cache
	pos int64
	w   uint32
}

// blockMaker is what making a data block takes: a decompressor of the
// image's compressor and options, a buffer for the bytes as stored and
// one for the block made. A worker has its own; a reader takes one from
// fsys.makers while it makes a block, so that readers decompress with
// fsys.mu released.
type blockMaker struct {
	dec     sq.Decompressor
	scratch []byte
	buf     []byte
}

// newMaker returns a blockMaker for the image.
func (f *fsys) newMaker() (*blockMaker, error) {
	dec, err := sq.NewDecompressor(f.sb.Compression, f.compOpts, f.sb.BlockSize)
	if err != nil {
		return nil, err
	}
	return &blockMaker{dec: dec, scratch: make([]byte, f.sb.BlockSize), buf: sq.NewBlockBuffer(int(f.sb.BlockSize))}, nil
}

// getMaker takes a blockMaker from f.makers, or makes one. The caller
// holds f.mu.
func (f *fsys) getMaker() (*blockMaker, error) {
	if n := len(f.makers); n > 0 {
		m := f.makers[n-1]
		f.makers = f.makers[:n-1]
		return m, nil
	}
	return f.newMaker()
}

// putMaker gives m back to f.makers. The caller holds f.mu.
func (f *fsys) putMaker(m *blockMaker) { f.makers = append(f.makers, m) }

// startReadahead starts the workers, one per core (at most 2).
func (f *fsys) startReadahead() error {
	n := min(runtime.GOMAXPROCS(0), 2)
	f.ra = make(chan raJob, 2*raDepth)
	f.inflight = map[int64]*raBlock{}
	for i := 0; i < n; i++ {
		m, err := f.newMaker()
		if err != nil {
			close(f.ra)
			return err
		}
		f.raDone.Add(1)
		go f.raWorker(m)
	}
	return nil
}

// stopReadahead ends the workers, at the unmount.
func (f *fsys) stopReadahead() {
	if f.ra != nil {
		close(f.ra)
		f.raDone.Wait()
	}
}

// prefetch asks a worker for the block at pos of cache c (size word w),
// unless it is cached, being made, sparse, or the workers are busy. The
// caller holds f.mu.
func (f *fsys) prefetch(c *cache, pos int64, w uint32) {
	if f.ra == nil {
		return
	}
	if size, _ := sq.DataBlockSize(w); size == 0 || size > f.sb.BlockSize {
		return
	}
	if _, ok := f.inflight[pos]; ok || c.has(pos) {
		return
	}
	select {
	case f.ra <- raJob{c: c, pos: pos, w: w}:
		f.inflight[pos] = &raBlock{done: make(chan struct{})}
	default:
	}
}

// raWorker makes the blocks asked for until the unmount.
func (f *fsys) raWorker(m *blockMaker) {
	defer f.raDone.Done()
	for j := range f.ra {
		f.mu.Lock()
		b := f.inflight[j.pos]
		if b == nil || b.started { // taken by a reader
			f.mu.Unlock()
			continue
		}
		b.started = true
		f.mu.Unlock()
		n, err := f.makeBlock(m, j.pos, j.w)
		f.mu.Lock()
		if err == nil {
			f.blocksMade.Add(1)
			// A fragment block stays open to LRU: the files of
			// one are not all read in a row.
			j.c.install(j.pos, m, n, j.c == f.data)
		}
		delete(f.inflight, j.pos)
		f.mu.Unlock()
		close(b.done)
	}
}

// makeBlock reads the block at pos (size word w) and decompresses it into
// m.buf, with the checks squashfs_read_data makes, and returns its
// length. f.mu is not held.
func (f *fsys) makeBlock(m *blockMaker, pos int64, w uint32) (int, error) {
	size, compressed := sq.DataBlockSize(w)
	if size > f.sb.BlockSize {
		return 0, abi.Errorf(abi.EIO, "squashfs: block of %d bytes", size)
	}
	src, err := f.readStored(m.scratch[:size], pos)
	if err != nil {
		return 0, err
	}
	if !compressed {
		return copy(m.buf, src), nil
	}
	return m.dec.Decompress(m.buf, src)
}

// upcomingMax is how many looked-up files the readahead index keeps.
const upcomingMax = 1024

// upcomingFiles indexes the regular files looked up lately by where
// their first block starts on the device, for readahead to go on from a
// file's end into the next file's blocks. It keeps the last upcomingMax
// positions (a walk looks a directory's entries up before it reads
// them); guarded by fsys.mu.
type upcomingFiles struct {
	m    map[int64]*inode
	ring []int64 // the positions in m, the oldest at at once full
	at   int
}

// add indexes ip, whose first block starts at pos. The caller holds
// f.mu.
func (u *upcomingFiles) add(pos int64, ip *inode) {
	if u.m == nil {
		u.m = make(map[int64]*inode, upcomingMax)
	}
	if _, ok := u.m[pos]; ok {
		u.m[pos] = ip
		return
	}
	if len(u.ring) < upcomingMax {
		u.ring = append(u.ring, pos)
	} else {
		delete(u.m, u.ring[u.at])
		u.ring[u.at] = pos
		u.at = (u.at + 1) % upcomingMax
	}
	u.m[pos] = ip
}
