package jbd2

import (
	"encoding/binary"

	"github.com/lklimg/lklimg/kernel/abi"
)

// Revoke blocks (journal.rst, "Revocation Block";
// jbd2_journal_revoke_header_t; fs/jbd2/recovery.c scan_revoke_records): a
// journal_header_t, r_count (big-endian u32, the bytes of the block in use,
// header included), then block numbers, 8 bytes each with the 64bit
// feature and 4 otherwise, big-endian; with checksum v2/v3, a block tail.

const (
	revokeCountOff   = 12 // r_count
	revokeHeaderSize = 16 // sizeof(jbd2_journal_revoke_header_t)
)

// revokeRecordSize is the bytes of one revoke record: a block number of 8
// bytes with the 64bit feature, 4 without.
func revokeRecordSize(is64 bool) int {
	if is64 {
		return 8
	}
	return 4
}

// decodeRevoke appends to dst the block numbers a revoke block revokes. An
// r_count larger than the block (less its tail) is corrupt: the kernel fails
// recovery with EINVAL there, so this returns an EINVAL error. The record
// count is bounded by the block size.
func decodeRevoke(dst []uint64, b []byte, is64 bool, tail int) ([]uint64, error) {
	if len(b) < revokeHeaderSize {
		return dst, abi.Errorf(abi.EUCLEAN, "jbd2: revoke block: %d bytes", len(b))
	}
	rcount := binary.BigEndian.Uint32(b[revokeCountOff:])
	if uint64(rcount) > uint64(len(b)-tail) {
		return dst, abi.Errorf(abi.EINVAL, "jbd2: revoke block: r_count %d larger than the block", rcount)
	}
	rl := revokeRecordSize(is64)
	for off := revokeHeaderSize; off+rl <= int(rcount); off += rl {
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
	h, err := decodeHeader(b)
	if err != nil {
		return h, nil, err
	}
	if h.Magic != MagicNumber || h.BlockType != RevokeBlock {
		return h, nil, abi.Errorf(abi.EUCLEAN, "jbd2: not a revoke block (magic %#08x type %d)", h.Magic, h.BlockType)
	}
	tf := newTagFormat(sb)
	recs, err := decodeRevoke(nil, b, tf.is64, tf.tail)
	return h, recs, err
}
