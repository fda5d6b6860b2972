package jbd2

import (
	"encoding/binary"

	"github.com/lklimg/lklimg/kernel/abi"
)

// Commit blocks (journal.rst, "Commit Block"; struct commit_header in
// include/linux/jbd2.h). After the journal_header_t:
//
//	0x0C h_chksum_type  u8   1 (crc32) under checksum v1, else 0
//	0x0D h_chksum_size  u8   4 under checksum v1, else 0
//	0x0E h_padding[2]
//	0x10 h_chksum[8]    be32 [0]: v1 crc32_be of the transaction, or v2/v3
//	                         crc32c of this block with the field zeroed
//	0x30 h_commit_sec   be64
//	0x38 h_commit_nsec  be32
const (
	CommitChksumOff = 0x10
	CommitSecOff    = 0x30
	CommitNsecOff   = 0x38
	CommitSize      = 0x3C
)

// CommitHeader is struct commit_header.
type CommitHeader struct {
	Header
	ChksumType uint8  // h_chksum_type
	ChksumSize uint8  // h_chksum_size
	Chksum     uint32 // h_chksum[0]
	CommitSec  uint64 // h_commit_sec
	CommitNsec uint32 // h_commit_nsec
}

// DecodeCommit decodes a commit block's header. It checks the magic and
// type, not the checksum (see commitCsumOK).
func DecodeCommit(b []byte) (CommitHeader, error) {
	if len(b) < CommitSize {
		return CommitHeader{}, abi.Errorf(abi.EUCLEAN, "jbd2: commit block: %d bytes, want %d", len(b), CommitSize)
	}
	h, _ := DecodeHeader(b)
	if h.Magic != MagicNumber || h.BlockType != CommitBlock {
		return CommitHeader{}, abi.Errorf(abi.EUCLEAN, "jbd2: not a commit block (magic %#08x type %d)", h.Magic, h.BlockType)
	}
	be := binary.BigEndian
	return CommitHeader{
		Header:     h,
		ChksumType: b[0x0C],
		ChksumSize: b[0x0D],
		Chksum:     be.Uint32(b[CommitChksumOff:]),
		CommitSec:  be.Uint64(b[CommitSecOff:]),
		CommitNsec: be.Uint32(b[CommitNsecOff:]),
	}, nil
}

// PutHeader writes journal_header_t at the start of b.
func PutHeader(b []byte, typ, seq uint32) {
	binary.BigEndian.PutUint32(b[0:], MagicNumber)
	binary.BigEndian.PutUint32(b[4:], typ)
	binary.BigEndian.PutUint32(b[8:], seq)
}
