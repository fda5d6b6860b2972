package nbd

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
)

// script is what a server sends, built message by message.
type script struct{ bytes.Buffer }

func (s *script) u16(v uint16) *script { binary.Write(s, binary.BigEndian, v); return s }
func (s *script) u32(v uint32) *script { binary.Write(s, binary.BigEndian, v); return s }
func (s *script) u64(v uint64) *script { binary.Write(s, binary.BigEndian, v); return s }

// greeting is newstyle's: NBDMAGIC, IHAVEOPT and the handshake flags.
func (s *script) greeting(flags uint16) *script { return s.u64(NBDMAGIC).u64(IHAVEOPT).u16(flags) }

// reply is an option reply.
func (s *script) reply(opt, typ uint32, data []byte) *script {
	s.u64(OptReplyMagic).u32(opt).u32(typ).u32(uint32(len(data)))
	s.Write(data)
	return s
}

// info is an NBD_REP_INFO to NBD_OPT_GO.
func (s *script) info(typ uint16, fields ...any) *script {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, typ)
	for _, f := range fields {
		binary.Write(&b, binary.BigEndian, f)
	}
	return s.reply(OptGo, RepInfo, b.Bytes())
}

// fullServer is a fixed newstyle server agreeing to everything: structured
// replies, base:allocation as context 7 (after another context), and the
// export by NBD_OPT_GO, 1 GiB, with block sizes 512/4096/1 MiB.
func fullServer() []byte {
	var s script
	s.greeting(FlagFixedNewstyle|FlagNoZeroes).reply(OptStructuredReply, RepAck, nil)
	s.reply(OptSetMetaContext, RepMetaContext, append([]byte{0, 0, 0, 3}, "qemu:dirty-bitmap:x"...))
	s.reply(OptSetMetaContext, RepMetaContext, append([]byte{0, 0, 0, 7}, ContextBaseAllocation...))
	s.reply(OptSetMetaContext, RepAck, nil)
	s.info(InfoName, []byte("disk")).info(InfoExport, uint64(1<<30), FlagHasFlags|FlagSendFlush|FlagSendWriteZeroes)
	s.info(InfoBlockSize, uint32(512), uint32(4096), uint32(1<<20)).reply(OptGo, RepAck, nil)
	return s.Bytes()
}

// rw is a connection whose reads are the server's script and whose
// writes are recorded.
type rw struct {
	io.Reader
	sent bytes.Buffer
}

func (c *rw) Write(b []byte) (int, error) { return c.sent.Write(b) }

// TestHandshake: each negotiation a server may hold gives the export it
// describes, with the options sent in the specification's order; a
// refusal, a hang-up and what the specification does not allow are
// errors that say so.
func TestHandshake(t *testing.T) {
	c := &rw{Reader: bytes.NewReader(fullServer())}
	ex, err := Handshake(c, "disk")
	if err != nil {
		t.Fatal(err)
	}
	want := Export{Size: 1 << 30, Flags: FlagHasFlags | FlagSendFlush | FlagSendWriteZeroes, MinBlock: 512, PrefBlock: 4096,
		MaxPayload: 1 << 20, Structured: true, AllocContext: 7, HasAlloc: true, Negotiation: "NBD_OPT_GO"}
	if *ex != want {
		t.Fatalf("%+v, want %+v", *ex, want)
	}
	// The client's side: its flags, then STRUCTURED_REPLY,
	// SET_META_CONTEXT "disk" ["base:allocation"], GO "disk" [EXPORT,
	// BLOCK_SIZE].
	var w script
	w.u32(FlagCFixedNewstyle | FlagCNoZeroes)
	w.u64(IHAVEOPT).u32(OptStructuredReply).u32(0)
	w.u64(IHAVEOPT).u32(OptSetMetaContext).u32(4 + 4 + 4 + 4 + 15).u32(4)
	w.WriteString("disk")
	w.u32(1).u32(15).WriteString(ContextBaseAllocation)
	w.u64(IHAVEOPT).u32(OptGo).u32(4 + 4 + 2 + 4).u32(4)
	w.WriteString("disk")
	w.u16(2).u16(InfoExport).u16(InfoBlockSize)
	if !bytes.Equal(c.sent.Bytes(), w.Bytes()) {
		t.Fatalf("the client sent\n%x\nwant\n%x", c.sent.Bytes(), w.Bytes())
	}

	// An older server: no structured replies, no NBD_OPT_GO: the export
	// by NBD_OPT_EXPORT_NAME, its 124 zeros read.
	var old script
	old.greeting(FlagFixedNewstyle).reply(OptStructuredReply, RepErrUnsup, nil).reply(OptGo, RepErrUnsup, []byte("unknown option"))
	old.u64(1 << 20).u16(FlagHasFlags | FlagReadOnly)
	old.Write(make([]byte, 124))
	old.WriteString("transmission")
	c = &rw{Reader: bytes.NewReader(old.Bytes())}
	if ex, err = Handshake(c, "x"); err != nil || ex.Negotiation != "NBD_OPT_EXPORT_NAME" || ex.Size != 1<<20 ||
		ex.Flags != FlagHasFlags|FlagReadOnly || ex.Structured {
		t.Fatalf("fallback: %+v, %v", ex, err)
	}
	if rest, _ := io.ReadAll(c.Reader); string(rest) != "transmission" {
		t.Fatalf("the handshake read into the transmission phase: %q left", rest)
	}

	var oldstyle script
	oldstyle.u64(NBDMAGIC).u64(OldstyleMagic).u64(4096).u32(uint32(FlagHasFlags | FlagSendTrim))
	oldstyle.Write(make([]byte, 124))
	if ex, err = Handshake(&rw{Reader: bytes.NewReader(oldstyle.Bytes())}, ""); err != nil || ex.Negotiation != "oldstyle" ||
		ex.Size != 4096 || ex.Flags != FlagHasFlags|FlagSendTrim {
		t.Fatalf("oldstyle: %+v, %v", ex, err)
	}

	for _, c := range []struct {
		name   string
		server func(s *script)
		want   string
		proto  bool
	}{
		{"unknown export", func(s *script) {
			s.greeting(FlagFixedNewstyle).reply(OptStructuredReply, RepAck, nil).reply(OptSetMetaContext, RepAck, nil)
			s.reply(OptGo, RepErrUnknown, []byte("export 'x' not present\x1b[2J"))
		}, "the server refused NBD_OPT_GO: NBD_REP_ERR_UNKNOWN (no such export): export 'x' not present?[2J", false},
		{"TLS required", func(s *script) {
			s.greeting(FlagFixedNewstyle).reply(OptStructuredReply, RepErrTLSReqd, nil).reply(OptGo, RepErrTLSReqd, nil)
		}, "requires TLS", false},
		{"export name refused", func(s *script) { s.greeting(0) }, `closed the connection on NBD_OPT_EXPORT_NAME "x": no such export?`, false},
		{"not NBD", func(s *script) { s.WriteString("SSH-2.0-OpenSSH_9.2p1\r\n") }, "not an NBD server", true},
		{"hang-up", func(s *script) { s.u64(NBDMAGIC) }, "greeting: unexpected EOF", false},
		{"GO without export", func(s *script) {
			s.greeting(FlagFixedNewstyle).reply(OptStructuredReply, RepAck, nil).reply(OptSetMetaContext, RepAck, nil)
			s.reply(OptGo, RepAck, nil)
		}, "without NBD_INFO_EXPORT", true},
		{"bad block size", func(s *script) {
			s.greeting(FlagFixedNewstyle).reply(OptStructuredReply, RepErrUnsup, nil)
			s.info(InfoBlockSize, uint32(3), uint32(4096), uint32(1<<20))
		}, "NBD_INFO_BLOCK_SIZE minimum 3", true},
		{"reply to another option", func(s *script) {
			s.greeting(FlagFixedNewstyle).reply(OptGo, RepAck, nil)
		}, "reply to option 7 when NBD_OPT_STRUCTURED_REPLY was sent", true},
		{"huge reply", func(s *script) {
			s.greeting(FlagFixedNewstyle).u64(OptReplyMagic).u32(OptStructuredReply).u32(RepAck).u32(1 << 30)
		}, "option reply of 1073741824 bytes", true},
		{"endless contexts", func(s *script) {
			s.greeting(FlagFixedNewstyle).reply(OptStructuredReply, RepAck, nil)
			for range 300 {
				s.reply(OptSetMetaContext, RepMetaContext, []byte{0, 0, 0, 1, 'a', ':'})
			}
		}, "more than 256 replies to NBD_OPT_SET_META_CONTEXT", true},
	} {
		var s script
		c.server(&s)
		_, err := Handshake(&rw{Reader: bytes.NewReader(s.Bytes())}, "x")
		if err == nil || !strings.Contains(err.Error(), c.want) || errors.Is(err, ErrProtocol) != c.proto {
			t.Errorf("%s: %v, want %q (protocol error: %v)", c.name, err, c.want, c.proto)
		}
	}
}

// TestParseURI: the examples of doc/uri.md, the default port, IPv6,
// abstract sockets, and the refusals.
func TestParseURI(t *testing.T) {
	for _, c := range []struct{ uri, network, addr, export, err string }{
		{"nbd://example.com:10810/disk", "tcp", "example.com:10810", "disk", ""},
		{"nbd://example.com/disk", "tcp", "example.com:10809", "disk", ""},
		{"nbd://example.com/", "tcp", "example.com:10809", "", ""},
		{"nbd://example.com", "tcp", "example.com:10809", "", ""},
		{"nbd://example.com//disk", "tcp", "example.com:10809", "/disk", ""},
		{"nbd://example.com/hello%20world", "tcp", "example.com:10809", "hello world", ""},
		{"nbd://[::1]:7000/x", "tcp", "[::1]:7000", "x", ""},
		{"NBD://h/x", "tcp", "h:10809", "x", ""},
		{"nbd+unix:///disk?socket=/run/nbd.sock", "unix", "/run/nbd.sock", "disk", ""},
		{"nbd+unix:///?socket=%00/abstract", "unix", "@/abstract", "", ""},
		{"nbd+unix:///disk", "", "", "", "no socket= parameter"},
		{"nbd+unix://host/disk?socket=s", "", "", "", "a host in a Unix socket URI"},
		{"nbd:///disk", "", "", "", "no host"},
		{"nbds://example.com/disk", "", "", "", "TLS (nbds://) is not supported"},
		{"nbds+unix:///disk?socket=s", "", "", "", "TLS (nbds+unix://) is not supported"},
		{"nbd+vsock://1/disk", "", "", "", `unknown NBD transport "nbd+vsock"`},
	} {
		if !IsURI(c.uri) {
			t.Errorf("IsURI(%q) = false", c.uri)
		}
		u, err := ParseURI(c.uri)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: %v, want %q", c.uri, err, c.err)
		case c.err == "" && (err != nil || *u != URI{c.network, c.addr, c.export}):
			t.Errorf("%s: %+v, %v", c.uri, u, err)
		}
	}
	for _, s := range []string{"disk.img", "/tmp/nbd://x", "nbdx://h", "./nbd://h", ""} {
		if IsURI(s) {
			t.Errorf("IsURI(%q) = true", s)
		}
	}
}
