package erofs

import (
	"math"

	"github.com/lklimg/lklimg/kernel/abi"
)

// LZ4 pclusters hold one LZ4 block (the LZ4 block format: sequences of a
// token, literals and a match), decoded here as Linux's
// LZ4_decompress_safe_partial is called by z_erofs_lz4_decompress: the
// output ends when dst is full, wherever that is in the block, so that an
// extent may be a prefix of its pcluster's data (a shared, deduplicated
// pcluster) and a pcluster may end with padding. With the ZERO_PADDING
// feature the block is at the end of the pcluster, after zeros (0padding,
// what makes in-place decompression safe); the zeros are skipped.

// SkipZeroPadding returns src without its leading zero bytes
// (z_erofs_fixup_insize); EUCLEAN when nothing else is left.
func SkipZeroPadding(src []byte) ([]byte, error) {
	for i, b := range src {
		if b != 0 {
			return src[i:], nil
		}
	}
	return nil, abi.Errorf(abi.EUCLEAN, "erofs: lz4: pcluster of %d bytes all padding", len(src))
}

// DecompressLZ4 decodes the LZ4 block src into dst until dst is full or
// the block ends, and returns the bytes written. A block that reads or
// refers outside its buffers is EUCLEAN; so is one that ends before
// filling dst when full is set.
func DecompressLZ4(src, dst []byte, full bool) (int, error) {
	s, d := 0, 0
	bad := func(what string) (int, error) {
		return d, abi.Errorf(abi.EUCLEAN, "erofs: lz4: %s at input %d, output %d", what, s, d)
	}
	for s < len(src) && d < len(dst) {
		token := src[s]
		s++
		// Literal run, its length extended by 255-valued bytes.
		lit := int(token >> 4)
		if lit == 15 {
			var ok bool
			if lit, s, ok = extendLen(src, s, lit, len(src)); !ok {
				return bad("literal length")
			}
		}
		if lit > len(src)-s {
			return bad("literal run past the input")
		}
		n := copy(dst[d:], src[s:s+lit])
		s += lit
		d += n
		if d == len(dst) || s == len(src) {
			// The last sequence is literals only.
			break
		}
		// Match: a 2-byte offset back into the output, and a length of
		// at least 4.
		if len(src)-s < 2 {
			return bad("match offset cut")
		}
		off := int(src[s]) | int(src[s+1])<<8
		s += 2
		if off == 0 || off > d {
			return bad("match offset out of the output")
		}
		ml := int(token&15) + 4
		if ml == 19 {
			// No bound but the input's: a match may run far past
			// dst's end when dst is a prefix of the block (a
			// deduplicated extent sharing its pcluster).
			var ok bool
			if ml, s, ok = extendLen(src, s, ml, math.MaxInt); !ok {
				return bad("match length")
			}
		}
		ml = min(ml, len(dst)-d)
		from := d - off
		if off >= ml {
			copy(dst[d:d+ml], dst[from:from+ml])
			d += ml
		} else {
			// Overlapping: the match repeats the last off bytes.
			for end := d + ml; d < end; d++ {
				dst[d] = dst[from]
				from++
			}
		}
	}
	if full && d < len(dst) {
		return bad("block ends early")
	}
	return d, nil
}

// extendLen adds to n the length bytes at src[s:] (each 255 but the
// last says more follow) and returns n and the position after them; false
// when they are cut or n passes limit (a length no buffer has room for).
// n stays below 255 times the input's length, so it cannot overflow.
func extendLen(src []byte, s, n, limit int) (int, int, bool) {
	for {
		if s >= len(src) {
			return n, s, false
		}
		b := src[s]
		s++
		n += int(b)
		if n > limit {
			return n, s, false
		}
		if b != 255 {
			return n, s, true
		}
	}
}
