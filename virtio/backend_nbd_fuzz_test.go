package virtio

import (
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/lklimg/lklimg/format/nbd"
)

// fakeNBD is the server side of conn: a fixed newstyle handshake that
// agrees to structured replies, base:allocation (context 1) and an
// export of 1 MiB with every command; then it sends replies, whatever
// the requests, and closes the connection.
func fakeNBD(conn net.Conn, replies []byte) {
	defer conn.Close()
	be := binary.BigEndian
	var b []byte
	b = be.AppendUint64(b, nbd.NBDMAGIC)
	b = be.AppendUint64(b, nbd.IHAVEOPT)
	b = be.AppendUint16(b, nbd.FlagFixedNewstyle|nbd.FlagNoZeroes)
	if _, err := conn.Write(b); err != nil {
		return
	}
	reply := func(opt, typ uint32, data []byte) error {
		r := be.AppendUint64(nil, nbd.OptReplyMagic)
		r = be.AppendUint32(be.AppendUint32(be.AppendUint32(r, opt), typ), uint32(len(data)))
		_, err := conn.Write(append(r, data...))
		return err
	}
	var h [16]byte
	if _, err := io.ReadFull(conn, h[:4]); err != nil {
		return
	}
	for {
		if _, err := io.ReadFull(conn, h[:]); err != nil {
			return
		}
		opt := be.Uint32(h[8:])
		if _, err := io.CopyN(io.Discard, conn, int64(be.Uint32(h[12:]))); err != nil {
			return
		}
		switch opt {
		case nbd.OptSetMetaContext:
			reply(opt, nbd.RepMetaContext, append([]byte{0, 0, 0, 1}, nbd.ContextBaseAllocation...))
		case nbd.OptGo:
			info := be.AppendUint16(nil, nbd.InfoExport)
			info = be.AppendUint16(be.AppendUint64(info, 1<<20), nbd.FlagHasFlags|nbd.FlagSendFlush|nbd.FlagSendWriteZeroes)
			reply(opt, nbd.RepInfo, info)
		}
		if reply(opt, nbd.RepAck, nil) != nil {
			return
		}
		if opt == nbd.OptGo {
			break
		}
	}
	go io.Copy(io.Discard, conn) // the requests
	conn.Write(replies)
}

// chunkBytes is a structured reply chunk.
func chunkBytes(flags, typ uint16, cookie uint64, payload []byte) []byte {
	be := binary.BigEndian
	b := be.AppendUint32(nil, nbd.StructuredReplyMagic)
	b = be.AppendUint16(be.AppendUint16(b, flags), typ)
	b = be.AppendUint32(be.AppendUint64(b, cookie), uint32(len(payload)))
	return append(b, payload...)
}

// FuzzNBDReplies: whatever a server answers a read, a write and a block
// status query with, each returns (an error or not) and Close returns,
// without a panic, within a few seconds.
func FuzzNBDReplies(f *testing.F) {
	data := append(make([]byte, 8), make([]byte, 4096)...)
	f.Add(append(append(append(chunkBytes(nbd.ReplyFlagDone, nbd.ReplyTypeOffsetData, 1, data),
		chunkBytes(nbd.ReplyFlagDone, nbd.ReplyTypeNone, 2, nil)...),
		chunkBytes(nbd.ReplyFlagDone, nbd.ReplyTypeBlockStatus, 3, []byte{0, 0, 0, 1, 0, 0, 0x10, 0, 0, 0, 0, 3})...),
		[]byte{0x67, 0x44, 0x66, 0x98, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2}...))
	f.Add(append(chunkBytes(0, nbd.ReplyTypeOffsetHole, 1, []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0}),
		chunkBytes(nbd.ReplyFlagDone, nbd.ReplyTypeOffsetData, 1, append([]byte{0, 0, 0, 0, 0, 0, 0x08, 0}, make([]byte, 2048)...))...))
	f.Add(chunkBytes(nbd.ReplyFlagDone, nbd.ReplyTypeError, 1, []byte{0, 0, 0, 5, 0, 2, 'n', 'o'}))
	f.Fuzz(func(t *testing.T, replies []byte) {
		client, server := net.Pipe()
		go fakeNBD(server, replies)
		c, err := newNBD("fuzz", "", client, NBDOptions{Timeout: 2 * time.Second})
		if err != nil {
			t.Fatalf("handshake with the fake server: %v", err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			var wg sync.WaitGroup
			wg.Add(3)
			go func() { defer wg.Done(); c.ReadAt([][]byte{make([]byte, 4096)}, 0) }()
			go func() { defer wg.Done(); c.WriteAt([][]byte{make([]byte, 512)}, 512) }()
			go func() { defer wg.Done(); c.SeekHole(0) }()
			wg.Wait()
			c.Close()
		}()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatal("the client hangs")
		}
	})
}
