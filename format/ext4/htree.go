package ext4

import (
	"encoding/binary"
	"errors"
	"math/bits"
)

// Hash tree directories (Documentation/filesystems/ext4/directory.rst,
// "Hash Tree Directories"; struct dx_root, dx_node, dx_entry, dx_tail in
// fs/ext4/namei.c). Block 0 is dx_root: fake "." and ".." entries, then
// dx_root_info {reserved_zero u32, hash_version u8, info_length u8,
// indirect_levels u8, unused_flags u8}, then the dx_entry array whose first
// slot holds {limit u16, count u16} in place of a hash. Interior dx_node
// blocks start with a fake empty entry spanning the block, then the array.
// With metadata_csum a dx_tail {reserved u32, checksum u32} follows limit
// entries.
const (
	DxRootInfoOffset  = 0x18
	DxRootCountOffset = 0x20 // with info_length 8
	DxNodeCountOffset = 8
	DxEntrySize       = 8
	DxTailSize        = 8
	DxRootInfoLen     = 8
)

// ErrBadDx says the index is not usable and a linear scan must do, as
// ERR_BAD_DX_DIR makes ext4_find_entry fall back.
var ErrBadDx = errors.New("ext4: bad htree index")

// DxCountOffset returns where dx_countlimit is in a dx root or node block
// (get_dx_countlimit), or false if b is neither.
func DxCountOffset(b []byte, blockSize uint32) (int, bool) {
	le := binary.LittleEndian
	if len(b) < DirentHeaderSize {
		return 0, false
	}
	rl := RecLenFromDisk(le.Uint16(b[4:]), blockSize)
	if rl == blockSize && le.Uint32(b[0:]) == 0 {
		return DxNodeCountOffset, true
	}
	if rl != 12 || len(b) < DxRootCountOffset+4 {
		return 0, false
	}
	if RecLenFromDisk(le.Uint16(b[12+4:]), blockSize) != blockSize-12 {
		return 0, false
	}
	if le.Uint32(b[DxRootInfoOffset:]) != 0 || b[DxRootInfoOffset+5] != DxRootInfoLen {
		return 0, false
	}
	return DxRootCountOffset, true
}

// DxEntries decodes the dx_countlimit at countOff and checks it; the
// returned slice holds count entries (entry 0's hash is implicitly 0).
func DxEntries(b []byte, countOff int) ([]byte, int, error) {
	le := binary.LittleEndian
	if countOff+4 > len(b) {
		return nil, 0, ErrBadDx
	}
	limit := int(le.Uint16(b[countOff:]))
	count := int(le.Uint16(b[countOff+2:]))
	if count == 0 || count > limit || countOff+limit*DxEntrySize > len(b) {
		return nil, 0, ErrBadDx
	}
	return b[countOff : countOff+count*DxEntrySize], count, nil
}

// Char reads a name byte as C's char, signed or unsigned.
func Char(c byte, signed bool) uint32 {
	if signed {
		return uint32(int32(int8(c)))
	}
	return uint32(c)
}

// DxHackHash is the legacy hash (dx_hack_hash).
func DxHackHash(name []byte, signed bool) uint32 {
	h0, h1 := uint32(0x12a3fe2d), uint32(0x37abe8f9)
	for _, c := range name {
		h := h1 + (h0 ^ Char(c, signed)*7152373)
		if h&0x80000000 != 0 {
			h -= 0x7fffffff
		}
		h1, h0 = h0, h
	}
	return h0 << 1
}

// Str2hashbuf packs up to 4*len(out) bytes of the name into words, padded
// with the length (str2hashbuf_signed/unsigned).
func Str2hashbuf(msg []byte, out []uint32, signed bool) {
	n := len(msg)
	pad := uint32(n) | uint32(n)<<8
	pad |= pad << 16
	val := pad
	num := len(out)
	if n > num*4 {
		n = num * 4
	}
	k := 0
	for i := 0; i < n; i++ {
		val = Char(msg[i], signed) + val<<8
		if i%4 == 3 {
			out[k] = val
			k++
			val = pad
		}
	}
	if k < num {
		out[k] = val
		k++
	}
	for ; k < num; k++ {
		out[k] = pad
	}
}

// HalfMD4Transform is the half MD4 of fs/ext4/hash.c.
func HalfMD4Transform(buf *[4]uint32, in *[8]uint32) {
	const k2, k3 = 0o13240474631, 0o15666365641
	a, b, c, d := buf[0], buf[1], buf[2], buf[3]
	F := func(x, y, z uint32) uint32 { return z ^ (x & (y ^ z)) }
	G := func(x, y, z uint32) uint32 { return (x & y) + ((x ^ y) & z) }
	H := func(x, y, z uint32) uint32 { return x ^ y ^ z }
	r := bits.RotateLeft32
	a = r(a+F(b, c, d)+in[0], 3)
	d = r(d+F(a, b, c)+in[1], 7)
	c = r(c+F(d, a, b)+in[2], 11)
	b = r(b+F(c, d, a)+in[3], 19)
	a = r(a+F(b, c, d)+in[4], 3)
	d = r(d+F(a, b, c)+in[5], 7)
	c = r(c+F(d, a, b)+in[6], 11)
	b = r(b+F(c, d, a)+in[7], 19)

	a = r(a+G(b, c, d)+in[1]+k2, 3)
	d = r(d+G(a, b, c)+in[3]+k2, 5)
	c = r(c+G(d, a, b)+in[5]+k2, 9)
	b = r(b+G(c, d, a)+in[7]+k2, 13)
	a = r(a+G(b, c, d)+in[0]+k2, 3)
	d = r(d+G(a, b, c)+in[2]+k2, 5)
	c = r(c+G(d, a, b)+in[4]+k2, 9)
	b = r(b+G(c, d, a)+in[6]+k2, 13)

	a = r(a+H(b, c, d)+in[3]+k3, 3)
	d = r(d+H(a, b, c)+in[7]+k3, 9)
	c = r(c+H(d, a, b)+in[2]+k3, 11)
	b = r(b+H(c, d, a)+in[6]+k3, 15)
	a = r(a+H(b, c, d)+in[1]+k3, 3)
	d = r(d+H(a, b, c)+in[5]+k3, 9)
	c = r(c+H(d, a, b)+in[0]+k3, 11)
	b = r(b+H(c, d, a)+in[4]+k3, 15)

	buf[0] += a
	buf[1] += b
	buf[2] += c
	buf[3] += d
}

// TeaTransform is the TEA of fs/ext4/hash.c (16 rounds).
func TeaTransform(buf *[4]uint32, in *[4]uint32) {
	const delta = 0x9E3779B9
	var sum uint32
	b0, b1 := buf[0], buf[1]
	a, b, c, d := in[0], in[1], in[2], in[3]
	for n := 0; n < 16; n++ {
		sum += delta
		b0 += ((b1 << 4) + a) ^ (b1 + sum) ^ ((b1 >> 5) + b)
		b1 += ((b0 << 4) + c) ^ (b0 + sum) ^ ((b0 >> 5) + d)
	}
	buf[0] += b0
	buf[1] += b1
}

// DirHash is ext4fs_dirhash (fs/ext4/hash.c) for a hash version that
// already says signed or unsigned (the driver adds 3 to a legacy, half_md4
// or tea version when s_flags says unsigned): the name's hash, its low bit
// cleared and EXT4_HTREE_EOF_32BIT<<1 moved below it, and its minor hash.
// The seed is s_hash_seed; all zeros means MD4's initial words. ok is false
// for SipHash (casefolded encrypted directories) and unknown versions.
func DirHash(version uint8, name []byte, seed [4]uint32) (hash, minor uint32, ok bool) {
	buf := [4]uint32{0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476}
	if seed != [4]uint32{} {
		buf = seed
	}
	switch version {
	case HashLegacy, HashLegacyUnsigned:
		hash = DxHackHash(name, version == HashLegacy)
	case HashHalfMD4, HashHalfMD4Unsigned:
		var in [8]uint32
		for p := name; ; p = p[32:] {
			Str2hashbuf(p, in[:], version == HashHalfMD4)
			HalfMD4Transform(&buf, &in)
			if len(p) <= 32 {
				break
			}
		}
		hash, minor = buf[1], buf[2]
	case HashTea, HashTeaUnsigned:
		var in [4]uint32
		for p := name; ; p = p[16:] {
			Str2hashbuf(p, in[:], version == HashTea)
			TeaTransform(&buf, &in)
			if len(p) <= 16 {
				break
			}
		}
		hash, minor = buf[0], buf[1]
	default:
		return 0, 0, false
	}
	hash &^= 1
	if hash == 0x7fffffff<<1 { // EXT4_HTREE_EOF_32BIT << 1
		hash = (0x7fffffff - 1) << 1
	}
	return hash, minor, true
}

// DxFind returns the index of the entry of a dx node (count entries at
// ents) whose range holds hash: the last whose hash is <= hash, entry 0
// (the node's first block, with no hash) when none is, as dx_probe's
// binary search.
func DxFind(ents []byte, count int, hash uint32) int {
	lo, hi := 1, count-1
	for lo <= hi {
		m := lo + (hi-lo)/2
		if le.Uint32(ents[m*DxEntrySize:]) > hash {
			hi = m - 1
		} else {
			lo = m + 1
		}
	}
	return lo - 1
}
