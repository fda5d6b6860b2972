package ext4

import (
	"bytes"
	"encoding/binary"
	"math/bits"
)

// Bitmap bits: bit i of a bitmap is bit i%8 of byte i/8.
func TestBit(b []byte, i uint64) bool { return b[i>>3]&(1<<(i&7)) != 0 }
func SetBit(b []byte, i uint64)       { b[i>>3] |= 1 << (i & 7) }
func ClearBit(b []byte, i uint64)     { b[i>>3] &^= 1 << (i & 7) }

// FindZero returns the first clear bit in [from, to), or to. Whole
// 64-bit words are looked at once: an allocator that searches a group
// from its start passes over every block in use before it.
func FindZero(b []byte, from, to uint64) uint64 {
	i := from
	for ; i < to && i&63 != 0; i++ {
		if !TestBit(b, i) {
			return i
		}
	}
	for ; i+64 <= to; i += 64 {
		if w := binary.LittleEndian.Uint64(b[i>>3:]); w != ^uint64(0) {
			return i + uint64(bits.TrailingZeros64(^w))
		}
	}
	for ; i < to; i++ {
		if !TestBit(b, i) {
			return i
		}
	}
	return to
}

// SetBits marks bits [from, to), whole bytes at a time in between.
func SetBits(b []byte, from, to uint64) {
	for ; from < to && from&7 != 0; from++ {
		SetBit(b, from)
	}
	for ; from+8 <= to; from += 8 {
		b[from>>3] = 0xFF
	}
	for ; from < to; from++ {
		SetBit(b, from)
	}
}

// AllZero reports whether b holds only zero bytes: every byte equal to the
// one before it, and the first zero, as one bytes.Equal (which compares
// with vector instructions) rather than a loop over the bytes (the
// journal's 16 MiB were 30 ms of tar2fs).
func AllZero(b []byte) bool {
	return len(b) == 0 || b[0] == 0 && bytes.Equal(b[1:], b[:len(b)-1])
}
