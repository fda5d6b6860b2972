package fdisk

import (
	"math/big"
	"strconv"
	"strings"
)

// parseAmount parses a start or size as sfdisk does (util-linux
// strtosize): a number of sectors (decimal, octal with a leading 0, hex
// with 0x), or a number with a suffix, which makes it bytes: K, M, G, T,
// P, E (either case, with or without "iB") are powers of 1024, KB, MB, ...
// powers of 1000; a suffixed number may have a decimal fraction ("1.5M").
// It returns the value and whether it was in bytes.
func parseAmount(s string) (uint64, bool, error) {
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.' || s[i] == 'x' || s[i] == 'X' ||
		strings.HasPrefix(strings.ToLower(s), "0x") && strings.ContainsRune("abcdefABCDEF", rune(s[i]))) {
		i++
	}
	num, suf := s[:i], s[i:]
	if num == "" {
		return 0, false, errNumber
	}
	if suf == "" {
		v, err := strconv.ParseUint(num, 0, 64)
		if err != nil {
			return 0, false, errNumber
		}
		return v, false, nil
	}
	unit := strings.ToUpper(suf[:1])
	exp := strings.Index("KMGTPE", unit) + 1
	base := int64(1024)
	switch rest := suf[1:]; rest {
	case "", "iB", "ib":
	case "B", "b":
		base = 1000
	default:
		return 0, false, errNumber
	}
	if exp == 0 {
		return 0, false, errNumber
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok || r.Sign() < 0 {
		return 0, false, errNumber
	}
	r.Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(base), big.NewInt(int64(exp)), nil)))
	v := new(big.Int).Quo(r.Num(), r.Denom())
	if !v.IsUint64() {
		return 0, false, errNumber
	}
	return v.Uint64(), true, nil
}

type amountError struct{}

func (amountError) Error() string { return "not a number of sectors or a size" }

var errNumber error = amountError{}
