package archive

import (
	"path"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestWildMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, name string
		want          bool
	}{
		{"*", "", true},
		{"*", "a/b", true}, // '*' matches '/' in exclusions
		{"a*c", "a/b/c", true},
		{"a?c", "a/c", true},
		{"a?c", "ac", false},
		{"*.conf", "etc/x.conf", true},
		{"*.conf", "etc/x.conf.bak", false},
		{"[abc]x", "bx", true},
		{"[!abc]x", "bx", false},
		{"[^abc]x", "dx", true},
		{"[a-c]", "b", true},
		{"[a-c]", "d", false},
		{"[]]", "]", true},
		{"[!]]", "a", true},
		{"[", "[", true}, // unterminated: a plain '['
		{"[ab", "[ab", true},
		{`\*`, "*", true},
		{`\*`, "a", false},
		{`a\`, `a\`, true},
		{".*", ".hidden", true},
		{"*", ".hidden", true}, // no FNM_PERIOD
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"**x", "abx", true},
		{"caf?", "café", true}, // '?' is one character, not one byte
		{"??", "é", false},
		{"[à-ü]", "é", true},
		{"?", "\xe9", true}, // a byte that is not UTF-8 is a character
		{"[\xe0-\xfc]", "\xe9", true},
		{"*\xa9", "é", false}, // no match inside a character
	} {
		if got := wildMatch(tc.pattern, tc.name); got != tc.want {
			t.Errorf("wildMatch(%q, %q) = %v, want %v", tc.pattern, tc.name, got, tc.want)
		}
	}
}

// TestExcluderMatch: GNU tar's default exclusion rules (unanchored), on
// names as the exporter makes them.
func TestExcluderMatch(t *testing.T) {
	e, err := NewExcluder([]string{"passwd", "etc/*.conf", "./var/cache/", "*.o", "/abs"})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{
		"./etc/passwd":        true, // a name in any directory
		"./passwd":            true,
		"./etc/passwd-":       false,
		"./etc/passwd/x":      false, // the walk never descends: "./etc/passwd" is seen first
		"./etc/a.conf":        true,
		"./usr/etc/a.conf":    true, // unanchored
		"./etc/sub/a.conf":    true, // '*' matches '/'
		"./etc/a.confx":       false,
		"./var/cache":         true, // trailing '/' dropped
		"./usr/var/cache":     true, // unanchored, once "./" is dropped
		"./src/main.o":        true,
		"./src/main.c":        false,
		"./abs":               true, // a leading '/' is dropped
		"./xetc/a.conf":       false,
		"./a/b/passwd-backup": false,
	} {
		if got := e.Match(name); got != want {
			t.Errorf("Match(%q) = %v, want %v", name, got, want)
		}
	}
	// "./" is not matched: '.*' is not every name, '?' not every name
	// under the root.
	e, err = NewExcluder([]string{".*", "?"})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{
		"./.hidden": true, "./usr/.hidden": true, "./usr": false, "./usr/x": true, "usr/lib/x": true, "./usr/lib": false,
	} {
		if got := e.Match(name); got != want {
			t.Errorf(".* ?: Match(%q) = %v, want %v", name, got, want)
		}
	}
	for _, p := range []string{"", "/", "./", ".", ".//"} {
		if _, err := NewExcluder([]string{p}); err == nil {
			t.Errorf("pattern %q accepted", p)
		}
	}
	var none *Excluder
	if none.Match("./x") {
		t.Error("nil Excluder matched")
	}
}

// FuzzWildMatch checks wildMatch against Go's path.Match where the two
// agree on the rules: names and patterns without '/' (path.Match's '*'
// stops at '/', ours does not), patterns path.Match accepts (it rejects an
// unterminated '[', which fnmatch takes literally) and without "[!" (a
// complement for fnmatch, a '!' member for path.Match), in valid UTF-8
// (path.Match lets '*' stop inside a character, before a stray byte), and
// without '*' before a name with multi-byte characters: path.Match's star
// tries every byte offset, so "*??" matches one 4-byte character as three
// stray bytes, where fnmatch in a UTF-8 locale sees one character.
func FuzzWildMatch(f *testing.F) {
	for _, s := range [][2]string{
		{"*.conf", "a.conf"}, {"[a-c]?x*", "bzxq"}, {"[!a]", "b"}, {`\*x`, "*x"},
		{"a*b*c*d", "aXbYcZd"}, {"[^x-z]*", "w"}, {"?*?", "ab"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, name string) {
		got := wildMatch(pattern, name) // must not panic, whatever the input
		if strings.Contains(pattern+name, "/") || strings.Contains(pattern, "[!") ||
			!utf8.ValidString(pattern) || !utf8.ValidString(name) ||
			(strings.Contains(pattern, "*") && utf8.RuneCountInString(name) != len(name)) {
			return
		}
		want, err := path.Match(pattern, name)
		if err != nil {
			return
		}
		if got != want {
			t.Errorf("wildMatch(%q, %q) = %v, path.Match says %v", pattern, name, got, want)
		}
	})
}
