package erofsutils

import (
	"bytes"
	"fmt"
	"io"

	"github.com/cespare/xxhash/v2"

	"github.com/lklimg/lklimg/archive"
	disk "github.com/lklimg/lklimg/format/erofs"
)

// readChunk is how much file data is read and written at a time.
const readChunk = 256 << 10

// writeFile writes a regular file's data from r (in.size bytes): its
// full blocks at the output's position, its tail kept for inline packing
// when it will fit its inode's block, else in a block of its own. An
// identical file written before shares its data instead.
func (b *builder) writeFile(in *inode, r io.Reader, name string) error {
	if in.size == 0 {
		return nil
	}
	in.isize = b.inodeSize(in)
	if b.z != nil {
		return b.z.writeFile(in, r, name)
	}
	if b.buf == nil {
		b.buf = make([]byte, readChunk)
	}
	start := b.out.pos
	in.blkaddr = b.out.block()
	h := b.fileDigest()
	left := int64(in.size)
	tailLen := int(left % blockSize)
	for left > 0 {
		n := int(min(left, readChunk))
		if _, err := io.ReadFull(r, b.buf[:n]); err != nil {
			return fmt.Errorf("%s: reading its data: %w", name, noEOF(err))
		}
		h.Write(b.buf[:n])
		left -= int64(n)
		if left == 0 && tailLen > 0 {
			full := n - tailLen
			b.out.write(b.buf[:full])
			in.tail = b.buf[full:n]
			break
		}
		b.out.write(b.buf[:n])
	}
	in.nblocks = uint32(in.size / blockSize)
	if in.tail != nil {
		if !b.p.NoInline && b.tailBytes+int64(tailLen) <= b.p.TailMemory && b.inlineFits(in, tailLen) {
			in.tail = bytes.Clone(in.tail)
			b.tailBytes += int64(tailLen)
		} else {
			b.out.write(in.tail)
			b.out.padBlock()
			in.tail, in.plain = nil, true
		}
	}
	if b.dedupe != nil {
		if err := b.dedupe.share(b, in, h.Sum64(), start); err != nil {
			return err
		}
	}
	return b.out.err
}

// noEOF turns the EOF of a short read into ErrUnexpectedEOF: the input
// is cut.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// extendedFor reports whether in needs an extended inode: its owners,
// links or size do not fit a compact one's fields, or its time is not
// the build time (a compact inode has none of its own), as
// erofs_should_use_inode_extended decides.
func (b *builder) extendedFor(in *inode) bool {
	c := disk.Inode{Nlink: in.nlink, Size: in.size, Uid: in.uid, Gid: in.gid}
	return b.p.ForceExtended || !c.CompactFits() || in.mtime != b.p.BuildTime
}

// inodeSize returns the size of in's on-disk inode.
func (b *builder) inodeSize(in *inode) int {
	if b.extendedFor(in) {
		return disk.InodeExtendedSize
	}
	return disk.InodeCompactSize
}

// inlineFits reports whether the inode, its xattrs (all inline: sharing
// never makes them larger) and a tail of n bytes fit one block.
func (b *builder) inlineFits(in *inode, n int) bool {
	return in.isize+xattrInlineMax(in)+n <= blockSize
}

// xattrInlineMax is the inline xattr body's size with every xattr inline.
func xattrInlineMax(in *inode) int {
	if len(in.xattrs) == 0 {
		return 0
	}
	n := disk.XattrIbodyHeaderSize
	for _, x := range in.xattrs {
		n += disk.XattrEntryLen(x.suffix, len(x.value))
	}
	return n
}

// fileDigest returns the digest the dedupe looks files up by, reset
// (one for the run: files are read one at a time). xxhash64, not a
// cryptographic hash: a match is confirmed by comparing the bytes, and
// the files are hashed on the one goroutine that reads them.
func (b *builder) fileDigest() *xxhash.Digest {
	if b.digest == nil {
		b.digest = xxhash.New()
	}
	b.digest.Reset()
	return b.digest
}

// dedupe finds files whose data was written before: by size and
// digest, confirmed by comparing the bytes.
type dedupe struct {
	r     io.ReaderAt
	seen  map[dedupeKey]*inode
	a, b  []byte
	saved int64
}

type dedupeKey struct {
	size uint64
	sum  uint64 // xxhash64 of the data: a candidate, the bytes compared
	// plain: the tail's place (a block, or inline) must agree too.
	plain bool
	// compressed: the data is a compressed file's pclusters.
	compressed bool
}

func newDedupe(r io.ReaderAt) *dedupe {
	return &dedupe{r: r, seen: map[dedupeKey]*inode{}}
}

// share makes in use an earlier identical file's data, dropping what was
// just written from start, when there is one.
func (d *dedupe) share(b *builder, in *inode, sum uint64, start int64) error {
	k := dedupeKey{size: in.size, sum: sum, plain: in.plain}
	prev := d.seen[k]
	if prev == nil {
		d.seen[k] = in
		return nil
	}
	if err := b.out.flush(); err != nil {
		return err
	}
	n := int64(in.nblocks) * blockSize
	if in.plain {
		n = int64(in.nblocks+1) * blockSize
	}
	same, err := d.equal(int64(prev.blkaddr)*blockSize, start, n)
	if err != nil || !same || !bytes.Equal(prev.tail, in.tail) {
		return err
	}
	b.out.truncate(start)
	if in.tail != nil {
		b.tailBytes -= int64(len(in.tail))
		in.tail = prev.tail
	}
	in.blkaddr = prev.blkaddr
	d.saved += n
	return nil
}

// shareZ makes a compressed file use an earlier identical one's
// pclusters (the same bytes compress the same), dropping its own.
func (d *dedupe) shareZ(b *builder, in *inode, sum uint64, start int64) error {
	k := dedupeKey{size: in.size, sum: sum, compressed: true}
	prev := d.seen[k]
	if prev == nil {
		d.seen[k] = in
		return nil
	}
	if prev.comp == nil || prev.comp.blocks != in.comp.blocks || len(prev.comp.ext) != len(in.comp.ext) ||
		!bytes.Equal(prev.comp.idata, in.comp.idata) {
		return nil
	}
	if err := b.out.flush(); err != nil {
		return err
	}
	n := int64(in.comp.blocks) * blockSize
	same, err := d.equal(int64(prev.comp.first)*blockSize, start, n)
	if err != nil || !same {
		return err
	}
	b.out.truncate(start)
	b.tailBytes -= int64(len(in.comp.idata))
	in.comp = prev.comp
	d.saved += n
	return nil
}

// equal compares n bytes of the device at x and y.
func (d *dedupe) equal(x, y, n int64) (bool, error) {
	if d.a == nil {
		d.a, d.b = make([]byte, readChunk), make([]byte, readChunk)
	}
	for off := int64(0); off < n; off += readChunk {
		k := int(min(n-off, readChunk))
		if _, err := d.r.ReadAt(d.a[:k], x+off); err != nil {
			return false, err
		}
		if _, err := d.r.ReadAt(d.b[:k], y+off); err != nil {
			return false, err
		}
		if !bytes.Equal(d.a[:k], d.b[:k]) {
			return false, nil
		}
	}
	return true, nil
}

// sparseReader reads a sparse file's data whole: the source gives only
// its extents' bytes, the holes between read as zeros.
type sparseReader struct {
	r         io.Reader
	ext       []archive.Extent
	off, size int64
}

func newSparseReader(r io.Reader, ext []archive.Extent, size int64) *sparseReader {
	return &sparseReader{r: r, ext: ext, size: size}
}

func (s *sparseReader) Read(p []byte) (int, error) {
	if s.off >= s.size {
		return 0, io.EOF
	}
	for len(s.ext) > 0 && s.off >= s.ext[0].Offset+s.ext[0].Length {
		s.ext = s.ext[1:]
	}
	limit := s.size
	if len(s.ext) > 0 {
		e := s.ext[0]
		if s.off >= e.Offset {
			k := int(min(int64(len(p)), e.Offset+e.Length-s.off))
			n, err := s.r.Read(p[:k])
			s.off += int64(n)
			if n == 0 && err != nil {
				return 0, noEOF(err)
			}
			return n, nil
		}
		limit = e.Offset
	}
	k := int(min(int64(len(p)), limit-s.off))
	clear(p[:k])
	s.off += int64(k)
	return k, nil
}
