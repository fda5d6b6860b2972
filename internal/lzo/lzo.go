// Package lzo is LZO1X, the compression squashfs (-comp lzo) and btrfs
// (compress=lzo) use: no well-kept Go library has it.
package lzo

import (
	"errors"
	"fmt"
)

// LZO1X decompression, written from the format's description in Linux's
// Documentation/staging/lzo.rst (what lzo1x_decompress_safe reads). A
// stream is a sequence of instructions, each a first byte that says what
// it is, maybe length bytes and distance bytes, then 0 to 3 literals
// (the "state" the next instruction is read with):
//
//   - first byte of the stream 18..255: a run of byte-17 literals;
//     a first byte 17 followed by at least 4 more bytes names the
//     bitstream version in the next byte (version 1 adds runs of zeros);
//   - 0..15 after no literals (state 0): a run of 3+L literals (state 4);
//   - 0..15 after 1..3 literals: 2 bytes from up to 1 KiB back;
//     after 4 or more (state 4): 3 bytes from 2 to 3 KiB back;
//   - 16..31: a match from 16 to 48 KiB back (distance 16384 is the
//     end of the stream; version 1's 0xbfff a run of zeros);
//   - 32..63: a match up to 16 KiB back;
//   - 64..255: 3 to 8 bytes from up to 2 KiB back.
//
// A zero length field is followed by zero bytes, each adding 255, and a
// last non-zero byte added too.

// errLZO is the error of a stream that does not decode.
var (
	errLZOInput  = errors.New("lzo: input overrun")
	errLZOOutput = errors.New("lzo: output overrun")
	errLZOBack   = errors.New("lzo: match before the start of the output")
)

// Decompress decompresses the LZO1X stream src into dst and returns
// the bytes written. It fails (never panics) on a stream that reads past
// src, writes past dst, refers to bytes before the output's start, or
// does not end exactly with the end marker.
func Decompress(dst, src []byte) (int, error) {
	ip, op := 0, 0
	version := byte(0)
	if len(src) >= 5 && src[0] == 17 {
		version = src[1]
		ip = 2
		if version > 1 {
			return 0, fmt.Errorf("lzo: bitstream version %d", version)
		}
	}
	literals := func(n int) error {
		if n > len(src)-ip {
			return errLZOInput
		}
		if n > len(dst)-op {
			return errLZOOutput
		}
		copy(dst[op:], src[ip:ip+n])
		ip += n
		op += n
		return nil
	}
	// length reads the bytes of a length field that was zero: each zero
	// byte adds 255, the last byte is added as it is.
	length := func(base int) (int, error) {
		n := base
		for {
			if ip >= len(src) {
				return 0, errLZOInput
			}
			b := src[ip]
			ip++
			if b != 0 {
				return n + int(b), nil
			}
			n += 255
			if n > len(dst) {
				return 0, errLZOOutput
			}
		}
	}
	state := 0
	if ip < len(src) && src[ip] > 17 {
		t := int(src[ip]) - 17
		ip++
		if err := literals(t); err != nil {
			return op, err
		}
		state = min(t, 4)
	}
	for {
		if ip >= len(src) {
			return op, errLZOInput
		}
		t := int(src[ip])
		ip++
		var n, dist, next int
		switch {
		case t < 16 && state == 0:
			// A run of literals.
			n = t
			if n == 0 {
				var err error
				if n, err = length(15); err != nil {
					return op, err
				}
			}
			if err := literals(n + 3); err != nil {
				return op, err
			}
			state = 4
			continue
		case t < 16:
			if ip >= len(src) {
				return op, errLZOInput
			}
			h := int(src[ip])
			ip++
			n, dist, next = 2, h<<2+t>>2+1, t&3
			if state == 4 {
				n, dist = 3, dist+2048
			}
		case t < 64:
			// 16..31 and 32..63: a length of 3 or 5 bits (zero: more
			// bytes), then the distance and state in a LE16.
			mask := 31
			if t < 32 {
				mask = 7
			}
			n = t & mask
			if n == 0 {
				var err error
				if n, err = length(mask); err != nil {
					return op, err
				}
			}
			n += 2
			if ip+2 > len(src) {
				return op, errLZOInput
			}
			v := int(src[ip]) | int(src[ip+1])<<8
			ip += 2
			if t >= 32 {
				dist, next = v>>2+1, v&3
				break
			}
			dist, next = 16384+(t&8)<<11+v>>2, v&3
			if dist == 16384 {
				// The end of the stream: a length of 3 and nothing
				// after it.
				if n != 3 || ip != len(src) {
					return op, fmt.Errorf("lzo: %d bytes after the end of the stream", len(src)-ip)
				}
				return op, nil
			}
			if version == 1 && dist == 0xbfff {
				// A run of zeros (version 1).
				if ip >= len(src) {
					return op, errLZOInput
				}
				run := (int(src[ip])<<3 | t&7) + 4
				ip++
				if run > len(dst)-op {
					return op, errLZOOutput
				}
				clear(dst[op : op+run])
				op += run
				if err := literals(next); err != nil {
					return op, err
				}
				state = next
				continue
			}
		default:
			if ip >= len(src) {
				return op, errLZOInput
			}
			h := int(src[ip])
			ip++
			dist, next = h<<3+(t>>2)&7+1, t&3
			if t < 128 {
				n = 3 + (t>>5)&1
			} else {
				n = 5 + (t>>5)&3
			}
		}
		if dist > op {
			return op, errLZOBack
		}
		if n > len(dst)-op {
			return op, errLZOOutput
		}
		// Byte by byte: a match may overlap what it writes.
		from := op - dist
		for i := range n {
			dst[op+i] = dst[from+i]
		}
		op += n
		if err := literals(next); err != nil {
			return op, err
		}
		state = next
	}
}
