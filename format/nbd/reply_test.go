package nbd

import (
	"bytes"
	"errors"
	"strings"
	"syscall"
	"testing"
)

// chunk is a structured reply chunk: header and payload.
func chunk(flags, typ uint16, cookie uint64, payload []byte) []byte {
	var s script
	s.u32(StructuredReplyMagic).u16(flags).u16(typ).u64(cookie).u32(uint32(len(payload)))
	s.Write(payload)
	return s.Bytes()
}

// TestReplies: simple and structured reply headers, and the chunk
// payloads, decoded as the specification lays them out; what it does
// not allow is ErrProtocol.
func TestReplies(t *testing.T) {
	var s script
	s.u32(SimpleReplyMagic).u32(EPERM).u64(9)
	var b [StructuredReplySize]byte
	var h Reply
	if err := ReadReply(bytes.NewReader(s.Bytes()), &b, false, &h); err != nil || h != (Reply{Cookie: 9, Error: EPERM}) || !h.Done() {
		t.Fatalf("simple reply: %+v, %v", h, err)
	}
	c := chunk(ReplyFlagDone, ReplyTypeOffsetHole, 5, []byte{0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 2, 0})
	if err := ReadReply(bytes.NewReader(c), &b, false, &h); !errors.Is(err, ErrProtocol) {
		t.Fatalf("a chunk when structured replies were not agreed: %v", err)
	}
	if err := ReadReply(bytes.NewReader(c), &b, true, &h); err != nil || h != (Reply{Structured: true, Cookie: 5, Flags: ReplyFlagDone,
		Type: ReplyTypeOffsetHole, Length: 12}) {
		t.Fatalf("chunk: %+v, %v", h, err)
	}
	if off, n, err := DecodeOffsetHole(c[StructuredReplySize:]); off != 4096 || n != 512 || err != nil {
		t.Fatalf("hole: %d %d %v", off, n, err)
	}
	var e script
	e.u32(ENOSPC).u16(4).WriteString("full")
	e.u64(1 << 20)
	if got, err := DecodeError(ReplyTypeErrorOffset, e.Bytes()); err != nil || got.Code != ENOSPC || got.Message != "full" ||
		got.Offset != 1<<20 || !errors.Is(got, syscall.ENOSPC) || got.Error() != "server error NBD_ENOSPC at 1048576: full" {
		t.Fatalf("ERROR_OFFSET: %+v, %v", got, err)
	}
	if got, err := DecodeError(ReplyTypeError, e.Bytes()[:10]); err != nil || got.Offset != -1 || got.Message != "full" {
		t.Fatalf("ERROR: %+v, %v", got, err)
	}
	if got, err := DecodeError(1<<15+99, e.Bytes()); err != nil || got.Message != "full" || got.Code != ENOSPC {
		t.Fatalf("an unknown error chunk: %+v, %v", got, err)
	}
	var bs script
	bs.u32(7).u32(4096).u32(StateHole | StateZero).u32(512).u32(0)
	ctx, exts, err := DecodeBlockStatus(bs.Bytes(), nil)
	if err != nil || ctx != 7 || len(exts) != 2 || exts[0] != (Extent{4096, StateHole | StateZero}) || exts[1] != (Extent{512, 0}) {
		t.Fatalf("block status: %d %v %v", ctx, exts, err)
	}
	for name, err := range map[string]error{
		"hole of 11 bytes":        third(DecodeOffsetHole(make([]byte, 11))),
		"hole of size 0":          third(DecodeOffsetHole(make([]byte, 12))),
		"error of 5 bytes":        second(DecodeError(ReplyTypeError, make([]byte, 5))),
		"message past the chunk":  second(DecodeError(ReplyTypeErrorOffset, e.Bytes()[:12])),
		"block status of 8 bytes": third(DecodeBlockStatus(make([]byte, 8), nil)),
		"block status of 13":      third(DecodeBlockStatus(make([]byte, 13), nil)),
		"extent of length 0":      third(DecodeBlockStatus(make([]byte, 12), nil)),
		"bad magic":               ReadReply(strings.NewReader(strings.Repeat("x", 20)), &b, true, &h),
	} {
		if !errors.Is(err, ErrProtocol) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func second[A, B any](_ A, b B) B        { return b }
func third[A, B, C any](_ A, _ B, c C) C { return c }
