package iso9660

import (
	"unicode/utf16"
	"unicode/utf8"
)

// Names as Linux shows them.

// TranslateName maps an ISO 9660 file identifier as Linux's
// isofs_name_translate does (map=normal, the default): upper case to
// lower case, a trailing ";1" dropped and so is a trailing ".;1" (a name
// without extension, ECMA-119 §7.5.1 demanding the period), any other ';'
// and any '/' turned into '.', and a NUL byte ending the name.
func TranslateName(dst, name []byte) []byte {
	n := len(name)
	for i := range n {
		c := name[i]
		if c == 0 {
			break
		}
		if c >= 'A' && c <= 'Z' {
			c |= 0x20
		}
		if c == '.' && i == n-3 && name[i+1] == ';' && name[i+2] == '1' {
			break
		}
		if c == ';' && i == n-2 && name[i+1] == '1' {
			break
		}
		if c == ';' || c == '/' {
			c = '.'
		}
		dst = append(dst, c)
	}
	return dst
}

// JolietName converts a Joliet identifier (UCS-2 big-endian, Joliet
// specification §3.2; Linux reads surrogate pairs as UTF-16) to UTF-8 as
// Linux's get_joliet_filename does with utf8: a trailing ";1" dropped,
// then trailing dots ("Windows doesn't like periods at the end of a
// name"), the conversion stopping at a NUL unit. An odd last byte is not
// read. Unpaired surrogates, which UTF-8 cannot hold, are skipped as
// utf16s_to_utf8s skips them.
func JolietName(dst, name []byte) []byte {
	start := len(dst)
	unit := func(i int) uint16 { return uint16(name[i])<<8 | uint16(name[i+1]) }
	for i := 0; i+1 < len(name); i += 2 {
		u := unit(i)
		if u == 0 {
			break
		}
		if !utf16.IsSurrogate(rune(u)) {
			dst = utf8.AppendRune(dst, rune(u))
			continue
		}
		if u < 0xDC00 && i+3 < len(name) {
			if v := unit(i + 2); v >= 0xDC00 && v < 0xE000 {
				dst = utf8.AppendRune(dst, utf16.DecodeRune(rune(u), rune(v)))
				i += 2
			}
		}
	}
	n := len(dst) - start
	if n > 2 && dst[len(dst)-2] == ';' && dst[len(dst)-1] == '1' {
		dst = dst[:len(dst)-2]
		n -= 2
	}
	for n >= 2 && dst[len(dst)-1] == '.' {
		dst = dst[:len(dst)-1]
		n--
	}
	return dst
}
