package ext4

// Bitmap bits: bit i of a bitmap is bit i%8 of byte i/8.
func TestBit(b []byte, i uint64) bool { return b[i>>3]&(1<<(i&7)) != 0 }
func SetBit(b []byte, i uint64)       { b[i>>3] |= 1 << (i & 7) }
func ClearBit(b []byte, i uint64)     { b[i>>3] &^= 1 << (i & 7) }

// FindZero returns the first clear bit in [from, to), or to.
func FindZero(b []byte, from, to uint64) uint64 {
	for i := from; i < to; {
		if i&7 == 0 && i+8 <= to && b[i>>3] == 0xFF {
			i += 8
			continue
		}
		if !TestBit(b, i) {
			return i
		}
		i++
	}
	return to
}

// SetBits marks bits [from, to).
func SetBits(b []byte, from, to uint64) {
	for i := from; i < to; i++ {
		SetBit(b, i)
	}
}
