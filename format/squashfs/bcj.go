package squashfs

// The BCJ filters' decoders (the xz file format's filters 0x04 to 0x09,
// "branch/call/jump converters"): mksquashfs -Xbcj x86,arm,... tries
// each filter named before LZMA2 on each block of executables and keeps
// the smallest result, and Linux's xz_dec undoes it. Each encoder turns
// the relative targets of an architecture's call instructions into
// absolute ones, so that repeated calls of one function compress alike;
// the decoder turns them back. IA-64's is not done (EIO).
//
// x86: the encoder turns the relative 32-bit targets of E8 (call) and E9 (jmp)
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

// BCJARMDecode undoes the ARM filter: BL instructions (a byte 0xEB at
// the top of an aligned little-endian word), whose 24-bit word offset
// is relative to the instruction's address plus 8.
func BCJARMDecode(buf []byte) {
	for i := 0; i+4 <= len(buf); i += 4 {
		if buf[i+3] != 0xeb {
			continue
		}
		src := (uint32(buf[i+2])<<16 | uint32(buf[i+1])<<8 | uint32(buf[i])) << 2
		dest := (src - uint32(i+8)) >> 2
		buf[i+2], buf[i+1], buf[i] = byte(dest>>16), byte(dest>>8), byte(dest)
	}
}

// BCJARMThumbDecode undoes the ARM-Thumb filter: BL pairs of 16-bit
// halves (0xF000 then 0xF800 prefixes) holding a 22-bit halfword offset
// relative to the instruction's address plus 4.
func BCJARMThumbDecode(buf []byte) {
	for i := 0; i+4 <= len(buf); i += 2 {
		if buf[i+1]&0xf8 != 0xf0 || buf[i+3]&0xf8 != 0xf8 {
			continue
		}
		src := (uint32(buf[i+1]&7)<<19 | uint32(buf[i])<<11 | uint32(buf[i+3]&7)<<8 | uint32(buf[i+2])) << 1
		dest := (src - uint32(i+4)) >> 1
		buf[i+1] = 0xf0 | byte(dest>>19&7)
		buf[i] = byte(dest >> 11)
		buf[i+3] = 0xf8 | byte(dest>>8&7)
		buf[i+2] = byte(dest)
		i += 2
	}
}

// BCJPowerPCDecode undoes the PowerPC filter: big-endian "bl"
// instructions (opcode 18 with AA=0, LK=1) and their 24-bit byte offset.
func BCJPowerPCDecode(buf []byte) {
	for i := 0; i+4 <= len(buf); i += 4 {
		if buf[i]>>2 != 0x12 || buf[i+3]&3 != 1 {
			continue
		}
		src := uint32(buf[i]&3)<<24 | uint32(buf[i+1])<<16 | uint32(buf[i+2])<<8 | uint32(buf[i+3]&^3)
		dest := src - uint32(i)
		buf[i] = 0x48 | byte(dest>>24&3)
		buf[i+1] = byte(dest >> 16)
		buf[i+2] = byte(dest >> 8)
		buf[i+3] = buf[i+3]&3 | byte(dest)
	}
}

// BCJSPARCDecode undoes the SPARC filter: big-endian "call"
// instructions whose 30-bit word displacement fits in 22 bits (a top
// byte of 0x40 or 0x7F).
func BCJSPARCDecode(buf []byte) {
	for i := 0; i+4 <= len(buf); i += 4 {
		if !(buf[i] == 0x40 && buf[i+1]&0xc0 == 0 || buf[i] == 0x7f && buf[i+1]&0xc0 == 0xc0) {
			continue
		}
		src := uint32(buf[i])<<24 | uint32(buf[i+1])<<16 | uint32(buf[i+2])<<8 | uint32(buf[i+3])
		dest := (src<<2 - uint32(i)) >> 2
		dest = (0-(dest>>22&1))<<22&0x3fffffff | dest&0x3fffff | 0x40000000
		buf[i], buf[i+1], buf[i+2], buf[i+3] = byte(dest>>24), byte(dest>>16), byte(dest>>8), byte(dest)
	}
}
