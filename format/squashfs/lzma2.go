package squashfs

import "fmt"

// An LZMA2 decoder for xz blocks (the xz file format's filter 0x21, the
// LZMA algorithm as the LZMA SDK's lzma-specification.txt describes it,
// in LZMA2's chunks as Linux's lib/xz/xz_dec_lzma2.c reads them). A
// squashfs block is one small xz stream whose whole output fits in the
// destination buffer, so the destination is the dictionary: a match
// copies from the bytes decoded before it, and nothing is allocated per
// block. The state (about 30 KiB of probabilities) is kept for the next
// block. Every read of the input and every match is bounds-checked: a
// damaged block is an error, never a panic.

// Sizes of the LZMA model (lzma-specification.txt).
const (
	lzmaStates       = 12
	lzmaPosStatesMax = 1 << 4 // pb <= 4
	lzmaLenStates    = 4      // kNumLenToPosStates
	lzmaEndPosModel  = 14     // kEndPosModelIndex
	lzmaFullDist     = 128    // kNumFullDistances
	lzmaAlignBits    = 4
	lzmaMatchMinLen  = 2
	lzmaLitProbs     = 0x300
	lzmaLcLpMax      = 4 // LZMA2's lc + lp
	lzmaProbInit     = 1 << 10
)

// Offsets of each group of probabilities in lzmaProbs.p, one array so
// that a state reset is one loop.
const (
	probIsMatch    = 0
	probIsRep      = probIsMatch + lzmaStates*lzmaPosStatesMax
	probIsRepG0    = probIsRep + lzmaStates
	probIsRepG1    = probIsRepG0 + lzmaStates
	probIsRepG2    = probIsRepG1 + lzmaStates
	probIsRep0Long = probIsRepG2 + lzmaStates
	probPosSlot    = probIsRep0Long + lzmaStates*lzmaPosStatesMax
	probSpecPos    = probPosSlot + lzmaLenStates<<6
	probAlign      = probSpecPos + lzmaFullDist - lzmaEndPosModel
	probMatchLen   = probAlign + 1<<lzmaAlignBits
	probRepLen     = probMatchLen + lenProbs
	probLiteral    = probRepLen + lenProbs
	probTotal      = probLiteral + lzmaLitProbs<<lzmaLcLpMax
)

// A length decoder's probabilities: choice, choice2, then low and mid
// (8 each per position state) and high (256).
const (
	lenChoice  = 0
	lenChoice2 = 1
	lenLow     = 2
	lenMid     = lenLow + lzmaPosStatesMax<<3
	lenHigh    = lenMid + lzmaPosStatesMax<<3
	lenProbs   = lenHigh + 256
)

// rangeDecoder is LZMA's range decoder over one chunk's compressed
// bytes. Reading past them yields zeros and sets over, which fails the
// chunk.
type rangeDecoder struct {
	rng, code uint32
	in        []byte
	pos       int
	over      bool
}

// init starts the decoder on a chunk: a zero byte, then the code.
func (r *rangeDecoder) init(in []byte) error {
	if len(in) < 5 || in[0] != 0 {
		return fmt.Errorf("lzma2: bad range coder start")
	}
	r.in, r.pos, r.over = in, 5, false
	r.rng = 0xffffffff
	r.code = uint32(in[1])<<24 | uint32(in[2])<<16 | uint32(in[3])<<8 | uint32(in[4])
	return nil
}

// normalize shifts in a byte once the range is below 2^24.
func (r *rangeDecoder) normalize() {
	if r.rng < 1<<24 {
		r.rng <<= 8
		var b byte
		if r.pos < len(r.in) {
			b = r.in[r.pos]
		} else {
			r.over = true
		}
		r.pos++
		r.code = r.code<<8 | uint32(b)
	}
}

// bit decodes one bit with probability *p and adapts it.
func (r *rangeDecoder) bit(p *uint16) uint32 {
	r.normalize()
	bound := (r.rng >> 11) * uint32(*p)
	if r.code < bound {
		r.rng = bound
		*p += (1<<11 - *p) >> 5
		return 0
	}
	r.rng -= bound
	r.code -= bound
	*p -= *p >> 5
	return 1
}

// tree decodes a bits-bit symbol, most significant bit first, with the
// probabilities p[1:1<<bits].
func (r *rangeDecoder) tree(p []uint16, bits uint) uint32 {
	m := uint32(1)
	for range bits {
		m = m<<1 | r.bit(&p[m])
	}
	return m - 1<<bits
}

// reverse decodes a bits-bit symbol, least significant bit first.
func (r *rangeDecoder) reverse(p []uint16, bits uint) uint32 {
	m, sym := uint32(1), uint32(0)
	for i := range bits {
		b := r.bit(&p[m])
		m = m<<1 | b
		sym |= b << i
	}
	return sym
}

// direct decodes bits bits of probability one half.
func (r *rangeDecoder) direct(bits uint32) uint32 {
	var v uint32
	for range bits {
		r.normalize()
		r.rng >>= 1
		b := uint32(0)
		if r.code >= r.rng {
			r.code -= r.rng
			b = 1
		}
		v = v<<1 | b
	}
	return v
}

// lzma2Decoder decodes LZMA2 data; its state is reused block after block.
type lzma2Decoder struct {
	rc         rangeDecoder
	p          [probTotal]uint16
	lc, lp, pb uint32
	state      uint32
	rep        [4]uint32
}

// resetState is an LZMA state reset: probabilities, state and distances.
func (d *lzma2Decoder) resetState() {
	for i := range d.p {
		d.p[i] = lzmaProbInit
	}
	d.state = 0
	d.rep = [4]uint32{}
}

// decode decodes the LZMA2 chunks at the start of src into dst, up to
// the end marker (a zero control byte), with a dictionary of at most
// dict bytes, and returns the bytes written and read. Output past
// len(dst) is an error. It checks what xz_dec_lzma2.c checks: the first
// chunk resets the dictionary, an LZMA chunk after a dictionary reset
// sets the properties (lc + lp <= 4), a match stays in the dictionary
// and within its chunk, and each LZMA chunk ends with its range coder
// finished exactly at its compressed size.
func (d *lzma2Decoder) decode(dst, src []byte, dict uint32) (int, int, error) {
	out, in := 0, 0
	start := 0 // where the dictionary was last reset
	needDict, needProps := true, true
	for {
		if in >= len(src) {
			return out, in, fmt.Errorf("lzma2: truncated")
		}
		ctrl := src[in]
		in++
		if ctrl == 0 {
			return out, in, nil
		}
		if ctrl >= 0xe0 || ctrl == 1 {
			needDict, needProps = false, true
			start = out
		} else if needDict {
			return out, in, fmt.Errorf("lzma2: no dictionary reset")
		}
		if ctrl < 0x80 {
			// An uncompressed chunk: its size (big-endian, less 1).
			if ctrl > 2 || len(src)-in < 2 {
				return out, in, fmt.Errorf("lzma2: bad control byte %#x", ctrl)
			}
			n := (int(src[in])<<8 | int(src[in+1])) + 1
			in += 2
			if n > len(src)-in || n > len(dst)-out {
				return out, in, fmt.Errorf("lzma2: uncompressed chunk of %d bytes", n)
			}
			copy(dst[out:], src[in:in+n])
			in += n
			out += n
			continue
		}
		if len(src)-in < 4 {
			return out, in, fmt.Errorf("lzma2: chunk header truncated")
		}
		unpacked := (int(ctrl&0x1f)<<16 | int(src[in])<<8 | int(src[in+1])) + 1
		packed := (int(src[in+2])<<8 | int(src[in+3])) + 1
		in += 4
		switch {
		case ctrl >= 0xc0:
			if in >= len(src) {
				return out, in, fmt.Errorf("lzma2: properties truncated")
			}
			if err := d.props(src[in]); err != nil {
				return out, in, err
			}
			in++
			needProps = false
			d.resetState()
		case needProps:
			return out, in, fmt.Errorf("lzma2: no properties")
		case ctrl >= 0xa0:
			d.resetState()
		}
		if packed > len(src)-in || unpacked > len(dst)-out {
			return out, in, fmt.Errorf("lzma2: chunk of %d bytes (%d compressed)", unpacked, packed)
		}
		if err := d.rc.init(src[in : in+packed]); err != nil {
			return out, in, err
		}
		if err := d.chunk(dst[:out+unpacked], out, start, dict); err != nil {
			return out, in, err
		}
		if d.rc.over || d.rc.pos != packed || d.rc.code != 0 {
			return out, in, fmt.Errorf("lzma2: chunk does not end where its size says")
		}
		in += packed
		out += unpacked
	}
}

// props sets lc, lp and pb from an LZMA2 properties byte.
func (d *lzma2Decoder) props(b byte) error {
	if b > (4*5+4)*9+8 {
		return fmt.Errorf("lzma2: bad properties %#x", b)
	}
	d.lc = uint32(b) % 9
	b /= 9
	d.lp, d.pb = uint32(b)%5, uint32(b)/5
	if d.lc+d.lp > lzmaLcLpMax {
		return fmt.Errorf("lzma2: lc %d + lp %d over 4", d.lc, d.lp)
	}
	return nil
}

// chunk decodes one LZMA chunk filling dst from pos to its end; the
// dictionary is dst from start (its last reset), at most dict bytes.
func (d *lzma2Decoder) chunk(dst []byte, pos, start int, dict uint32) error {
	rc := &d.rc
	p := &d.p
	pbMask := uint32(1)<<d.pb - 1
	lpMask := uint32(1)<<d.lp - 1
	lc := d.lc
	state := d.state
	rep := d.rep
	defer func() { d.state, d.rep = state, rep }()
	for pos < len(dst) {
		if rc.over {
			return fmt.Errorf("lzma2: chunk truncated")
		}
		n := uint32(pos - start) // position in the dictionary
		posState := n & pbMask
		if rc.bit(&p[probIsMatch+state<<4+posState]) == 0 {
			// A literal, after the previous byte's high lc bits.
			var prev uint32
			if n > 0 {
				prev = uint32(dst[pos-1])
			}
			lit := p[probLiteral+lzmaLitProbs*((n&lpMask)<<lc+prev>>(8-lc)):][:lzmaLitProbs]
			sym := uint32(1)
			if state >= 7 {
				// After a match: decoded against the byte at
				// rep0 while its bits agree.
				if rep[0] >= n {
					return fmt.Errorf("lzma2: match byte before the dictionary")
				}
				match := uint32(dst[pos-int(rep[0])-1])
				for sym < 0x100 {
					mbit := match >> 7 & 1
					match <<= 1
					b := rc.bit(&lit[(1+mbit)<<8+sym])
					sym = sym<<1 | b
					if b != mbit {
						break
					}
				}
			}
			for sym < 0x100 {
				sym = sym<<1 | rc.bit(&lit[sym])
			}
			dst[pos] = byte(sym)
			pos++
			switch {
			case state < 4:
				state = 0
			case state < 10:
				state -= 3
			default:
				state -= 6
			}
			continue
		}
		var length uint32
		if rc.bit(&p[probIsRep+state]) == 0 {
			// A match: its length, then its distance.
			length = d.length(p[probMatchLen:probMatchLen+lenProbs], posState)
			if state < 7 {
				state = 7
			} else {
				state = 10
			}
			dist, err := d.distance(length)
			if err != nil {
				return err
			}
			rep = [4]uint32{dist, rep[0], rep[1], rep[2]}
		} else {
			if rc.bit(&p[probIsRepG0+state]) == 0 {
				if rc.bit(&p[probIsRep0Long+state<<4+posState]) == 0 {
					// A short rep: one byte at rep0.
					if state < 7 {
						state = 9
					} else {
						state = 11
					}
					if rep[0] >= n {
						return fmt.Errorf("lzma2: distance %d past the dictionary", rep[0])
					}
					dst[pos] = dst[pos-int(rep[0])-1]
					pos++
					continue
				}
			} else {
				var dist uint32
				if rc.bit(&p[probIsRepG1+state]) == 0 {
					dist = rep[1]
				} else {
					if rc.bit(&p[probIsRepG2+state]) == 0 {
						dist = rep[2]
					} else {
						dist = rep[3]
						rep[3] = rep[2]
					}
					rep[2] = rep[1]
				}
				rep[1] = rep[0]
				rep[0] = dist
			}
			length = d.length(p[probRepLen:probRepLen+lenProbs], posState)
			if state < 7 {
				state = 8
			} else {
				state = 11
			}
		}
		// Copy length bytes from rep0 + 1 back, within the chunk and
		// the dictionary (Linux: dict_repeat).
		dist := int(rep[0]) + 1
		if rep[0] >= n || rep[0] >= dict {
			return fmt.Errorf("lzma2: distance %d past the dictionary", rep[0])
		}
		if int(length) > len(dst)-pos {
			return fmt.Errorf("lzma2: match past the chunk's end")
		}
		end := pos + int(length)
		if dist >= int(length) {
			copy(dst[pos:end], dst[pos-dist:])
			pos = end
			continue
		}
		for ; pos < end; pos++ {
			dst[pos] = dst[pos-dist]
		}
	}
	// As xz_dec_lzma2.c's lzma_main, the range coder is left
	// normalized: a chunk's last byte is then read.
	rc.normalize()
	return nil
}

// length decodes a match length with the length probabilities p.
func (d *lzma2Decoder) length(p []uint16, posState uint32) uint32 {
	rc := &d.rc
	if rc.bit(&p[lenChoice]) == 0 {
		return lzmaMatchMinLen + rc.tree(p[lenLow+posState<<3:][:8], 3)
	}
	if rc.bit(&p[lenChoice2]) == 0 {
		return lzmaMatchMinLen + 8 + rc.tree(p[lenMid+posState<<3:][:8], 3)
	}
	return lzmaMatchMinLen + 16 + rc.tree(p[lenHigh:][:256], 8)
}

// distance decodes a match's distance (less one) for a match of length.
func (d *lzma2Decoder) distance(length uint32) (uint32, error) {
	rc := &d.rc
	lenState := min(length-lzmaMatchMinLen, lzmaLenStates-1)
	slot := rc.tree(d.p[probPosSlot+lenState<<6:][:64], 6)
	if slot < 4 {
		return slot, nil
	}
	bits := slot>>1 - 1
	dist := (2 | slot&1) << bits
	if slot < lzmaEndPosModel {
		// lzma-specification.txt: the reverse tree at SpecPos +
		// dist - slot, its index from 1.
		base := probSpecPos + int(dist) - int(slot) - 1
		return dist + rc.reverse(d.p[base:base+1<<bits], uint(bits)), nil
	}
	dist += rc.direct(bits-lzmaAlignBits) << lzmaAlignBits
	dist += rc.reverse(d.p[probAlign:probAlign+1<<lzmaAlignBits], lzmaAlignBits)
	if dist == 0xffffffff {
		return 0, fmt.Errorf("lzma2: end marker in a chunk")
	}
	return dist, nil
}
