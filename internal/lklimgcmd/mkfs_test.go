package lklimgcmd

import "testing"

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"4096": 4096, "100K": 100 << 10, "512M": 512 << 20, "1G": 1 << 30, "2T": 2 << 40,
		"1g": 1 << 30, "3MiB": 3 << 20, "1MB": 1000000, "5KB": 5000,
	} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "G", "1X", "1GG", "-5", "99999999999T"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) succeeded", in)
		}
	}
}
