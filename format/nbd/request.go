package nbd

import (
	"encoding/binary"
	"fmt"
)

// RequestSize is the size of a request's header ("Request message");
// NBD_CMD_WRITE's data follows it.
const RequestSize = 28

// Request is a transmission request's header.
type Request struct {
	Flags  uint16 // command flags (CmdFlagFUA, ...)
	Type   uint16 // CmdRead, CmdWrite, ...
	Cookie uint64 // the client's, echoed in the reply
	Offset uint64
	Length uint32
}

// Put encodes r into b[:RequestSize]: the magic, the command flags, the
// type, the cookie, the offset and the length.
func (r *Request) Put(b []byte) {
	be := binary.BigEndian
	be.PutUint32(b[0:], RequestMagic)
	be.PutUint16(b[4:], r.Flags)
	be.PutUint16(b[6:], r.Type)
	be.PutUint64(b[8:], r.Cookie)
	be.PutUint64(b[16:], r.Offset)
	be.PutUint32(b[24:], r.Length)
}

// CmdName names a request type, for errors.
func CmdName(typ uint16) string {
	switch typ {
	case CmdRead:
		return "NBD_CMD_READ"
	case CmdWrite:
		return "NBD_CMD_WRITE"
	case CmdDisc:
		return "NBD_CMD_DISC"
	case CmdFlush:
		return "NBD_CMD_FLUSH"
	case CmdTrim:
		return "NBD_CMD_TRIM"
	case CmdWriteZeroes:
		return "NBD_CMD_WRITE_ZEROES"
	case CmdBlockStatus:
		return "NBD_CMD_BLOCK_STATUS"
	}
	return fmt.Sprintf("NBD_CMD %d", typ)
}
