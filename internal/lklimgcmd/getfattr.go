package lklimgcmd

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
)

// xattrMax is the largest list or value the kernel returns (XATTR_LIST_MAX
// and XATTR_SIZE_MAX, include/uapi/linux/limits.h): the buffers are that
// size, so no call needs a retry on ERANGE.
const xattrMax = 64 << 10

// getfattr dumps each PATH's extended attributes as
// `getfattr -d -m - --absolute-names PATH` does (attr's getfattr.c):
// "# file: PATH", one "name=value" a line sorted by name (getfattr sorts
// listxattr's list with strcmp), a blank
// line; nothing for a file without attributes. Symlinks are followed, as
// getfattr does without -h.
func getfattr(s *session, args []string) {
	list := make([]byte, xattrMax)
	value := make([]byte, xattrMax)
	for _, p := range args {
		kp := s.kpath(p)
		n, err := s.k.Listxattr(kp, list)
		if err != nil {
			s.warn(exitFail, "%s: %s", p, strerror(err))
			continue
		}
		names := strings.Split(string(list[:n]), "\x00")
		slices.Sort(names)
		var lines []string
		for _, name := range names {
			if name == "" {
				continue
			}
			vn, err := s.k.Getxattr(kp, name, value)
			if err != nil {
				s.warn(exitFail, "%s: %s: %s", p, name, strerror(err))
				continue
			}
			lines = append(lines, quoteName(name)+"="+encodeValue(value[:vn]))
		}
		if len(lines) == 0 {
			continue
		}
		fmt.Fprintf(s.out, "# file: %s\n%s\n\n", quoteName(p), strings.Join(lines, "\n"))
	}
}

// encodeValue is getfattr's choice of encoding: text in double quotes
// when at most one byte in eight is not printable ASCII (a trailing NUL,
// C's string end, is not counted and is dropped; NUL, LF and CR become octal escapes, \ and " are
// backslashed), base64 after "0s" otherwise.
func encodeValue(v []byte) string {
	nonPrint := 0
	for _, c := range bytes.TrimSuffix(v, []byte{0}) {
		if c < 0x20 || c > 0x7e {
			nonPrint++
		}
	}
	if len(v) < nonPrint*8 {
		return "0s" + base64.StdEncoding.EncodeToString(v)
	}
	var b bytes.Buffer
	b.WriteByte('"')
	for i, c := range v {
		switch {
		case c == 0 && i == len(v)-1:
		case c == 0 || c == '\n' || c == '\r':
			fmt.Fprintf(&b, "\\%03o", c)
		case c == '\\' || c == '"':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// quoteName escapes what would break getfattr's line format in a name
// (newline, CR, and the backslash that escapes them) as octal, as its
// xquote does.
func quoteName(s string) string {
	if !strings.ContainsAny(s, "\n\r\\") {
		return s
	}
	var b strings.Builder
	for i := range len(s) {
		c := s[i]
		if c == '\n' || c == '\r' || c == '\\' {
			fmt.Fprintf(&b, "\\%03o", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}
