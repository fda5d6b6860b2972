package nbd

import (
	"bytes"
	"io"
	"testing"
)

// FuzzHandshake: whatever a server sends, Handshake returns (an export
// or an error) without a panic, reading no more than it was sent.
func FuzzHandshake(f *testing.F) {
	f.Add(fullServer())
	var old script
	old.greeting(FlagFixedNewstyle).reply(OptStructuredReply, RepErrUnsup, nil).reply(OptGo, RepErrUnsup, nil)
	old.u64(1 << 20).u16(FlagHasFlags)
	old.Write(make([]byte, 124))
	f.Add(old.Bytes())
	var oldstyle script
	oldstyle.u64(NBDMAGIC).u64(OldstyleMagic).u64(4096).u32(1)
	oldstyle.Write(make([]byte, 124))
	f.Add(oldstyle.Bytes())
	f.Fuzz(func(t *testing.T, server []byte) {
		ex, err := Handshake(&rw{Reader: bytes.NewReader(server)}, "disk")
		if err == nil && ex.MinBlock != 0 && checkBlockSize(ex) != nil {
			t.Fatalf("block sizes accepted: %+v", ex)
		}
	})
}

// FuzzReplies: a stream of replies decoded as the backend decodes them
// (headers, then each chunk's payload by its type) ends in an error or
// the stream's end, without a panic.
func FuzzReplies(f *testing.F) {
	var s script
	s.u32(SimpleReplyMagic).u32(0).u64(1)
	s.Write(chunk(0, ReplyTypeOffsetData, 2, append([]byte{0, 0, 0, 0, 0, 0, 0, 0}, "data"...)))
	s.Write(chunk(0, ReplyTypeOffsetHole, 2, []byte{0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 4}))
	s.Write(chunk(0, ReplyTypeBlockStatus, 3, []byte{0, 0, 0, 1, 0, 0, 2, 0, 0, 0, 0, 3}))
	s.Write(chunk(0, ReplyTypeErrorOffset, 3, []byte{0, 0, 0, 5, 0, 1, 'x', 0, 0, 0, 0, 0, 0, 0, 9}))
	s.Write(chunk(ReplyFlagDone, ReplyTypeNone, 2, nil))
	f.Add(s.Bytes())
	f.Fuzz(func(t *testing.T, stream []byte) {
		r := bytes.NewReader(stream)
		var b [StructuredReplySize]byte
		var h Reply
		var exts []Extent
		for ReadReply(r, &b, true, &h) == nil {
			if !h.Structured {
				continue
			}
			p := make([]byte, min(h.Length, uint32(r.Len())))
			if _, err := io.ReadFull(r, p); err != nil {
				return
			}
			switch {
			case h.Type == ReplyTypeOffsetHole:
				DecodeOffsetHole(p)
			case h.Type == ReplyTypeBlockStatus:
				_, exts, _ = DecodeBlockStatus(p, exts[:0])
			case IsErrorType(h.Type):
				if e, err := DecodeError(h.Type, p); err == nil && (e.Code == 0 || len(e.Message) > len(p)*3) {
					t.Fatalf("%+v from %d bytes", e, len(p))
				}
			}
		}
	})
}
