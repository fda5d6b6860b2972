package archive

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// pax records the Reader understands beyond those Writer writes.
const (
	paxSchilyDevmajor  = "SCHILY.devmajor"
	paxSchilyDevminor  = "SCHILY.devminor"
	paxLibarchiveXattr = "LIBARCHIVE.xattr."  // name %-escaped, value base64
	paxACLAccess       = "SCHILY.acl.access"  // star's text form
	paxACLDefault      = "SCHILY.acl.default" // a directory's default ACL
	// GNU sparse 0.0: a sequence of offset and numbytes records; 0.1:
	// the map in one record; 0.x: the real size in GNU.sparse.size.
	paxGNUSparseSize      = "GNU.sparse.size"
	paxGNUSparseNumBlocks = "GNU.sparse.numblocks"
	paxGNUSparseOffset    = "GNU.sparse.offset"
	paxGNUSparseNumBytes  = "GNU.sparse.numbytes"
	paxGNUSparseMap       = "GNU.sparse.map"
)

// paxState applies one entry's pax records to its header, in order.
type paxState struct {
	h      *Header
	size   int64 // the entry's stored data size
	xattrs map[string][]byte
	acl    [2]string // SCHILY.acl.access and .default, when given
	notes  []error

	// GNU sparse.
	major, minor string
	realsize     int64
	hasRealsize  bool
	sparseName   string
	map01        string
	pairs        []int64 // 0.0: offset, numbytes, offset, ...
	sparse       *sparseInfo
}

// apply takes one record.
func (x *paxState) apply(key, value string) error {
	h := x.h
	var err error
	switch key {
	case paxPath:
		h.Name = value
	case paxLinkpath:
		h.Linkname = value
	case paxSize:
		x.size, err = parseDecimal(value, math.MaxInt64)
	case paxUid:
		h.Uid, err = parseID(value)
	case paxGid:
		h.Gid, err = parseID(value)
	case paxUname:
		h.Uname = value
	case paxGname:
		h.Gname = value
	case paxMtime:
		h.Mtime, err = parsePAXTime(value)
	case paxAtime, paxCtime:
		var t Time
		if t, err = parsePAXTime(value); err == nil {
			if key == paxAtime {
				h.Atime = &t
			} else {
				h.Ctime = &t
			}
		}
	case paxSchilyDevmajor:
		h.Devmajor, err = parseID(value)
	case paxSchilyDevminor:
		h.Devminor, err = parseID(value)
	case paxACLAccess:
		x.acl[0] = value
	case paxACLDefault:
		x.acl[1] = value
	case paxGNUSparseMajor:
		x.major = value
	case paxGNUSparseMinor:
		x.minor = value
	case paxGNUSparseName:
		x.sparseName = value
	case paxGNUSparseRealsize, paxGNUSparseSize:
		x.realsize, err = parseDecimal(value, math.MaxInt64)
		x.hasRealsize = true
	case paxGNUSparseMap:
		x.map01 = value
	case paxGNUSparseOffset, paxGNUSparseNumBytes:
		// 0.0: the pairs come in order, offset first.
		if (key == paxGNUSparseOffset) != (len(x.pairs)%2 == 0) {
			return errors.New("GNU.sparse.offset and GNU.sparse.numbytes out of order")
		}
		if len(x.pairs) >= 2*maxSparseRegions {
			return errors.New("too many sparse regions")
		}
		var v int64
		if v, err = parseDecimal(value, math.MaxInt64); err == nil {
			x.pairs = append(x.pairs, v)
		}
	default:
		if name, ok := strings.CutPrefix(key, paxXattrPrefix); ok {
			x.setXattr(name, []byte(value))
		} else if name, ok := strings.CutPrefix(key, paxLibarchiveXattr); ok {
			x.libarchiveXattr(name, value)
		}
		// Other records (comment, hdrcharset, GNU.sparse.numblocks,
		// vendor records) change nothing here.
	}
	if err != nil {
		return fmt.Errorf("%q: %v", value, err)
	}
	return nil
}

func (x *paxState) setXattr(name string, value []byte) {
	if x.xattrs == nil {
		x.xattrs = map[string][]byte{}
	}
	x.xattrs[name] = value
}

// libarchiveXattr decodes bsdtar's record: the name %-escaped (as in a
// URL), the value base64 without padding. One that cannot be decoded is
// a warning: the SCHILY.xattr record bsdtar writes beside it may do.
func (x *paxState) libarchiveXattr(escaped, value string) {
	name, err := unescapeXattrName(escaped)
	if err == nil {
		var v []byte
		v, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(value, "="))
		if err == nil {
			x.setXattr(name, v)
			return
		}
	}
	x.notes = append(x.notes, fmt.Errorf("pax record %s%s: %v", paxLibarchiveXattr, escaped, err))
}

// unescapeXattrName undoes libarchive's %XX escapes.
func unescapeXattrName(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b = append(b, s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", errors.New("bad % escape")
		}
		v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", errors.New("bad % escape")
		}
		b = append(b, byte(v))
		i += 2
	}
	return string(b), nil
}

// finish completes the header: the sparse map the records give, the
// xattrs sorted by name, the ACLs given as text made xattrs.
func (x *paxState) finish() error {
	h := x.h
	switch {
	case x.major != "" || x.minor != "":
		if x.major != "1" || x.minor != "0" {
			return fmt.Errorf("GNU sparse format %s.%s is not known", x.major, x.minor)
		}
		x.sparse = &sparseInfo{inData: true}
	case x.map01 != "":
		regions, err := parseSparse01(x.map01)
		if err != nil {
			return fmt.Errorf("%s: %v", paxGNUSparseMap, err)
		}
		x.sparse = &sparseInfo{regions: regions}
	case len(x.pairs) > 0:
		if len(x.pairs)%2 != 0 {
			return errors.New("GNU.sparse.offset without its GNU.sparse.numbytes")
		}
		regions := make([]Extent, len(x.pairs)/2)
		for i := range regions {
			regions[i] = Extent{x.pairs[2*i], x.pairs[2*i+1]}
		}
		x.sparse = &sparseInfo{regions: regions}
	}
	if x.sparse != nil {
		if !x.hasRealsize {
			return errors.New("a GNU sparse file without its real size")
		}
		x.sparse.realsize = x.realsize
		if x.sparseName != "" {
			h.Name = x.sparseName
		}
	}
	for i, name := range []string{xattrACLAccess, xattrACLDefault} {
		text := x.acl[i]
		if text == "" || x.xattrs[name] != nil {
			continue // the raw xattr, when given, is exact
		}
		v, err := aclXattr(text, i == 0)
		if err != nil {
			x.notes = append(x.notes, fmt.Errorf("%s: %v", []string{paxACLAccess, paxACLDefault}[i], err))
			continue
		}
		if v != nil {
			x.setXattr(name, v)
		}
	}
	if len(x.xattrs) > 0 {
		h.Xattrs = make([]Xattr, 0, len(x.xattrs))
		for name, v := range x.xattrs {
			h.Xattrs = append(h.Xattrs, Xattr{name, v})
		}
		slices.SortFunc(h.Xattrs, func(a, b Xattr) int { return strings.Compare(a.Name, b.Name) })
	}
	return nil
}

// parseDecimal parses a non-negative decimal number up to limit.
func parseDecimal(s string, limit uint64) (int64, error) {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v > limit {
		return 0, errors.New("not a number in range")
	}
	return int64(v), nil
}

// parseID parses a decimal uid, gid or device number (32 bits).
func parseID(s string) (uint32, error) {
	v, err := parseDecimal(s, math.MaxUint32)
	return uint32(v), err
}

// parseSparse01 parses GNU.sparse.map: "offset,numbytes,offset,...".
func parseSparse01(s string) ([]Extent, error) {
	if s == "" {
		return nil, nil
	}
	n := strings.Count(s, ",") + 1
	if n%2 != 0 {
		return nil, errors.New("an odd number of values")
	}
	if n/2 > maxSparseRegions {
		return nil, errors.New("too many regions")
	}
	out := make([]Extent, 0, n/2)
	for s != "" {
		var a, b string
		a, s, _ = strings.Cut(s, ",")
		b, s, _ = strings.Cut(s, ",")
		off, err := parseDecimal(a, math.MaxInt64)
		if err != nil {
			return nil, err
		}
		length, err := parseDecimal(b, math.MaxInt64)
		if err != nil {
			return nil, err
		}
		out = append(out, Extent{off, length})
	}
	return out, nil
}
