package ext4

import "github.com/lklimg/lklimg/kernel/abi"

// The casefold feature's encoding (s_encoding, s_encoding_flags in
// super.rst; EXT4_ENC_* in fs/ext4/ext4.h).
const (
	// EncodingUTF8_12_1 is s_encoding's only value (EXT4_ENC_UTF8_12_1).
	EncodingUTF8_12_1 = 1
	// EncodingStrictFl in s_encoding_flags (EXT4_ENC_STRICT_MODE_FL)
	// refuses new names that are not valid UTF-8.
	EncodingStrictFl = 0x1
)

// CheckEncoding refuses a casefold filesystem whose encoding the driver
// does not know, as ext4_fill_super does.
func (s *Superblock) CheckEncoding() error {
	if s.HasIncompat(IncompatCasefold) && s.SEncoding != EncodingUTF8_12_1 {
		return abi.Errorf(abi.EINVAL, "ext4: filesystem with casefold feature has unknown encoding %d", s.SEncoding)
	}
	return nil
}
