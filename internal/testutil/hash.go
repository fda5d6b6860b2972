package testutil

import (
	"slices"
	"strconv"
)

// LegacyHash is ext4's legacy directory hash, dx_hack_hash of
// fs/ext4/hash.c, with signed chars: the tests' own copy, to choose names
// that collide. Its minor hash is always 0.
func LegacyHash(name string) uint32 {
	var h0, h1 uint32 = 0x12a3fe2d, 0x37abe8f9
	for i := 0; i < len(name); i++ {
		h := h1 + (h0 ^ uint32(int32(int8(name[i])))*7152373)
		if h&0x80000000 != 0 {
			h -= 0x7fffffff
		}
		h1, h0 = h0, h
	}
	return h0 << 1
}

// LegacyCollisions returns the names among n ASCII candidates (prefix, "c"
// and a base-36 number) that share their legacy hash with another, each
// group together: the hash is weak, and with an empty prefix 2^20
// candidates give about 700 groups (one of three names), 2^21 about 2000
// (five of three). The result depends on prefix and n only.
func LegacyCollisions(prefix string, n int) []string {
	keys := make([]uint64, n)
	buf := []byte(prefix + "c")
	for i := range keys {
		buf = strconv.AppendInt(buf[:len(prefix)+1], int64(i), 36)
		keys[i] = uint64(LegacyHash(string(buf)))<<32 | uint64(i)
	}
	slices.Sort(keys)
	var out []string
	for i := 0; i < len(keys); {
		j := i + 1
		for j < len(keys) && keys[j]>>32 == keys[i]>>32 {
			j++
		}
		if j-i > 1 {
			for _, k := range keys[i:j] {
				out = append(out, prefix+"c"+strconv.FormatInt(int64(uint32(k)), 36))
			}
		}
		i = j
	}
	return out
}
