// Package nbd is the wire format of the Network Block Device protocol
// (the NBD project's doc/proto.md), client side: the handshake (oldstyle,
// newstyle and fixed newstyle negotiation, with NBD_OPT_STRUCTURED_REPLY,
// NBD_OPT_SET_META_CONTEXT "base:allocation", NBD_OPT_GO with
// NBD_INFO_EXPORT and NBD_INFO_BLOCK_SIZE, and NBD_OPT_EXPORT_NAME for
// servers without NBD_OPT_GO), the transmission request, the simple reply
// and the structured reply chunks, and the NBD URI (the project's
// doc/uri.md). The transmission phase itself, several requests in flight
// over one connection, is the virtio backend's (virtio/backend_nbd.go).
//
// Subset: no TLS (NBD_OPT_STARTTLS; an nbds:// URI is refused), no
// extended headers (NBD_OPT_EXTENDED_HEADERS, 64-bit lengths), no
// NBD_CMD_CACHE or NBD_CMD_RESIZE.
//
// All numbers are big-endian ("network byte order", proto.md
// "Conventions"). Names follow the specification: NBD_CMD_READ is
// CmdRead, NBD_REPLY_TYPE_OFFSET_DATA is ReplyTypeOffsetData. What the
// server sends is checked before use: a length past the room it has, an
// unknown magic or reply type is an error wrapping ErrProtocol, never a
// panic, and no read is sized by the server beyond MaxOptionReply (the
// handshake) or the caller's own limits (transmission).
package nbd
