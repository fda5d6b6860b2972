package vfat

import (
	"strings"

	"github.com/lklimg/lklimg/format/fat"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// The msdos type (fs/fat/namei_msdos.c): the same volumes and driver,
// with 8.3 names only. Long-name slots are passed over (a file shows by
// its short name, in lower case unless nocase); a name given is made an
// 8.3 name as msdos_format_name makes it (upper case, the base cut to 8
// bytes and the extension to 3 without a word) and looked up or created
// as that, with no long name.

// NewMsdosType returns the msdos filesystem type.
func NewMsdosType() vfs.FilesystemType { return fsType{msdos: true} }

// msdosBadChars are refused in a name (bad_chars; name_check=normal).
const msdosBadChars = "*?<>|\""

// msdosFormat makes name an 8.3 name as msdos_format_name does with
// name_check=normal: EINVAL for a name starting with a dot (without the
// dots option: with it the dot is dropped), a character below a space,
// ':', '\\' or one of *?<>|", and a part ending in a space; bytes past 8
// of the base and 3 of the extension dropped; ASCII lower case raised
// unless nocase; a first byte 0xE5 stored as 0x05.
func (f *fsys) msdosFormat(name string) ([fat.NameLen]byte, error) {
	var res [fat.NameLen]byte
	for i := range res {
		res[i] = ' '
	}
	bad := abi.Errorf(abi.EINVAL, "msdos: %q is not an 8.3 name", name)
	if strings.HasPrefix(name, ".") {
		if !f.opts.dotsOK {
			return res, bad
		}
		name = name[1:]
	}
	ok := func(c byte) bool {
		return c >= ' ' && c != ':' && c != '\\' && strings.IndexByte(msdosBadChars, c) < 0
	}
	upper := func(c byte) byte {
		if !f.opts.nocase && c >= 'a' && c <= 'z' {
			return c - 32
		}
		return c
	}
	i, n := 0, 0
	// take copies the bytes from i into res up to limit or a dot: bad
	// characters are refused, and a part ending in a space (or, for the
	// base, an empty one).
	take := func(limit int, base bool) error {
		space := base
		for ; i < len(name) && n < limit; i++ {
			c := name[i]
			if !ok(c) {
				return bad
			}
			if base && n == 0 && c == 0xE5 {
				c = fat.DirEntKanji
			}
			if c == '.' {
				break
			}
			space = c == ' '
			res[n] = upper(c)
			n++
		}
		if space {
			return bad
		}
		return nil
	}
	if err := take(8, true); err != nil {
		return res, err
	}
	// Past the base's 8 bytes: to the dot, if any.
	for i < len(name) && name[i] != '.' {
		i++
	}
	if i < len(name) {
		i, n = i+1, 8
		if err := take(fat.NameLen, false); err != nil {
			return res, err
		}
	}
	return res, nil
}

// msdosName is how the msdos type shows a short entry (fat_parse_short
// without isvfat): its bytes as they are, not through the code page, ASCII
// letters in lower case unless nocase; a lookup of what it shows makes
// the same bytes again (msdosFormat).
func (f *fsys) msdosName(de *fat.DirEntry) string {
	name := de.Name
	if name[0] == fat.DirEntKanji {
		name[0] = fat.DirEntFree
	}
	base, ext := trimPad(name[:8]), trimPad(name[8:])
	if len(base) == 0 {
		return ""
	}
	b := make([]byte, 0, fat.NameLen+1)
	lower := func(p []byte) {
		for _, c := range p {
			if !f.opts.nocase && c >= 'A' && c <= 'Z' {
				c += 32
			}
			b = append(b, c)
		}
	}
	lower(base)
	if len(ext) > 0 {
		b = append(b, '.')
		lower(ext)
	}
	return string(b)
}

// msdosKey is the index's key of an 8.3 name: its 11 bytes.
func msdosKey(name [fat.NameLen]byte) string { return "\x00" + string(name[:]) }

// checkName checks a new name as the type takes it: an 8.3 name for
// msdos, a long name for vfat.
func (f *fsys) checkName(name string) error {
	var err error
	if f.msdos {
		_, err = f.msdosFormat(name)
	} else {
		_, err = f.toUnits(name)
	}
	return err
}
