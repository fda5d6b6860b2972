package archive

import "testing"

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
