package virtio

import (
	"encoding/binary"
	"fmt"
	"sort"

	"github.com/lklimg/lklimg/format/sparse"
)

// SparseFile is a read-only Backend over an Android sparse image
// (format/sparse): its chunks indexed at open, each run of the disk read
// from the file (raw), made of a repeated 32-bit value (fill) or of zeros
// (don't care, and any blocks past the last chunk).
type SparseFile struct {
	mapped
	raw    *RawFile
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
	return openMapped(path, o, "android-sparse", func(raw *RawFile) (Backend, error) { return newSparse(raw) })
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
	s := &SparseFile{raw: raw}
	s.mapped = mapped{name: "android sparse", size: int64(h.TotalBlks) * int64(h.BlkSz) &^ (SectorSize - 1), runAt: s.runAt,
		closers: []interface{ Close() error }{raw}}
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

// runAt is what the disk's bytes from off read as (mapped): a raw
// chunk's data in the file, a fill chunk's value repeated, or zeros (a
// don't-care chunk, or past the last chunk).
func (s *SparseFile) runAt(off int64) (run, error) {
	i := sort.Search(len(s.chunks), func(i int) bool { return s.chunks[i].start+s.chunks[i].n > off })
	if i == len(s.chunks) {
		return run{n: s.size - off}, nil
	}
	c := &s.chunks[i]
	switch {
	case c.start > off:
		return run{n: c.start - off}, nil
	case c.typ == sparse.ChunkRaw:
		return run{n: c.start + c.n - off, from: s.raw, at: c.data + off - c.start}, nil
	}
	return run{n: c.start + c.n - off, fill: func(part [][]byte, off int64) error {
		var v [4]byte
		binary.LittleEndian.PutUint32(v[:], c.fill)
		at := (off - c.start) % 4
		for _, b := range part {
			for j := range b {
				b[j] = v[at]
				at = (at + 1) % 4
			}
		}
		return nil
	}}, nil
}
