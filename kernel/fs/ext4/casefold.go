package ext4

import (
	"bytes"
	"unicode/utf8"

	disk "github.com/lklimg/lklimg/format/ext4"
	"github.com/lklimg/lklimg/kernel/abi"
	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// Casefolded directories (Documentation/filesystems/ext4/directory.rst,
// "Hash Tree Directories" and the casefold feature; fs/ext4/namei.c
// ext4_match, fs/ext4/hash.c ext4fs_dirhash; fs/unicode). A directory with
// EXT4_CASEFOLD_FL on a filesystem with the casefold feature stores names
// as they were created, but looks them up ignoring case: a name matches an
// entry when both casefold to the same bytes, and its htree hash is the
// hash of the casefolded name. The only encoding is s_encoding 1,
// "utf8-12.1": casefolding is Unicode's full case folding followed by
// canonical decomposition (NFD), which Linux's utf8data tables call
// "nfdicf". A name that is not valid UTF-8 is hashed and compared as its
// bytes, as Linux does when the filesystem is not in strict mode.
//
// The folding here is golang.org/x/text's (a newer Unicode than 12.1): the
// two agree on every character Unicode 12.1 assigns, which is what names
// made by Linux hold. Linux's tables before 6.12 also dropped the
// Default_Ignorable code points (zero width joiners, ...); names with them
// may then hash differently.

// isCasefolded reports whether lookups in the directory ignore case.
func (ip *inode) isCasefolded() bool {
	return ip.flags&disk.InodeCasefoldFl != 0 && ip.f.Super.HasIncompat(disk.IncompatCasefold)
}

// casefold returns name casefolded (utf8_casefold), or false when name is
// not valid UTF-8.
func casefold(name []byte) ([]byte, bool) {
	ascii := true
	for _, c := range name {
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		// ASCII folds to lower case and has no decomposition.
		out := make([]byte, len(name))
		for i, c := range name {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			out[i] = c
		}
		return out, true
	}
	if !utf8.Valid(name) {
		return nil, false
	}
	// Decompose first, so that the folding sees the base letters (as the
	// tables map each character to the folding of its decomposition),
	// then decompose again what the folding composed (U+0130 folds to
	// "i" + U+0307).
	s := norm.NFD.Bytes(name)
	s = cases.Fold().Bytes(s) // a Caser has state: one per call
	return norm.NFD.Bytes(s), true
}

// nameMatcher returns the test a directory entry's name must pass to be
// name (ext4_match): equal bytes, or in a casefolded directory equal
// casefolded names.
func (ip *inode) nameMatcher(name string) func(entry []byte) bool {
	if ip.isEncrypted() {
		return noKeyMatcher(name)
	}
	if !ip.isCasefolded() {
		return func(entry []byte) bool { return string(entry) == name }
	}
	cf, ok := casefold([]byte(name))
	if !ok {
		return func(entry []byte) bool { return string(entry) == name }
	}
	return func(entry []byte) bool {
		if string(entry) == name {
			return true
		}
		ecf, ok := casefold(entry)
		return ok && bytes.Equal(ecf, cf)
	}
}

// hashName is the name the htree hash is computed on: casefolded in a
// casefolded directory.
func (ip *inode) hashName(name []byte) []byte {
	if ip.isCasefolded() {
		if cf, ok := casefold(name); ok {
			return cf
		}
	}
	return name
}

// checkNewName refuses a name that a strict-mode casefolded directory
// cannot hold: EINVAL for one that is not valid UTF-8, as ext4_add_entry
// refuses it (generic_ci_validate_strict_name). Outside strict mode such
// a name is stored, compared and hashed as its bytes.
func (ip *inode) checkNewName(name string) error {
	if ip.isCasefolded() && ip.f.Super.SEncodingFlags&disk.EncodingStrictFl != 0 && !utf8.ValidString(name) {
		return abi.Errorf(abi.EINVAL, "ext4: inode %d: name %q is not valid UTF-8 (strict casefold encoding)", ip.ino, name)
	}
	return nil
}

// FoldName is vfs.NameFolder: in a casefolded directory the dentry cache
// keys a name by its casefolding (generic_ci_d_hash), the name itself
// when it has none (not UTF-8).
func (di dirInode) FoldName(name string) string {
	if di.isCasefolded() {
		if cf, ok := casefold([]byte(name)); ok {
			return string(cf)
		}
	}
	return name
}
