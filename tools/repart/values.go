package repart

import (
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ID128 is a 128-bit ID (sd-id128) in reading order: the bytes of its
// text form, as systemd hashes and prints them. gpt.FromBigEndian turns
// it into a GPT's GUID.
type ID128 [16]byte

// ParseID128 takes what sd_id128_from_string takes: 36 characters with
// dashes at 8, 13, 18 and 23, or 32 hex digits, in either case.
func ParseID128(s string) (ID128, error) {
	var id ID128
	h := s
	if len(s) == 36 && s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-' {
		h = s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:]
	}
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != 16 {
		return id, fmt.Errorf("%q is not a 128-bit ID", s)
	}
	return ID128(b), nil
}

// String is the ID's text form, lower case with dashes.
func (id ID128) String() string {
	h := hex.EncodeToString(id[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// parseSize parses a size as systemd's parse_size with base 1024: one or
// more groups of a decimal number (a fraction allowed) and one of the
// suffixes E, P, T, G, M, K, B or none, each group's suffix smaller than
// the one before, summed ("1M 512K"); a fraction times its factor is cut
// toward zero. Lower case, two-letter suffixes, hex and signs are refused.
func parseSize(s string) (uint64, error) {
	const suffixes = "EPTGMKB"
	factor := func(c byte) uint64 {
		i := strings.IndexByte(suffixes, c)
		return uint64(1) << (10 * uint(len(suffixes)-1-i))
	}
	bad := fmt.Errorf("%q is not a size", s)
	rest := strings.TrimSpace(s)
	if rest == "" {
		return 0, bad
	}
	var sum uint64
	last := len(suffixes) // the index of the previous group's suffix
	for rest != "" {
		n := 0
		for n < len(rest) && (rest[n] >= '0' && rest[n] <= '9' || rest[n] == '.') {
			n++
		}
		num := rest[:n]
		if num == "" || strings.Count(num, ".") > 1 || num[0] == '.' {
			return 0, bad
		}
		rest = strings.TrimLeft(rest[n:], " \t\n")
		mult, idx := uint64(1), len(suffixes)-1 // no suffix: bytes
		if rest != "" {
			if i := strings.IndexByte(suffixes, rest[0]); i >= 0 {
				idx = i
				rest = strings.TrimLeft(rest[1:], " \t\n")
			}
		}
		if idx < len(suffixes)-1 {
			mult = factor(suffixes[idx])
		}
		if last != len(suffixes) && idx <= last {
			return 0, bad
		}
		last = idx
		whole, frac, _ := strings.Cut(num, ".")
		w, err := strconv.ParseUint(whole, 10, 64)
		if err != nil || w > math.MaxUint64/mult {
			return 0, bad
		}
		v := w * mult
		if frac != "" {
			// The fraction's digits times the factor, cut toward zero.
			f, err := strconv.ParseUint(frac, 10, 64)
			if err != nil || len(frac) > 18 {
				return 0, bad
			}
			d := uint64(1)
			for range len(frac) {
				d *= 10
			}
			v += uint64(float64(f) * float64(mult) / float64(d))
		}
		if sum+v < sum {
			return 0, bad
		}
		sum += v
	}
	return sum, nil
}

// parseNumber parses an integer as systemd's safe_atou64 and friends: base
// 0 (decimal, 0x hex, a leading 0 octal) and 0o and 0b prefixes.
func parseNumber(s string, bits int, signed bool) (int64, uint64, error) {
	t := strings.TrimLeft(s, " \t\n")
	neg := false
	if signed && strings.HasPrefix(t, "-") {
		neg, t = true, t[1:]
	}
	base := 0
	switch {
	case strings.HasPrefix(t, "0o") || strings.HasPrefix(t, "0O"):
		base, t = 8, t[2:]
	case strings.HasPrefix(t, "0b") || strings.HasPrefix(t, "0B"):
		base, t = 2, t[2:]
	}
	u, err := strconv.ParseUint(t, base, bits)
	if err != nil || t == "" || strings.ContainsRune(t, '_') {
		return 0, 0, fmt.Errorf("%q is not a number", s)
	}
	if signed {
		if (!neg && u > 1<<(bits-1)-1) || (neg && u > 1<<(bits-1)) {
			return 0, 0, fmt.Errorf("%q is out of range", s)
		}
		if neg {
			return -int64(u), 0, nil
		}
		return int64(u), 0, nil
	}
	return 0, u, nil
}

// parseBool takes systemd's spellings of a boolean (parse_boolean).
func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "1", "yes", "y", "true", "t", "on":
		return true, nil
	case "0", "no", "n", "false", "f", "off":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean", s)
}

// expand replaces the specifiers an image build has (specifier.c): %a the
// architecture's systemd name, %% a percent sign. Any other letter or
// digit after % is an error (systemd then ignores the assignment); % before
// anything else stays. The result may be at most max bytes.
func expand(s, arch string, max int) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		n := s[i+1]
		switch {
		case n == '%':
			b.WriteByte('%')
		case n == 'a':
			b.WriteString(nativeArch[arch])
		case n >= 'a' && n <= 'z' || n >= 'A' && n <= 'Z' || n >= '0' && n <= '9':
			return "", fmt.Errorf("the specifier %%%c is not known here (only %%a and %%%%)", n)
		default:
			b.WriteByte('%')
			b.WriteByte(n)
		}
		i++
	}
	if b.Len() > max {
		return "", fmt.Errorf("%q is longer than %d bytes", b.String(), max)
	}
	return b.String(), nil
}

// ParseSize is --size's parser: systemd's parse_size with base 1024.
func ParseSize(s string) (uint64, error) { return parseSize(s) }
