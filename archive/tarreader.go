package archive

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Reading a tar archive: the mirror of Writer, for the importer. Go's
// archive/tar hides a sparse file's map behind a reader that returns the
// holes as zeros; the importer needs the map itself, to leave the holes
// unwritten. Reader reads these dialects (GNU tar manual, "Basic Tar
// Format" and "Sparse Formats"; POSIX pax, "pax Interchange Format"):
//
//   - v7 headers (no magic; a typeflag NUL or '0', a directory named with
//     a trailing '/'), ustar (the prefix field; star's shorter prefix
//     when the header ends with "tar\x00"), GNU and old GNU ("ustar  \x00");
//   - numbers in octal, padded with spaces or NULs, or base-256 (GNU: the
//     first byte's high bit set; 0xff starts a negative number);
//   - the checksum as the sum of the header's bytes, unsigned or signed
//     (old tars summed signed chars), the checksum field taken as spaces;
//   - GNU long names and link targets ('L', 'K' entries before the one
//     they name) and old GNU sparse files ('S': four regions in the
//     header, more in extension blocks);
//   - pax extended headers, per entry ('x') and global ('g', for every
//     entry after it, but for the records only one entry can mean: path,
//     linkpath, size, a sparse map; a record with an empty value deletes
//     the key):
//     path, linkpath, size, uid, gid, uname, gname, mtime, atime, ctime
//     (decimal seconds with a fraction), SCHILY.devmajor, SCHILY.devminor,
//     SCHILY.xattr.NAME (the value's bytes), LIBARCHIVE.xattr.NAME (the
//     name %-escaped, the value base64), SCHILY.acl.access and
//     SCHILY.acl.default (star's text form, given as the xattr the kernel
//     stores: see aclXattr), and the GNU sparse formats 0.0
//     (GNU.sparse.offset and GNU.sparse.numbytes records), 0.1
//     (GNU.sparse.map) and 1.0 (the map at the start of the data);
//   - the end of the archive: a zero block (the second is not required,
//     nor is anything after it read); an archive that just stops at a
//     header boundary ends there too, as GNU tar takes it.
//
// Read returns a regular file's stored data: its bytes, or for a sparse
// file the bytes of its data regions (Header.Sparse) one after another,
// as Writer takes them. Data streams through: nothing is allocated per
// block, and what the Reader keeps in memory (pax records, long names,
// sparse maps) is bounded by maxMetaSize and maxSparseRegions.

// maxMetaSize bounds what one entry's metadata may take in memory: a pax
// extended header, a GNU long name, a sparse map. Go's archive/tar allows
// 1 MiB; a pax header holding every xattr an ext4 inode can have, or a
// 0.1 sparse map of a fragmented file, needs more.
const maxMetaSize = 8 << 20

// maxSparseRegions bounds the regions of one sparse file's map.
const maxSparseRegions = 1 << 20

// ErrFormat is what every error about the archive's bytes wraps (a
// *FormatError says where and what).
var ErrFormat = errors.New("damaged or unsupported tar archive")

// FormatError is a problem with the archive's bytes: the offset of the
// header block (or data) where it was found, the entry it belongs to when
// known, and what is wrong.
type FormatError struct {
	Offset int64
	Name   string
	Msg    string
}

func (e *FormatError) Error() string {
	if e.Name != "" {
		return fmt.Sprintf("tar: at byte %d (entry %q): %s", e.Offset, e.Name, e.Msg)
	}
	return fmt.Sprintf("tar: at byte %d: %s", e.Offset, e.Msg)
}
func (e *FormatError) Unwrap() error { return ErrFormat }

// Reader reads a tar archive one entry at a time: Next gives an entry's
// header, Read its data. The first error is sticky.
type Reader struct {
	r       io.Reader
	blk     [blockSize]byte
	scratch []byte            // for skipping data nobody reads
	meta    []byte            // readMeta's buffer for small entries
	off     int64             // bytes consumed from r
	global  map[string]string // pax 'g' records in force
	remain  int64             // data bytes of the entry Read still gives
	skip    int64             // bytes after those to the next header
	name    string            // the current entry, for messages
	start   int64             // offset of its header
	notes   []error           // the current entry's warnings
	err     error
}

// NewReader returns a Reader of the tar archive r (uncompressed).
func NewReader(r io.Reader) *Reader { return &Reader{r: r} }

// Offset returns how many bytes of the archive have been consumed.
func (tr *Reader) Offset() int64 { return tr.off }

// Warnings returns what was wrong with the current entry without making
// it unusable: an ACL that names a user the archive gives no number for,
// an xattr record that cannot be decoded. The entry is given without it.
func (tr *Reader) Warnings() []error { return tr.notes }

// formatErr makes a *FormatError at the current header.
func (tr *Reader) formatErr(format string, args ...any) error {
	return &FormatError{Offset: tr.start, Name: tr.name, Msg: fmt.Sprintf(format, args...)}
}

// Next skips what is left of the current entry and returns the next
// entry's header; io.EOF at the end of the archive. Errors about the
// archive's bytes, an archive cut short among them, are *FormatErrors
// (wrapping ErrFormat); the input's own errors are returned as they are.
func (tr *Reader) Next() (*Header, error) {
	if tr.err != nil {
		return nil, tr.err
	}
	if err := tr.discard(tr.remain + tr.skip); err != nil {
		tr.err = err
		return nil, err
	}
	tr.remain, tr.skip = 0, 0
	h, err := tr.next()
	if err != nil {
		tr.err = err
		return nil, err
	}
	return h, nil
}

// Read reads the current entry's data (see the type's comment); io.EOF at
// its end.
func (tr *Reader) Read(p []byte) (int, error) {
	if tr.err != nil {
		return 0, tr.err
	}
	if tr.remain == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > tr.remain {
		p = p[:tr.remain]
	}
	n, err := tr.r.Read(p)
	if n < 0 || n > len(p) {
		n, err = 0, fmt.Errorf("tar: the input returned %d bytes for %d", n, len(p))
	}
	tr.remain -= int64(n)
	tr.off += int64(n)
	if err == io.EOF {
		if tr.remain == 0 {
			err = nil
		} else {
			err = tr.truncated()
		}
	}
	if err != nil {
		tr.err = err
	}
	return n, err
}

// truncated is the error of an archive that ends inside an entry.
func (tr *Reader) truncated() error {
	return &FormatError{Offset: tr.off, Name: tr.name, Msg: "the archive ends inside the entry: " + io.ErrUnexpectedEOF.Error()}
}

// discard skips n bytes of the archive.
func (tr *Reader) discard(n int64) error {
	for idle := 0; n > 0; {
		if tr.scratch == nil {
			tr.scratch = make([]byte, 64<<10)
		}
		m, err := tr.r.Read(tr.scratch[:min(n, int64(len(tr.scratch)))])
		if m < 0 || m > len(tr.scratch) {
			return fmt.Errorf("tar: the input returned %d bytes for %d", m, len(tr.scratch))
		}
		n -= int64(m)
		tr.off += int64(m)
		switch {
		case err == io.EOF && n > 0:
			return tr.truncated()
		case err != nil && err != io.EOF:
			return err
		case m == 0:
			if idle++; idle == 100 {
				return io.ErrNoProgress
			}
		default:
			idle = 0
		}
	}
	return nil
}

// readBlock reads the next 512 bytes into tr.blk; io.EOF when the input
// ends before it (nothing read), a *FormatError when it ends inside it.
func (tr *Reader) readBlock() error {
	n, err := io.ReadFull(tr.r, tr.blk[:])
	tr.off += int64(n)
	if err == io.EOF {
		return io.EOF
	}
	if err == io.ErrUnexpectedEOF {
		return &FormatError{Offset: tr.off, Name: tr.name, Msg: "the archive ends inside a header block"}
	}
	return err
}

// readMeta reads the size bytes of a metadata entry's data ('x', 'g',
// 'L', 'K') and its padding.
func (tr *Reader) readMeta(size int64, what string) ([]byte, error) {
	if size > maxMetaSize {
		return nil, tr.formatErr("%s of %d bytes (at most %d)", what, size, maxMetaSize)
	}
	// A small entry (a pax header is usually a few hundred bytes) is read
	// into tr.meta, reused: the result is only valid until the next call,
	// and its callers copy what they keep. A large one grows with what
	// arrives, not with what the size field claims.
	if size <= smallMeta {
		if int64(cap(tr.meta)) < size {
			tr.meta = make([]byte, smallMeta)
		}
		b := tr.meta[:size]
		n, err := io.ReadFull(tr.r, b)
		tr.off += int64(n)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, tr.truncated()
		}
		if err != nil {
			return nil, err
		}
		return b, tr.discard(padding(size))
	}
	var buf bytes.Buffer
	n, err := io.CopyN(&buf, tr.r, size)
	tr.off += n
	if err == io.EOF {
		return nil, tr.truncated()
	}
	if err != nil {
		return nil, err
	}
	return buf.Bytes(), tr.discard(padding(size))
}

// smallMeta is the size of metadata entries read into a reused buffer.
const smallMeta = 64 << 10

// paxRecord is one record of a pax extended header, kept in order: the
// GNU sparse 0.0 map is a sequence of repeated keys.
type paxRecord struct{ key, value string }

// next reads headers until one describes an entry.
func (tr *Reader) next() (*Header, error) {
	var pax []paxRecord
	var longName, longLink *string
	tr.name = ""
	tr.notes = nil
	for {
		tr.start = tr.off
		if err := tr.readBlock(); err != nil {
			return nil, err
		}
		if isZeroBlock(tr.blk[:]) {
			// The end of the archive: GNU tar stops at the first zero
			// block too (warning about a lone one); what follows, the
			// second zero block and the padding to the record size, is
			// not read.
			return nil, io.EOF
		}
		if err := tr.checksum(); err != nil {
			return nil, err
		}
		typ := tr.blk[offTypeflag]
		size, err := tr.numeric(offSize, lenSize, "size")
		if err != nil {
			return nil, err
		}
		if size < 0 {
			return nil, tr.formatErr("negative size %d", size)
		}
		switch typ {
		case typePAX, typePAXGlobal:
			b, err := tr.readMeta(size, "pax extended header")
			if err != nil {
				return nil, err
			}
			recs, err := parsePAXRecords(b)
			if err != nil {
				return nil, tr.formatErr("pax extended header: %v", err)
			}
			if typ == typePAX {
				pax = append(pax, recs...)
				continue
			}
			if tr.global == nil {
				tr.global = map[string]string{}
			}
			for _, r := range recs {
				if r.value == "" {
					delete(tr.global, r.key)
				} else {
					tr.global[r.key] = r.value
				}
			}
			continue
		case typeGNULongName, typeGNULongLink:
			b, err := tr.readMeta(size, "GNU long name")
			if err != nil {
				return nil, err
			}
			s := cString(b)
			if typ == typeGNULongName {
				longName = &s
			} else {
				longLink = &s
			}
			continue
		case typeGNUVolume:
			// A volume label: nothing to extract (GNU tar skips it).
			if err := tr.discard(size + padding(size)); err != nil {
				return nil, err
			}
			continue
		}
		return tr.entry(size, pax, longName, longLink)
	}
}

// More typeflags: pax global headers, and GNU's own.
const (
	typePAXGlobal  = 'g'
	typeGNUDumpdir = 'D' // a directory with the list of its names as data (incremental dumps)
	typeGNUVolume  = 'V'
	typeRegA       = 0   // a regular file in v7 and early ustar
	typeCont       = '7' // contiguous file: a regular file
)

// The header's dialects, by its magic (offset 257).
const (
	magicUSTAR = "ustar\x00" // then version "00"
	magicGNU   = gnuMagic    // magic and version "ustar  \x00"
	// star's ustar variant ends the header with "tar\x00" and keeps its
	// prefix to 131 bytes, atime and ctime after it.
	offStarTrailer = 508
	lenStarPrefix  = 131
)

// entry builds the header of the entry whose ustar block is in tr.blk,
// with the pax records and long names that came before it.
func (tr *Reader) entry(size int64, pax []paxRecord, longName, longLink *string) (*Header, error) {
	blk := tr.blk[:]
	rawTyp := blk[offTypeflag]
	magic := string(blk[offMagic : offMagic+8])
	ustar := magic[:6] == magicUSTAR
	gnu := magic == magicGNU
	h := &Header{Typeflag: blk[offTypeflag]}
	h.Name = cString(blk[offName : offName+lenName])
	if ustar {
		prefix := blk[offPrefix : offPrefix+lenPrefix]
		if string(blk[offStarTrailer:]) == "tar\x00" {
			prefix = prefix[:lenStarPrefix]
		}
		if p := cString(prefix); p != "" {
			h.Name = p + "/" + h.Name
		}
	}
	tr.name = h.Name
	mode, err := tr.numeric(offMode, lenMode, "mode")
	if err != nil {
		return nil, err
	}
	h.Mode = uint32(mode) & 0o7777
	uid, err := tr.id(offUid, lenUid, "uid")
	if err != nil {
		return nil, err
	}
	gid, err := tr.id(offGid, lenGid, "gid")
	if err != nil {
		return nil, err
	}
	h.Uid, h.Gid = uid, gid
	if h.Mtime.Sec, err = tr.numeric(offMtime, lenMtime, "mtime"); err != nil {
		return nil, err
	}
	h.Linkname = cString(blk[offLinkname : offLinkname+lenLinkname])
	if ustar || gnu {
		h.Uname = cString(blk[offUname : offUname+lenUname])
		h.Gname = cString(blk[offGname : offGname+lenGname])
		if h.Typeflag == TypeChar || h.Typeflag == TypeBlock {
			major, err := tr.id(offDevmajor, lenDevmajor, "devmajor")
			if err != nil {
				return nil, err
			}
			minor, err := tr.id(offDevminor, lenDevminor, "devminor")
			if err != nil {
				return nil, err
			}
			h.Devmajor, h.Devminor = major, minor
		}
	}
	var sp *sparseInfo
	if h.Typeflag == typeGNUSparse {
		if sp, err = tr.oldGNUSparse(); err != nil {
			return nil, err
		}
		h.Typeflag = TypeReg
	}
	if longName != nil {
		h.Name = *longName
	}
	if longLink != nil {
		h.Linkname = *longLink
	}
	tr.name = h.Name

	// pax records: the global ones, then the entry's own, which win.
	// A record with an empty value deletes the key (POSIX pax, "pax
	// Extended Header"): the header block's field stands. An xattr's
	// record is the exception: its value may be empty.
	x := paxState{h: h, size: size}
	own := map[string]bool{}
	for _, r := range pax {
		own[r.key] = true
	}
	for _, k := range sortedKeys(tr.global) {
		if own[k] || !globalKey(k) {
			continue
		}
		if err := x.apply(k, tr.global[k]); err != nil {
			return nil, tr.formatErr("pax global record %s: %v", k, err)
		}
	}
	for _, r := range pax {
		if r.value == "" && !strings.HasPrefix(r.key, paxXattrPrefix) && !strings.HasPrefix(r.key, paxLibarchiveXattr) {
			continue
		}
		if err := x.apply(r.key, r.value); err != nil {
			return nil, tr.formatErr("pax record %s: %v", r.key, err)
		}
	}
	if err := x.finish(); err != nil {
		return nil, tr.formatErr("%v", err)
	}
	size = x.size
	tr.name = h.Name
	tr.notes = append(tr.notes, x.notes...)

	switch h.Typeflag {
	case typeRegA:
		// v7 and early ustar: a trailing slash marks a directory.
		h.Typeflag = TypeReg
		if strings.HasSuffix(h.Name, "/") {
			h.Typeflag = TypeDir
		}
	case typeCont:
		h.Typeflag = TypeReg
	case typeGNUDumpdir:
		h.Typeflag = TypeDir
	}
	if h.Name == "" {
		return nil, tr.formatErr("empty entry name")
	}

	// The entry's data: a regular file's is given by Read; other types
	// have none (Go's archive/tar ignores their size field too), but for
	// a GNU dumpdir, whose list of names is skipped.
	switch {
	case h.Typeflag == TypeReg:
		if x.sparse != nil {
			sp = x.sparse
		}
		if sp != nil {
			return h, tr.sparse(h, sp, size)
		}
		h.Size = size
		tr.remain, tr.skip = size, padding(size)
	case rawTyp == typeGNUDumpdir || !isHeaderOnly(h.Typeflag):
		tr.skip = size + padding(size)
	}
	return h, nil
}

// globalKey reports whether a pax record may apply to every entry from a
// global header: not those that describe one entry (its name, link
// target, size or sparse map), which a global header cannot mean for all.
func globalKey(k string) bool {
	switch k {
	case paxPath, paxLinkpath, paxSize:
		return false
	}
	return !strings.HasPrefix(k, "GNU.sparse.")
}

// isHeaderOnly reports the types that have no data whatever their size
// field says (a hard link, a symlink, a device, a directory, a FIFO).
func isHeaderOnly(typ byte) bool {
	switch typ {
	case TypeLink, TypeSymlink, TypeChar, TypeBlock, TypeDir, TypeFifo:
		return true
	}
	return false
}

// checksum verifies the header block's checksum, computed as unsigned or
// as signed bytes (POSIX requires unsigned; some old tars summed signed
// chars, and GNU tar accepts both).
func (tr *Reader) checksum() error {
	want, err := parseOctal(tr.blk[offChksum : offChksum+lenChksum])
	if err != nil {
		return tr.formatErr("not a tar header (checksum field %q)", tr.blk[offChksum:offChksum+lenChksum])
	}
	var unsigned, signed int64
	for i, c := range tr.blk {
		if i >= offChksum && i < offChksum+lenChksum {
			c = ' '
		}
		unsigned += int64(c)
		signed += int64(int8(c))
	}
	if want != unsigned && want != signed {
		return tr.formatErr("header checksum mismatch (stored %d, computed %d): not a tar archive, or a damaged one", want, unsigned)
	}
	return nil
}

// numeric parses the numeric field at off.
func (tr *Reader) numeric(off, n int, what string) (int64, error) {
	v, err := parseNumeric(tr.blk[off : off+n])
	if err != nil {
		return 0, tr.formatErr("%s field %q: %v", what, tr.blk[off:off+n], err)
	}
	return v, nil
}

// id parses a numeric field that holds a 32-bit id (uid, gid, device
// numbers).
func (tr *Reader) id(off, n int, what string) (uint32, error) {
	v, err := tr.numeric(off, n, what)
	if err != nil {
		return 0, err
	}
	if v < 0 || v > math.MaxUint32 {
		return 0, tr.formatErr("%s %d out of range", what, v)
	}
	return uint32(v), nil
}

var errRange = errors.New("value out of range")

// parseNumeric parses a header's numeric field: octal digits between
// optional spaces and NULs (an empty field is 0), or, when the first byte
// has its high bit set, a base-256 big-endian two's complement number
// whose sign is the first byte's bit 6 (GNU).
func parseNumeric(b []byte) (int64, error) {
	if len(b) > 0 && b[0]&0x80 != 0 {
		var inv byte
		if b[0]&0x40 != 0 {
			inv = 0xff
		}
		var x uint64
		for i, c := range b {
			c ^= inv
			if i == 0 {
				c &= 0x7f
			}
			if x>>56 != 0 {
				return 0, errRange
			}
			x = x<<8 | uint64(c)
		}
		if x>>63 != 0 {
			return 0, errRange
		}
		if inv == 0xff {
			return ^int64(x), nil
		}
		return int64(x), nil
	}
	return parseOctal(b)
}

// parseOctal parses octal digits with leading and trailing spaces and
// NULs.
func parseOctal(b []byte) (int64, error) {
	b = bytes.Trim(b, " \x00")
	var x int64
	for _, c := range b {
		if c < '0' || c > '7' {
			return 0, errors.New("not an octal number")
		}
		if x > math.MaxInt64>>3 {
			return 0, errRange
		}
		x = x<<3 | int64(c-'0')
	}
	return x, nil
}

// cString is a NUL-terminated string field.
func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

func isZeroBlock(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// parsePAXRecords splits a pax extended header's data into its records,
// each "LEN KEY=VALUE\n" with LEN the record's length in decimal, its own
// digits included.
func parsePAXRecords(b []byte) ([]paxRecord, error) {
	var recs []paxRecord
	for len(b) > 0 {
		if b[0] == 0 && isZeroBlock(b) {
			break // padding some writers leave inside the size
		}
		sp := bytes.IndexByte(b, ' ')
		if sp <= 0 || sp > 20 {
			return nil, errors.New("record without a length")
		}
		n, err := strconv.ParseInt(string(b[:sp]), 10, 64)
		if err != nil || n <= int64(sp)+1 || n > int64(len(b)) {
			return nil, fmt.Errorf("bad record length %q", b[:sp])
		}
		rec := b[sp+1 : n]
		if rec[len(rec)-1] != '\n' {
			return nil, errors.New("record not ended by a newline")
		}
		rec = rec[:len(rec)-1]
		eq := bytes.IndexByte(rec, '=')
		if eq <= 0 {
			return nil, fmt.Errorf("record without a key: %q", rec)
		}
		recs = append(recs, paxRecord{string(rec[:eq]), string(rec[eq+1:])})
		b = b[n:]
	}
	return recs, nil
}

// parsePAXTime parses a pax time: decimal seconds, possibly negative,
// with an optional fraction (digits past nanoseconds are dropped).
func parsePAXTime(s string) (Time, error) {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, dot := strings.Cut(s, ".")
	if whole == "" && frac == "" || dot && frac == "" || strings.ContainsAny(whole, "+-") {
		return Time{}, errors.New("not a time")
	}
	var sec int64
	if whole != "" {
		v, err := strconv.ParseUint(whole, 10, 63)
		if err != nil {
			return Time{}, errors.New("not a time")
		}
		sec = int64(v)
	}
	var nsec int64
	for i, c := range []byte(frac) {
		if c < '0' || c > '9' {
			return Time{}, errors.New("not a time")
		}
		if i < 9 {
			nsec = nsec*10 + int64(c-'0')
		}
	}
	for i := len(frac); i < 9; i++ {
		nsec *= 10
	}
	if neg {
		if nsec != 0 {
			return Time{Sec: -sec - 1, Nsec: 1e9 - nsec}, nil
		}
		return Time{Sec: -sec}, nil
	}
	return Time{Sec: sec, Nsec: nsec}, nil
}
