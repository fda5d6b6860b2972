package nbd

import (
	"errors"
	"fmt"
	"syscall"
)

// ErrProtocol is wrapped by every error about what a server sent that
// the specification does not allow: a bad magic, a length past its room,
// an unknown reply type. The connection cannot be trusted after it
// (proto.md: "the client MUST initiate a hard disconnect").
var ErrProtocol = errors.New("nbd: protocol error")

// protoErr is an ErrProtocol with what was wrong.
func protoErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrProtocol}, args...)...)
}

// Error values a server sends in a reply ("Error values").
const (
	EPERM     uint32 = 1
	EIO       uint32 = 5
	ENOMEM    uint32 = 12
	EINVAL    uint32 = 22
	ENOSPC    uint32 = 28
	EOVERFLOW uint32 = 75
	ENOTSUP   uint32 = 95
	ESHUTDOWN uint32 = 108
)

// Error is a request the server failed: the error of a simple reply, or
// of an error chunk with its message and, for
// NBD_REPLY_TYPE_ERROR_OFFSET, the offset where it happened.
type Error struct {
	Code    uint32
	Message string // may be empty
	Offset  int64  // -1 when the server did not say
}

func (e *Error) Error() string {
	s := fmt.Sprintf("server error %s", errName(e.Code))
	if e.Offset >= 0 {
		s += fmt.Sprintf(" at %d", e.Offset)
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Unwrap gives the host errno the error stands for. NBD_EPERM is what a
// server answers a write to a read-only export with (qemu-nbd, nbdkit),
// so it is EROFS, as the write to a read-only file is; a code the
// specification does not define is EIO, as it says the client should
// treat it ("Error values": "unknown ... as NBD_EINVAL" is for servers;
// a client only needs the request failed).
func (e *Error) Unwrap() error { return Errno(e.Code) }

// Errno maps an NBD error value to the host's errno.
func Errno(code uint32) syscall.Errno {
	switch code {
	case EPERM:
		return syscall.EROFS
	case ENOMEM:
		return syscall.ENOMEM
	case EINVAL:
		return syscall.EINVAL
	case ENOSPC:
		return syscall.ENOSPC
	case EOVERFLOW:
		return syscall.EOVERFLOW
	case ENOTSUP:
		return syscall.ENOTSUP
	case ESHUTDOWN:
		return syscall.ESHUTDOWN
	}
	return syscall.EIO
}

func errName(code uint32) string {
	switch code {
	case EPERM:
		return "NBD_EPERM"
	case EIO:
		return "NBD_EIO"
	case ENOMEM:
		return "NBD_ENOMEM"
	case EINVAL:
		return "NBD_EINVAL"
	case ENOSPC:
		return "NBD_ENOSPC"
	case EOVERFLOW:
		return "NBD_EOVERFLOW"
	case ENOTSUP:
		return "NBD_ENOTSUP"
	case ESHUTDOWN:
		return "NBD_ESHUTDOWN"
	}
	return fmt.Sprintf("%d", code)
}

// OptionError is a server's refusal of an option in the handshake (an
// option reply with bit 31 set), with its message if it sent one.
type OptionError struct {
	Option, Reply uint32
	Message       string
}

func (e *OptionError) Error() string {
	s := fmt.Sprintf("the server refused %s: %s", optName(e.Option), repName(e.Reply))
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

func optName(o uint32) string {
	switch o {
	case OptExportName:
		return "NBD_OPT_EXPORT_NAME"
	case OptGo:
		return "NBD_OPT_GO"
	case OptStructuredReply:
		return "NBD_OPT_STRUCTURED_REPLY"
	case OptSetMetaContext:
		return "NBD_OPT_SET_META_CONTEXT"
	}
	return fmt.Sprintf("option %d", o)
}

func repName(r uint32) string {
	switch r {
	case RepErrUnsup:
		return "NBD_REP_ERR_UNSUP (not supported)"
	case RepErrPolicy:
		return "NBD_REP_ERR_POLICY (forbidden by the server's policy)"
	case RepErrInvalid:
		return "NBD_REP_ERR_INVALID"
	case RepErrPlatform:
		return "NBD_REP_ERR_PLATFORM"
	case RepErrTLSReqd:
		return "NBD_REP_ERR_TLS_REQD (the server requires TLS, which this client does not do)"
	case RepErrUnknown:
		return "NBD_REP_ERR_UNKNOWN (no such export)"
	case RepErrShutdown:
		return "NBD_REP_ERR_SHUTDOWN (the server is shutting down)"
	case RepErrBlockSizeReqd:
		return "NBD_REP_ERR_BLOCK_SIZE_REQD"
	case RepErrTooBig:
		return "NBD_REP_ERR_TOO_BIG"
	}
	return fmt.Sprintf("reply type %#x", r)
}
