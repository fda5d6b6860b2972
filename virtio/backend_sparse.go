package virtio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"

	"github.com/lklimg/lklimg/format/sparse"
)

// SparseFile is a read-only Backend over an Android sparse image
// (format/sparse): its chunks indexed at open, each run of the disk read
// from the file (raw), made of a repeated 32-bit value (fill) or of zeros
// (don't care, and any blocks past the last chunk).
type SparseFile struct {
	raw    *RawFile
	size   int64
	chunks []sparseChunk // by start, in disk order
}

// sparseChunk is a run of the disk: [start, start+n) bytes, and where
// its bytes come from.
type sparseChunk struct {
	start, n int64
	typ      uint16
	data     int64  // raw: the file offset of its data
	fill     uint32 // fill: the value, little-endian in the disk
}

// maxSparseChunks bounds the index (24 bytes a chunk).
const maxSparseChunks = 1 << 22

// OpenSparse opens the Android sparse image at path for reading.
func OpenSparse(path string, o ImageOptions) (Backend, error) {
	if !o.ReadOnly || o.Create || o.Truncate || o.Size > 0 {
		return nil, &ImageError{Path: path, Format: format("android-sparse"), ReadOnly: true, Err: ErrReadOnly}
	}
	raw, err := OpenRawFile(path, RawOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	s, err := newSparse(raw)
	if err != nil {
		raw.Close()
		return nil, &ImageError{Path: path, Format: format("android-sparse"), Err: err}
	}
	return s, nil
}

func newSparse(raw *RawFile) (*SparseFile, error) {
	st, err := raw.f.Stat()
	if err != nil {
		return nil, err
	}
	fileSize := st.Size()
	b := make([]byte, 4096)
	if err := raw.ReadAt([][]byte{b[:sparse.FileHeaderSize]}, 0); err != nil {
		return nil, err
	}
	h, err := sparse.DecodeHeader(b)
	if err != nil {
		return nil, err
	}
	if h.TotalChunks > maxSparseChunks {
		return nil, fmt.Errorf("%w: %d chunks", sparse.ErrCorrupt, h.TotalChunks)
	}
	s := &SparseFile{raw: raw, size: int64(h.TotalBlks) * int64(h.BlkSz) &^ (SectorSize - 1)}
	off, blk := int64(h.FileHdrSz), int64(0)
	hdr := b[:h.ChunkHdrSz]
	for i := uint32(0); i < h.TotalChunks; i++ {
		if off+int64(h.ChunkHdrSz) > fileSize {
			return nil, fmt.Errorf("%w: chunk %d past the file's end", sparse.ErrCorrupt, i)
		}
		if err := raw.ReadAt([][]byte{hdr}, off); err != nil {
			return nil, err
		}
		c, err := sparse.DecodeChunk(hdr, h)
		if err != nil {
			return nil, fmt.Errorf("chunk %d: %w", i, err)
		}
		data := off + int64(h.ChunkHdrSz)
		if data+int64(c.TotalSz)-int64(h.ChunkHdrSz) > fileSize {
			return nil, fmt.Errorf("%w: chunk %d past the file's end", sparse.ErrCorrupt, i)
		}
		if blk+int64(c.Blocks) > int64(h.TotalBlks) {
			return nil, fmt.Errorf("%w: chunk %d past the image's %d blocks", sparse.ErrCorrupt, i, h.TotalBlks)
		}
		sc := sparseChunk{start: blk * int64(h.BlkSz), n: int64(c.Blocks) * int64(h.BlkSz), typ: c.Type, data: data}
		if c.Type == sparse.ChunkFill {
			v := make([]byte, 4)
			if err := raw.ReadAt([][]byte{v}, data); err != nil {
				return nil, err
			}
			sc.fill = binary.LittleEndian.Uint32(v)
		}
		if c.Type != sparse.ChunkCRC32 && c.Type != sparse.ChunkDontCare && sc.n > 0 {
			s.chunks = append(s.chunks, sc)
		}
		blk += int64(c.Blocks)
		off += int64(c.TotalSz)
	}
	return s, nil
}

// ReadAt implements Backend.
func (s *SparseFile) ReadAt(bufs [][]byte, off int64) error {
	var part [][]byte
	for len(bufs) > 0 {
		// The chunk holding off, or the zeros before the next one.
		i := sort.Search(len(s.chunks), func(i int) bool { return s.chunks[i].start+s.chunks[i].n > off })
		var c *sparseChunk
		n := s.size - off
		if i < len(s.chunks) {
			if s.chunks[i].start <= off {
				c = &s.chunks[i]
				n = c.start + c.n - off
			} else {
				n = s.chunks[i].start - off
			}
		}
		if n <= 0 {
			for _, b := range bufs {
				clear(b)
			}
			return nil
		}
		part, bufs = cutBufs(part[:0], bufs, n)
		var got int64
		for _, b := range part {
			got += int64(len(b))
		}
		switch {
		case c == nil:
			for _, b := range part {
				clear(b)
			}
		case c.typ == sparse.ChunkRaw:
			if err := s.raw.ReadAt(part, c.data+off-c.start); err != nil {
				return err
			}
		default:
			var v [4]byte
			binary.LittleEndian.PutUint32(v[:], c.fill)
			at := (off - c.start) % 4
			for _, b := range part {
				for j := range b {
					b[j] = v[at]
					at = (at + 1) % 4
				}
			}
		}
		off += got
	}
	return nil
}

// SendTo implements Sender: raw chunks are sent from the file; it stops
// at a fill or a run of zeros.
func (s *SparseFile) SendTo(dst Sink, off, n int64) (int64, error) {
	var done int64
	for done < n && off+done < s.size {
		pos := off + done
		i := sort.Search(len(s.chunks), func(i int) bool { return s.chunks[i].start+s.chunks[i].n > pos })
		if i == len(s.chunks) || s.chunks[i].start > pos || s.chunks[i].typ != sparse.ChunkRaw {
			if done == 0 {
				return 0, fmt.Errorf("virtio: android sparse: no data stored at %d: %w", pos, errors.ErrUnsupported)
			}
			return done, nil
		}
		c := s.chunks[i]
		want := min(c.start+c.n-pos, n-done)
		k, err := s.raw.SendTo(dst, c.data+pos-c.start, want)
		done += k
		if err != nil || k < want {
			return done, err
		}
	}
	return done, nil
}

// WriteAt implements Backend: read-only.
func (s *SparseFile) WriteAt(bufs [][]byte, off int64) error { return ErrReadOnly }

// Flush implements Backend: nothing is written.
func (s *SparseFile) Flush() error { return nil }

// Discard implements Backend: read-only.
func (s *SparseFile) Discard(off, n int64) error { return ErrReadOnly }

// WriteZeroes implements Backend: read-only.
func (s *SparseFile) WriteZeroes(off, n int64) error { return ErrReadOnly }

// SeekData implements Backend: all data.
func (s *SparseFile) SeekData(off int64) (int64, error) { return min(off, s.size), nil }

// SeekHole implements Backend: see SeekData.
func (s *SparseFile) SeekHole(off int64) (int64, error) { return s.size, nil }

// Size implements Backend.
func (s *SparseFile) Size() int64 { return s.size }

// ReadOnly implements Backend: always.
func (s *SparseFile) ReadOnly() bool { return true }

// Close implements Backend.
func (s *SparseFile) Close() error { return s.raw.Close() }
