package nbd

import (
	"encoding/binary"
	"io"
)

// Sizes of the reply headers ("Simple reply message", "Structured reply
// chunk message") and of the fixed parts of chunk payloads ("Structured
// reply types").
const (
	SimpleReplySize     = 16 // magic, error, cookie
	StructuredReplySize = 20 // magic, flags, type, cookie, length
	OffsetDataHeader    = 8  // offset, before the data
	offsetHoleSize      = 12 // offset, hole size
	errorHeader         = 6  // error, message length
	// MaxErrorMessage is the longest message an error chunk may carry
	// (NBD_REPLY_TYPE_ERROR: "MUST NOT exceed the 4096 bytes string
	// length limit").
	MaxErrorMessage = 4096
)

// Reply is a reply's header: a simple reply's, or a structured reply
// chunk's.
type Reply struct {
	Structured bool
	Cookie     uint64
	Error      uint32 // a simple reply's error value; 0 for success
	Flags      uint16 // a chunk's flags (ReplyFlagDone)
	Type       uint16 // a chunk's type (ReplyTypeOffsetData, ...)
	Length     uint32 // a chunk's payload length
}

// Done reports that this is the last message of its request's reply: a
// simple reply, or a chunk with NBD_REPLY_FLAG_DONE.
func (h *Reply) Done() bool { return !h.Structured || h.Flags&ReplyFlagDone != 0 }

// ReadReply reads a reply header from r into h, using b as room: the
// magic says which of the two it is. A structured reply is an error
// unless structured replies were negotiated (structured).
func ReadReply(r io.Reader, b *[StructuredReplySize]byte, structured bool, h *Reply) error {
	if _, err := io.ReadFull(r, b[:SimpleReplySize]); err != nil {
		return err
	}
	be := binary.BigEndian
	switch m := be.Uint32(b[:]); {
	case m == SimpleReplyMagic:
		*h = Reply{Error: be.Uint32(b[4:]), Cookie: be.Uint64(b[8:])}
		return nil
	case m == StructuredReplyMagic && structured:
		if _, err := io.ReadFull(r, b[SimpleReplySize:]); err != nil {
			return err
		}
		*h = Reply{Structured: true, Flags: be.Uint16(b[4:]), Type: be.Uint16(b[6:]), Cookie: be.Uint64(b[8:]),
			Length: be.Uint32(b[16:])}
		return nil
	default:
		return protoErr("reply magic %#x", m)
	}
}

// IsErrorType reports that a chunk type is an error chunk (bit 15 set):
// a client must take the reply as failed even when it does not know the
// type ("Structured reply types").
func IsErrorType(typ uint16) bool { return typ&(1<<15) != 0 }

// DecodeError decodes an error chunk's payload p (NBD_REPLY_TYPE_ERROR,
// NBD_REPLY_TYPE_ERROR_OFFSET, or an unknown type with bit 15 set, whose
// message is read the same way and the rest ignored): the error, the
// message's length and the message, and ERROR_OFFSET's offset after it.
func DecodeError(typ uint16, p []byte) (*Error, error) {
	if len(p) < errorHeader {
		return nil, protoErr("error chunk of %d bytes", len(p))
	}
	be := binary.BigEndian
	e := &Error{Code: be.Uint32(p), Offset: -1}
	n := int(be.Uint16(p[4:]))
	rest := len(p) - errorHeader
	if typ == ReplyTypeErrorOffset {
		rest -= 8
	}
	if n > rest {
		return nil, protoErr("error chunk type %#x: message of %d bytes in a %d-byte payload", typ, n, len(p))
	}
	e.Message = printable(p[errorHeader : errorHeader+n])
	if typ == ReplyTypeErrorOffset {
		e.Offset = int64(be.Uint64(p[errorHeader+n:]) & (1<<63 - 1))
	}
	if e.Code == 0 {
		// "error (MUST be nonzero)": still an error.
		e.Code = EIO
	}
	return e, nil
}

// DecodeOffsetHole decodes an NBD_REPLY_TYPE_OFFSET_HOLE payload: the
// offset and the hole's nonzero size.
func DecodeOffsetHole(p []byte) (off uint64, n uint32, err error) {
	if len(p) != offsetHoleSize {
		return 0, 0, protoErr("NBD_REPLY_TYPE_OFFSET_HOLE of %d bytes, not 12", len(p))
	}
	off, n = binary.BigEndian.Uint64(p), binary.BigEndian.Uint32(p[8:])
	if n == 0 {
		return 0, 0, protoErr("NBD_REPLY_TYPE_OFFSET_HOLE of size 0")
	}
	return off, n, nil
}

// Extent is one block descriptor of an NBD_REPLY_TYPE_BLOCK_STATUS chunk.
type Extent struct {
	Length uint32 // nonzero
	Flags  uint32 // the context's state flags (StateHole, StateZero)
}

// MaxBlockStatus is the largest NBD_REPLY_TYPE_BLOCK_STATUS payload read:
// "Servers SHOULD NOT send more than 2^20 extents in a single reply
// chunk".
const MaxBlockStatus = 4 + 8<<20

// DecodeBlockStatus decodes an NBD_REPLY_TYPE_BLOCK_STATUS payload: the
// metadata context id and one or more descriptors, appended to exts.
func DecodeBlockStatus(p []byte, exts []Extent) (context uint32, _ []Extent, err error) {
	if len(p) < 12 || (len(p)-4)%8 != 0 {
		return 0, exts, protoErr("NBD_REPLY_TYPE_BLOCK_STATUS of %d bytes", len(p))
	}
	be := binary.BigEndian
	for d := p[4:]; len(d) > 0; d = d[8:] {
		e := Extent{Length: be.Uint32(d), Flags: be.Uint32(d[4:])}
		if e.Length == 0 {
			return 0, exts, protoErr("NBD_REPLY_TYPE_BLOCK_STATUS: an extent of length 0")
		}
		exts = append(exts, e)
	}
	return be.Uint32(p), exts, nil
}
