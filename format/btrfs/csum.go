package btrfs

import (
	"crypto/sha256"
	"hash/crc32"

	"github.com/cespare/xxhash/v2"
	"golang.org/x/crypto/blake2b"

	"github.com/lklimg/lklimg/kernel/abi"
)

// Checksum algorithms (BTRFS_CSUM_TYPE_*), chosen by mkfs.btrfs --csum.
const (
	CsumCRC32C = 0
	CsumXXHash = 1
	CsumSHA256 = 2
	CsumBlake2 = 3
)

// csumSizes is each algorithm's checksum length (btrfs_csums[]).
var csumSizes = map[uint16]int{CsumCRC32C: 4, CsumXXHash: 8, CsumSHA256: 32, CsumBlake2: 32}

// CsumName is the algorithm's name as Linux logs it.
func CsumName(typ uint16) string {
	switch typ {
	case CsumCRC32C:
		return "crc32c"
	case CsumXXHash:
		return "xxhash64"
	case CsumSHA256:
		return "sha256"
	case CsumBlake2:
		return "blake2b"
	}
	return "unknown"
}

// CsumLen returns the length of a checksum of the algorithm typ (0
// for an unknown one).
func CsumLen(typ uint16) int { return csumSizes[typ] }

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Checksum computes the checksum of b with the algorithm typ into sum
// (CsumSize bytes, the tail zero as on disk) and returns its length, 0
// for an unknown algorithm.
func Checksum(typ uint16, b []byte, sum *[CsumSize]byte) int {
	*sum = [CsumSize]byte{}
	switch typ {
	case CsumCRC32C:
		le.PutUint32(sum[:], crc32.Checksum(b, castagnoli))
		return 4
	case CsumXXHash:
		le.PutUint64(sum[:], xxhash.Sum64(b))
		return 8
	case CsumSHA256:
		*sum = sha256.Sum256(b)
		return 32
	case CsumBlake2:
		*sum = blake2b.Sum256(b)
		return 32
	}
	return 0
}

// verify checks the checksum stored at the start of b over the rest:
// EUCLEAN naming what when it differs.
func verify(typ uint16, b []byte, what string, at uint64) error {
	var sum [CsumSize]byte
	n := Checksum(typ, b[CsumSize:], &sum)
	if n == 0 {
		return abi.Errorf(abi.EUCLEAN, "btrfs: %s at %d: unknown checksum type %d", what, at, typ)
	}
	if string(sum[:n]) != string(b[:n]) {
		return abi.Errorf(abi.EUCLEAN, "btrfs: %s at %d: checksum verify failed: %s %x, want %x",
			what, at, CsumName(typ), sum[:n], b[:n])
	}
	return nil
}

// VerifySuper checks the superblock's checksum (btrfs_check_super_csum):
// b is its 4096 bytes.
func VerifySuper(typ uint16, b []byte) error {
	if len(b) < SuperInfoSize {
		return abi.Errorf(abi.EUCLEAN, "btrfs: superblock of %d bytes", len(b))
	}
	return verify(typ, b[:SuperInfoSize], "superblock", SuperInfoOffset)
}

// FixChecksum writes b's checksum (of b[CsumSize:]) into its first
// bytes: what a writer does, and what tests that damage a structure and
// want its decoder, not the checksum, to see the damage do.
func FixChecksum(typ uint16, b []byte) {
	var sum [CsumSize]byte
	Checksum(typ, b[CsumSize:], &sum)
	copy(b, sum[:])
}

// NameHash is btrfs_name_hash: the key offset of a DIR_ITEM or
// XATTR_ITEM, Linux's crc32c(~1, name) (no final inversion).
func NameHash(name []byte) uint32 {
	return ^crc32.Update(1, castagnoli, name)
}

// ExtrefHash is btrfs_extref_hash: the key offset of an INODE_EXTREF,
// crc32c seeded with the parent's objectid (no inversions).
func ExtrefHash(parent uint64, name []byte) uint64 {
	return uint64(^crc32.Update(^uint32(parent), castagnoli, name))
}
