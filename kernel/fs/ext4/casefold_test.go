package ext4

import "testing"

// TestCasefold checks utf8-12.1 casefolding on names whose folding Linux's
// nfdicf tables give: ASCII, full folding (ß -> ss), decomposition (É ->
// e + U+0301), title case digraphs, final sigma, and invalid UTF-8.
func TestCasefold(t *testing.T) {
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"README.md", "readme.md", true},
		{"Straße", "strasse", true},
		{"ÉCOLE", "e\u0301cole", true},
		{"e\u0301cole", "e\u0301cole", true},
		{"ǅungla", "ǆungla", true},
		{"ΣΊΣΥΦΟΣ", "σι\u0301συφοσ", true},
		{"σίσυφος", "σι\u0301συφοσ", true},
		{"İ", "i\u0307", true},
		{"\xe9t\xe9", "", false},
	} {
		got, ok := casefold([]byte(c.in))
		if ok != c.ok || string(got) != c.want {
			t.Errorf("casefold(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}
