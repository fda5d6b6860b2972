package xfs

import (
	"encoding/binary"
	"hash/crc32"
)

// Checksum returns the CRC32c of b with the 4 bytes at off read as zeros
// (xfs_start_cksum_safe then xfs_end_cksum): what a v5 structure stores
// at off, little-endian. off+4 must be within b.
func Checksum(b []byte, off int) uint32 {
	var zero [4]byte
	c := crc32.Update(0, castagnoli, b[:off])
	c = crc32.Update(c, castagnoli, zero[:])
	return crc32.Update(c, castagnoli, b[off+4:])
}

// VerifyChecksum reports whether the checksum stored at off matches b
// (xfs_verify_cksum). It is false when b is too short to hold it.
func VerifyChecksum(b []byte, off int) bool {
	if off < 0 || off+4 > len(b) {
		return false
	}
	return binary.LittleEndian.Uint32(b[off:]) == Checksum(b, off)
}
