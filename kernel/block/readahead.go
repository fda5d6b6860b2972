package block

import "github.com/lklimg/lklimg/kernel/mm"

// This file is readahead, after Linux's mm/readahead.c "on-demand
// readahead": a reader that misses a page gets it together with the pages
// that follow, in one request; a miss that continues a stream of reads
// doubles the stream's window, up to mapping.raMax; and a marker page
// (PG_readahead) inside each window starts reading the next window in the
// background when a reader reaches it, so that the disk works while the
// reader copies. Streams are tracked per disk, a few at once, because the
// block layer does not see files: a stream is recognised by where its
// misses fall.

// raStreams is how many sequential streams a disk tracks at once.
const raStreams = 8

// raStream is one sequential reader (struct file_ra_state): its latest
// window [start, start+size) and the marker page in it.
type raStream struct {
	start, size int64
	marker      int64 // page whose reading starts the next window; -1 for none
	used        uint64
}

// raJob is a range of pages to read in the background.
type raJob struct {
	m        *mapping
	start, n int64
	marker   int64
}

// syncWindow returns the pages to read for a miss on page idx by a reader
// that needs want pages from idx: [start, start+size), with marker the page
// that starts the next window (-1 for none). A miss that does not continue
// a stream reads only what is asked, as Linux does for a random read; it
// opens a stream that the next miss may continue. c.mu is held.
func (m *mapping) syncWindow(idx, want int64) (start, size, marker int64) {
	want = max(1, min(want, m.raMax))
	m.tick++
	victim := 0
	for k := range m.streams {
		s := &m.streams[k]
		if s.size > 0 && idx >= s.start-s.size && idx <= s.start+s.size {
			size = m.nextSize(s.size, want)
			marker = idx
			if want < size {
				marker = idx + want
			}
			*s = raStream{start: idx, size: size, marker: marker, used: m.tick}
			return idx, size, marker
		}
		if s.used < m.streams[victim].used {
			victim = k
		}
	}
	m.streams[victim] = raStream{start: idx, size: want, marker: -1, used: m.tick}
	return idx, want, -1
}

// nextSize returns the window after one of cur pages for a reader wanting
// want pages: 128 KiB (or twice the request) to begin with, then doubling
// up to raMax (get_init_ra_size and get_next_ra_size, simplified).
func (m *mapping) nextSize(cur, want int64) int64 {
	if cur < raInitPages {
		cur = max(raInitPages, 2*roundPow2(want))
	} else {
		cur *= 2
	}
	return min(cur, m.raMax)
}

func roundPow2(n int64) int64 {
	p := int64(1)
	for p < n {
		p <<= 1
	}
	return p
}

// asyncWindow is called when a reader reaches marker page idx: it queues
// the stream's next window, twice as large, whose first page becomes the
// next marker. c.mu is held.
func (m *mapping) asyncWindow(idx int64) {
	for k := range m.streams {
		s := &m.streams[k]
		if s.size == 0 || s.marker != idx {
			continue
		}
		start := s.start + s.size
		if start >= m.pages {
			s.marker = -1
			return
		}
		m.tick++
		*s = raStream{start: start, size: min(2*s.size, m.raMax), marker: start, used: m.tick}
		m.queue(raJob{m: m, start: start, n: s.size, marker: start})
		return
	}
}

// setMarker flags page marker as the readahead marker if it is in run,
// which holds the pages from start on. c.mu is held.
func (m *mapping) setMarker(run []int32, start, marker int64) {
	if marker >= start && marker < start+int64(len(run)) {
		m.c.pages[run[marker-start]].flags |= pgReadahead
	}
}

// readaheadRange queues the disk's bytes [off, off+n) to be read in the
// background, at most a quarter of the cache, in requests of the largest
// size. It never waits.
func (m *mapping) readaheadRange(off, n int64) {
	if n <= 0 || off < 0 || off >= m.size {
		return
	}
	start := off / mm.PageSize
	end := min((off+n+mm.PageSize-1)/mm.PageSize, m.pages)
	end = min(end, start+int64(max(1, m.c.max/4)))
	c := m.c
	c.mu.Lock()
	defer c.mu.Unlock()
	for start < end {
		n := min(end-start, int64(m.maxReq))
		m.queue(raJob{m: m, start: start, n: n, marker: -1})
		start += n
	}
}

// queue adds a job for the readahead workers, starting one if fewer than
// raWorkers run; a full queue drops the job. c.mu is held.
func (m *mapping) queue(j raJob) {
	c := m.c
	if m.closed {
		return
	}
	if c.raLen == raQueueLen {
		c.stats.RADropped++
		return
	}
	c.raQueue[(c.raHead+c.raLen)%raQueueLen] = j
	c.raLen++
	m.jobs.Add(1)
	if c.raRunning < raWorkers {
		c.raRunning++
		go c.raWorker()
	}
}

// raWorker runs queued readahead until the queue is empty.
func (c *Cache) raWorker() {
	for {
		c.mu.Lock()
		if c.raLen == 0 {
			c.raRunning--
			c.mu.Unlock()
			return
		}
		j := c.raQueue[c.raHead]
		c.raQueue[c.raHead] = raJob{}
		c.raHead = (c.raHead + 1) % raQueueLen
		c.raLen--
		c.mu.Unlock()
		j.m.readahead(j)
		j.m.jobs.Done()
	}
}

// readahead reads the missing pages of a job, in runs of consecutive
// missing pages, each one request. It gives up when memory is short:
// readahead is a hint.
func (m *mapping) readahead(j raJob) {
	c := m.c
	pos, end := j.start, min(j.start+j.n, m.pages)
	c.mu.Lock()
	defer c.mu.Unlock()
	for pos < end && !m.closed {
		if _, ok := m.index[pos]; ok {
			pos++
			continue
		}
		run, _ := m.allocRun(pos, end-pos, true)
		if len(run) == 0 {
			c.stats.RADropped++
			return
		}
		m.setMarker(run, pos, j.marker)
		c.mu.Unlock()
		err := m.io(run, false)
		c.mu.Lock()
		m.complete(run, err)
		if err != nil {
			return
		}
		pos += int64(len(run))
	}
}
