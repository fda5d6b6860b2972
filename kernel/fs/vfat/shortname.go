package vfat

import (
	"fmt"
	"hash/fnv"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/lklimg/lklimg/format/fat"
	"github.com/lklimg/lklimg/kernel/abi"
)

// Names of new entries (namei_vfat.c: xlate_to_uni, vfat_is_used_badchars,
// vfat_create_shortname, vfat_build_slots): the name, without its
// trailing dots, as UTF-16 for the long-name slots, and an 8.3 alias made
// from it as Windows 95 makes them, unique in the directory.

// toUnits converts a name from the I/O character set to UTF-16 and checks
// it as a long name: ENOENT for a name of dots only, ENAMETOOLONG past
// 255 units, EINVAL for a character FAT refuses (controls, * ? < > | " :
// / \), a trailing space, or bytes the character set cannot read.
func (f *fsys) toUnits(name string) ([]uint16, error) {
	name = stripTail(name)
	if name == "" {
		return nil, abi.ENOENT
	}
	var units []uint16
	if f.opts.utf8 {
		for i := 0; i < len(name); {
			r, n := utf8.DecodeRuneInString(name[i:])
			if r == utf8.RuneError && n <= 1 {
				return nil, abi.Errorf(abi.EINVAL, "vfat: %q is not UTF-8", name)
			}
			units = utf16.AppendRune(units, r)
			i += n
		}
	} else {
		for i := 0; i < len(name); i++ {
			c := name[i]
			if c >= 0x80 && f.opts.iocharset != "iso8859-1" {
				return nil, abi.Errorf(abi.EINVAL, "vfat: %q: byte %#x is not %s", name, c, f.opts.iocharset)
			}
			units = append(units, uint16(c))
		}
	}
	if len(units) > fat.MaxLongName {
		return nil, abi.Errorf(abi.ENAMETOOLONG, "vfat: %q: %d UTF-16 units, the most is %d", name, len(units), fat.MaxLongName)
	}
	for _, u := range units {
		switch {
		case u < 0x20, u == '*', u == '?', u == '<', u == '>', u == '|', u == '"', u == ':', u == '/', u == '\\':
			return nil, abi.Errorf(abi.EINVAL, "vfat: %q: FAT names cannot hold %q", name, rune(u))
		}
	}
	if units[len(units)-1] == ' ' {
		return nil, abi.Errorf(abi.EINVAL, "vfat: %q: FAT names cannot end in a space", name)
	}
	return units, nil
}

// partInfo is what vfat_create_shortname learns of a part of a name:
// whether it maps to 8.3 characters unchanged (valid), and whether its
// letters are all upper or all lower case.
type partInfo struct{ valid, upper, lower bool }

// shortChar maps one unit to the code page as to_shortname_char does: 0
// bytes for '.' and ' ' (dropped), '_' for [];,+= and for what the code
// page lacks, else the byte upper-cased.
func (f *fsys) shortChar(u uint16, info *partInfo) (byte, bool) {
	switch u {
	case '.', ' ':
		info.valid = false
		return 0, false
	case '[', ']', ';', ',', '+', '=':
		info.valid = false
		return '_', true
	}
	if utf16.IsSurrogate(rune(u)) {
		info.valid = false
		return '_', true
	}
	b, ok := f.opts.codepage.EncodeRune(rune(u))
	if !ok {
		info.valid = false
		return '_', true
	}
	if b >= 0x7F {
		info.upper, info.lower = false, false
	}
	up := f.upperByte(b)
	if isAlpha(up) {
		if up == b {
			info.lower = false
		} else {
			info.upper = false
		}
	}
	return up, true
}

// upperByte is the code page's charset2upper: ASCII letters, and the
// page's own letters through Unicode.
func (f *fsys) upperByte(b byte) byte {
	if b >= 'a' && b <= 'z' {
		return b - 0x20
	}
	if b < 0x80 {
		return b
	}
	cp := f.opts.codepage
	r := cp.DecodeByte(b)
	if u := unicode.ToUpper(r); u != r {
		if ub, ok := cp.EncodeRune(u); ok {
			return ub
		}
	}
	return b
}

// isAlpha is the kernel's isalpha on a byte (Latin-1 ctype).
func isAlpha(b byte) bool {
	return b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || b >= 0xC0 && b != 0xD7 && b != 0xF7
}

// aliasPart maps a part of a name to at most max bytes of the code page,
// and says whether all of it went in.
func (f *fsys) aliasPart(units []uint16, max int) (b []byte, info partInfo, whole bool) {
	info = partInfo{true, true, true}
	for i, u := range units {
		c, ok := f.shortChar(u, &info)
		if !ok {
			continue
		}
		b = append(b, c)
		if len(b) == max {
			return b, info, i+1 == len(units)
		}
	}
	return b, info, true
}

// shortName makes the 8.3 alias of a name (vfat_create_shortname). It
// returns the 11 bytes, the NT case bits, and whether the alias alone
// names the file (no long-name slots needed). EEXIST when the name is a
// valid 8.3 name that exists.
func (dir *inode) makeShortName(units []uint16) (name [fat.NameLen]byte, lcase uint8, alone bool, err error) {
	f := dir.f
	// The extension is after the last dot, unless only dots and spaces
	// come before it (".bashrc" is all base).
	extAt := -1
	for i := len(units) - 1; i >= 0; i-- {
		if units[i] == '.' {
			extAt = i
			break
		}
	}
	if extAt >= 0 {
		onlyDots := true
		for _, u := range units[:extAt] {
			if u != '.' && u != ' ' {
				onlyDots = false
			}
		}
		if onlyDots {
			extAt = -1
		}
	}
	baseUnits, extUnits := units, []uint16(nil)
	if extAt >= 0 {
		baseUnits, extUnits = units[:extAt], units[extAt+1:]
	}
	b, base, baseWhole := f.aliasPart(baseUnits, 8)
	if len(b) == 0 {
		return name, 0, false, abi.Errorf(abi.EINVAL, "vfat: no 8.3 name can be made of %q", string(utf16.Decode(units)))
	}
	e, ext, extWhole := f.aliasPart(extUnits, 3)
	isShort := baseWhole && extWhole
	for i := range name {
		name[i] = ' '
	}
	copy(name[:], b)
	copy(name[8:], e)
	if name[0] == fat.DirEntFree {
		name[0] = fat.DirEntKanji
	}
	if isShort && base.valid && ext.valid {
		exists, err := dir.hasShortName(&name)
		if err != nil {
			return name, 0, false, err
		}
		if exists {
			return name, 0, false, abi.EEXIST
		}
		if f.opts.shortname == shortnameWinNT {
			if (base.upper || base.lower) && (ext.upper || ext.lower) {
				if !base.upper && base.lower {
					lcase |= fat.CaseLowerBase
				}
				if !ext.upper && ext.lower {
					lcase |= fat.CaseLowerExt
				}
				return name, lcase, true, nil
			}
			return name, 0, false, nil
		}
		return name, 0, base.upper && ext.upper, nil
	}
	if !f.opts.numtail {
		if exists, err := dir.hasShortName(&name); err != nil || !exists {
			return name, 0, false, err
		}
	}
	baselen := len(b)
	if baselen > 6 {
		baselen = 6
		name[7] = ' '
	}
	name[baselen] = '~'
	for i := 1; i < 10; i++ {
		name[baselen+1] = byte('0' + i)
		if exists, err := dir.hasShortName(&name); err != nil || !exists {
			return name, 0, false, err
		}
	}
	// Linux takes a 16-bit value and a digit from jiffies; we take
	// them from the name, so that the same operations give the same
	// bytes.
	h := fnv.New32a()
	for _, u := range units {
		h.Write([]byte{byte(u), byte(u >> 8)})
	}
	v := h.Sum32()
	if baselen > 2 {
		baselen = 2
		name[7] = ' '
	}
	name[baselen+4] = '~'
	name[baselen+5] = byte('1' + (v>>16)&7)
	for range 1 << 16 {
		copy(name[baselen:], fmt.Sprintf("%04X", v&0xFFFF))
		if exists, err := dir.hasShortName(&name); err != nil || !exists {
			return name, 0, false, err
		}
		v -= 11
	}
	return name, 0, false, abi.Errorf(abi.ENOSPC, "vfat: no free 8.3 alias for %q", string(utf16.Decode(units)))
}

// hasShortName reports whether a short entry of the directory has the 11
// bytes of name (vfat_find_form, fat_scan): labels, slots and free entries
// do not count.
func (dir *inode) hasShortName(name *[fat.NameLen]byte) (bool, error) {
	idx, err := dir.index()
	if err != nil {
		return false, err
	}
	return idx.shorts[*name] > 0, nil
}
