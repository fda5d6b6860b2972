package fat

// File allocation table entries (fatgen §4). Entry n describes cluster n:
// 0 free, the next cluster of the chain, the bad-cluster mark, or an
// end-of-chain mark. Entries 0 and 1 are reserved: entry 0 holds the
// media byte in its low 8 bits, all ones above; entry 1 is an
// end-of-chain mark whose top bits Windows uses as clean-shutdown and
// no-error flags on FAT16 and FAT32 (fatgen §4.2).
//
// A FAT12 entry is 12 bits, two sharing three bytes: entry n starts at
// byte n + n/2, the low 12 bits of the little-endian word there for an
// even n, the high 12 for an odd one. FAT16 entries are 16 bits; FAT32
// entries are 32 bits of which the low 28 count, the high 4 being kept as
// they are when an entry is written.

// Entry values, as Linux's fatent.c sees them whatever the width: an
// entry read at or above the width's bad mark reads as EOF (fat12_ent_get
// and its siblings map BAD and the EOC range alike to FAT_ENT_EOF).
const (
	EntFree = 0
	EntBad  = 0x0FFFFFF7
	EntEOF  = 0x0FFFFFFF
)

// badMark returns the bad-cluster value of a FAT width.
func badMark(bits int) uint32 {
	switch bits {
	case 12:
		return 0xFF7
	case 16:
		return 0xFFF7
	}
	return 0x0FFFFFF7
}

// eofMark returns the end-of-chain value a writer puts in an entry of a
// FAT width (Linux writes all ones: EOF_FAT12, EOF_FAT16, EOF_FAT32).
func eofMark(bits int) uint32 {
	switch bits {
	case 12:
		return 0xFFF
	case 16:
		return 0xFFFF
	}
	return 0x0FFFFFFF
}

// EntryOffset returns the byte offset in the FAT of entry n, and how many
// bytes it spans from there (2 for FAT12 and FAT16, 4 for FAT32).
func EntryOffset(bits int, n uint32) (off int64, size int) {
	switch bits {
	case 12:
		return int64(n) + int64(n/2), 2
	case 16:
		return int64(n) * 2, 2
	}
	return int64(n) * 4, 4
}

// GetEntry decodes entry n from p, which holds the FAT from its byte
// EntryOffset(bits, n) on (at least the size it returned). Values at or
// above the width's bad mark come back as EntEOF or EntBad; a free entry
// as EntFree; anything else is the next cluster.
func GetEntry(bits int, n uint32, p []byte) uint32 {
	var v uint32
	switch bits {
	case 12:
		w := uint32(le.Uint16(p))
		if n&1 != 0 {
			v = w >> 4
		} else {
			v = w & 0xFFF
		}
	case 16:
		v = uint32(le.Uint16(p))
	default:
		v = le.Uint32(p) & 0x0FFFFFFF
	}
	switch {
	case v == badMark(bits):
		return EntBad
	case v > badMark(bits):
		return EntEOF
	}
	return v
}

// PutEntry encodes v (a cluster number, EntFree, EntBad or EntEOF) as
// entry n into p, laid out as for GetEntry: for FAT12 the other entry
// sharing the bytes is kept, for FAT32 the high four bits.
func PutEntry(bits int, n uint32, p []byte, v uint32) {
	switch v {
	case EntEOF:
		v = eofMark(bits)
	case EntBad:
		v = badMark(bits)
	}
	switch bits {
	case 12:
		w := le.Uint16(p)
		if n&1 != 0 {
			w = w&0x000F | uint16(v&0xFFF)<<4
		} else {
			w = w&0xF000 | uint16(v&0xFFF)
		}
		le.PutUint16(p, w)
	case 16:
		le.PutUint16(p, uint16(v))
	default:
		le.PutUint32(p, le.Uint32(p)&0xF0000000|v&0x0FFFFFFF)
	}
}

// ReservedEntries returns entries 0 and 1 as a formatter writes them
// (mkfs.fat and fatgen §4.2): the media byte with all ones above it, and
// an end-of-chain mark.
func ReservedEntries(bits int, media uint8) (e0, e1 uint32) {
	return eofMark(bits)&^0xFF | uint32(media), eofMark(bits)
}
