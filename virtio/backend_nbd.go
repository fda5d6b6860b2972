package virtio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lklimg/lklimg/format/nbd"
)

// NBD is a Backend served by a Network Block Device server: the disk is
// an export, reached by an NBD URI (nbd://host[:port]/export,
// nbd+unix:///export?socket=PATH) over one connection. The handshake is
// format/nbd's; this is the transmission phase (the NBD project's
// doc/proto.md, "Transmission"): every ReadAt, WriteAt, ... is one or
// more requests, each with its own cookie, written under a lock and
// answered in any order; one reader goroutine matches the replies to the
// requests waiting for them. The virtio device's workers so keep several
// requests in flight on the one connection.
//
// A request longer than the server's maximum payload (NBD_INFO_BLOCK_SIZE;
// 32 MiB when it gives none, the specification's default) is split, the
// pieces in flight together; one shorter than its minimum block, or not
// aligned to it, is widened (a read) or read, modified and written back
// (a write, serialised with the other such writes). Holes are found with
// NBD_CMD_BLOCK_STATUS on base:allocation when the server offers it: an
// extent both NBD_STATE_HOLE and NBD_STATE_ZERO is a hole, as a host
// file's unallocated range is; else the whole disk is data.
//
// Nothing waits forever on the server: while requests are outstanding, a
// socket that moves no byte for the timeout fails the connection, and a
// failed connection (a timeout, a reset, a reply the specification does
// not allow) fails every request in flight and every later one, with the
// reason. A request the server fails is reported with its error
// (*nbd.Error, which unwraps to the host's errno: NBD_EPERM, a write to a
// read-only export, is EROFS; NBD_ENOSPC is ENOSPC). A write split in
// pieces of which one fails is reported failed, though the server may
// have applied the others, as a failed pwrite(2) may have written part.
type NBD struct {
	uri     string
	conn    net.Conn
	ex      nbd.Export
	size    int64
	ro      bool
	unsafe  bool  // Flush does nothing (CacheUnsafe)
	align   int64 // the minimum block size, at least 1
	payload int64 // the most data in one request, a multiple of align
	timeout time.Duration

	// wmu serialises requests on the socket; hdr and wbufs are its.
	wmu   sync.Mutex
	hdr   [nbd.RequestSize]byte
	wbufs [][]byte

	// mu guards pending, cookie, err and closing; wake tells the reader
	// that a request is pending or the backend closing.
	mu      sync.Mutex
	wake    *sync.Cond
	pending map[uint64]*nbdCall
	cookie  uint64
	err     error // the connection failed: every request gets it
	closing bool
	done    chan struct{} // closed when the reader has returned

	noZero atomic.Bool // the server refused NBD_CMD_WRITE_ZEROES (zeroRefused)

	rmw sync.Mutex // serialises unaligned writes (read, modify, write)
	// zeros is a payload of zeros, for WriteZeroes without
	// NBD_CMD_WRITE_ZEROES, made once; never written.
	zeros     []byte
	zerosOnce sync.Once
}

// nbdCall is one request waiting for its reply.
type nbdCall struct {
	typ  uint16
	off  int64
	n    int64
	bufs [][]byte // NBD_CMD_READ: where the n bytes from off go
	got  int64    // NBD_CMD_READ: bytes the reply has covered
	exts []nbd.Extent
	err  error // the first error of the reply
	done chan struct{}
}

// NBDOptions says how OpenNBD connects.
type NBDOptions struct {
	// ReadOnly refuses writes even when the export takes them.
	ReadOnly bool
	// CacheUnsafe makes Flush a no-op, as RawFile.SetCacheUnsafe.
	CacheUnsafe bool
	// Timeout is how long the socket may move no byte while a request
	// is outstanding (and how long connecting and the handshake may
	// take) before the connection is failed; DefaultNBDTimeout if 0.
	Timeout time.Duration
}

// DefaultNBDTimeout is NBDOptions.Timeout's default: long enough for a
// server flushing a large cache to a slow disk, short enough that a dead
// server is seen as one.
const DefaultNBDTimeout = 60 * time.Second

// defaultNBDPayload is the maximum payload used when the server gives
// none, and the most used when it allows more: the specification's
// default ("Size constraints": at least 2^25 bytes).
const defaultNBDPayload = 1 << 25

// zeroSpan bounds one NBD_CMD_WRITE_ZEROES or BLOCK_STATUS request's
// length (a 32-bit field): 1 GiB, a multiple of every minimum block size.
const zeroSpan = 1 << 30

// OpenNBD connects to the NBD export at uri (see nbd.ParseURI) and runs
// the handshake. The backend is read-only when o says so or the export
// is (NBD_FLAG_READ_ONLY).
func OpenNBD(uri string, o NBDOptions) (*NBD, error) {
	u, err := nbd.ParseURI(uri)
	if err != nil {
		return nil, err
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultNBDTimeout
	}
	conn, err := (&net.Dialer{Timeout: o.Timeout}).Dial(u.Network, u.Address)
	if err != nil {
		return nil, fmt.Errorf("nbd: %s: %w", uri, err)
	}
	return newNBD(uri, u.Export, conn, o)
}

// newNBD runs the handshake for export on conn and starts the reader; it
// closes conn if it fails.
func newNBD(uri, export string, conn net.Conn, o NBDOptions) (*NBD, error) {
	conn.SetDeadline(time.Now().Add(o.Timeout))
	ex, err := nbd.Handshake(conn, export)
	if err != nil {
		conn.Close()
		if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
			err = fmt.Errorf("%w (no answer in %v)", err, o.Timeout)
		}
		return nil, fmt.Errorf("nbd: %s: %w", uri, err)
	}
	conn.SetDeadline(time.Time{})
	if ex.Flags&nbd.FlagHasFlags == 0 {
		ex.Flags = 0 // the other bits mean nothing without NBD_FLAG_HAS_FLAGS
	}
	if ex.Size > 1<<62 {
		conn.Close()
		return nil, fmt.Errorf("nbd: %s: export size %d too large", uri, ex.Size)
	}
	c := &NBD{uri: uri, conn: conn, ex: *ex, ro: o.ReadOnly || ex.Flags&nbd.FlagReadOnly != 0,
		unsafe: o.CacheUnsafe, align: max(int64(ex.MinBlock), 1), payload: defaultNBDPayload, timeout: o.Timeout,
		pending: map[uint64]*nbdCall{}, done: make(chan struct{})}
	if ex.MaxPayload != 0 {
		c.payload = min(int64(ex.MaxPayload), defaultNBDPayload)
	}
	c.payload -= c.payload % c.align
	// The disk is whole sectors and whole minimum blocks: a tail shorter
	// than either cannot be addressed.
	c.size = int64(ex.Size) &^ (max(c.align, SectorSize) - 1)
	c.wake = sync.NewCond(&c.mu)
	go c.readLoop()
	return c, nil
}

// Export is what the handshake agreed on.
func (c *NBD) Export() nbd.Export { return c.ex }

// ReadAt implements Backend.
func (c *NBD) ReadAt(bufs [][]byte, off int64) error {
	n := totalLen(bufs)
	if (off|n)%c.align != 0 {
		a, buf := c.widen(off, n)
		if err := c.do(nbd.CmdRead, a, [][]byte{buf}, 0); err != nil {
			return err
		}
		scatter(bufs, buf[off-a:])
		return nil
	}
	return c.do(nbd.CmdRead, off, bufs, 0)
}

// widen returns the start of the aligned range around n bytes from off,
// and a buffer of its length.
func (c *NBD) widen(off, n int64) (int64, []byte) {
	a := off - off%c.align
	end := off + n
	if r := end % c.align; r != 0 {
		end += c.align - r
	}
	return a, make([]byte, end-a)
}

// WriteAt implements Backend.
func (c *NBD) WriteAt(bufs [][]byte, off int64) error {
	if c.ro {
		return ErrReadOnly
	}
	n := totalLen(bufs)
	if (off|n)%c.align != 0 {
		c.rmw.Lock()
		defer c.rmw.Unlock()
		a, buf := c.widen(off, n)
		if err := c.do(nbd.CmdRead, a, [][]byte{buf}, 0); err != nil {
			return err
		}
		gatherAll(buf[off-a:], bufs)
		return c.do(nbd.CmdWrite, a, [][]byte{buf}, 0)
	}
	return c.do(nbd.CmdWrite, off, bufs, 0)
}

// gatherAll copies bufs, in order, into dst.
func gatherAll(dst []byte, bufs [][]byte) {
	for _, b := range bufs {
		dst = dst[copy(dst, b):]
	}
}

// Flush implements Backend: NBD_CMD_FLUSH, when the server takes it
// (NBD_FLAG_SEND_FLUSH; without it, the server has no cache to flush).
func (c *NBD) Flush() error {
	if c.ro || c.unsafe || c.ex.Flags&nbd.FlagSendFlush == 0 {
		return nil
	}
	return c.do(nbd.CmdFlush, 0, nil, 0)
}

// Discard implements Backend: NBD_CMD_WRITE_ZEROES without
// NBD_CMD_FLAG_NO_HOLE, which lets the server deallocate the range
// and guarantees it reads as zeros after. NBD_CMD_TRIM does not (its
// range's content is unspecified after it, "Request types"), so it
// cannot be Discard; a server without WRITE_ZEROES gets
// errors.ErrUnsupported, which a virtio discard takes as done.
func (c *NBD) Discard(off, n int64) error {
	if c.ro {
		return ErrReadOnly
	}
	if !c.canZero() {
		return fmt.Errorf("nbd: %s: discard: %w (no NBD_CMD_WRITE_ZEROES)", c.uri, errors.ErrUnsupported)
	}
	if (off|n)%c.align != 0 {
		return c.WriteZeroes(off, n) // the server takes whole minimum blocks only
	}
	err := c.zeroes(off, n, 0)
	if c.zeroRefused(err) {
		return fmt.Errorf("nbd: %s: discard: %w (%w)", c.uri, errors.ErrUnsupported, err)
	}
	return err
}

// canZero reports that NBD_CMD_WRITE_ZEROES is to be used: the server
// offers it (NBD_FLAG_SEND_WRITE_ZEROES) and has not refused it.
func (c *NBD) canZero() bool {
	return c.ex.Flags&nbd.FlagSendWriteZeroes != 0 && !c.noZero.Load()
}

// zeroRefused reports that err is the server refusing
// NBD_CMD_WRITE_ZEROES as a command (NBD_EINVAL, NBD_ENOTSUP) though it
// offered it, as nbdkit 1.32 does after oldstyle negotiation; it is not
// sent again, and zeros are written instead.
func (c *NBD) zeroRefused(err error) bool {
	var e *nbd.Error
	if errors.As(err, &e) && (e.Code == nbd.EINVAL || e.Code == nbd.ENOTSUP) {
		c.noZero.Store(true)
		return true
	}
	return false
}

// CanUnmap reports whether Discard deallocates: whether the server has
// NBD_CMD_WRITE_ZEROES.
func (c *NBD) CanUnmap() bool { return !c.ro && c.canZero() }

// WriteZeroes implements Backend: NBD_CMD_WRITE_ZEROES with
// NBD_CMD_FLAG_NO_HOLE (the range stays allocated), else writes of
// zeros.
func (c *NBD) WriteZeroes(off, n int64) error {
	if c.ro {
		return ErrReadOnly
	}
	if c.canZero() && (off|n)%c.align == 0 {
		if err := c.zeroes(off, n, nbd.CmdFlagNoHole); !c.zeroRefused(err) {
			return err
		}
	}
	c.zerosOnce.Do(func() { c.zeros = make([]byte, min(c.payload, 1<<20)) })
	for n > 0 {
		k := min(n, int64(len(c.zeros)))
		if err := c.WriteAt([][]byte{c.zeros[:k]}, off); err != nil {
			return err
		}
		off += k
		n -= k
	}
	return nil
}

// zeroes sends NBD_CMD_WRITE_ZEROES for n bytes from off, at most
// zeroSpan a request, all in flight together.
func (c *NBD) zeroes(off, n int64, flags uint16) error {
	var calls []*nbdCall
	for n > 0 {
		k := min(n, zeroSpan)
		calls = append(calls, c.start(nbd.CmdWriteZeroes, flags, off, k, nil))
		off += k
		n -= k
	}
	return c.wait(calls)
}

// SeekData implements Backend.
func (c *NBD) SeekData(off int64) (int64, error) {
	if !c.ex.HasAlloc {
		return min(off, c.size), nil
	}
	return c.seek(off, true)
}

// SeekHole implements Backend.
func (c *NBD) SeekHole(off int64) (int64, error) {
	if !c.ex.HasAlloc {
		return c.size, nil
	}
	return c.seek(off, false)
}

// seek walks the base:allocation extents from off to the first of data
// (data) or of a hole, NBD_CMD_BLOCK_STATUS a span at a time; the end of
// the disk if there is none.
func (c *NBD) seek(off int64, data bool) (int64, error) {
	for off < c.size {
		n := min(c.size-off, zeroSpan)
		call := c.start(nbd.CmdBlockStatus, 0, off, n, nil)
		if err := c.wait([]*nbdCall{call}); err != nil {
			return 0, err
		}
		if len(call.exts) == 0 {
			return 0, fmt.Errorf("nbd: %s: NBD_CMD_BLOCK_STATUS at %d: no base:allocation extent in the reply", c.uri, off)
		}
		for _, e := range call.exts {
			hole := e.Flags&(nbd.StateHole|nbd.StateZero) == nbd.StateHole|nbd.StateZero
			if hole != data {
				return min(off, c.size), nil
			}
			off += int64(e.Length)
		}
	}
	return c.size, nil
}

// Size implements Backend.
func (c *NBD) Size() int64 { return c.size }

// ReadOnly implements Backend.
func (c *NBD) ReadOnly() bool { return c.ro }

// Close implements Backend: NBD_CMD_DISC, the clean end of the
// transmission phase ("Terminating the transmission phase"), then the
// socket is closed. Requests still in flight fail.
func (c *NBD) Close() error {
	c.mu.Lock()
	alive := c.err == nil && !c.closing
	c.closing = true
	c.mu.Unlock()
	var err error
	if alive {
		c.wmu.Lock()
		r := nbd.Request{Type: nbd.CmdDisc}
		r.Put(c.hdr[:])
		c.conn.SetWriteDeadline(time.Now().Add(c.timeout))
		_, err = c.conn.Write(c.hdr[:])
		c.wmu.Unlock()
	}
	c.mu.Lock()
	c.wake.Broadcast()
	c.mu.Unlock()
	if cerr := c.conn.Close(); alive && err == nil {
		err = cerr
	}
	<-c.done
	if err != nil {
		return fmt.Errorf("nbd: %s: close: %w", c.uri, err)
	}
	return nil
}

// do performs a read or a write of bufs at off (or a data-less request
// of length 0), split into requests of at most the maximum payload, all
// in flight together, and waits for them.
func (c *NBD) do(typ uint16, off int64, bufs [][]byte, flags uint16) error {
	n := totalLen(bufs)
	if n <= c.payload {
		return c.wait([]*nbdCall{c.start(typ, flags, off, n, bufs)})
	}
	var calls []*nbdCall
	for n > 0 {
		k := min(n, c.payload)
		var part [][]byte
		part, bufs = cutBufs(nil, bufs, k)
		calls = append(calls, c.start(typ, flags, off, k, part))
		off += k
		n -= k
	}
	return c.wait(calls)
}

// start sends a request and returns its call, to wait for. A request
// that cannot be sent fails the connection, and so its call.
func (c *NBD) start(typ, flags uint16, off, n int64, bufs [][]byte) *nbdCall {
	call := &nbdCall{typ: typ, off: off, n: n, bufs: bufs, done: make(chan struct{})}
	c.mu.Lock()
	if c.err != nil || c.closing {
		call.err = c.err
		if call.err == nil {
			call.err = fmt.Errorf("nbd: %s: closed", c.uri)
		}
		c.mu.Unlock()
		close(call.done)
		return call
	}
	c.cookie++
	cookie := c.cookie
	c.pending[cookie] = call
	c.wake.Signal()
	c.mu.Unlock()

	c.wmu.Lock()
	r := nbd.Request{Flags: flags, Type: typ, Cookie: cookie, Offset: uint64(off), Length: uint32(n)}
	r.Put(c.hdr[:])
	c.wbufs = append(c.wbufs[:0], c.hdr[:])
	if typ == nbd.CmdWrite {
		c.wbufs = append(c.wbufs, bufs...)
	}
	c.conn.SetWriteDeadline(time.Now().Add(c.timeout + time.Duration(n>>20)*time.Second))
	wb := net.Buffers(c.wbufs)
	_, err := wb.WriteTo(c.conn)
	c.wmu.Unlock()
	if err != nil {
		c.broken(fmt.Errorf("sending %s: %w", nbd.CmdName(typ), err))
	}
	return call
}

// wait waits for calls and returns the first one's error, with the
// request named.
func (c *NBD) wait(calls []*nbdCall) error {
	var first error
	for _, call := range calls {
		<-call.done
		if call.err != nil && first == nil {
			first = fmt.Errorf("nbd: %s: %s at %d+%d: %w", c.uri, nbd.CmdName(call.typ), call.off, call.n, call.err)
		}
	}
	return first
}

// broken marks the connection failed with err, keeping the first error,
// and closes the socket, so that the reader's read fails and it fails
// every pending call (only the reader completes calls).
func (c *NBD) broken(err error) {
	c.mu.Lock()
	if c.err == nil {
		var ne net.Error
		switch {
		case c.closing:
			err = errors.New("closed")
		case errors.As(err, &ne) && ne.Timeout():
			err = fmt.Errorf("the server moved no byte for %v with requests outstanding: connection dropped (%w)", c.timeout, err)
		default:
			err = fmt.Errorf("connection lost: %w", err)
		}
		c.err = err
	}
	c.wake.Broadcast()
	c.mu.Unlock()
	c.conn.Close()
}

// fail is broken, by the reader, which then completes every pending
// call with the connection's error.
func (c *NBD) fail(err error) {
	c.broken(err)
	c.mu.Lock()
	pending := c.pending
	c.pending = map[uint64]*nbdCall{}
	c.mu.Unlock()
	for _, call := range pending {
		call.fail(c.err)
		close(call.done)
	}
}

// readLoop is the reader goroutine: it reads replies while requests are
// pending, and gives each to its call, until the connection fails or the
// backend closes.
func (c *NBD) readLoop() {
	defer close(c.done)
	r := &deadlineReader{conn: c.conn, timeout: c.timeout}
	var hb [nbd.StructuredReplySize]byte
	var h nbd.Reply
	var scratch []byte
	for {
		c.mu.Lock()
		for len(c.pending) == 0 && c.err == nil && !c.closing {
			c.wake.Wait()
		}
		failed, closed := c.err, c.closing && len(c.pending) == 0
		c.mu.Unlock()
		if failed != nil {
			c.fail(failed) // a writer's failure: the pending calls get it
			return
		}
		if closed {
			return
		}
		if err := nbd.ReadReply(r, &hb, c.ex.Structured, &h); err != nil {
			c.fail(eofErr(err))
			return
		}
		if err := c.reply(r, &h, &scratch); err != nil {
			c.fail(err)
			return
		}
	}
}

// eofErr makes a server hanging up between or inside messages say so.
func eofErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("the server closed the connection (%w)", err)
	}
	return err
}

// reply reads the rest of the message whose header is h and applies it
// to its call; an error is one of the connection.
func (c *NBD) reply(r io.Reader, h *nbd.Reply, scratch *[]byte) error {
	c.mu.Lock()
	call := c.pending[h.Cookie]
	c.mu.Unlock()
	if call == nil {
		return fmt.Errorf("%w: reply to cookie %d, which no request has", nbd.ErrProtocol, h.Cookie)
	}
	if !h.Structured {
		if h.Error != 0 {
			call.fail(&nbd.Error{Code: h.Error, Offset: -1})
		} else if call.typ == nbd.CmdRead {
			if c.ex.Structured {
				// Whether data follows cannot be known: the stream is lost.
				return fmt.Errorf("%w: a simple reply to NBD_CMD_READ after structured replies were agreed", nbd.ErrProtocol)
			}
			if err := readInto(r, call.bufs, 0, call.n); err != nil {
				return eofErr(err)
			}
			call.got = call.n
		}
		c.finish(h.Cookie, call)
		return nil
	}
	if err := c.chunk(r, h, call, scratch); err != nil {
		return err
	}
	if h.Done() {
		c.finish(h.Cookie, call)
	}
	return nil
}

// chunk reads a structured reply chunk's payload and applies it
// ("Structured reply types").
func (c *NBD) chunk(r io.Reader, h *nbd.Reply, call *nbdCall, scratch *[]byte) error {
	payload := func(limit uint32) ([]byte, error) {
		if h.Length > limit {
			return nil, fmt.Errorf("%w: chunk type %d of %d bytes", nbd.ErrProtocol, h.Type, h.Length)
		}
		if cap(*scratch) < int(h.Length) {
			*scratch = make([]byte, h.Length)
		}
		p := (*scratch)[:h.Length]
		_, err := io.ReadFull(r, p)
		return p, eofErr(err)
	}
	// inside checks that a content chunk lies inside the request.
	inside := func(off uint64, n int64) (int64, error) {
		at := int64(off & (1<<63 - 1))
		if off != uint64(at) || at < call.off || n > call.n || at-call.off > call.n-n {
			return 0, fmt.Errorf("%w: %d bytes at %d in the reply to a read of %d+%d", nbd.ErrProtocol, n, off, call.off, call.n)
		}
		return at - call.off, nil
	}
	switch {
	case h.Type == nbd.ReplyTypeNone:
		if h.Length != 0 || !h.Done() {
			return fmt.Errorf("%w: NBD_REPLY_TYPE_NONE of %d bytes, flags %#x", nbd.ErrProtocol, h.Length, h.Flags)
		}
	case h.Type == nbd.ReplyTypeOffsetData && call.typ == nbd.CmdRead:
		if h.Length <= nbd.OffsetDataHeader {
			return fmt.Errorf("%w: NBD_REPLY_TYPE_OFFSET_DATA of %d bytes", nbd.ErrProtocol, h.Length)
		}
		var ob [nbd.OffsetDataHeader]byte
		if _, err := io.ReadFull(r, ob[:]); err != nil {
			return eofErr(err)
		}
		n := int64(h.Length - nbd.OffsetDataHeader)
		at, err := inside(binary.BigEndian.Uint64(ob[:]), n)
		if err != nil {
			return err
		}
		if err := readInto(r, call.bufs, at, n); err != nil {
			return eofErr(err)
		}
		call.got += n
	case h.Type == nbd.ReplyTypeOffsetHole && call.typ == nbd.CmdRead:
		p, err := payload(12)
		if err != nil {
			return err
		}
		off, n, err := nbd.DecodeOffsetHole(p)
		if err != nil {
			return err
		}
		at, err := inside(off, int64(n))
		if err != nil {
			return err
		}
		inRange(call.bufs, at, int64(n), func(b []byte) error { clear(b); return nil })
		call.got += int64(n)
	case h.Type == nbd.ReplyTypeBlockStatus && call.typ == nbd.CmdBlockStatus:
		p, err := payload(nbd.MaxBlockStatus)
		if err != nil {
			return err
		}
		ctx, exts, err := nbd.DecodeBlockStatus(p, nil)
		if err != nil {
			return err
		}
		if ctx == c.ex.AllocContext {
			call.exts = exts
		}
	case nbd.IsErrorType(h.Type):
		p, err := payload(1 << 16)
		if err != nil {
			return err
		}
		e, err := nbd.DecodeError(h.Type, p)
		if err != nil {
			return err
		}
		call.fail(e)
	default:
		return fmt.Errorf("%w: chunk type %d in the reply to %s", nbd.ErrProtocol, h.Type, nbd.CmdName(call.typ))
	}
	return nil
}

// fail records the first error of a call's reply.
func (call *nbdCall) fail(err error) {
	if call.err == nil {
		call.err = err
	}
}

// finish ends a call: a read whose reply did not cover every byte asked
// fails (what is left would be stale memory).
func (c *NBD) finish(cookie uint64, call *nbdCall) {
	if call.err == nil && call.typ == nbd.CmdRead && call.got != call.n {
		call.err = fmt.Errorf("%w: the reply covered %d of %d bytes", nbd.ErrProtocol, call.got, call.n)
	}
	c.mu.Lock()
	_, ok := c.pending[cookie]
	delete(c.pending, cookie)
	c.mu.Unlock()
	if ok {
		close(call.done)
	}
}

// inRange calls fn on the slices of bufs that hold n bytes from byte at
// of them, in order; the caller has checked they lie inside.
func inRange(bufs [][]byte, at, n int64, fn func(b []byte) error) error {
	for _, b := range bufs {
		if n == 0 {
			break
		}
		if at >= int64(len(b)) {
			at -= int64(len(b))
			continue
		}
		k := min(int64(len(b))-at, n)
		if err := fn(b[at : at+k]); err != nil {
			return err
		}
		n -= k
		at = 0
	}
	return nil
}

// readInto reads n bytes from r into bufs from byte at of them.
func readInto(r io.Reader, bufs [][]byte, at, n int64) error {
	return inRange(bufs, at, n, func(b []byte) error {
		_, err := io.ReadFull(r, b)
		return err
	})
}

// deadlineReader reads from conn with a deadline of timeout from each
// read: a server that stops sending in the middle of a reply, or sends
// no reply, fails the read instead of hanging it.
type deadlineReader struct {
	conn    net.Conn
	timeout time.Duration
}

func (d *deadlineReader) Read(b []byte) (int, error) {
	d.conn.SetReadDeadline(time.Now().Add(d.timeout))
	return d.conn.Read(b)
}
