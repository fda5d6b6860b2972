package jbd2

import (
	"encoding/binary"

	"github.com/lklimg/lklimg/kernel/abi"
)

const (
	RevokeCountOff   = 12 // r_count
	RevokeHeaderSize = 16 // sizeof(jbd2_journal_revoke_header_t)
)

// RevokeRecordSize is the bytes of one revoke record: a block number of 8
// bytes with the 64bit feature, 4 without.
func RevokeRecordSize(is64 bool) int {
	if is64 {
		return 8
	}
	return 4
}

// DecodeRevokeRecords appends to dst the block numbers a revoke block revokes. An
// r_count larger than the block (less its tail) is corrupt: the kernel fails
// recovery with EINVAL there, so this returns an EINVAL error. The record
// count is bounded by the block size.
func DecodeRevokeRecords(dst []uint64, b []byte, is64 bool, tail int) ([]uint64, error) {
	if len(b) < RevokeHeaderSize {
		return dst, abi.Errorf(abi.EUCLEAN, "jbd2: revoke block: %d bytes", len(b))
	}
	rcount := binary.BigEndian.Uint32(b[RevokeCountOff:])
	if uint64(rcount) > uint64(len(b)-tail) {
		return dst, abi.Errorf(abi.EINVAL, "jbd2: revoke block: r_count %d larger than the block", rcount)
	}
	rl := RevokeRecordSize(is64)
	for off := RevokeHeaderSize; off+rl <= int(rcount); off += rl {
		if is64 {
			dst = append(dst, binary.BigEndian.Uint64(b[off:]))
		} else {
			dst = append(dst, uint64(binary.BigEndian.Uint32(b[off:])))
		}
	}
	return dst, nil
}

// DecodeRevoke decodes a revoke block of a journal with the superblock's
// features: its header and the revoked block numbers. It checks the
// header's magic and type, not the checksum (see blockTailOK).
func DecodeRevoke(sb *Superblock, b []byte) (Header, []uint64, error) {
	h, err := DecodeHeader(b)
	if err != nil {
		return h, nil, err
	}
	if h.Magic != MagicNumber || h.BlockType != RevokeBlock {
		return h, nil, abi.Errorf(abi.EUCLEAN, "jbd2: not a revoke block (magic %#08x type %d)", h.Magic, h.BlockType)
	}
	tf := NewTagFormat(sb)
	recs, err := DecodeRevokeRecords(nil, b, tf.Is64, tf.Tail)
	return h, recs, err
}
