package archive

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/lklimg/lklimg/kernel/abi"
)

// DefaultBufferSize is the size of a Writer's output buffer: large reads
// go straight from the kernel into it (ReadFrom), and the output sees
// few large writes.
const DefaultBufferSize = 1 << 20

// ErrWriteTooLong is returned when more data is written than the header
// announced.
var ErrWriteTooLong = errors.New("archive: write too long")

// Writer writes a pax tar archive (see the package documentation for the
// subset). Call WriteHeader for each entry, then write exactly its data
// with Write or ReadFrom, and Close at the end. The first error is sticky:
// every later call returns it.
type Writer struct {
	out    io.Writer
	buf    []byte // pending output; len(buf) is what is pending
	remain int64  // data bytes the current entry still expects
	pad    int64  // zero bytes that complete the current entry's last block
	name   string // the current entry, for error messages
	err    error
	closed bool
	format Format
}

// SetFormat chooses the format of the entries written from now on;
// FormatPAX is the default. Call it before the first WriteHeader.
func (tw *Writer) SetFormat(f Format) { tw.format = f }

// NewWriter returns a Writer on w with a buffer of DefaultBufferSize.
func NewWriter(w io.Writer) *Writer { return NewWriterSize(w, DefaultBufferSize) }

// NewWriterSize returns a Writer on w with an output buffer of size bytes
// (at least a few blocks).
func NewWriterSize(w io.Writer, size int) *Writer {
	if size < 4*blockSize {
		size = 4 * blockSize
	}
	return &Writer{out: w, buf: make([]byte, 0, size)}
}

// WriteHeader ends the current entry and starts a new one described by h.
// It fails if the current entry's data is incomplete.
func (tw *Writer) WriteHeader(h *Header) error {
	if tw.closed {
		return errors.New("archive: WriteHeader after Close")
	}
	if err := tw.endEntry(); err != nil {
		return err
	}
	if err := validate(h); err != nil {
		return err
	}
	if tw.format == FormatGNU {
		pre, blk, ext := encodeGNU(h)
		tw.write(pre)
		tw.write(blk[:])
		tw.write(ext)
		tw.name = h.Name
		tw.remain = h.dataSize()
		tw.pad = padding(tw.remain)
		return tw.err
	}
	pax, blk, smap := encodeHeader(h)
	if len(pax) > 0 {
		recs := pax.encode()
		var xh [blockSize]byte
		putString(xh[offName:offName+lenName], pseudoName(h.Name, "PaxHeaders"))
		putOctal(xh[offMode:offMode+lenMode], 0o644)
		putOctal(xh[offUid:offUid+lenUid], 0)
		putOctal(xh[offGid:offGid+lenGid], 0)
		putOctal(xh[offSize:offSize+lenSize], int64(len(recs)))
		putOctal(xh[offMtime:offMtime+lenMtime], 0)
		xh[offTypeflag] = typePAX
		copy(xh[offMagic:], "ustar\x0000")
		putOctal(xh[offDevmajor:offDevmajor+lenDevmajor], 0)
		putOctal(xh[offDevminor:offDevminor+lenDevminor], 0)
		setChecksum(xh[:])
		tw.write(xh[:])
		tw.write(recs)
		tw.zeros(padding(int64(len(recs))))
	}
	tw.write(blk[:])
	tw.write(smap) // the sparse map opens the entry's data
	tw.name = h.Name
	tw.remain = h.dataSize()
	size := int64(len(smap)) + tw.remain
	tw.pad = padding(size)
	return tw.err
}

// validate checks what the format cannot carry.
func validate(h *Header) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("archive: %q: "+format, append([]any{h.Name}, args...)...)
	}
	switch {
	case h.Name == "":
		return errors.New("archive: empty entry name")
	case strings.IndexByte(h.Name, 0) >= 0 || strings.IndexByte(h.Linkname, 0) >= 0 ||
		strings.IndexByte(h.Uname, 0) >= 0 || strings.IndexByte(h.Gname, 0) >= 0:
		return bad("NUL in a name")
	case h.Mtime.Nsec < 0 || h.Mtime.Nsec >= 1e9:
		return bad("bad mtime nanoseconds %d", h.Mtime.Nsec)
	case h.Size < 0:
		return bad("negative size")
	case !fitsOctal(int64(h.Devmajor), lenDevmajor) || !fitsOctal(int64(h.Devminor), lenDevminor):
		return bad("device %d:%d does not fit ustar", h.Devmajor, h.Devminor)
	}
	for _, x := range h.Xattrs {
		// A record's key ends at the first '='; a name holding one
		// could not be read back.
		if x.Name == "" || strings.ContainsAny(x.Name, "=\x00") {
			return bad("xattr name %q cannot be a pax record key", x.Name)
		}
	}
	if h.Sparse != nil {
		end := int64(0)
		for _, e := range h.Sparse {
			if e.Offset < end || e.Length < 0 || e.Offset+e.Length > h.Size {
				return bad("bad sparse extent %+v (size %d)", e, h.Size)
			}
			// GNU tar reads each region from a new block, libarchive and
			// Go read regions back to back: they agree only when every
			// region is whole blocks, but for one that ends the file.
			if e.Offset%blockSize != 0 || e.Length%blockSize != 0 && e.Offset+e.Length != h.Size {
				return bad("sparse extent %+v is not block-aligned (AlignExtents)", e)
			}
			end = e.Offset + e.Length
		}
	}
	return nil
}

// encodeHeader builds the ustar block of h, the pax records needed for
// what does not fit in it, and the sparse map of a sparse file.
func encodeHeader(h *Header) (pax paxRecords, blk [blockSize]byte, smap []byte) {
	pax = paxRecords{}
	name := h.Name
	if h.Typeflag == TypeDir && !strings.HasSuffix(name, "/") {
		name += "/"
	}
	size := h.dataSize()
	binary := false
	if h.Typeflag == TypeReg && h.Sparse != nil {
		// GNU sparse 1.0: the real name and size are pax records; the
		// ustar fields describe the stored data (map and extents).
		pax[paxGNUSparseMajor] = "1"
		pax[paxGNUSparseMinor] = "0"
		pax[paxGNUSparseName] = name
		pax[paxGNUSparseRealsize] = strconv.FormatInt(h.Size, 10)
		binary = binary || !utf8.ValidString(name)
		name = pseudoName(name, "GNUSparseFile.0")
		smap = sparseMap(h.Sparse, h.Size)
		size += int64(len(smap))
	}
	prefix, suffix, ok := splitUSTARPath(name)
	if !ok || !isASCII(name) {
		pax[paxPath] = name
		binary = binary || !utf8.ValidString(name)
		prefix, suffix = "", name
	}
	putString(blk[offName:offName+lenName], suffix)
	putString(blk[offPrefix:offPrefix+lenPrefix], prefix)
	putOctal(blk[offMode:offMode+lenMode], int64(h.Mode&0o7777))
	putID := func(off, width int, key string, v uint32) {
		if fitsOctal(int64(v), width) {
			putOctal(blk[off:off+width], int64(v))
			return
		}
		putOctal(blk[off:off+width], 0)
		pax[key] = strconv.FormatUint(uint64(v), 10)
	}
	putID(offUid, lenUid, paxUid, h.Uid)
	putID(offGid, lenGid, paxGid, h.Gid)
	putName := func(off, width int, key, v string) {
		// The field is NUL-terminated: width-1 bytes at most.
		if len(v) < width && isASCII(v) {
			putString(blk[off:off+width], v)
			return
		}
		pax[key] = v
		binary = binary || !utf8.ValidString(v)
	}
	putName(offUname, lenUname, paxUname, h.Uname)
	putName(offGname, lenGname, paxGname, h.Gname)
	if fitsOctal(size, lenSize) {
		putOctal(blk[offSize:offSize+lenSize], size)
	} else {
		putOctal(blk[offSize:offSize+lenSize], 0)
		pax[paxSize] = strconv.FormatInt(size, 10)
	}
	sec := h.Mtime.Sec
	if h.Mtime.Nsec != 0 || !fitsOctal(sec, lenMtime) {
		pax[paxMtime] = formatPAXTime(h.Mtime)
		sec = max(0, min(sec, int64(1)<<(3*(lenMtime-1))-1))
	}
	putOctal(blk[offMtime:offMtime+lenMtime], sec)
	if h.Atime != nil {
		pax[paxAtime] = formatPAXTime(*h.Atime)
	}
	if h.Ctime != nil {
		pax[paxCtime] = formatPAXTime(*h.Ctime)
	}
	blk[offTypeflag] = h.Typeflag
	if len(h.Linkname) > lenLinkname || !isASCII(h.Linkname) {
		pax[paxLinkpath] = h.Linkname
		binary = binary || !utf8.ValidString(h.Linkname)
	}
	putString(blk[offLinkname:offLinkname+lenLinkname], h.Linkname)
	copy(blk[offMagic:], "ustar\x0000")
	putOctal(blk[offDevmajor:offDevmajor+lenDevmajor], int64(h.Devmajor))
	putOctal(blk[offDevminor:offDevminor+lenDevminor], int64(h.Devminor))
	for _, x := range h.Xattrs {
		pax[paxXattrPrefix+x.Name] = string(x.Value)
	}
	if binary {
		// pax record values are UTF-8 unless hdrcharset says otherwise;
		// names on Linux are bytes. libarchive needs this to accept
		// them; GNU tar 1.34 warns that it does not know the keyword and
		// reads the bytes, as it would anyway.
		pax[paxHdrcharset] = "BINARY"
	}
	setChecksum(blk[:])
	return pax, blk, smap
}

// padding returns the zero bytes that complete a block after n bytes.
func padding(n int64) int64 { return -n & (blockSize - 1) }

// Write writes data of the current entry.
func (tw *Writer) Write(p []byte) (int, error) {
	if tw.err != nil {
		return 0, tw.err
	}
	if int64(len(p)) > tw.remain {
		n, _ := tw.Write(p[:tw.remain])
		return n, fmt.Errorf("%w: %q", ErrWriteTooLong, tw.name)
	}
	tw.write(p)
	tw.remain -= int64(len(p))
	if tw.err != nil {
		return 0, tw.err
	}
	return len(p), nil
}

// ReadFrom reads the current entry's data from r straight into the output
// buffer (one copy: from r's source into the buffer) until r reports EOF
// or the entry is complete. Errors from r are returned as they are; the
// Writer stays usable (ZeroFill can complete the entry).
func (tw *Writer) ReadFrom(r io.Reader) (int64, error) {
	var total int64
	for tw.remain > 0 {
		if tw.err != nil {
			return total, tw.err
		}
		if len(tw.buf) == cap(tw.buf) {
			tw.flush()
			continue
		}
		space := tw.buf[len(tw.buf):cap(tw.buf)]
		if int64(len(space)) > tw.remain {
			space = space[:tw.remain]
		}
		n, err := r.Read(space)
		if n < 0 || n > len(space) {
			return total, fmt.Errorf("archive: %q: reader returned %d bytes for %d", tw.name, n, len(space))
		}
		tw.buf = tw.buf[:len(tw.buf)+n]
		tw.remain -= int64(n)
		total += int64(n)
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
		if n == 0 {
			return total, io.ErrNoProgress
		}
	}
	return total, tw.err
}

// SendFrom completes up to n bytes of the current entry's data by send,
// which writes them to the Writer's output itself (Kernel.Sendfile to the
// host file under it): the buffered output is flushed first, so that the
// bytes land in order. send returns how many bytes it wrote; an
// *abi.HostWriteError is the output's failure, sticky as any write error,
// and any other error is returned as it is, the Writer staying usable
// (ReadFrom can complete the entry from where send stopped).
func (tw *Writer) SendFrom(n int64, send func(n int64) (int64, error)) (int64, error) {
	n = min(n, tw.remain)
	if tw.flush(); tw.err != nil {
		return 0, tw.err
	}
	k, err := send(n)
	if k < 0 || k > n {
		tw.err = fmt.Errorf("archive: %q: sent %d bytes for %d", tw.name, k, n)
		return 0, tw.err
	}
	tw.remain -= k
	var we *abi.HostWriteError
	if errors.As(err, &we) {
		tw.err = we.Err
		return k, tw.err
	}
	return k, err
}

// Remaining returns how many data bytes the current entry still expects.
func (tw *Writer) Remaining() int64 { return tw.remain }

// ZeroFill completes the current entry's data with zeros, as GNU tar does
// when a file shrinks or cannot be read while it is archived: the archive
// stays well-formed.
func (tw *Writer) ZeroFill() error {
	tw.zeros(tw.remain)
	tw.remain = 0
	return tw.err
}

// Flush writes the buffered output to the underlying writer.
func (tw *Writer) Flush() error {
	tw.flush()
	return tw.err
}

// Close ends the last entry, writes the end-of-archive marker (two zero
// blocks) and flushes. It does not close the underlying writer.
func (tw *Writer) Close() error {
	if tw.closed {
		return tw.err
	}
	tw.closed = true
	if err := tw.endEntry(); err != nil {
		return err
	}
	tw.zeros(2 * blockSize)
	tw.flush()
	return tw.err
}

// endEntry checks that the current entry is complete and pads it.
func (tw *Writer) endEntry() error {
	if tw.err != nil {
		return tw.err
	}
	if tw.remain > 0 {
		return fmt.Errorf("archive: %q: %d bytes of data missing", tw.name, tw.remain)
	}
	tw.zeros(tw.pad)
	tw.pad = 0
	return tw.err
}

// write appends p to the output buffer, flushing as it fills.
func (tw *Writer) write(p []byte) {
	for len(p) > 0 && tw.err == nil {
		if len(tw.buf) == cap(tw.buf) {
			tw.flush()
			continue
		}
		n := copy(tw.buf[len(tw.buf):cap(tw.buf)], p)
		tw.buf = tw.buf[:len(tw.buf)+n]
		p = p[n:]
	}
}

// zeros appends n zero bytes.
func (tw *Writer) zeros(n int64) {
	for n > 0 && tw.err == nil {
		if len(tw.buf) == cap(tw.buf) {
			tw.flush()
			continue
		}
		space := tw.buf[len(tw.buf):cap(tw.buf)]
		if int64(len(space)) > n {
			space = space[:n]
		}
		clear(space)
		tw.buf = tw.buf[:len(tw.buf)+len(space)]
		n -= int64(len(space))
	}
}

func (tw *Writer) flush() {
	if tw.err != nil || len(tw.buf) == 0 {
		return
	}
	if bw, ok := tw.out.(bufferWriter); ok {
		next, err := bw.writeBuffer(tw.buf)
		tw.buf = next[:0]
		if err != nil {
			tw.err = err
		}
		return
	}
	n, err := tw.out.Write(tw.buf)
	if err == nil && n < len(tw.buf) {
		err = io.ErrShortWrite
	}
	if err != nil {
		tw.err = err
	}
	tw.buf = tw.buf[:0]
}
