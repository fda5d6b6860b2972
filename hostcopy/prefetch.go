//go:build linux || darwin || freebsd || windows

package hostcopy

import (
	"errors"
	"path/filepath"

	"github.com/lklimg/lklimg/kernel/abi"
)

// Read-ahead of a directory's entries on the host side of To. A copy is,
// for every entry, host syscalls (lstat, open, read, close, llistxattr)
// and kernel work (create, write into the page cache, chown, chmod,
// times) in turn; on a machine of two cores the one goroutine doing both
// leaves the other core idle, and each host syscall costs several
// microseconds on a virtual machine. A prefetcher goroutine per directory
// being copied goes ahead of the copy through the directory's names in
// the order the copy takes them: it lstats each, lists its xattrs (most
// entries have none, which the copy then need not ask), and reads a small
// regular file whole into a buffer of the copier's pool, so that the copy
// only writes it. A directory's prefetcher is at most prefetchDepth names
// ahead; the pool bounds the data read ahead (prefetchBuffers of
// prefetchFileMax bytes), and a prefetcher finding no free buffer leaves
// that file's data to the copy rather than wait, so that the prefetchers
// of nested directories never wait for each other's buffers.

const (
	prefetchDepth   = 32
	prefetchFileMax = 256 << 10
	prefetchBuffers = 16
)

// ahead is what a prefetcher found of one name.
type ahead struct {
	st  hostStat
	err error // lstat's failure, as lstat returned it
	// noXattrs: the entry's xattr list was read and is empty.
	noXattrs bool
	// A regular file's data, read whole (data[:n]) when data is set
	// (a buffer of the pool); readOp and readErr say why it could not
	// be ("open" or "read"; data[:n] is then what was read before a
	// read failed).
	data    []byte
	n       int
	readOp  string
	readErr error
}

// prefetcher reads ahead the names of one directory.
type prefetcher struct {
	out  chan *ahead
	done chan struct{}
}

// prefetch starts the read-ahead of names, the entries of the host
// directory dir in the order the copy takes them.
func (c *toCopier) prefetch(dir string, names []string) *prefetcher {
	if c.bufs == nil {
		c.bufs = make(chan []byte, prefetchBuffers)
		for range prefetchBuffers {
			c.bufs <- make([]byte, prefetchFileMax)
		}
	}
	p := &prefetcher{out: make(chan *ahead, prefetchDepth), done: make(chan struct{})}
	go c.runPrefetch(p, dir, names)
	return p
}

// next returns what the prefetcher found of the next name.
func (p *prefetcher) next() *ahead { return <-p.out }

// stop ends the prefetcher and gives back the buffers of what it read
// ahead and the copy did not take.
func (c *toCopier) stopPrefetch(p *prefetcher) {
	close(p.done)
	for a := range p.out {
		c.release(a)
	}
}

// release gives a's data buffer back to the pool.
func (c *toCopier) release(a *ahead) {
	if a != nil && a.data != nil {
		c.bufs <- a.data[:cap(a.data)]
		a.data = nil
	}
}

func (c *toCopier) runPrefetch(p *prefetcher, dir string, names []string) {
	defer close(p.out)
	for _, name := range names {
		a := c.look(filepath.Join(dir, name))
		select {
		case p.out <- a:
		case <-p.done:
			c.release(a)
			return
		}
	}
}

// look is the read-ahead of one entry.
func (c *toCopier) look(src string) *ahead {
	a := &ahead{}
	a.st, a.err = lstat(src)
	if a.err != nil || c.opts.DryRun {
		return a
	}
	if !c.opts.NoXattrs {
		// A size query: zero means no xattrs (EOPNOTSUPP and the
		// others are left to the copy, which reports them).
		if n, err := listXattrs(src, nil); err == nil && n == 0 {
			a.noXattrs = true
		}
	}
	st := &a.st
	// A file with as many blocks as its size needs has no hole: file
	// writes it all (regions are looked for only in the others).
	if st.mode&abi.S_IFMT != abi.S_IFREG || st.size == 0 || st.size > prefetchFileMax || st.blocks*512 < st.size {
		return a
	}
	select {
	case a.data = <-c.bufs:
	default:
		return a // every buffer is ahead: the copy reads this one
	}
	in, err := openSource(src)
	if err != nil {
		a.readOp, a.readErr = "open", err
		return a
	}
	defer in.close()
	for a.n < int(st.size) {
		k, err := in.pread(a.data[a.n:st.size], int64(a.n))
		if errors.Is(err, abi.EINTR) {
			continue
		}
		if k <= 0 {
			if err != nil {
				a.readOp, a.readErr = "read", err
			}
			break // an error, or the file shrank under us
		}
		a.n += k
	}
	return a
}
