package archive

import (
	"fmt"
	"strings"
)

// Format is the dialect of tar a Writer writes.
type Format int

const (
	// FormatPAX is POSIX.1-2001 pax (the default): every name, size,
	// owner, time with nanoseconds and xattr is kept.
	FormatPAX Format = iota
	// FormatGNU is GNU tar's own format (GNU tar manual, "GNU tar and
	// POSIX tar": --format=gnu), for readers that predate pax:
	//
	//   - names and link targets over 100 bytes go in a "././@LongLink"
	//     entry of type 'L' (name) or 'K' (link target) just before the
	//     entry, its data the name and a NUL;
	//   - numbers that do not fit octal (uids, sizes of 8 GiB or more,
	//     times before 1970 or after 2242) are written base-256: the
	//     field's first byte has its high bit set, the rest is the value
	//     big-endian, two's complement when negative;
	//   - sparse files are type 'S', the old GNU sparse format: the real
	//     size at offset 483, up to 4 regions (offset, length) in the
	//     header at 386, more in extension blocks of 21, each block's
	//     "isextended" byte saying whether another follows; the last
	//     region is the empty one at the file's size, as GNU tar writes;
	//   - times are whole seconds (no nanoseconds), uname and gname are
	//     cut to 31 bytes, and extended attributes (ACLs and SELinux
	//     labels among them) are not written: the format has no place for
	//     them. GNU tar 1.34 drops them silently with --format=gnu
	//     --xattrs; fs2tar says so.
	FormatGNU
)

// ParseFormat returns the format named "pax" or "gnu".
func ParseFormat(name string) (Format, error) {
	switch name {
	case "pax", "posix":
		return FormatPAX, nil
	case "gnu":
		return FormatGNU, nil
	}
	return 0, fmt.Errorf("unknown tar format %q (pax or gnu)", name)
}

// GNU header fields beyond ustar's (GNU tar's src/tar.h, struct
// oldgnu_header and struct sparse), and the pseudo-entry types.
const (
	offGNUSparse     = 386 // 4 x struct sparse {offset[12], numbytes[12]}
	gnuSparseInHdr   = 4
	offGNUExtended   = 482
	offGNURealsize   = 483
	lenGNURealsize   = 12
	gnuSparseInExt   = 21 // per extension block; its isextended at 504
	offGNUExtExtend  = 504
	lenGNUSparseNum  = 12
	gnuLongLinkName  = "././@LongLink"
	typeGNULongName  = 'L'
	typeGNULongLink  = 'K'
	typeGNUSparse    = 'S'
	gnuMagic         = "ustar  \x00" // magic "ustar " and version " \x00"
	gnuLongNameLimit = lenName
)

// putNumeric writes v octal if it fits, else base-256 (GNU).
func putNumeric(field []byte, v int64) {
	if fitsOctal(v, len(field)) {
		putOctal(field, v)
		return
	}
	for i := len(field) - 1; i >= 0; i-- {
		field[i] = byte(v)
		v >>= 8
	}
	field[0] |= 0x80
}

// encodeGNU builds what WriteHeader writes for h in GNU format: the long
// name and long link entries (whole blocks), the header block, and the
// sparse extension blocks.
func encodeGNU(h *Header) (pre []byte, blk [blockSize]byte, ext []byte) {
	name := h.Name
	if h.Typeflag == TypeDir && !strings.HasSuffix(name, "/") {
		name += "/"
	}
	if len(name) > gnuLongNameLimit {
		pre = append(pre, gnuLongEntry(typeGNULongName, name)...)
	}
	if len(h.Linkname) > lenLinkname {
		pre = append(pre, gnuLongEntry(typeGNULongLink, h.Linkname)...)
	}
	putString(blk[offName:offName+lenName], name)
	putOctal(blk[offMode:offMode+lenMode], int64(h.Mode&0o7777))
	putNumeric(blk[offUid:offUid+lenUid], int64(h.Uid))
	putNumeric(blk[offGid:offGid+lenGid], int64(h.Gid))
	putNumeric(blk[offSize:offSize+lenSize], h.dataSize())
	putNumeric(blk[offMtime:offMtime+lenMtime], h.Mtime.Sec)
	blk[offTypeflag] = h.Typeflag
	putString(blk[offLinkname:offLinkname+lenLinkname], h.Linkname)
	copy(blk[offMagic:], gnuMagic)
	putString(blk[offUname:offUname+lenUname-1], h.Uname)
	putString(blk[offGname:offGname+lenGname-1], h.Gname)
	putNumeric(blk[offDevmajor:offDevmajor+lenDevmajor], int64(h.Devmajor))
	putNumeric(blk[offDevminor:offDevminor+lenDevminor], int64(h.Devminor))
	if h.Typeflag == TypeReg && h.Sparse != nil {
		blk[offTypeflag] = typeGNUSparse
		putNumeric(blk[offGNURealsize:offGNURealsize+lenGNURealsize], h.Size)
		regions := h.Sparse
		if n := len(regions); n == 0 || regions[n-1].Offset+regions[n-1].Length < h.Size {
			regions = append(regions[:n:n], Extent{Offset: h.Size})
		}
		putRegions := func(b []byte, rs []Extent) {
			for i, r := range rs {
				off := i * 2 * lenGNUSparseNum
				putNumeric(b[off:off+lenGNUSparseNum], r.Offset)
				putNumeric(b[off+lenGNUSparseNum:off+2*lenGNUSparseNum], r.Length)
			}
		}
		first := regions[:min(len(regions), gnuSparseInHdr)]
		putRegions(blk[offGNUSparse:], first)
		rest := regions[len(first):]
		if len(rest) > 0 {
			blk[offGNUExtended] = 1
		}
		for len(rest) > 0 {
			var eb [blockSize]byte
			chunk := rest[:min(len(rest), gnuSparseInExt)]
			putRegions(eb[:], chunk)
			rest = rest[len(chunk):]
			if len(rest) > 0 {
				eb[offGNUExtExtend] = 1
			}
			ext = append(ext, eb[:]...)
		}
	}
	setChecksum(blk[:])
	return pre, blk, ext
}

// gnuLongEntry is a ././@LongLink entry of type typ holding s: a header
// and s with a NUL, padded to blocks.
func gnuLongEntry(typ byte, s string) []byte {
	var hb [blockSize]byte
	putString(hb[offName:offName+lenName], gnuLongLinkName)
	putOctal(hb[offMode:offMode+lenMode], 0o644)
	putOctal(hb[offUid:offUid+lenUid], 0)
	putOctal(hb[offGid:offGid+lenGid], 0)
	putNumeric(hb[offSize:offSize+lenSize], int64(len(s)+1))
	putOctal(hb[offMtime:offMtime+lenMtime], 0)
	hb[offTypeflag] = typ
	copy(hb[offMagic:], gnuMagic)
	setChecksum(hb[:])
	data := make([]byte, int64(len(s)+1)+padding(int64(len(s)+1)))
	copy(data, s)
	return append(hb[:], data...)
}
