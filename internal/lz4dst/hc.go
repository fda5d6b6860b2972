package lz4dst

import "encoding/binary"

// The LZ4HC-style matcher: every position goes into a hash chain (a
// table of the last position of each hash, and for each position the
// distance back to the previous one of its hash, 16 bits: the window),
// and each position's longest match is searched along its chain, up to
// Depth candidates; a match is taken unless the next position has a
// longer one (one step of lazy matching). Slower than Compressor, a few
// percent smaller. The chains are numbered as Compressor's table, so
// that neither is cleared between calls.

// hcHashLog is the chain heads' table: 32768 entries (LZ4HC's
// LZ4HC_HASH_LOG 15).
const hcHashLog = 15

// CompressorHC holds the hash chains, reused from call to call. Depth is
// the candidates searched a position (LZ4HC's level 9 searches 256); 0
// is 256. A CompressorHC is for one goroutine at a time.
type CompressorHC struct {
	Depth int
	head  [1 << hcHashLog]uint32
	// chain[p&0xffff] is the distance from position p back to the
	// previous position of its hash, 0 for none (or one out of reach).
	chain [1 << 16]uint16
	base  uint32
	next  int // this call's next position to go into the chains
}

func hashHC(u uint32) uint32 { return (u * 2654435761) >> (32 - hcHashLog) }

// CompressDestSize is Compressor.CompressDestSize with the hash chains'
// longer matches.
func (c *CompressorHC) CompressDestSize(dst, src []byte) (consumed, n int) {
	return compressDestSize(dst, src, &c.base, c.head[:], c.sequences)
}

func (c *CompressorHC) sequences(dst, src []byte, base uint32) (op, anchor int) {
	mfEnd := len(src) - mfLimit
	matchEnd := len(src) - lastLiterals
	depth := c.Depth
	if depth <= 0 {
		depth = 256
	}
	c.next = 0
	i := 0
	for {
		// The first position with a match, up to what the literals
		// dst still holds allow.
		end := min(mfEnd, anchor+len(dst)-op)
		ref, ml := -1, 0
		for ; i <= end; i++ {
			if ref, ml = c.longest(src, i, matchEnd, base, depth); ref >= 0 {
				break
			}
		}
		if ref < 0 {
			return op, anchor
		}
		// Lazy: the next position's longer match wins.
		for i+1 <= end {
			r2, m2 := c.longest(src, i+1, matchEnd, base, depth)
			if r2 < 0 || m2 <= ml {
				break
			}
			i, ref, ml = i+1, r2, m2
		}
		var done bool
		if op, anchor, done = emit(dst, op, src, anchor, i, ref, ml); done {
			return op, anchor
		}
		i = anchor
	}
}

// longest puts the positions before i into the chains and returns i's
// longest match (up to matchEnd) among depth candidates: its position
// and length, or -1.
func (c *CompressorHC) longest(src []byte, i, matchEnd int, base uint32, depth int) (int, int) {
	for ; c.next < i; c.next++ {
		p := c.next
		h := hashHC(binary.LittleEndian.Uint32(src[p:]))
		at := base + uint32(p)
		d := at - c.head[h]
		if d > maxOffset {
			d = 0
		}
		c.chain[p&0xffff] = uint16(d)
		c.head[h] = at
	}
	u := binary.LittleEndian.Uint32(src[i:])
	d := base + uint32(i) - c.head[hashHC(u)]
	ref, best := -1, minMatch-1
	for ; d-1 < maxOffset && depth > 0; depth-- {
		p := i - int(d)
		// A candidate longer than the best so far agrees at its end.
		if i+best < matchEnd && src[p+best] == src[i+best] && binary.LittleEndian.Uint32(src[p:]) == u {
			if l := minMatch + commonLen(src[i+minMatch:matchEnd], src[p+minMatch:]); l > best {
				ref, best = p, l
			}
		}
		dd := c.chain[p&0xffff]
		if dd == 0 {
			break
		}
		d += uint32(dd)
	}
	return ref, best
}
