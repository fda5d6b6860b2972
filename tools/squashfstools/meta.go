package squashfstools

import (
	"github.com/lklimg/lklimg/format/squashfs"
)

// metaWriter builds a table of metadata blocks in memory: the bytes
// written go into blocks of squashfs.MetadataSize, each compressed when
// that makes it smaller (stored as it is otherwise, or always with
// raw), behind its 2-byte header.
type metaWriter struct {
	comp   squashfs.Compressor
	raw    bool
	out    []byte   // the finished blocks, headers and all
	starts []uint64 // each finished block's position in out
	cur    []byte   // the block being filled
	tmp    []byte
	err    error
}

func newMetaWriter(comp squashfs.Compressor, raw bool) *metaWriter {
	return &metaWriter{comp: comp, raw: raw, cur: make([]byte, 0, squashfs.MetadataSize)}
}

// ref is where the next byte written goes.
func (m *metaWriter) ref() squashfs.Ref {
	return squashfs.MakeRef(uint64(len(m.out)), uint16(len(m.cur)))
}

// write appends p, finishing blocks as they fill.
func (m *metaWriter) write(p []byte) {
	for len(p) > 0 {
		n := min(len(p), squashfs.MetadataSize-len(m.cur))
		m.cur = append(m.cur, p[:n]...)
		p = p[n:]
		if len(m.cur) == squashfs.MetadataSize {
			m.finishBlock()
		}
	}
}

// finishBlock compresses and appends the block being filled.
func (m *metaWriter) finishBlock() {
	m.starts = append(m.starts, uint64(len(m.out)))
	data, compressed := m.cur, false
	if !m.raw && m.err == nil {
		var err error
		m.tmp, err = m.comp.Compress(m.tmp[:0], m.cur)
		if err != nil {
			m.err = err
		} else if len(m.tmp) < len(m.cur) {
			data, compressed = m.tmp, true
		}
	}
	m.out = le16(m.out, squashfs.MetadataHeader(len(data), compressed))
	m.out = append(m.out, data...)
	m.cur = m.cur[:0]
}

// finish finishes the last block and returns the table.
func (m *metaWriter) finish() ([]byte, error) {
	if len(m.cur) > 0 {
		m.finishBlock()
	}
	return m.out, m.err
}

// blockAt returns the position of the block holding the byte at
// listing offset x of what was written from ref r on: the block r is in,
// or one finished after it, or the one being filled.
func (m *metaWriter) blockAt(r squashfs.Ref, x int) uint64 {
	k := (r.Offset() + x) / squashfs.MetadataSize
	i := 0
	for i < len(m.starts) && m.starts[i] != r.Block() {
		i++
	}
	if i+k < len(m.starts) {
		return m.starts[i+k]
	}
	return uint64(len(m.out))
}

func le16(b []byte, v uint16) []byte { return append(b, byte(v), byte(v>>8)) }

// table is a lookup table (fragment, export, id, xattr id): its entries
// in metadata blocks, then the index of the blocks' positions.
func table(entries []byte, comp squashfs.Compressor, raw bool, at uint64) (blocks, index []byte, err error) {
	m := newMetaWriter(comp, raw)
	m.write(entries)
	blocks, err = m.finish()
	for _, s := range m.starts {
		index = le64(index, at+s)
	}
	return blocks, index, err
}

func le64(b []byte, v uint64) []byte {
	for i := range 8 {
		b = append(b, byte(v>>(8*i)))
	}
	return b
}
