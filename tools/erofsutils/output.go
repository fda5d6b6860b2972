package erofsutils

import (
	"errors"
	"hash"
	"io"
)

// output is the device written in order: data is appended at pos
// through a buffer flushed in large writes, and the position may move
// back over what was just written (a duplicate's data dropped).
type output struct {
	dev      io.WriterAt
	pos      int64 // where the next append goes
	buf      []byte
	bufStart int64 // the device offset of buf[0]
	err      error // sticky: the first write's error
	// digest, when set, hashes every byte appended (Params.DeriveUUID).
	digest hash.Hash
}

// outBufSize is the size of the writes the buffer makes.
const outBufSize = 1 << 20

func newOutput(dev io.WriterAt, start int64) *output {
	return &output{dev: dev, pos: start, bufStart: start, buf: make([]byte, 0, outBufSize)}
}

// write appends p at pos.
func (o *output) write(p []byte) {
	if o.digest != nil {
		o.digest.Write(p)
	}
	for len(p) > 0 {
		if len(o.buf) == cap(o.buf) {
			o.flush()
		}
		n := copy(o.buf[len(o.buf):cap(o.buf)], p)
		o.buf = o.buf[:len(o.buf)+n]
		o.pos += int64(n)
		p = p[n:]
	}
}

// zeros appends n zero bytes, cleared in the buffer itself (a zero
// array passed to write would escape to the heap through the digest: an
// allocation a pcluster).
func (o *output) zeros(n int) {
	for n > 0 {
		if len(o.buf) == cap(o.buf) {
			o.flush()
		}
		k := min(n, cap(o.buf)-len(o.buf))
		at := len(o.buf)
		o.buf = o.buf[:at+k]
		clear(o.buf[at:])
		if o.digest != nil {
			o.digest.Write(o.buf[at:])
		}
		o.pos += int64(k)
		n -= k
	}
}

// padBlock appends zeros up to the next block boundary.
func (o *output) padBlock() {
	if r := int(o.pos % blockSize); r != 0 {
		o.zeros(blockSize - r)
	}
}

// flush writes the buffer out.
func (o *output) flush() error {
	if len(o.buf) > 0 && o.err == nil {
		_, o.err = o.dev.WriteAt(o.buf, o.bufStart)
	}
	o.bufStart += int64(len(o.buf))
	o.buf = o.buf[:0]
	return o.err
}

// truncate moves pos back to off (at most pos): what lay after is
// written over by later appends, or lies past the image's end.
func (o *output) truncate(off int64) {
	if off >= o.bufStart {
		o.buf = o.buf[:off-o.bufStart]
	} else {
		o.buf = o.buf[:0]
		o.bufStart = off
	}
	o.pos = off
}

// block returns the block number of pos, which is block aligned.
func (o *output) block() uint32 { return uint32(o.pos / blockSize) }

// readBack reads what was written at off (before pos), from the buffer
// or the device.
func (o *output) readBack(p []byte, off int64) error {
	if off >= o.bufStart {
		copy(p, o.buf[off-o.bufStart:])
		return nil
	}
	if err := o.flush(); err != nil {
		return err
	}
	r, ok := o.dev.(io.ReaderAt)
	if !ok {
		return errors.New("erofs: the device cannot be read back")
	}
	_, err := r.ReadAt(p, off)
	return err
}
