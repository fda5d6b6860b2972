package archive

import "io"

// The feed: the archive is read on a goroutine of its own, so that
// parsing its headers and copying its data out of the stream overlap the
// import's syscalls (tar2fs is bound by the goroutine that makes the
// entries). The reader hands the importer batches: a run of headers with
// the data of their small entries packed in one buffer, or one chunk of
// a large entry's data. Batches keep the handovers between the two
// goroutines few (one per 256 entries or per buffer, not one per entry,
// which cost more than the parsing saved).
//
// The buffers come from a pool of feedBuffers of the import's buffer
// size: at most feedBuffers times that (4 MiB by default) of the archive
// is read ahead. A batch's buffer goes back to the pool when the importer
// moves past the batch. stop waits for the reading goroutine to end, so
// that the caller may close the archive's reader (a decompressor) after
// Import returns.

// feedBuffers is the number of buffers in flight; feedBatchItems bounds
// the items of a batch.
const (
	feedBuffers    = 4
	feedBatchItems = 256
)

// feedItem is one step of the archive: a header (h, with the reader's
// warnings about it), data of the current entry, or the end (err: io.EOF,
// or why the archive could not be read).
type feedItem struct {
	h        *Header
	warnings []error
	data     []byte
	err      error
}

type feedBatch struct {
	items []feedItem
	buf   []byte // the pool buffer the items' data lie in
}

type feed struct {
	tr      *Reader
	batches chan *feedBatch
	free    chan []byte
	done    chan struct{} // closed by stop: the importer wants no more
	exited  chan struct{} // closed by run when it returns

	// The importer's side: the batch being consumed and the next item.
	cur  *feedBatch
	pos  int
	data []byte // what is left of the current data item
}

func newFeed(tr *Reader, bufSize int) *feed {
	f := &feed{
		tr:      tr,
		batches: make(chan *feedBatch, feedBuffers),
		free:    make(chan []byte, feedBuffers),
		done:    make(chan struct{}),
		exited:  make(chan struct{}),
	}
	for range feedBuffers {
		f.free <- make([]byte, bufSize)
	}
	go f.run()
	return f
}

// stopped reports whether stop was called.
func (f *feed) stopped() bool {
	select {
	case <-f.done:
		return true
	default:
		return false
	}
}

// run is the reading goroutine. It looks at done before every read of the
// archive, not only when it waits: once stop is called it reads no more.
func (f *feed) run() {
	defer close(f.exited)
	var b *feedBatch
	used := 0
	// start begins a batch with a buffer from the pool.
	start := func() bool {
		if f.stopped() {
			return false
		}
		select {
		case buf := <-f.free:
			b, used = &feedBatch{buf: buf}, 0
			return true
		case <-f.done:
			return false
		}
	}
	// flush hands the batch over.
	flush := func() bool {
		if f.stopped() {
			return false
		}
		select {
		case f.batches <- b:
			b = nil
			return true
		case <-f.done:
			return false
		}
	}
	if !start() {
		return
	}
	for {
		if f.stopped() {
			return
		}
		h, err := f.tr.Next()
		if err != nil {
			b.items = append(b.items, feedItem{err: err})
			flush()
			return
		}
		b.items = append(b.items, feedItem{h: h, warnings: append([]error(nil), f.tr.Warnings()...)})
		n := f.tr.remain
		if n > int64(len(b.buf)-used) && used > 0 {
			// Not room for the data: it starts the next batch.
			if !flush() || !start() {
				return
			}
		}
		for n > 0 {
			if f.stopped() {
				return
			}
			k := int(min(n, int64(len(b.buf)-used)))
			got, err := io.ReadFull(f.tr, b.buf[used:used+k])
			if got > 0 {
				b.items = append(b.items, feedItem{data: b.buf[used : used+got]})
				used += got
				n -= int64(got)
			}
			if err != nil {
				b.items = append(b.items, feedItem{err: err})
				flush()
				return
			}
			if n > 0 { // a large entry: one buffer per chunk
				if !flush() || !start() {
					return
				}
			}
		}
		if len(b.items) >= feedBatchItems || used == len(b.buf) {
			if !flush() || !start() {
				return
			}
		}
	}
}

// item returns the next item, moving to the next batch (and giving the
// last one's buffer back) when the current one is done.
func (f *feed) item() feedItem {
	for f.cur == nil || f.pos == len(f.cur.items) {
		if f.cur != nil {
			last := f.cur.items[len(f.cur.items)-1]
			if last.err != nil {
				return last // the end stays the end
			}
			f.free <- f.cur.buf
		}
		f.cur, f.pos = <-f.batches, 0
	}
	it := f.cur.items[f.pos]
	f.pos++
	return it
}

// next returns the next header, skipping what is left of the current
// entry's data; io.EOF at the end of the archive.
func (f *feed) next() (*Header, []error, error) {
	f.data = nil
	for {
		it := f.item()
		switch {
		case it.err != nil:
			f.pos--
			return nil, nil, it.err
		case it.h != nil:
			return it.h, it.warnings, nil
		}
	}
}

// chunk returns up to max bytes of the current entry's data, valid until
// the next call; io.ErrUnexpectedEOF when the entry has no more (an
// archive cut short says why instead).
func (f *feed) chunk(max int) ([]byte, error) {
	for len(f.data) == 0 {
		it := f.item()
		if it.data == nil {
			f.pos-- // a header or the end: the next entry's
			if it.err != nil && it.err != io.EOF {
				return nil, it.err
			}
			return nil, io.ErrUnexpectedEOF
		}
		f.data = it.data
	}
	b := f.data[:min(len(f.data), max)]
	f.data = f.data[len(b):]
	return b, nil
}

// stop ends the reading goroutine and waits for it (for at most the read
// it is in).
func (f *feed) stop() {
	if !f.stopped() {
		close(f.done)
	}
	<-f.exited
}
