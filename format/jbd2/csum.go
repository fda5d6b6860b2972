package jbd2

import (
	"encoding/binary"
	"hash/crc32"
)

// Castagnoli is crc32c's table; it is never modified.
var Castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Crc32c continues the kernel's raw crc32c (no inversion on entry or exit,
// as jbd2_chksum and ext2fs_crc32c_le compute it) from crc over p. Go's
// crc32.Update inverts both ways, hence the complements.
func Crc32c(crc uint32, p []byte) uint32 {
	return ^crc32.Update(^crc, Castagnoli, p)
}

var Zero4 [4]byte

// Crc32cHole is crc32c of p with the 4 bytes at off read as zeros: the
// checksum of a block whose own checksum field is zeroed for the sum.
func Crc32cHole(crc uint32, p []byte, off int) uint32 {
	crc = Crc32c(crc, p[:off])
	crc = Crc32c(crc, Zero4[:])
	return Crc32c(crc, p[off+4:])
}

// CsumSeed is j_csum_seed: jbd2_chksum(~0, s_uuid).
func CsumSeed(uuid [16]byte) uint32 { return Crc32c(^uint32(0), uuid[:]) }

// BlockTailOK checks the jbd2_journal_block_tail of a descriptor or revoke
// block: the last 4 bytes hold the big-endian crc32c of the block, seeded
// with the journal's seed, with that field zeroed.
func BlockTailOK(seed uint32, b []byte) bool {
	off := len(b) - BlockTailSize
	return Crc32cHole(seed, b, off) == binary.BigEndian.Uint32(b[off:])
}

// CommitCsumOK checks a commit block's h_chksum[0] under checksum v2/v3: the
// seeded crc32c of the whole block with h_chksum[0] zeroed.
func CommitCsumOK(seed uint32, b []byte) bool {
	return Crc32cHole(seed, b, CommitChksumOff) == binary.BigEndian.Uint32(b[CommitChksumOff:])
}

// TagCsum is the checksum of a logged data block: the seeded crc32c of the
// transaction's sequence number (big-endian) followed by the block. Tags
// keep all 32 bits under checksum v3 and the low 16 under v2.
func TagCsum(seed, sequence uint32, data []byte) uint32 {
	var seq [4]byte
	binary.BigEndian.PutUint32(seq[:], sequence)
	return Crc32c(Crc32c(seed, seq[:]), data)
}

// SuperblockCsum is the checksum of the journal superblock (s_checksum):
// the raw crc32c from ~0 (not seeded with the UUID) of the 1024-byte
// journal_superblock_t with s_checksum zeroed.
func SuperblockCsum(b []byte) uint32 {
	return Crc32cHole(^uint32(0), b[:SuperblockSize], SbChecksumOff)
}

// Crc32beTable drives crc32_be, the kernel's big-endian (MSB-first) CRC-32
// with polynomial 0x04C11DB7 (lib/crc32.c), used by checksum v1. It is
// computed once and never modified.
var Crc32beTable = func() (t [256]uint32) {
	for i := range t {
		c := uint32(i) << 24
		for k := 0; k < 8; k++ {
			if c&0x80000000 != 0 {
				c = c<<1 ^ 0x04C11DB7
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()

// Crc32BE continues crc32_be from crc over p, without inversion: checksum
// v1 (JBD2_FEATURE_COMPAT_CHECKSUM) starts it at ~0 for each transaction
// and runs it over every descriptor and data block in log order.
func Crc32BE(crc uint32, p []byte) uint32 {
	for _, b := range p {
		crc = crc<<8 ^ Crc32beTable[byte(crc>>24)^b]
	}
	return crc
}
