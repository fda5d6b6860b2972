package gpt

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/lklimg/lklimg/kernel/abi"
)

// GUID is a GUID as stored on disk (UEFI 2.10 Appendix A): the first
// three fields (TimeLow, TimeMid, TimeHighAndVersion) little-endian, the
// last eight bytes (clock sequence and node) in the order they are
// written.
type GUID [16]byte

// String formats the GUID as sfdisk and blkid print it, upper case:
// "0FC63DAF-8483-4772-8E79-3D69D8477DE4".
func (g GUID) String() string {
	return fmt.Sprintf("%08X-%04X-%04X-%X-%X",
		binary.LittleEndian.Uint32(g[0:4]), binary.LittleEndian.Uint16(g[4:6]),
		binary.LittleEndian.Uint16(g[6:8]), g[8:10], g[10:16])
}

// IsZero reports whether the GUID is all zeros (an unused entry's type).
func (g GUID) IsZero() bool { return g == GUID{} }

// ParseGUID parses the text form "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
// (either case, as libuuid's uuid_parse takes it) into the on-disk
// layout. Errors: EINVAL for anything else.
func ParseGUID(s string) (GUID, error) {
	var g GUID
	bad := abi.Errorf(abi.EINVAL, "%q is not a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)", s)
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return g, bad
	}
	// The text is big-endian throughout: bytes in reading order.
	b, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil || len(b) != 16 {
		return g, bad
	}
	return FromBigEndian([16]byte(b)), nil
}

// FromBigEndian turns the 16 bytes of a GUID in reading order (RFC 4122,
// as a UUID's text shows them, and as random or hashed bytes come) into
// the on-disk layout: the first three fields byte-swapped.
func FromBigEndian(b [16]byte) GUID {
	var g GUID
	binary.LittleEndian.PutUint32(g[0:4], binary.BigEndian.Uint32(b[0:4]))
	binary.LittleEndian.PutUint16(g[4:6], binary.BigEndian.Uint16(b[4:6]))
	binary.LittleEndian.PutUint16(g[6:8], binary.BigEndian.Uint16(b[6:8]))
	copy(g[8:], b[8:])
	return g
}
