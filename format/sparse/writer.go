package sparse

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
)

// Writer writes an Android sparse image (version 1.0, 4 KiB blocks, the
// headers of 28 and 12 bytes) of a disk given in order, as img2simg
// lays one out: a block whose 32-bit words are all the same (zeros
// among them) joins a FILL chunk of that value, any other block a RAW
// chunk; consecutive blocks of a kind share a chunk. A disk whose size
// is not a whole number of blocks ends with a short block, padded with
// zeros in its RAW chunk (simg2img then cuts nothing: the expanded image
// is whole blocks, as img2simg's own output of such a file is).
//
// Chunks are written as they close, so only the open one is held: a RAW
// chunk's header is written when it closes (its place kept), which needs
// the output's WriteAt.
type Writer struct {
	w      io.WriterAt
	off    int64 // where the next chunk goes
	blocks uint32
	chunks uint32
	// The open chunk: its type (0 for none), first block's offset in
	// the file (RAW: after its header), blocks and fill value.
	typ   uint16
	start int64
	n     uint32
	fill  uint32
	pad   []byte // a short last block, padded
	err   error
}

// WriterBlockSize is the block size of the images Writer makes.
const WriterBlockSize = 4096

// NewWriter starts an image on w (a new file: the header is written last).
func NewWriter(w io.WriterAt) *Writer {
	return &Writer{w: w, off: FileHeaderSize}
}

// Write takes the disk's next bytes, whole blocks (the last may be
// short: then no more may follow).
func (s *Writer) Write(b []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.pad != nil {
		return 0, fmt.Errorf("android sparse: data after a short block")
	}
	total := len(b)
	for len(b) > 0 {
		blk := b[:min(len(b), WriterBlockSize)]
		if len(blk) < WriterBlockSize {
			s.pad = make([]byte, WriterBlockSize)
			copy(s.pad, blk)
			blk = s.pad
		}
		if err := s.block(blk); err != nil {
			s.err = err
			return total - len(b), err
		}
		b = b[min(len(b), WriterBlockSize):]
	}
	return total, nil
}

// Zeros takes the disk's next n bytes, zeros, as Write of them would
// (a FILL chunk of 0), without looking at them.
func (s *Writer) Zeros(n int64) error {
	if s.err != nil {
		return s.err
	}
	if s.pad != nil {
		return fmt.Errorf("android sparse: data after a short block")
	}
	blocks := (n + WriterBlockSize - 1) / WriterBlockSize
	if n%WriterBlockSize != 0 {
		s.pad = make([]byte, WriterBlockSize) // the disk's end
	}
	if blocks == 0 {
		return nil
	}
	if s.typ != ChunkFill || s.fill != 0 {
		if err := s.closeChunk(); err != nil {
			s.err = err
			return err
		}
		s.typ, s.fill, s.n = ChunkFill, 0, 0
	}
	s.n += uint32(blocks)
	s.blocks += uint32(blocks)
	return nil
}

// block adds one block: to the open chunk if of its kind, else to a new
// one.
func (s *Writer) block(b []byte) error {
	v, isFill := fillValue(b)
	switch {
	case isFill && s.typ == ChunkFill && v == s.fill, !isFill && s.typ == ChunkRaw:
	default:
		if err := s.closeChunk(); err != nil {
			return err
		}
		s.typ, s.fill, s.n = ChunkRaw, 0, 0
		s.start = s.off + ChunkHeaderSize
		if isFill {
			s.typ, s.fill = ChunkFill, v
		}
	}
	if s.typ == ChunkRaw {
		if _, err := s.w.WriteAt(b, s.start+int64(s.n)*WriterBlockSize); err != nil {
			return err
		}
	}
	s.n++
	s.blocks++
	return nil
}

// fillValue reports whether b is one 32-bit word repeated, and which.
func fillValue(b []byte) (uint32, bool) {
	w := b[:4]
	// Doubling comparisons: b[4:] equals b[:len-4] iff every word
	// equals the one before it.
	return binary.LittleEndian.Uint32(w), bytes.Equal(b[4:], b[:len(b)-4])
}

// closeChunk writes the open chunk's header (and a FILL chunk's value).
func (s *Writer) closeChunk() error {
	if s.typ == 0 {
		return nil
	}
	h := make([]byte, ChunkHeaderSize+4)
	le := binary.LittleEndian
	le.PutUint16(h, s.typ)
	le.PutUint32(h[4:], s.n)
	size := uint32(ChunkHeaderSize + 4)
	if s.typ == ChunkRaw {
		size = ChunkHeaderSize + s.n*WriterBlockSize
		h = h[:ChunkHeaderSize]
	} else {
		le.PutUint32(h[ChunkHeaderSize:], s.fill)
	}
	le.PutUint32(h[8:], size)
	if _, err := s.w.WriteAt(h, s.off); err != nil {
		return err
	}
	s.off += int64(size)
	s.chunks++
	s.typ = 0
	return nil
}

// Close closes the last chunk and writes the file header; it returns the
// image's size in bytes.
func (s *Writer) Close() (int64, error) {
	if s.err != nil {
		return 0, s.err
	}
	if err := s.closeChunk(); err != nil {
		return 0, err
	}
	h := make([]byte, FileHeaderSize)
	le := binary.LittleEndian
	le.PutUint32(h, Magic)
	le.PutUint16(h[4:], 1)
	le.PutUint16(h[8:], FileHeaderSize)
	le.PutUint16(h[10:], ChunkHeaderSize)
	le.PutUint32(h[12:], WriterBlockSize)
	le.PutUint32(h[16:], s.blocks)
	le.PutUint32(h[20:], s.chunks)
	if _, err := s.w.WriteAt(h, 0); err != nil {
		return 0, err
	}
	return s.off, nil
}
