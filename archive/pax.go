package archive

import (
	"slices"
	"strconv"
	"strings"
)

// Keys of pax extended header records (POSIX pax, "pax Extended Header"),
// and the vendor records this package writes.
const (
	paxPath       = "path"
	paxLinkpath   = "linkpath"
	paxUid        = "uid"
	paxGid        = "gid"
	paxUname      = "uname"
	paxGname      = "gname"
	paxSize       = "size"
	paxMtime      = "mtime"
	paxAtime      = "atime"
	paxCtime      = "ctime"
	paxHdrcharset = "hdrcharset"
	// SCHILY.xattr.NAME carries one extended attribute, as star, GNU tar
	// and libarchive write and read it.
	paxXattrPrefix = "SCHILY.xattr."
	// GNU sparse 1.0 (GNU tar manual, "Sparse Formats").
	paxGNUSparseMajor    = "GNU.sparse.major"
	paxGNUSparseMinor    = "GNU.sparse.minor"
	paxGNUSparseName     = "GNU.sparse.name"
	paxGNUSparseRealsize = "GNU.sparse.realsize"
)

// paxRecords collects the records of one extended header.
type paxRecords map[string]string

// encode returns the records sorted by key, each as "LEN KEY=VALUE\n"
// where LEN counts the whole record, its own digits included.
func (r paxRecords) encode() []byte {
	keys := make([]string, 0, len(r))
	for k := range r {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b []byte
	for _, k := range keys {
		b = appendPAXRecord(b, k, r[k])
	}
	return b
}

func appendPAXRecord(b []byte, key, value string) []byte {
	n := len(key) + len(value) + 3 // ' ', '=' and '\n'
	size := n + len(strconv.Itoa(n))
	if len(strconv.Itoa(size)) > len(strconv.Itoa(n)) {
		size++ // the length gained a digit by counting itself
	}
	b = strconv.AppendInt(b, int64(size), 10)
	b = append(b, ' ')
	b = append(b, key...)
	b = append(b, '=')
	b = append(b, value...)
	return append(b, '\n')
}

// formatPAXTime writes a time as a pax decimal number of seconds: the
// fraction has at most nine digits, trailing zeros removed (as GNU tar
// writes it), and no fraction at all for whole seconds. A negative time
// is the signed value: -1.5 is half a second before -1.
func formatPAXTime(t Time) string {
	sec, nsec := t.Sec, t.Nsec
	sign := ""
	if sec < 0 && nsec != 0 {
		sign = "-"
		sec = -(sec + 1)
		nsec = 1e9 - nsec
	} else if sec < 0 {
		sign = "-"
		sec = -sec
	}
	s := sign + strconv.FormatInt(sec, 10)
	if nsec == 0 {
		return s
	}
	frac := strconv.FormatInt(1e9+nsec, 10)[1:] // nine digits, zero-padded
	return s + "." + strings.TrimRight(frac, "0")
}
