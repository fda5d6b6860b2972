package vfat

import (
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/lklimg/lklimg/format/fat"
)

// Names as the user sees them (fs/fat/dir.c fat_parse_short,
// fat_uni_to_x8; namei_vfat.c vfat_hashi, vfat_cmpi). A long name is
// UTF-16 on disk and shown as UTF-8 (the utf8 option, a Debian kernel's
// default) or in iocharset, a character it cannot hold shown as '?'. A
// short name is bytes of the code page (codepage=, 437 by default): its
// base and extension lose their padding spaces, a leading 0x05 stands for
// 0xE5, and the case shown follows shortname= and the entry's NT case
// bits. Names match ignoring ASCII case (the utf8 table's tolower changes
// nothing else) and trailing dots, which a long name never keeps.

// displayName returns the name readdir shows for r: the long name if it
// has one, else the short name; "" for an entry with no name.
func (f *fsys) displayName(r *record) string {
	if f.msdos {
		return f.msdosName(&r.de)
	}
	if r.long != nil {
		return f.longName(r.long)
	}
	return f.shortName(&r.de)
}

// longName converts a long name's units to the I/O character set.
// Unpaired surrogates are dropped, as utf16s_to_utf8s drops them.
func (f *fsys) longName(units []uint16) string {
	var b strings.Builder
	for i := 0; i < len(units); i++ {
		u := rune(units[i])
		if utf16.IsSurrogate(u) {
			if u < 0xDC00 && i+1 < len(units) {
				if r := utf16.DecodeRune(u, rune(units[i+1])); r != utf8.RuneError {
					f.putRune(&b, r)
					i++
				}
			}
			continue
		}
		f.putRune(&b, u)
	}
	return b.String()
}

// putRune writes r in the I/O character set.
func (f *fsys) putRune(b *strings.Builder, r rune) {
	switch {
	case f.opts.utf8:
		b.WriteRune(r)
	case r < 0x80 || r < 0x100 && f.opts.iocharset == "iso8859-1":
		b.WriteByte(byte(r))
	default:
		b.WriteByte('?')
	}
}

// shortName returns a short entry's name as fat_parse_short shows it:
// "BASE.EXT" with the padding gone, in the case shortname= and the NT
// case bits ask for.
func (f *fsys) shortName(de *fat.DirEntry) string {
	name := de.Name
	if name[0] == fat.DirEntKanji {
		name[0] = fat.DirEntFree
	}
	base := trimPad(name[:8])
	ext := trimPad(name[8:])
	var b strings.Builder
	f.shortPart(&b, base, f.lowerPart(de.NTRes&fat.CaseLowerBase != 0))
	if len(ext) > 0 {
		b.WriteByte('.')
		f.shortPart(&b, ext, f.lowerPart(de.NTRes&fat.CaseLowerExt != 0))
	}
	if len(base) == 0 {
		return "" // no name at all: Linux passes the entry over
	}
	return b.String()
}

// trimPad cuts a short name part at a NUL and drops its trailing spaces.
func trimPad(p []byte) []byte {
	for i, c := range p {
		if c == 0 {
			p = p[:i]
			break
		}
	}
	for len(p) > 0 && p[len(p)-1] == ' ' {
		p = p[:len(p)-1]
	}
	return p
}

// lowerPart says whether a short name's part is shown in lower case, as
// shortname= says, given its NT case bit (fat_shortname2uni).
func (f *fsys) lowerPart(lowerBit bool) bool {
	switch f.opts.shortname {
	case shortnameLower:
		return true
	case shortnameWinNT, shortnameMixed:
		return lowerBit
	}
	return false
}

// shortPart writes one part of a short name, each byte through the code
// page (fat_short2uni), in lower case when lower.
func (f *fsys) shortPart(b *strings.Builder, p []byte, lower bool) {
	cp := f.opts.codepage
	for _, c := range p {
		r := cp.DecodeByte(c)
		if lower {
			if l := unicode.ToLower(r); l != r {
				if _, ok := cp.EncodeRune(l); ok {
					r = l
				}
			}
		}
		if r == utf8.RuneError {
			r = '?'
		}
		f.putRune(b, r)
	}
}

// stripTail drops a name's trailing dots (vfat_striptail_len): "a." and
// "a" are one name, "." and ".." keep theirs.
func stripTail(name string) string {
	if name == "." || name == ".." {
		return name
	}
	return strings.TrimRight(name, ".")
}

// fold lowers a name's bytes as iocharset's table does: what vfat_cmpi
// and vfat_hashi ignore.
func (f *fsys) fold(name string) string {
	if f.opts.iocharset == "utf8" {
		return name
	}
	latin1 := f.opts.iocharset == "iso8859-1"
	var b []byte
	for i := 0; i < len(name); i++ {
		c := name[i]
		// Latin-1's upper-case letters are 0xC0-0xDE but for 0xD7 (×).
		if c >= 'A' && c <= 'Z' || latin1 && c >= 0xC0 && c <= 0xDE && c != 0xD7 {
			if b == nil {
				b = []byte(name)
			}
			b[i] = c + 0x20
		}
	}
	if b == nil {
		return name
	}
	return string(b)
}
