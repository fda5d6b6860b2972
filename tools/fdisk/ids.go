package fdisk

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"strconv"
	"unicode/utf16"

	"github.com/lklimg/lklimg/format/gpt"
)

// IDs gives the identifiers a script leaves out: the GPT disk GUID and
// partition GUIDs, the DOS disk identifier.
//
// Without a seed they are random, as sfdisk makes them: 16 random bytes
// with the version 4 and variant bits set (libuuid's uuid_generate),
// stored as they come, as libfdisk stores them, so that the text form
// shows the bits swapped with the first fields ("...-XXXX-4XXX" becomes
// "...-4XXX-XXXX" byte-swapped); the disk identifier is 32 random bits.
//
// With a seed each is derived, so that identical inputs give identical
// bytes: the first bytes of SHA-256(seed ‖ 0x00 ‖ purpose), where purpose
// is "gpt disk", "gpt partition N" (N the partition's number, decimal) or
// "dos disk identifier". A GUID takes 16 bytes, gets the version 4 and
// variant bits in RFC 4122's byte order, and is stored in the GPT's mixed
// order (its text is the hash's bytes, with the version digit 4); the
// disk identifier is the first 4 bytes, little-endian.
type IDs struct {
	seed []byte // nil: random
}

// RandomIDs returns IDs that are random, as sfdisk's.
func RandomIDs() *IDs { return &IDs{} }

// SeededIDs returns IDs derived from seed (a --seed GUID's 16 bytes, or
// SOURCE_DATE_EPOCH's text; see IDs).
func SeededIDs(seed []byte) *IDs { return &IDs{seed: append([]byte{}, seed...)} }

func (ids *IDs) bytes(purpose string) [32]byte {
	if ids.seed == nil {
		var b [32]byte
		_, _ = rand.Read(b[:])
		return b
	}
	return sha256.Sum256(append(append(append([]byte{}, ids.seed...), 0), purpose...))
}

func (ids *IDs) guid(purpose string) gpt.GUID {
	h := ids.bytes(purpose)
	b := [16]byte(h[:16])
	if ids.seed == nil {
		// libuuid's bits on the raw bytes, as sfdisk stores them.
		b[6], b[8] = b[6]&0x0F|0x40, b[8]&0x3F|0x80
		return gpt.GUID(b)
	}
	b[6], b[8] = b[6]&0x0F|0x40, b[8]&0x3F|0x80
	return gpt.FromBigEndian(b)
}

func (ids *IDs) diskGUID() gpt.GUID { return ids.guid("gpt disk") }

func (ids *IDs) partitionGUID(n int) gpt.GUID {
	return ids.guid("gpt partition " + strconv.Itoa(n))
}

func (ids *IDs) diskID() uint32 {
	h := ids.bytes("dos disk identifier")
	return binary.LittleEndian.Uint32(h[:4])
}

func utf16Decode(u []uint16) []rune { return utf16.Decode(u) }
