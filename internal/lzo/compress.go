package lzo

import "encoding/binary"

// LZO1X compression in the manner of LZO1X-1: a greedy search of 4-byte
// matches through a hash table of the last position of each hash, the
// matches written in the three long forms of lzo.rst (M2: 3 to 8 bytes
// up to 2 KiB back; M3: up to 16 KiB back; M4: up to 48 KiB back) and the
// literals between them either in the last match's two state bits (1 to
// 3 of them) or as a literal run. The short forms (instructions 0..15
// after literals) are never written: any LZO1X decoder reads the
// stream, only a little larger than LZO1X-1's.

const (
	hashLog     = 14
	maxM2Dist   = 2048
	maxM2Len    = 8
	maxM3Dist   = 16384
	maxM4Dist   = 0xbfff - 1 // 0xbfff is version 1's run of zeros
	minMatch    = 4
	firstRunMax = 238 // a first literal run in one byte: 17+L <= 255
)

// Compress appends the LZO1X stream of src to dst and returns it. The
// stream decodes (Decompress) to src exactly.
func Compress(dst, src []byte) []byte {
	var table [1 << hashLog]int32
	for i := range table {
		table[i] = -1
	}
	e := encoder{out: dst, base: len(dst), stateAt: -1}
	lit := 0
	i := 0
	for i+minMatch <= len(src) {
		v := binary.LittleEndian.Uint32(src[i:])
		h := (v * 0x1e35a7bd) >> (32 - hashLog)
		cand := int(table[h])
		table[h] = int32(i)
		if cand < 0 || i-cand > maxM4Dist || binary.LittleEndian.Uint32(src[cand:]) != v {
			i++
			continue
		}
		n := minMatch
		for i+n < len(src) && src[cand+n] == src[i+n] {
			n++
		}
		e.literals(src[lit:i])
		e.match(n, i-cand)
		i += n
		lit = i
	}
	e.literals(src[lit:])
	// The end of the stream: an M4 of distance 16384, length 3.
	e.stateAt = -1
	e.out = append(e.out, 16|1, 0, 0)
	return e.out
}

// encoder writes the instructions; stateAt is where the last match's two
// state bits are (-1: no match yet), start whether nothing is written.
type encoder struct {
	out     []byte
	base    int
	stateAt int
}

// length appends the extra bytes of a length field that overflowed into
// zero: r (at least 1) as zero bytes of 255 each and a last byte.
func (e *encoder) length(r int) {
	for r > 255 {
		e.out = append(e.out, 0)
		r -= 255
	}
	e.out = append(e.out, byte(r))
}

// literals writes a run of literals before the next match (or the end).
func (e *encoder) literals(p []byte) {
	n := len(p)
	switch {
	case n == 0:
		return
	case len(e.out) == e.base && n <= firstRunMax:
		// The stream's first instruction: a byte of 17+n.
		e.out = append(e.out, byte(17+n))
	case e.stateAt >= 0 && n <= 3:
		// In the last match's state bits.
		e.out[e.stateAt] |= byte(n)
	case n < 4:
		// At the start, too short for a literal run (3 at least): the
		// first-byte form holds them (n <= firstRunMax).
		e.out = append(e.out, byte(17+n))
	case n-3 <= 15:
		e.out = append(e.out, byte(n-3))
	default:
		e.out = append(e.out, 0)
		e.length(n - 3 - 15)
	}
	e.out = append(e.out, p...)
}

// match writes a match of n bytes (at least 4) d bytes back; its state
// bits are left 0 for the literals that follow.
func (e *encoder) match(n, d int) {
	switch {
	case n <= maxM2Len && d <= maxM2Dist:
		d--
		t := 64 + (n-3)<<5
		if n >= 5 {
			t = 128 + (n-5)<<5
		}
		e.stateAt = len(e.out)
		e.out = append(e.out, byte(t|(d&7)<<2), byte(d>>3))
		return
	case d <= maxM3Dist:
		d--
		if n-2 <= 31 {
			e.out = append(e.out, byte(32|(n-2)))
		} else {
			e.out = append(e.out, 32)
			e.length(n - 2 - 31)
		}
	default:
		d -= maxM3Dist
		t := byte(16 | (d>>14&1)<<3)
		if n-2 <= 7 {
			e.out = append(e.out, t|byte(n-2))
		} else {
			e.out = append(e.out, t)
			e.length(n - 2 - 7)
		}
		d &= 0x3fff
	}
	e.stateAt = len(e.out)
	e.out = append(e.out, byte(d<<2), byte(d>>6))
}
