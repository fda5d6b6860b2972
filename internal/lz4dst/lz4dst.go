// Package lz4dst compresses LZ4 blocks to a destination size: as much of
// the input as fits in N output bytes, in one pass, which is how an EROFS
// pcluster is filled (mkfs.erofs calls liblz4's LZ4_compress_destSize;
// pierrec/lz4 has no such call, and compressing several prefixes to find
// the one that fits costs several passes).
//
// The output is one block of the LZ4 block format
// (lz4/doc/lz4_Block_format.md): sequences of a token (literal length in
// the high nibble, match length less 4 in the low one, 15 meaning that
// bytes follow, each 255 but the last), the literals, a 2-byte
// little-endian offset back into the output (1 to 65535) and the match
// length's extra bytes; the last sequence is literals alone. Decoders
// rely on two end rules: the last 5 bytes of the block's output are
// literals (LASTLITERALS), and the last match starts 12 bytes before the
// output's end at least (MFLIMIT). Any block decoder reads the result:
// Linux's LZ4_decompress_safe(_partial), pierrec/lz4's UncompressBlock,
// our format/erofs DecompressLZ4.
//
// The matcher is a greedy one of 4-byte matches through a hash table of
// the last position of each hash, its search stepping faster the longer
// it finds nothing, the shape of LZ4's fast mode. The table is kept from
// call to call: each call's positions are numbered after the last call's
// with a gap of the largest offset (base), so that an entry from an
// earlier call is too far back to be a match and is ignored without
// clearing the table; the output depends on the call's input alone.
// CompressorHC (hc.go) finds longer matches through hash chains, for
// LZ4HC's ratio, with the same fitting.
package lz4dst

import (
	"encoding/binary"
	"math/bits"
)

// The LZ4 block format's constants (lz4_Block_format.md, "End of block
// conditions", and lz4.c's names).
const (
	minMatch     = 4     // a match's shortest length; the token stores length-4
	lastLiterals = 5     // LASTLITERALS: the block's last bytes, always literals
	mfLimit      = 12    // MFLIMIT: the last match starts this far from the end at least
	maxOffset    = 65535 // a match's farthest distance back
	runMask      = 15    // a nibble's 15: extra length bytes follow
)

const (
	// hashLog is the table's size: 65536 entries of 4 bytes (256 KiB,
	// in a core's L2 cache). liblz4's default is 4096 (LZ4_MEMORY_USAGE
	// 14); on a Debian tree in 4 KiB pclusters the larger table finds
	// more matches, which is both faster (fewer positions searched) and
	// 0.2% smaller than 16384 entries, 0.5% than 4096.
	hashLog = 16
	// skipTrigger: after 1<<skipTrigger positions without a match the
	// search steps by 2, then 3, ... (LZ4's LZ4_skipTrigger), so that
	// data that does not compress is crossed fast.
	skipTrigger = 6
	// maxInput bounds one call's input, so that base plus a position
	// stays a uint32.
	maxInput = 1 << 30
)

// Compressor holds the hash table, reused from call to call. The zero
// value is ready; a Compressor is for one goroutine at a time.
type Compressor struct {
	table [1 << hashLog]uint32
	// base is the number the next call gives its position 0, more
	// than maxOffset past every entry of the table.
	base uint32
}

// hash4 maps 4 bytes to a table index (a multiplicative hash: Knuth's
// golden-ratio constant, the top bits kept).
func hash4(u uint32) uint32 { return (u * 2654435761) >> (32 - hashLog) }

// extraLen is the bytes a length's extension takes after its nibble of
// 15: (n-15)/255 bytes of 255 and one below 255.
func extraLen(n int) int {
	if n < runMask {
		return 0
	}
	return (n-runMask)/255 + 1
}

// litCost is the bytes a last sequence of r literals takes: its token,
// its length's extra bytes, the literals.
func litCost(r int) int { return 1 + extraLen(r) + r }

// maxLit returns the longest last run of literals b bytes hold
// (litCost's inverse), or -1 when b holds none (b < 1).
func maxLit(b int) int {
	if b < 1+runMask {
		return max(b, 0) - 1
	}
	// r >= 15: r + (r-15)/255 + 2 <= b; from below, then up.
	r := runMask + (b-2-runMask)*255/256
	for litCost(r+1) <= b {
		r++
	}
	for litCost(r) > b {
		r--
	}
	return r
}

// CompressDestSize compresses the longest prefix of src that it can fit
// in dst, in one pass, as one LZ4 block of at most len(dst) bytes; it
// returns how many bytes of src the block holds (it decodes to exactly
// src[:consumed]) and the block's length. With len(dst) < 1 it returns 0,
// 0; a block may hold no input (a lone token), when dst holds no
// literal. Input past 1 GiB is not looked at.
func (c *Compressor) CompressDestSize(dst, src []byte) (consumed, n int) {
	return compressDestSize(dst, src, &c.base, c.table[:], c.sequences)
}

// compressDestSize is CompressDestSize around a matcher's sequences: the
// input bounded, the call's positions numbered, the last literals.
func compressDestSize(dst, src []byte, base *uint32, table []uint32, sequences func(dst, src []byte, base uint32) (int, int)) (int, int) {
	if len(dst) < 1 {
		return 0, 0
	}
	if len(src) > maxInput {
		src = src[:maxInput]
	}
	op, anchor := 0, 0
	if len(src) > mfLimit {
		op, anchor = sequences(dst, src, number(base, len(src), table))
	}
	return finish(dst, op, src, anchor)
}

// number returns the number of a call's position 0 and moves *base past
// its n positions. Every entry of the table is more than maxOffset below
// it (earlier calls' positions, or 0 for none), so that the distance
// check alone rules them out.
func number(base *uint32, n int, table []uint32) uint32 {
	if *base <= maxOffset || uint64(*base)+uint64(n)+maxOffset+1 > 1<<32-1 {
		// The numbering would wrap: start again from an empty table.
		clear(table)
		*base = maxOffset + 1
	}
	b := *base
	*base = b + uint32(n) + maxOffset + 1
	return b
}

// finish writes the last sequence, the literals from anchor, as many as
// fit, and returns the input the block holds and its length.
func finish(dst []byte, op int, src []byte, anchor int) (int, int) {
	r := min(len(src)-anchor, maxLit(len(dst)-op))
	op = putLastLiterals(dst, op, src[anchor:anchor+r])
	return anchor + r, op
}

// sequences writes the block's sequences but its last: matches found
// greedily, each written when it and the shortest last run of literals
// after it still fit in dst. It returns the bytes written and the input
// they hold (the next literals' start).
func (c *Compressor) sequences(dst, src []byte, base uint32) (op, anchor int) {
	limit := len(dst)
	mfEnd := len(src) - mfLimit         // a match starts at mfEnd at most
	matchEnd := len(src) - lastLiterals // and ends here at most
	table := &c.table
	table[hash4(binary.LittleEndian.Uint32(src))] = base
	i := 1
	for {
		// 1. Search: the table's entry for src[i:i+4] is a match if
		// it is this call's, near enough and the same 4 bytes. Past
		// the literals dst still holds, no match can be written: the
		// search stops there (else input that does not compress
		// would be searched to its end for one pcluster).
		var ref int
		if i, ref = c.search(src, i, min(mfEnd, anchor+limit-op), base); ref < 0 {
			return op, anchor
		}
		// 2. Extend the match backwards over the pending literals, and
		// forwards up to matchEnd.
		for i > anchor && ref > 0 && src[i-1] == src[ref-1] {
			i--
			ref--
		}
		ml := minMatch
		if i+minMatch+8 <= matchEnd {
			// Most matches end within their next 8 bytes: those
			// without a call.
			x := binary.LittleEndian.Uint64(src[i+minMatch:]) ^ binary.LittleEndian.Uint64(src[ref+minMatch:])
			if x != 0 {
				ml += bits.TrailingZeros64(x) / 8
			} else {
				ml += 8 + commonLen(src[i+minMatch+8:matchEnd], src[ref+minMatch+8:])
			}
		} else {
			ml += commonLen(src[i+minMatch:matchEnd], src[ref+minMatch:])
		}
		// 3. Fit and write the sequence.
		var done bool
		if op, anchor, done = emit(dst, op, src, anchor, i, ref, ml); done {
			return op, anchor
		}
		i = anchor
		// The position two back gets into the table too, so that a
		// repeat just after the match is found (as LZ4 does).
		table[hash4(binary.LittleEndian.Uint32(src[i-2:]))] = base + uint32(i-2)
	}
}

// search returns the first position from i to end whose 4 bytes the
// table gives an earlier position of, near enough, and that position (or
// -1 when there is none); each position looked at goes in the table. It
// steps faster the longer it finds nothing. A function of its own, so
// that the compiler keeps its few variables in registers.
func (c *Compressor) search(src []byte, i, end int, base uint32) (int, int) {
	table := &c.table
	for miss := 1 << skipTrigger; i <= end; miss++ {
		u := binary.LittleEndian.Uint32(src[i:])
		h := hash4(u)
		at := base + uint32(i)
		d := at - table[h]
		table[h] = at
		// d is 1 to maxOffset for this call's positions near enough,
		// past maxOffset for the others.
		if d-1 < maxOffset {
			if ref := i - int(d); binary.LittleEndian.Uint32(src[ref:]) == u {
				return i, ref
			}
		}
		i += miss >> skipTrigger
	}
	return i, -1
}

// emit writes the sequence of the literals src[anchor:i] and the match
// of ml bytes at ref when it fits with the shortest last sequence the
// end rules allow after it (5 literals, or more after a match under 7
// bytes so that it starts 12 before the end), a long match cut to the
// length whose extra bytes fit (the nibble alone holds 18 bytes, each
// extra byte 255 more). It returns the bytes written and the next
// literals' start (the match's end); done when it did not fit (nothing
// is written) or no match may start after it.
func emit(dst []byte, op int, src []byte, anchor, i, ref, ml int) (int, int, bool) {
	lit := i - anchor
	head := 3 + extraLen(lit) + lit
	if op+head+extraLen(ml-minMatch)+litCost(max(lastLiterals, mfLimit-ml)) > len(dst) {
		room := len(dst) - op - head - litCost(lastLiterals)
		if ml < runMask+minMatch || room < 0 {
			return op, anchor, true
		}
		ml = min(ml, runMask+minMatch-1+255*room)
	}
	op = putSequence(dst, op, src[anchor:i], i-ref, ml)
	return op, i + ml, i+ml > len(src)-mfLimit
}

// commonLen returns how many bytes a and b have in common at their
// start, up to len(a) (b is at least as long where it matters: a match's
// reference is before its position).
func commonLen(a, b []byte) int {
	n := 0
	for n+8 <= len(a) && n+8 <= len(b) {
		x := binary.LittleEndian.Uint64(a[n:]) ^ binary.LittleEndian.Uint64(b[n:])
		if x != 0 {
			return n + bits.TrailingZeros64(x)/8
		}
		n += 8
	}
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// putLen writes a length's extra bytes (n >= 15 in its nibble).
func putLen(dst []byte, op, n int) int {
	n -= runMask
	for n >= 255 {
		dst[op] = 255
		op++
		n -= 255
	}
	dst[op] = byte(n)
	return op + 1
}

// putSequence writes a token, the literals, the offset and the match
// length's extra bytes at dst[op:], which has room (the caller counted
// it), and returns the position after them.
func putSequence(dst []byte, op int, lit []byte, off, ml int) int {
	tok := op
	op++
	var t byte
	if len(lit) >= runMask {
		t = runMask << 4
		op = putLen(dst, op, len(lit))
	} else {
		t = byte(len(lit)) << 4
	}
	if len(lit) <= 16 && cap(lit) >= 16 && op+16 <= len(dst) {
		copy(dst[op:op+16], lit[:16])
		op += len(lit)
	} else {
		op += copy(dst[op:], lit)
	}
	dst[op], dst[op+1] = byte(off), byte(off>>8)
	op += 2
	if m := ml - minMatch; m >= runMask {
		t |= runMask
		op = putLen(dst, op, m)
	} else {
		t |= byte(m)
	}
	dst[tok] = t
	return op
}

// putLastLiterals writes the last sequence, literals alone.
func putLastLiterals(dst []byte, op int, lit []byte) int {
	if len(lit) >= runMask {
		dst[op] = runMask << 4
		op = putLen(dst, op+1, len(lit))
	} else {
		dst[op] = byte(len(lit)) << 4
		op++
	}
	return op + copy(dst[op:], lit)
}
