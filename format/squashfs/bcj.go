package squashfs

// The x86 BCJ filter's decoder (the xz file format's filter 0x04, "x86
// branch/call/jump converter"): mksquashfs -Xbcj x86 compresses blocks
// of executables with it before LZMA2, and Linux's xz_dec undoes it. The
// encoder turns the relative 32-bit targets of E8 (call) and E9 (jmp)
// instructions into absolute ones, so that repeated calls of one
// function compress alike; the decoder turns them back. Which E8/E9
// bytes were converted depends on the bytes before them (a small mask of
// the E8/E9 bytes seen in the last three positions, and whether the
// target's high byte is 0x00 or 0xFF), so the decoder walks the buffer
// exactly as the encoder did. The algorithm is the one the xz file
// format specification refers to (Igor Pavlov's, as xz implements it).

// bcjMaskAllowed says, for a mask of recent E8/E9 bytes, whether a
// conversion may follow; bcjMaskBit which byte of the target to test.
var (
	bcjMaskAllowed = [8]bool{true, true, true, false, true, false, false, false}
	bcjMaskBit     = [8]uint32{0, 1, 2, 2, 3, 3, 3, 3}
)

// bcjX86MSByte reports whether b is a high byte of a near target (0x00
// or 0xFF): the only targets converted.
func bcjX86MSByte(b byte) bool { return b == 0 || b == 0xff }

// BCJX86Decode undoes the x86 BCJ filter on buf, a whole stream's output
// starting at stream offset 0, in place. No instruction starts in the
// last four bytes.
func BCJX86Decode(buf []byte) {
	if len(buf) <= 4 {
		return
	}
	end := len(buf) - 4
	prevPos := -1
	prevMask := uint32(0)
	for i := 0; i < end; i++ {
		if buf[i]&0xfe != 0xe8 {
			continue
		}
		d := i - prevPos
		if d > 3 {
			prevMask = 0
		} else {
			prevMask = prevMask << (d - 1) & 7
			if prevMask != 0 {
				b := buf[i+4-int(bcjMaskBit[prevMask])]
				if !bcjMaskAllowed[prevMask] || bcjX86MSByte(b) {
					prevPos = i
					prevMask = prevMask<<1 | 1
					continue
				}
			}
		}
		prevPos = i
		if !bcjX86MSByte(buf[i+4]) {
			prevMask = prevMask<<1 | 1
			continue
		}
		src := le.Uint32(buf[i+1:])
		var dest uint32
		for {
			dest = src - uint32(i+5)
			if prevMask == 0 {
				break
			}
			j := bcjMaskBit[prevMask] * 8
			if !bcjX86MSByte(byte(dest >> (24 - j))) {
				break
			}
			src = dest ^ (1<<(32-j) - 1)
		}
		dest &= 0x01ffffff
		dest |= -(dest & 0x01000000)
		le.PutUint32(buf[i+1:], dest)
		i += 4
	}
}
