package e2fsprogs

import "math/bits"

// groupBitmap is one group's block bitmap while Mkfs lays the
// filesystem out: a run of blocks in use from the group's first (its
// superblock copy, descriptors, and with flex_bg size 1 its bitmaps and
// inode table: all a group of a large filesystem holds), and the words of
// a bitmap only once a block outside that run is used. A 1 TiB
// filesystem's 8,192 groups would otherwise take 32 MiB of words for
// runs a number says.
type groupBitmap struct {
	prefix uint64   // blocks [0, prefix) are in use
	words  []uint64 // nil: no block from prefix on is; else the whole bitmap
}

func (m *groupBitmap) empty() bool { return m.prefix == 0 && m.words == nil }

func (m *groupBitmap) test(i uint64) bool {
	return i < m.prefix || m.words != nil && m.words[i/64]&(1<<(i%64)) != 0
}

// set marks blocks [i, i+n) of a group of bpg blocks in use.
func (m *groupBitmap) set(i, n, bpg uint64) {
	if m.words == nil && i <= m.prefix {
		m.prefix = max(m.prefix, i+n)
		return
	}
	if m.words == nil {
		m.words = make([]uint64, (bpg+63)/64)
		forWords(m.words, 0, m.prefix, func(w *uint64, mask uint64) bool { *w |= mask; return true })
	}
	forWords(m.words, i, i+n, func(w *uint64, mask uint64) bool { *w |= mask; return true })
}

// free reports whether blocks [i, i+n) are all free.
func (m *groupBitmap) free(i, n uint64) bool {
	if i < m.prefix {
		return false
	}
	return m.words == nil || forWords(m.words, i, i+n, func(w *uint64, mask uint64) bool { return *w&mask == 0 })
}

// count is the blocks in use.
func (m *groupBitmap) count() uint64 {
	if m.words == nil {
		return m.prefix
	}
	n := uint64(0)
	for _, w := range m.words {
		n += uint64(bits.OnesCount64(w))
	}
	return n
}

// word is the bitmap's word wi (bits 64*wi to 64*wi+63).
func (m *groupBitmap) word(wi uint64) uint64 {
	if m.words != nil {
		return m.words[wi]
	}
	lo := wi * 64
	switch {
	case m.prefix <= lo:
		return 0
	case m.prefix >= lo+64:
		return ^uint64(0)
	}
	return 1<<(m.prefix-lo) - 1
}

// forWords calls fn with each word of the bitmap m that holds bits
// [from, to) and the mask of those bits in it, while fn returns true; it
// reports whether every call did.
func forWords(m []uint64, from, to uint64, fn func(w *uint64, mask uint64) bool) bool {
	for from < to {
		wi, lo := from/64, from%64
		hi := min(to-wi*64, 64)
		mask := ^uint64(0) << lo
		if hi < 64 {
			mask &= 1<<hi - 1
		}
		if !fn(&m[wi], mask) {
			return false
		}
		from = wi*64 + hi
	}
	return true
}
