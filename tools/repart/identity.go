package repart

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"strconv"
	"strings"
	"unicode/utf8"
)

// deriveID is systemd's derive_uuid: HMAC-SHA256 keyed with the 16 bytes
// of key over msg, its first 16 bytes made a version 4 UUID
// (id128_make_v4_uuid).
func deriveID(key ID128, msg []byte) ID128 {
	m := hmac.New(sha256.New, key[:])
	m.Write(msg)
	var id ID128
	copy(id[:], m.Sum(nil))
	id[6] = id[6]&0x0f | 0x40
	id[8] = id[8]&0x3f | 0x80
	return id
}

// RandomID returns a random version 4 UUID (a seed when none is given).
func RandomID() ID128 {
	var id ID128
	rand.Read(id[:])
	id[6] = id[6]&0x0f | 0x40
	id[8] = id[8]&0x3f | 0x80
	return id
}

// partitionUUIDs gives each partition without UUID= its GUID
// (partition_acquire_uuid): derived from the seed and the type's GUID,
// with the count of earlier partitions of the same type (dropped ones
// too) appended as 8 little-endian bytes when there are any. A result
// that another partition has already is replaced by a random one.
func partitionUUIDs(parts []*Planned, seed ID128) {
	taken := map[ID128]bool{}
	for _, p := range parts {
		if p.UUIDSet {
			taken[p.Partition.UUID] = true
		}
	}
	for i, p := range parts {
		if p.UUIDSet {
			p.UUID = p.Partition.UUID
			continue
		}
		k := 0
		for _, q := range parts[:i] {
			if q.Type == p.Type {
				k++
			}
		}
		msg := p.Type[:]
		if k > 0 {
			msg = binary.LittleEndian.AppendUint64(append([]byte{}, msg...), uint64(k))
		}
		p.UUID = deriveID(seed, msg)
		if taken[p.UUID] {
			p.UUID = RandomID()
		}
		taken[p.UUID] = true
	}
}

// labels gives each partition without Label= its default name
// (partition_acquire_label): the type's name ("linux" for a GUID the
// table lacks), with -2, -3, ... appended while an earlier partition has
// it.
func labels(parts []*Planned) {
	for i, p := range parts {
		if p.LabelSet {
			p.Label = p.Partition.Label
			continue
		}
		prefix := typeName(p.Type)
		if prefix == "" {
			prefix = "linux"
		}
		used := func(l string) bool {
			for _, q := range parts[:i] {
				if q.Label == l {
					return true
				}
			}
			return false
		}
		p.Label = prefix
		for n := 2; used(p.Label); n++ {
			p.Label = prefix + "-" + strconv.Itoa(n)
		}
	}
}

// GPT attribute bits (the Discoverable Partitions Specification).
const (
	flagGrowFS   = 1 << 59
	flagReadOnly = 1 << 60
	flagNoAuto   = 1 << 63
)

// attrs merges Flags= with NoAuto=, ReadOnly= and GrowFileSystem= for the
// types that know them (partition_merge_flags). systemd hands the bits
// to libfdisk as a list of bit numbers, which takes only 48 to 63 and
// drops the whole list for any other: Flags= with a bit below 48 gives no
// attributes at all in systemd 252 to 257, and so here.
func attrs(p *Partition) uint64 {
	f := p.Flags
	name := typeName(p.Type)
	set := func(v int, bit uint64, knows bool) {
		switch {
		case v < 0 || !knows:
		case v == 1:
			f |= bit
		default:
			f &^= bit
		}
	}
	set(p.NoAuto, flagNoAuto, knowsNoAuto(name))
	set(p.ReadOnly, flagReadOnly, knowsReadOnly(name))
	set(p.GrowFileSystem, flagGrowFS, knowsGrowFS(name))
	if f&(1<<48-1) != 0 {
		return 0
	}
	return f
}

// FSLabel is the filesystem label mkfs gets from the GPT name
// (mkfs-util.c): ext2/3/4 cut to 16 bytes at a character boundary; vfat
// in ASCII (others as _), 11 bytes, upper case, FAT's forbidden
// characters as _.
func FSLabel(format, label string) string {
	if format == "vfat" {
		var b strings.Builder
		for _, r := range label {
			if r >= 0x80 {
				r = '_'
			}
			b.WriteRune(r)
		}
		s := b.String()
		if len(s) > 11 {
			s = s[:11]
		}
		s = strings.ToUpper(s)
		return strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f || strings.ContainsRune("*?.,;:/\\|+=<>[]\"", r) {
				return '_'
			}
			return r
		}, s)
	}
	max := 16
	if format == "xfs" {
		max = 12
	} else if format == "swap" {
		max = 15
	}
	for len(label) > max {
		_, n := utf8.DecodeLastRuneInString(label)
		label = label[:len(label)-n]
	}
	return label
}

// Derive is deriveID for the caller's own identities (a filesystem's
// hash seed): HMAC-SHA256 of msg keyed with key, made a version 4 UUID.
func Derive(key ID128, msg string) ID128 { return deriveID(key, []byte(msg)) }
