package squashfstools

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"io"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/lklimg/lklimg/archive"
	"github.com/lklimg/lklimg/format/squashfs"
)

// The data: files' blocks are read from the source in its order, each
// compressed by a worker of a pool and written in that same order by one
// goroutine (the writer), so that the image's bytes do not depend on
// how many workers there are. Tails of files go into fragment blocks
// (mksquashfs: files smaller than a block, and with
// -always-use-fragments the tails of larger ones), compressed by the
// pool too and written at fixed points of the stream. A file whose
// contents an earlier file already has (same size, same hash, and the
// same bytes on disk and in the fragment) is dropped and shares the
// earlier file's blocks and fragment, as mksquashfs's duplicate check.

// fileData is where a regular file's data went.
type fileData struct {
	size    uint64
	start   uint64   // the first block's position on the device
	words   []uint32 // the blocks' size words (squashfs.DataBlockWord)
	frag    uint32   // its tail's fragment block, squashfs.InvalidFrag for none
	fragOff uint32   // the tail's offset in it
	tailLen uint32
	sparse  uint64 // bytes in whole sparse blocks (the inode's sparse field)
	hash    uint64
}

// job is one block to compress: its data and, once done, the result.
type job struct {
	data []byte
	out  []byte
	raw  bool // stored as it is: not compressed
	wg   sync.WaitGroup
	err  error
}

// item is what the reader hands the writer, in the stream's order: a
// block to write (job, or a sparse block when job is nil) of file, or
// the end of file with its tail.
type item struct {
	file *fileData
	job  *job
	end  bool
	tail []byte
}

// pool is the compressing workers.
type pool struct {
	jobs chan *job
	wg   sync.WaitGroup
}

func newPool(workers int, newComp func() (squashfs.Compressor, error)) (*pool, error) {
	p := &pool{jobs: make(chan *job, 2*workers)}
	comps := make([]squashfs.Compressor, workers)
	for i := range comps {
		c, err := newComp()
		if err != nil {
			return nil, err
		}
		comps[i] = c
	}
	for _, c := range comps {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for j := range p.jobs {
				j.out, j.err = c.Compress(j.out[:0], j.data)
				j.wg.Done()
			}
		}()
	}
	return p, nil
}

// submit queues j for compression (unless it is raw).
func (p *pool) submit(j *job) {
	if j.raw {
		return
	}
	j.wg.Add(1)
	p.jobs <- j
}

func (p *pool) close() {
	close(p.jobs)
	p.wg.Wait()
}

// dataWriter is the writer: it writes blocks where the data area has
// reached, packs tails into fragment blocks and finds duplicates.
type dataWriter struct {
	dev       Device
	pos       uint64 // where the next block goes
	blockSize uint32
	pool      *pool
	noFrag    bool // -noF: fragment blocks stored as they are
	dedupe    bool
	// buf gathers consecutive writes from bufPos on.
	buf    []byte
	bufPos uint64
	dups   map[[2]uint64][]*fileData
	// frag is the fragment block being filled, number nfrags; pending
	// those sealed and being compressed, written once more than
	// maxPending wait, oldest first.
	frag       []byte
	pending    []*fragBlock
	maxPending int
	frags      []squashfs.FragmentEntry
	freeFrag   []*job
	decomp     squashfs.Decompressor
	cached     int // the fragment in cache, -1 none
	cache      []byte
	cmpA, cmpB []byte      // same's buffers
	failed     atomic.Bool // err is set: what the reader's goroutine may read
	err        error
}

// fragBlock is a sealed fragment block.
type fragBlock struct {
	index int
	job   *job
}

// run writes the items until the channel closes, then the fragments
// left; it drains the channel after an error, recycling the jobs.
func (w *dataWriter) run(items <-chan item, free chan<- *job) {
	var cur *fileData
	for it := range items {
		if w.err != nil {
			w.failed.Store(true) // the reader stops
			if it.job != nil {
				it.job.wg.Wait()
				free <- it.job
			}
			continue
		}
		cur = it.file
		switch {
		case it.end:
			w.endFile(cur, it.tail)
		case it.job == nil:
			if len(cur.words) == 0 {
				cur.start = w.pos
			}
			cur.words = append(cur.words, 0)
		default:
			if len(cur.words) == 0 {
				cur.start = w.pos
			}
			cur.words = append(cur.words, w.writeJob(it.job))
			free <- it.job
		}
	}
	if w.err == nil {
		for len(w.pending) > 0 {
			w.writeFragment()
		}
		if len(w.frag) > 0 {
			w.seal()
			w.writeFragment()
		}
		w.flush()
	}
}

// writeJob writes a compressed block (or the block itself where
// compressing did not make it smaller) and returns its size word.
func (w *dataWriter) writeJob(j *job) uint32 {
	j.wg.Wait()
	if j.err != nil {
		w.err = fmt.Errorf("compressing: %w", j.err)
		return 0
	}
	if !j.raw && len(j.out) < len(j.data) {
		w.write(j.out)
		return squashfs.DataBlockWord(uint32(len(j.out)), true)
	}
	w.write(j.data)
	return squashfs.DataBlockWord(uint32(len(j.data)), false)
}

// write appends p to the data area.
func (w *dataWriter) write(p []byte) {
	if len(w.buf)+len(p) > cap(w.buf) {
		w.flush()
	}
	if len(w.buf) == 0 {
		w.bufPos = w.pos
	}
	w.buf = append(w.buf, p...)
	w.pos += uint64(len(p))
}

// flush writes what buf gathered.
func (w *dataWriter) flush() {
	if len(w.buf) == 0 || w.err != nil {
		return
	}
	if _, err := w.dev.WriteAt(w.buf, int64(w.bufPos)); err != nil {
		w.err = fmt.Errorf("writing data at %d: %w", w.bufPos, err)
	}
	w.buf = w.buf[:0]
}

// endFile finishes a file: shares an earlier file's data if it has the
// same, or puts its tail in a fragment.
func (w *dataWriter) endFile(f *fileData, tail []byte) {
	if w.err != nil {
		return
	}
	key := [2]uint64{f.size, f.hash}
	if w.dedupe {
		for _, c := range w.dups[key] {
			if !w.same(c, f, tail) {
				continue
			}
			if len(f.words) > 0 {
				// Drop what was just written: the next block goes
				// where this file's first went.
				if f.start >= w.bufPos && len(w.buf) > 0 {
					w.buf = w.buf[:f.start-w.bufPos]
				}
				w.pos = f.start
			}
			// The earlier file's sparse count too, as mksquashfs.
			f.start, f.words, f.frag, f.fragOff, f.sparse = c.start, c.words, c.frag, c.fragOff, c.sparse
			return
		}
	}
	if len(tail) > 0 {
		if len(w.frag)+len(tail) > int(w.blockSize) {
			w.seal()
		}
		f.frag, f.fragOff = uint32(len(w.frags)+len(w.pending)), uint32(len(w.frag))
		w.frag = append(w.frag, tail...)
	}
	if w.dedupe {
		w.dups[key] = append(w.dups[key], f)
	}
	for len(w.pending) > w.maxPending && w.err == nil {
		w.writeFragment()
	}
}

// same reports whether f's data (blocks written, tail) is c's: the same
// size words, the same bytes on disk, the same tail.
func (w *dataWriter) same(c, f *fileData, tail []byte) bool {
	if len(c.words) != len(f.words) || c.tailLen != f.tailLen {
		return false
	}
	var n uint64
	for i, word := range c.words {
		if f.words[i] != word {
			return false
		}
		s, _ := squashfs.DataBlockSize(word)
		n += uint64(s)
	}
	if n > 0 {
		w.flush()
		if w.cmpA == nil {
			w.cmpA, w.cmpB = make([]byte, 1<<20), make([]byte, 1<<20)
		}
		a, b := w.cmpA[:min(n, 1<<20)], w.cmpB[:min(n, 1<<20)]
		for off := uint64(0); off < n; off += uint64(len(a)) {
			m := min(uint64(len(a)), n-off)
			if _, err := w.dev.ReadAt(a[:m], int64(c.start+off)); err != nil {
				w.err = fmt.Errorf("reading data back at %d: %w", c.start+off, err)
				return false
			}
			if _, err := w.dev.ReadAt(b[:m], int64(f.start+off)); err != nil {
				w.err = fmt.Errorf("reading data back at %d: %w", f.start+off, err)
				return false
			}
			if !bytes.Equal(a[:m], b[:m]) {
				return false
			}
		}
	}
	if len(tail) == 0 {
		return true
	}
	fb := w.fragmentBytes(int(c.frag))
	return fb != nil && int(c.fragOff)+len(tail) <= len(fb) && bytes.Equal(fb[c.fragOff:int(c.fragOff)+len(tail)], tail)
}

// fragmentBytes returns fragment block i's contents: the one being
// filled, a sealed one, or one written (read back and decompressed).
func (w *dataWriter) fragmentBytes(i int) []byte {
	if i == len(w.frags)+len(w.pending) {
		return w.frag
	}
	if i >= len(w.frags) {
		return w.pending[i-len(w.frags)].job.data
	}
	if w.cached == i {
		return w.cache
	}
	w.flush()
	e := w.frags[i]
	size, compressed := squashfs.DataBlockSize(e.Size)
	raw := make([]byte, size)
	if _, err := w.dev.ReadAt(raw, int64(e.StartBlock)); err != nil {
		w.err = fmt.Errorf("reading fragment %d back: %w", i, err)
		return nil
	}
	if !compressed {
		w.cached, w.cache = i, raw
		return raw
	}
	if cap(w.cache) < int(w.blockSize) {
		w.cache = squashfs.NewBlockBuffer(int(w.blockSize))
	}
	n, err := w.decomp.Decompress(w.cache[:w.blockSize], raw)
	if err != nil {
		w.err = fmt.Errorf("reading fragment %d back: %w", i, err)
		return nil
	}
	w.cached, w.cache = i, w.cache[:n]
	return w.cache
}

// seal hands the fragment block being filled to the pool.
func (w *dataWriter) seal() {
	var j *job
	if n := len(w.freeFrag); n > 0 {
		j, w.freeFrag = w.freeFrag[n-1], w.freeFrag[:n-1]
	} else {
		j = &job{data: make([]byte, 0, w.blockSize)}
	}
	j.data = append(j.data[:0], w.frag...)
	j.raw = w.noFrag
	w.frag = w.frag[:0]
	w.pending = append(w.pending, &fragBlock{index: len(w.frags) + len(w.pending), job: j})
	w.pool.submit(j)
}

// writeFragment writes the oldest sealed fragment block.
func (w *dataWriter) writeFragment() {
	fb := w.pending[0]
	w.pending = w.pending[1:]
	start := w.pos
	word := w.writeJob(fb.job)
	w.frags = append(w.frags, squashfs.FragmentEntry{StartBlock: start, Size: word})
	w.freeFrag = append(w.freeFrag, fb.job)
}

// dataReader is the reading side: it cuts a file into blocks and hands
// them to the pool and the writer.
type dataReader struct {
	blockSize   uint32
	fragments   bool // tails of files smaller than a block go in fragments
	alwaysFrags bool // and those of larger files too
	noData      bool // -noD
	pool        *pool
	items       chan<- item
	free        chan *job
	seed        maphash.Seed
	zero        []byte // blockSize zeros
}

// readFile reads a regular file's data from src and queues its blocks.
func (r *dataReader) readFile(h *archive.Header, src io.Reader) (*fileData, error) {
	size := uint64(h.Size)
	f := &fileData{size: size, frag: squashfs.InvalidFrag}
	bs := uint64(r.blockSize)
	tail := size % bs
	if !r.fragments || size >= bs && !r.alwaysFrags {
		tail = 0
	}
	f.tailLen = uint32(tail)
	var hash maphash.Hash
	hash.SetSeed(r.seed)
	sp := sparseReader{r: src, extents: slices.Clone(h.Sparse)}
	var zeroMark [8]byte // what is hashed of a block of zeros: its length
	for off := uint64(0); off < size-tail; off += bs {
		n := min(bs, size-tail-off)
		zero := sp.hole(off, n)
		var j *job
		if !zero {
			j = <-r.free
			j.data = j.data[:n]
			if err := sp.read(j.data, off); err != nil {
				r.free <- j
				return nil, err
			}
			zero = bytes.Equal(j.data, r.zero[:n])
		}
		if zero {
			// A sparse block: no data, a size word of 0. mksquashfs
			// counts whole ones in the inode's sparse field when the
			// file is sparse on its disk (a sparse entry here). A
			// block in a hole is not read nor cleared.
			if j != nil {
				r.free <- j
			}
			le.PutUint64(zeroMark[:], n)
			hash.Write(zeroMark[:])
			if n == bs && h.Sparse != nil {
				f.sparse += n
			}
			r.items <- item{file: f}
			continue
		}
		hash.Write(j.data)
		j.raw = r.noData
		r.pool.submit(j)
		r.items <- item{file: f, job: j}
	}
	var t []byte
	if tail > 0 {
		t = make([]byte, tail)
		if err := sp.read(t, size-tail); err != nil {
			return nil, err
		}
		if bytes.Equal(t, r.zero[:tail]) {
			le.PutUint64(zeroMark[:], tail)
			hash.Write(zeroMark[:])
			// A tail of zeros is a sparse block, not a fragment's
			// bytes, as mksquashfs stores it.
			f.tailLen, t = 0, nil
			r.items <- item{file: f}
		} else {
			hash.Write(t)
		}
	}
	if f.sparse >= size && size > 0 {
		// A file of nothing but sparse blocks: mksquashfs stores one
		// byte less.
		f.sparse = size - 1
	}
	f.hash = hash.Sum64()
	r.items <- item{file: f, end: true, tail: t}
	return f, nil
}

var le = binary.LittleEndian

// sparseReader gives a file's bytes at increasing offsets from a
// source that holds only its extents' bytes (archive.Source's sparse
// files), holes as zeros; without extents, the source's bytes.
type sparseReader struct {
	r       io.Reader
	extents []archive.Extent
}

// hole reports whether the n bytes at off lie in a hole: between the
// extents, or past the last (not asked at all without extents).
func (s *sparseReader) hole(off, n uint64) bool {
	if s.extents == nil {
		return false
	}
	return len(s.extents) == 0 || uint64(s.extents[0].Offset) >= off+n
}

// read fills p with the file's bytes at off (the offsets asked only
// grow, each read right after the last).
func (s *sparseReader) read(p []byte, off uint64) error {
	if s.extents == nil {
		if _, err := io.ReadFull(s.r, p); err != nil {
			return fmt.Errorf("reading data: %w", err)
		}
		return nil
	}
	clear(p)
	end := off + uint64(len(p))
	for len(s.extents) > 0 {
		e := s.extents[0]
		eo, ee := uint64(e.Offset), uint64(e.Offset+e.Length)
		if eo >= end {
			break
		}
		from, to := max(eo, off), min(ee, end)
		if from < to {
			if _, err := io.ReadFull(s.r, p[from-off:to-off]); err != nil {
				return fmt.Errorf("reading data: %w", err)
			}
		}
		if ee > end {
			s.extents[0] = archive.Extent{Offset: int64(to), Length: int64(ee - to)}
			break
		}
		s.extents = s.extents[1:]
	}
	return nil
}
