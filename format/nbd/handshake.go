package nbd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Limits on what a server may make the handshake read or loop over: an
// option reply's data is an export name, a string of at most 4096 bytes
// ("Conventions": strings) or a fixed-size information record, so 64 KiB
// is room to spare; a reply to one option is a few records.
const (
	MaxOptionReply   = 1 << 16
	maxRepliesPerOpt = 256
	// MaxExportName is the longest export name a client may send
	// ("Conventions": 4096 bytes).
	MaxExportName = 4096
)

// Export is what the handshake agreed on: the export's size and
// transmission flags, the server's size constraints, and the extensions
// in force for the transmission phase.
type Export struct {
	Size  uint64
	Flags uint16 // transmission flags (FlagReadOnly, FlagSendFlush, ...)
	// MinBlock, PrefBlock and MaxPayload are NBD_INFO_BLOCK_SIZE's
	// ("Size constraints"); all 0 when the server did not send it.
	MinBlock, PrefBlock, MaxPayload uint32
	// Structured: NBD_OPT_STRUCTURED_REPLY was acknowledged, so a
	// read's reply is chunks and NBD_CMD_BLOCK_STATUS may be sent.
	Structured bool
	// AllocContext is the id of base:allocation when HasAlloc.
	AllocContext uint32
	HasAlloc     bool
	// Negotiation says how the export was chosen, for a person:
	// "oldstyle", "NBD_OPT_EXPORT_NAME" or "NBD_OPT_GO".
	Negotiation string
}

// Handshake runs the client side of the handshake on rw (proto.md
// "Handshake", "Fixed newstyle negotiation") for the export called name,
// and returns the agreed export; rw is then in the transmission phase.
// With fixed newstyle negotiation it asks, in order, for structured
// replies, the base:allocation context and the export by NBD_OPT_GO
// (with NBD_INFO_EXPORT and NBD_INFO_BLOCK_SIZE), falling back to
// NBD_OPT_EXPORT_NAME when the server does not know NBD_OPT_GO; a
// server with plain newstyle negotiation gets NBD_OPT_EXPORT_NAME alone;
// an oldstyle one has a single export and name is not sent. Errors: the
// server's refusal (*OptionError), ErrProtocol for what the
// specification does not allow, or rw's.
func Handshake(rw io.ReadWriter, name string) (*Export, error) {
	if len(name) > MaxExportName {
		return nil, fmt.Errorf("nbd: export name of %d bytes, longer than %d", len(name), MaxExportName)
	}
	var b [16]byte
	if _, err := io.ReadFull(rw, b[:16]); err != nil {
		return nil, handshakeErr("the server's greeting", err)
	}
	be := binary.BigEndian
	if be.Uint64(b[:]) != NBDMAGIC {
		return nil, protoErr("greeting %q is not NBDMAGIC: not an NBD server", b[:8])
	}
	switch be.Uint64(b[8:]) {
	case OldstyleMagic:
		return oldstyle(rw)
	case IHAVEOPT:
	default:
		return nil, protoErr("greeting magic %#x after NBDMAGIC", be.Uint64(b[8:]))
	}
	if _, err := io.ReadFull(rw, b[:2]); err != nil {
		return nil, handshakeErr("the handshake flags", err)
	}
	hflags := be.Uint16(b[:])
	var cflags uint32
	if hflags&FlagFixedNewstyle != 0 {
		cflags |= FlagCFixedNewstyle
	}
	noZeroes := hflags&FlagNoZeroes != 0
	if noZeroes {
		cflags |= FlagCNoZeroes
	}
	be.PutUint32(b[:], cflags)
	if _, err := rw.Write(b[:4]); err != nil {
		return nil, handshakeErr("sending the client flags", err)
	}
	ex := &Export{}
	if hflags&FlagFixedNewstyle != 0 {
		done, err := fixedNewstyle(rw, name, ex)
		if err != nil || done {
			return ex, err
		}
	}
	return ex, exportName(rw, name, noZeroes, ex)
}

// handshakeErr names the step a read or write failed at; a server that
// hangs up is io.ErrUnexpectedEOF.
func handshakeErr(step string, err error) error {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("nbd: handshake: %s: %w", step, err)
}

// oldstyle reads the rest of an oldstyle greeting ("Oldstyle
// negotiation"): the size, 32 bits of flags whose low 16 are the
// transmission flags, and 124 bytes of zeros.
func oldstyle(r io.Reader) (*Export, error) {
	var b [8 + 4 + 124]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return nil, handshakeErr("the oldstyle greeting", err)
	}
	return &Export{Size: binary.BigEndian.Uint64(b[:]), Flags: uint16(binary.BigEndian.Uint32(b[8:])),
		Negotiation: "oldstyle"}, nil
}

// fixedNewstyle negotiates structured replies, base:allocation and the
// export (NBD_OPT_GO); done is false when the server does not know
// NBD_OPT_GO, for NBD_OPT_EXPORT_NAME to follow.
func fixedNewstyle(rw io.ReadWriter, name string, ex *Export) (done bool, err error) {
	var buf []byte
	// NBD_OPT_STRUCTURED_REPLY: no data; NBD_REP_ACK or an error
	// (NBD_REP_ERR_UNSUP from an older server), either being final.
	err = option(rw, OptStructuredReply, nil, &buf, func(typ uint32, _ []byte) error {
		return protoErr("reply %d to NBD_OPT_STRUCTURED_REPLY", typ)
	})
	if err != nil && !isOptionError(err) {
		return false, err
	}
	ex.Structured = err == nil
	if ex.Structured {
		// NBD_OPT_SET_META_CONTEXT: u32 name length, name, u32
		// number of queries, each a u32 length and the query.
		data := appendString32(nil, name)
		data = binary.BigEndian.AppendUint32(data, 1)
		data = appendString32(data, ContextBaseAllocation)
		err = option(rw, OptSetMetaContext, data, &buf, func(typ uint32, d []byte) error {
			if typ != RepMetaContext {
				return protoErr("reply %d to NBD_OPT_SET_META_CONTEXT", typ)
			}
			if len(d) < 4 {
				return protoErr("NBD_REP_META_CONTEXT of %d bytes", len(d))
			}
			if string(d[4:]) == ContextBaseAllocation {
				ex.AllocContext, ex.HasAlloc = binary.BigEndian.Uint32(d), true
			}
			return nil
		})
		if err != nil && !isOptionError(err) {
			return false, err
		}
	}
	// NBD_OPT_GO: u32 name length, name, u16 number of information
	// requests, each a u16.
	data := appendString32(nil, name)
	data = binary.BigEndian.AppendUint16(data, 2)
	data = binary.BigEndian.AppendUint16(data, InfoExport)
	data = binary.BigEndian.AppendUint16(data, InfoBlockSize)
	var gotExport bool
	err = option(rw, OptGo, data, &buf, func(typ uint32, d []byte) error {
		if typ != RepInfo {
			return protoErr("reply %d to NBD_OPT_GO", typ)
		}
		if len(d) < 2 {
			return protoErr("NBD_REP_INFO of %d bytes", len(d))
		}
		be := binary.BigEndian
		switch be.Uint16(d) {
		case InfoExport: // u64 size, u16 transmission flags
			if len(d) != 12 {
				return protoErr("NBD_INFO_EXPORT of %d bytes, not 12", len(d))
			}
			ex.Size, ex.Flags, gotExport = be.Uint64(d[2:]), be.Uint16(d[10:]), true
		case InfoBlockSize: // u32 minimum, preferred, maximum payload
			if len(d) != 14 {
				return protoErr("NBD_INFO_BLOCK_SIZE of %d bytes, not 14", len(d))
			}
			ex.MinBlock, ex.PrefBlock, ex.MaxPayload = be.Uint32(d[2:]), be.Uint32(d[6:]), be.Uint32(d[10:])
			return checkBlockSize(ex)
		}
		return nil // NBD_INFO_NAME, NBD_INFO_DESCRIPTION and the unknown: not needed
	})
	var oe *OptionError
	switch {
	case errors.As(err, &oe) && oe.Reply == RepErrUnsup:
		return false, nil
	case err != nil:
		return false, err
	case !gotExport:
		return false, protoErr("NBD_OPT_GO acknowledged without NBD_INFO_EXPORT")
	}
	ex.Negotiation = "NBD_OPT_GO"
	return true, nil
}

// checkBlockSize checks NBD_INFO_BLOCK_SIZE against "Size constraints":
// the minimum a power of 2 up to 64 KiB, the preferred a power of 2 at
// least the minimum and 512, the maximum payload at least the preferred.
func checkBlockSize(ex *Export) error {
	pow2 := func(n uint32) bool { return n != 0 && n&(n-1) == 0 }
	if !pow2(ex.MinBlock) || ex.MinBlock > 1<<16 || !pow2(ex.PrefBlock) || ex.PrefBlock < max(ex.MinBlock, 512) ||
		ex.MaxPayload < ex.PrefBlock {
		return protoErr("NBD_INFO_BLOCK_SIZE minimum %d, preferred %d, maximum payload %d", ex.MinBlock, ex.PrefBlock, ex.MaxPayload)
	}
	return nil
}

// exportName chooses the export with NBD_OPT_EXPORT_NAME, which has no
// option reply: the server answers with the size, the transmission flags
// and 124 zeros (unless NBD_FLAG_NO_ZEROES was agreed), or hangs up when
// it has no such export.
func exportName(rw io.ReadWriter, name string, noZeroes bool, ex *Export) error {
	if err := sendOption(rw, OptExportName, []byte(name)); err != nil {
		return err
	}
	var b [8 + 2 + 124]byte
	n := len(b)
	if noZeroes {
		n = 10
	}
	if _, err := io.ReadFull(rw, b[:n]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("nbd: the server closed the connection on NBD_OPT_EXPORT_NAME %q: no such export?", name)
		}
		return handshakeErr("NBD_OPT_EXPORT_NAME", err)
	}
	ex.Size, ex.Flags = binary.BigEndian.Uint64(b[:]), binary.BigEndian.Uint16(b[8:])
	ex.Negotiation = "NBD_OPT_EXPORT_NAME"
	return nil
}

// sendOption sends an option: IHAVEOPT, the option, the data's length
// and the data ("Newstyle negotiation").
func sendOption(w io.Writer, opt uint32, data []byte) error {
	b := make([]byte, 16, 16+len(data))
	binary.BigEndian.PutUint64(b, IHAVEOPT)
	binary.BigEndian.PutUint32(b[8:], opt)
	binary.BigEndian.PutUint32(b[12:], uint32(len(data)))
	if _, err := w.Write(append(b, data...)); err != nil {
		return handshakeErr("sending "+optName(opt), err)
	}
	return nil
}

// option sends opt and reads its replies up to the final one: each
// non-final reply (NBD_REP_INFO, NBD_REP_META_CONTEXT, ...) goes to each,
// NBD_REP_ACK ends it, and an error reply ends it as an *OptionError.
// buf is reused for the replies' data.
func option(rw io.ReadWriter, opt uint32, data []byte, buf *[]byte, each func(typ uint32, data []byte) error) error {
	if err := sendOption(rw, opt, data); err != nil {
		return err
	}
	for range maxRepliesPerOpt {
		typ, d, err := readOptionReply(rw, opt, buf)
		switch {
		case err != nil:
			return err
		case typ == RepAck:
			return nil
		case typ&RepFlagError != 0:
			return &OptionError{Option: opt, Reply: typ, Message: printable(d)}
		}
		if err := each(typ, d); err != nil {
			return err
		}
	}
	return protoErr("more than %d replies to %s", maxRepliesPerOpt, optName(opt))
}

// readOptionReply reads one option reply ("Fixed newstyle negotiation"):
// the magic, the option it answers, its type, the data's length and the
// data, at most MaxOptionReply bytes.
func readOptionReply(r io.Reader, opt uint32, buf *[]byte) (typ uint32, data []byte, err error) {
	var h [20]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, handshakeErr("reply to "+optName(opt), err)
	}
	be := binary.BigEndian
	if m := be.Uint64(h[:]); m != OptReplyMagic {
		return 0, nil, protoErr("option reply magic %#x", m)
	}
	if o := be.Uint32(h[8:]); o != opt {
		return 0, nil, protoErr("reply to option %d when %s was sent", o, optName(opt))
	}
	typ, n := be.Uint32(h[12:]), be.Uint32(h[16:])
	if n > MaxOptionReply {
		return 0, nil, protoErr("option reply of %d bytes", n)
	}
	if cap(*buf) < int(n) {
		*buf = make([]byte, n)
	}
	data = (*buf)[:n]
	if _, err := io.ReadFull(r, data); err != nil {
		return 0, nil, handshakeErr("reply to "+optName(opt), err)
	}
	return typ, data, nil
}

func isOptionError(err error) bool { return errors.As(err, new(*OptionError)) }

// appendString32 appends a string with its 32-bit length before it.
func appendString32(b []byte, s string) []byte {
	return append(binary.BigEndian.AppendUint32(b, uint32(len(s))), s...)
}

// printable is a server's message for a person, with bytes that could
// move a terminal's cursor replaced.
func printable(b []byte) string {
	r := []rune(string(b))
	for i, c := range r {
		if c < 0x20 || c == 0x7f {
			r[i] = '?'
		}
	}
	return string(r)
}
