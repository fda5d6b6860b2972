package archive

import (
	"encoding/binary"
	"strconv"
	"strings"
)

// blockSize is the unit of a tar archive: headers are one block and data
// is padded to a whole number of blocks.
const blockSize = 512

// The fields of a ustar header block (POSIX pax, "ustar Interchange
// Format", Table: ustar Header Block): offset and length of each.
const (
	offName, lenName         = 0, 100
	offMode, lenMode         = 100, 8
	offUid, lenUid           = 108, 8
	offGid, lenGid           = 116, 8
	offSize, lenSize         = 124, 12
	offMtime, lenMtime       = 136, 12
	offChksum, lenChksum     = 148, 8
	offTypeflag              = 156
	offLinkname, lenLinkname = 157, 100
	offMagic                 = 257 // "ustar\x00" then version "00"
	offUname, lenUname       = 265, 32
	offGname, lenGname       = 297, 32
	offDevmajor, lenDevmajor = 329, 8
	offDevminor, lenDevminor = 337, 8
	offPrefix, lenPrefix     = 345, 155
)

// fitsOctal reports whether v can be written in a numeric field of width
// bytes: width-1 octal digits and a NUL, as ustar requires.
func fitsOctal(v int64, width int) bool {
	return v >= 0 && v < int64(1)<<(3*(width-1))
}

// putOctal writes v as width-1 zero-padded octal digits and a NUL, the
// form GNU tar writes ("0000644\x00"). v must fit (fitsOctal).
func putOctal(field []byte, v int64) {
	s := strconv.FormatInt(v, 8)
	n := len(field) - 1
	for i := 0; i < n-len(s); i++ {
		field[i] = '0'
	}
	copy(field[n-len(s):], s)
	field[n] = 0
}

// isASCII reports whether s holds only 7-bit characters other than NUL:
// what a ustar string field can carry portably. Anything else goes in a
// pax record, which holds UTF-8 (or binary with hdrcharset=BINARY).
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 || s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// splitUSTARPath splits name into the prefix and name fields of a ustar
// header: the name alone if it fits in 100 bytes, else a prefix of at most
// 155 bytes ending before a '/', which the reader puts back.
func splitUSTARPath(name string) (prefix, suffix string, ok bool) {
	if len(name) <= lenName {
		return "", name, true
	}
	head := name
	if len(head) > lenPrefix+1 {
		head = head[:lenPrefix+1]
	}
	i := strings.LastIndexByte(head, '/')
	if i <= 0 || len(name)-i-1 > lenName || i == len(name)-1 {
		return "", "", false
	}
	return name[:i], name[i+1:], true
}

// pseudoName makes the ustar name of a pseudo-entry that describes name,
// as GNU tar does with "%d/PaxHeaders/%f" and "%d/GNUSparseFile.%p/%f"
// (with the process id fixed at 0, for reproducible output). Readers that
// understand pax never use it; for the others it is a harmless, short,
// ASCII name.
func pseudoName(name, tag string) string {
	name = strings.TrimSuffix(name, "/")
	dir, base := ".", name
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		dir, base = name[:i], name[i+1:]
	}
	if dir == "" {
		dir = "."
	}
	full := dir + "/" + tag + "/" + base
	if len(full) <= lenName && isASCII(full) {
		return full
	}
	b := []byte(base)
	for i, c := range b {
		if c == 0 || c >= 0x80 {
			b[i] = '_'
		}
	}
	if max := lenName - len(tag) - 1; len(b) > max {
		b = b[:max]
	}
	return tag + "/" + string(b)
}

// putString copies s into a string field, truncated to fit; the rest of
// the field stays zero.
func putString(field []byte, s string) { copy(field, s) }

// setChecksum computes the header checksum: the sum of all bytes of the
// block with the checksum field taken as eight spaces, written as six
// octal digits, a NUL and a space.
func setChecksum(blk []byte) {
	for i := 0; i < lenChksum; i++ {
		blk[offChksum+i] = ' '
	}
	putOctal(blk[offChksum:offChksum+7], byteSum(blk[:blockSize]))
	blk[offChksum+7] = ' '
}

// byteSum returns the sum of the bytes of b, a block: eight at a time,
// the even and the odd bytes of each word added in 16-bit lanes (64 words
// of 255s fill a lane to 16,320, short of overflowing), then the lanes
// added up. Every header is summed once: two blocks an entry, 5 ms of a
// corpus export byte by byte.
func byteSum(b []byte) int64 {
	const lanes = 0x00FF00FF00FF00FF
	var sum int64
	for len(b) >= 8 {
		n := min(len(b)/8, 64)
		var even, odd uint64
		for i := range n {
			w := binary.LittleEndian.Uint64(b[8*i:])
			even += w & lanes
			odd += w >> 8 & lanes
		}
		x := even + odd // each lane at most 32,640
		sum += int64(x&0xFFFF + x>>16&0xFFFF + x>>32&0xFFFF + x>>48)
		b = b[8*n:]
	}
	for _, c := range b {
		sum += int64(c)
	}
	return sum
}
