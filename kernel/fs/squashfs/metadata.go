package squashfs

import (
	sq "github.com/lklimg/lklimg/format/squashfs"
	"github.com/lklimg/lklimg/kernel/abi"
)

// metaReader reads a stream of metadata blocks from a reference on (an
// inode, a directory listing, a table entry, xattr records), crossing
// into the next block as Linux's squashfs_read_metadata does. It is an
// io.Reader for the format's decoders.
type metaReader struct {
	f     *fsys
	start int64  // the table's start: the reference's base
	block uint64 // the current block's position from start
	off   int    // the offset in it
}

// reader returns a metaReader at ref in the table at start.
func (f *fsys) reader(start int64, ref sq.Ref) *metaReader {
	return &metaReader{f: f, start: start, block: ref.Block(), off: ref.Offset()}
}

// ref is where the reader is.
func (r *metaReader) ref() sq.Ref { return sq.MakeRef(r.block, uint16(r.off)) }

// Read fills p (io.ReadFull semantics: an error when it cannot).
func (r *metaReader) Read(p []byte) (int, error) { return r.read(p, len(p)) }

// skip passes over n bytes.
func (r *metaReader) skip(n int) error {
	_, err := r.read(nil, n)
	return err
}

// read copies n bytes into p (or passes them over when p is nil).
func (r *metaReader) read(p []byte, n int) (int, error) {
	f := r.f
	f.mu.Lock()
	defer f.mu.Unlock()
	done := 0
	for done < n {
		if r.block > 1<<47 {
			return done, abi.Errorf(abi.EIO, "squashfs: metadata reference past the image")
		}
		pos := r.start + int64(r.block)
		e, err := f.metaBlock(pos)
		if err != nil {
			return done, err
		}
		if r.off > len(e.data) {
			return done, abi.Errorf(abi.EIO, "squashfs: metadata offset %d past the block at %d (%d bytes)", r.off, pos, len(e.data))
		}
		c := min(n-done, len(e.data)-r.off)
		if p != nil {
			copy(p[done:], e.data[r.off:r.off+c])
		}
		done += c
		r.off += c
		if r.off == len(e.data) {
			r.block, r.off = uint64(e.next-r.start), 0
		}
	}
	return done, nil
}
