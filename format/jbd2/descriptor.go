package jbd2

import (
	"encoding/binary"

	"github.com/lklimg/lklimg/kernel/abi"
)

// Tag flags, t_flags (include/linux/jbd2.h JBD2_FLAG_*).
const (
	FlagEscape   = 1 // the data block began with MagicNumber, zeroed in the log
	FlagSameUUID = 2 // no 16-byte UUID follows this tag
	FlagDeleted  = 4 // block deleted by this transaction (unused by recovery)
	FlagLastTag  = 8 // last tag of this descriptor
)

const UuidSize = 16

// BlockTag is one tag of a descriptor block: journal_block_tag_t, or
// journal_block_tag3_t with checksum v3.
type BlockTag struct {
	Blocknr  uint64 // t_blocknr, | t_blocknr_high<<32 with the 64bit feature
	Flags    uint16 // t_flags (FlagEscape, ...)
	Checksum uint32 // t_checksum: 16 bits with checksum v2, 32 with v3
}

// TagFormat is what the journal's features say about its tags
// (journal_tag_bytes in include/linux/jbd2.h).
type TagFormat struct {
	Size   int  // bytes per tag, without the UUID
	Is64   bool // t_blocknr_high is meaningful
	CsumV2 bool // 16-bit t_checksum at offset 4
	CsumV3 bool // journal_block_tag3_t, 32-bit t_checksum at offset 12
	Tail   int  // bytes reserved at the block's end (block tail checksum)
}

func NewTagFormat(sb *Superblock) TagFormat {
	tf := TagFormat{
		Is64:   sb.Has(FeatureIncompat64bit),
		CsumV2: sb.Has(FeatureIncompatCsumV2),
		CsumV3: sb.Has(FeatureIncompatCsumV3),
	}
	switch {
	case tf.CsumV3:
		tf.Size = 16 // journal_block_tag3_t, whatever 64bit says
	default:
		tf.Size = 12 // journal_block_tag_t
		if tf.CsumV2 {
			tf.Size += 2
		}
		if !tf.Is64 {
			tf.Size -= 4
		}
	}
	if sb.CsumV2orV3() {
		tf.Tail = BlockTailSize
	}
	return tf
}

// DecodeTag reads one tag from the start of b, which holds at least
// tf.size bytes. t_flags is the big-endian 16-bit word at offset 6 in every
// format: in journal_block_tag3_t it is the low half of a 32-bit field.
func DecodeTag(b []byte, tf TagFormat) BlockTag {
	be := binary.BigEndian
	t := BlockTag{
		Blocknr: uint64(be.Uint32(b[0:])),
		Flags:   be.Uint16(b[6:]),
	}
	if tf.Is64 {
		t.Blocknr |= uint64(be.Uint32(b[8:])) << 32
	}
	switch {
	case tf.CsumV3:
		t.Checksum = be.Uint32(b[12:])
	case tf.CsumV2:
		t.Checksum = uint32(be.Uint16(b[4:]))
	}
	return t
}

// DecodeTags appends to dst the tags of the descriptor block b in log
// order, walking them as count_tags and do_one_pass do
// (fs/jbd2/recovery.c): a tag is read while it fits before the block tail;
// a tag without FlagSameUUID is followed by a 16-byte UUID; FlagLastTag
// ends the list. The count is bounded by the block size.
func DecodeTags(dst []BlockTag, b []byte, tf TagFormat) []BlockTag {
	limit := len(b) - tf.Tail
	for off := HeaderSize; off+tf.Size <= limit; {
		t := DecodeTag(b[off:], tf)
		dst = append(dst, t)
		off += tf.Size
		if t.Flags&FlagSameUUID == 0 {
			off += UuidSize
		}
		if t.Flags&FlagLastTag != 0 {
			break
		}
	}
	return dst
}

// DecodeDescriptor decodes a descriptor block of a journal with the
// superblock's features: its header and its tags. It checks the header's
// magic and type, not the checksum (see blockTailOK).
func DecodeDescriptor(sb *Superblock, b []byte) (Header, []BlockTag, error) {
	h, err := DecodeHeader(b)
	if err != nil {
		return h, nil, err
	}
	if h.Magic != MagicNumber || h.BlockType != DescriptorBlock {
		return h, nil, abi.Errorf(abi.EUCLEAN, "jbd2: not a descriptor block (magic %#08x type %d)", h.Magic, h.BlockType)
	}
	return h, DecodeTags(nil, b, NewTagFormat(sb)), nil
}

// EncodeTag writes t at the start of b, which holds at least tf.size bytes:
// the mirror of decodeTag.
func EncodeTag(b []byte, t BlockTag, tf TagFormat) {
	be := binary.BigEndian
	clear(b[:tf.Size])
	be.PutUint32(b[0:], uint32(t.Blocknr))
	be.PutUint16(b[6:], t.Flags)
	if tf.Is64 {
		be.PutUint32(b[8:], uint32(t.Blocknr>>32))
	}
	switch {
	case tf.CsumV3:
		be.PutUint32(b[12:], t.Checksum)
	case tf.CsumV2:
		be.PutUint16(b[4:], uint16(t.Checksum))
	}
}
