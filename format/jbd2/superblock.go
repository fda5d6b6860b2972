package jbd2

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/lklimg/lklimg/kernel/abi"
)

// MagicNumber is h_magic, the first four bytes (big-endian) of every journal
// metadata block. A logged data block that starts with it is escaped.
const MagicNumber = 0xC03B3998

// Block types, h_blocktype (Documentation/filesystems/ext4/journal.rst,
// "Block Header").
const (
	DescriptorBlock = 1
	CommitBlock     = 2
	SuperblockV1    = 3
	SuperblockV2    = 4
	RevokeBlock     = 5
	FastCommitBlock = 6
)

// Feature flags (journal.rst, "Super Block"; include/linux/jbd2.h).
const (
	FeatureCompatChecksum = 0x1 // checksum v1: crc32_be per transaction

	FeatureIncompatRevoke      = 0x1
	FeatureIncompat64bit       = 0x2
	FeatureIncompatAsyncCommit = 0x4
	FeatureIncompatCsumV2      = 0x8
	FeatureIncompatCsumV3      = 0x10
	FeatureIncompatFastCommit  = 0x20

	KnownIncompat = FeatureIncompatRevoke | FeatureIncompat64bit |
		FeatureIncompatAsyncCommit | FeatureIncompatCsumV2 |
		FeatureIncompatCsumV3 | FeatureIncompatFastCommit
	KnownROCompat = 0
)

// Checksum types (h_chksum_type, s_checksum_type).
const (
	Crc32ChksumType  = 1 // JBD2_CRC32_CHKSUM, checksum v1
	Crc32cChksumType = 4 // JBD2_CRC32C_CHKSUM, checksum v2/v3
	Crc32ChksumSize  = 4 // JBD2_CRC32_CHKSUM_SIZE
)

const (
	HeaderSize     = 12   // journal_header_t
	SuperblockSize = 1024 // journal_superblock_t
	SbChecksumOff  = 0xFC // s_checksum
	BlockTailSize  = 4    // struct jbd2_journal_block_tail
	MinFCBlocks    = 1024 // JBD2_MIN_JOURNAL_BLOCKS, checked with fast commits
	DefaultFCBlks  = 256  // JBD2_DEFAULT_FAST_COMMIT_BLOCKS
)

// Header is journal_header_t, the 12 bytes that start every journal
// metadata block.
type Header struct {
	Magic     uint32 // h_magic, MagicNumber
	BlockType uint32 // h_blocktype
	Sequence  uint32 // h_sequence, the transaction id
}

// DecodeHeader reads journal_header_t from the start of b.
func DecodeHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, abi.Errorf(abi.EUCLEAN, "jbd2: journal block header: %d bytes, want %d", len(b), HeaderSize)
	}
	return Header{
		Magic:     binary.BigEndian.Uint32(b[0:]),
		BlockType: binary.BigEndian.Uint32(b[4:]),
		Sequence:  binary.BigEndian.Uint32(b[8:]),
	}, nil
}

// Superblock is journal_superblock_t (journal.rst, "Super Block"), the
// first block of the journal, decoded. A v1 superblock has no feature
// words: decodeSuperblock leaves them zero, as e2fsck clears them.
type Superblock struct {
	BlockType uint32 // SuperblockV1 or SuperblockV2

	Blocksize uint32 // s_blocksize: must equal the filesystem's block size
	Maxlen    uint32 // s_maxlen: journal length in blocks
	First     uint32 // s_first: first block of the log area
	Sequence  uint32 // s_sequence: first transaction id expected in the log
	Start     uint32 // s_start: block of the log's head; 0 if clean
	Errno     int32  // s_errno: set when the journal was aborted

	FeatureCompat   uint32 // s_feature_compat
	FeatureIncompat uint32 // s_feature_incompat
	FeatureROCompat uint32 // s_feature_ro_compat

	UUID           [16]byte // s_uuid; seeds checksums v2/v3
	NrUsers        uint32   // s_nr_users
	Dynsuper       uint32   // s_dynsuper (unused)
	MaxTransaction uint32   // s_max_transaction
	MaxTransData   uint32   // s_max_trans_data
	ChecksumType   uint8    // s_checksum_type: 4 (crc32c) with v2/v3
	NumFCBlks      uint32   // s_num_fc_blks: fast commit blocks; 0 means 256
	Checksum       uint32   // s_checksum
}

// DecodeSuperblock decodes and checks a journal superblock from the first
// 1024 bytes of b, with the checks of e2fsck_journal_load (e2fsck/journal.c)
// and the kernel's journal_load that do not depend on the journal's size:
// magic, type, known features, one checksum version at most, checksum type
// and checksum. Its errnos are those of the kernel's journal_get_superblock
// (fs/jbd2/journal.c): EINVAL for a block that is no journal superblock
// (magic, block type), for feature flags that contradict each other and
// for what this code does not support (unknown features); EBADMSG
// (EFSBADCRC) for a bad checksum; EUCLEAN for a short block.
func DecodeSuperblock(b []byte) (*Superblock, error) {
	if len(b) < SuperblockSize {
		return nil, abi.Errorf(abi.EUCLEAN, "jbd2: journal superblock: %d bytes, want %d", len(b), SuperblockSize)
	}
	h, _ := DecodeHeader(b)
	if h.Magic != MagicNumber {
		// "JBD2: no valid journal superblock found"
		return nil, abi.Errorf(abi.EINVAL, "jbd2: journal superblock: bad magic %#08x", h.Magic)
	}
	be := binary.BigEndian
	sb := &Superblock{
		BlockType: h.BlockType,
		Blocksize: be.Uint32(b[0x0C:]),
		Maxlen:    be.Uint32(b[0x10:]),
		First:     be.Uint32(b[0x14:]),
		Sequence:  be.Uint32(b[0x18:]),
		Start:     be.Uint32(b[0x1C:]),
		Errno:     int32(be.Uint32(b[0x20:])),
	}
	switch h.BlockType {
	case SuperblockV1:
		return sb, nil // no features, no checksum
	case SuperblockV2:
	case DescriptorBlock, CommitBlock, RevokeBlock:
		return nil, abi.Errorf(abi.EINVAL, "jbd2: journal superblock: block type %d is not a superblock", h.BlockType)
	default:
		return nil, abi.Errorf(abi.EINVAL, "jbd2: journal superblock: unsupported version (block type %d)", h.BlockType)
	}
	sb.FeatureCompat = be.Uint32(b[0x24:])
	sb.FeatureIncompat = be.Uint32(b[0x28:])
	sb.FeatureROCompat = be.Uint32(b[0x2C:])
	copy(sb.UUID[:], b[0x30:0x40])
	sb.NrUsers = be.Uint32(b[0x40:])
	sb.Dynsuper = be.Uint32(b[0x44:])
	sb.MaxTransaction = be.Uint32(b[0x48:])
	sb.MaxTransData = be.Uint32(b[0x4C:])
	sb.ChecksumType = b[0x50]
	sb.NumFCBlks = be.Uint32(b[0x54:])
	sb.Checksum = be.Uint32(b[SbChecksumOff:])

	// s_nr_users counts the filesystems of an external journal (ext4
	// refuses one shared by several, ext4_get_dev_journal); the kernel
	// reads an internal journal whatever it says (e2fsck calls more than
	// one corruption).
	if f := sb.FeatureIncompat &^ KnownIncompat; f != 0 {
		return nil, abi.Errorf(abi.EINVAL, "jbd2: journal superblock: unknown incompat features %#x", f)
	}
	if f := sb.FeatureROCompat &^ KnownROCompat; f != 0 {
		return nil, abi.Errorf(abi.EINVAL, "jbd2: journal superblock: unknown ro_compat features %#x", f)
	}
	if sb.Has(FeatureIncompatCsumV2) && sb.Has(FeatureIncompatCsumV3) {
		return nil, abi.Errorf(abi.EINVAL, "jbd2: journal superblock: checksum v2 and v3 both set")
	}
	if sb.CsumV2orV3() {
		if sb.FeatureCompat&FeatureCompatChecksum != 0 {
			return nil, abi.Errorf(abi.EINVAL, "jbd2: journal superblock: checksum v1 and v2/v3 both set")
		}
		if sb.ChecksumType != Crc32cChksumType {
			return nil, abi.Errorf(abi.EINVAL, "jbd2: journal superblock: checksum type %d, want %d (crc32c)", sb.ChecksumType, Crc32cChksumType)
		}
		if c := SuperblockCsum(b); c != sb.Checksum {
			return nil, abi.Errorf(abi.EFSBADCRC, "jbd2: journal superblock: bad checksum %#08x, computed %#08x", sb.Checksum, c)
		}
	}
	return sb, nil
}

// Has reports whether an incompat feature is set.
func (sb *Superblock) Has(incompat uint32) bool { return sb.FeatureIncompat&incompat != 0 }

// CsumV2orV3 reports whether metadata blocks carry crc32c checksums
// (jbd2_journal_has_csum_v2or3).
func (sb *Superblock) CsumV2orV3() bool {
	return sb.Has(FeatureIncompatCsumV2) || sb.Has(FeatureIncompatCsumV3)
}

// CsumV1 reports whether transactions carry a crc32_be in their commit
// block (JBD2_FEATURE_COMPAT_CHECKSUM).
func (sb *Superblock) CsumV1() bool { return sb.FeatureCompat&FeatureCompatChecksum != 0 }

// NumFCBlocks is jbd2_journal_get_num_fc_blks: the fast commit area's
// length, 256 when s_num_fc_blks is 0.
func (sb *Superblock) NumFCBlocks() uint32 {
	if sb.NumFCBlks == 0 {
		return DefaultFCBlks
	}
	return sb.NumFCBlks
}

// Features names the set incompat and compat features, for logs.
func (sb *Superblock) Features() string {
	var s []string
	names := []struct {
		Bit  uint32
		Name string
	}{
		{FeatureIncompatRevoke, "revoke"}, {FeatureIncompat64bit, "64bit"},
		{FeatureIncompatAsyncCommit, "async_commit"}, {FeatureIncompatCsumV2, "csum_v2"},
		{FeatureIncompatCsumV3, "csum_v3"}, {FeatureIncompatFastCommit, "fast_commit"},
	}
	if sb.CsumV1() {
		s = append(s, "checksum")
	}
	for _, n := range names {
		if sb.Has(n.Bit) {
			s = append(s, n.Name)
		}
	}
	if len(s) == 0 {
		return "(none)"
	}
	return strings.Join(s, " ")
}

// String summarizes the superblock for logs.
func (sb *Superblock) String() string {
	return fmt.Sprintf("jbd2 v%d blocksize %d maxlen %d first %d sequence %d start %d errno %d features %s",
		sb.BlockType-2, sb.Blocksize, sb.Maxlen, sb.First, sb.Sequence, sb.Start, sb.Errno, sb.Features())
}
