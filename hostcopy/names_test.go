package hostcopy

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/lklimg/lklimg/kernel/abi"
)

// TestWindowsNames: the names a Windows host refuses, checked on every
// host (the checks are plain Go).
func TestWindowsNames(t *testing.T) {
	refused := []string{
		"CON", "con", "Con.txt", "aux.c", "NUL.tar.gz", "prn", "com1", "COM9.log", "lpt1", "LPT9",
		"com¹", "CONIN$", "con .txt", "nul ", // reserved device names, any case, any extension
		"a:b", "x:$DATA", "a<b", "a>b", `a"b`, "a|b", "a?b", "a*b", `a\b`, "c:", // reserved characters, streams, drives
		"a\x01b", "tab\there", "\x1f", // control characters
		"latin1-\xe9t\xe9", "\xff", // not UTF-8
		"trail.", "trail ", "..." + "a.", "a. ", // trailing dots or spaces
	}
	for _, n := range refused {
		if err := windowsNameError(n); !errors.Is(err, abi.EINVAL) {
			t.Errorf("windowsNameError(%q) = %v, want EINVAL", n, err)
		}
	}
	allowed := []string{"a", "a.txt", "console", "CONx", "com0", "com10", "lpt", "auxiliary.c", ".hidden", "..a", "a b", "é", "日本", "a.b.c", "nul_"}
	for _, n := range allowed {
		if err := windowsNameError(n); err != nil {
			t.Errorf("windowsNameError(%q) = %v, want nil", n, err)
		}
	}
}

// TestWindowsRefused: case collisions inside one directory refuse every
// name after the first of its kind, with the first named.
func TestWindowsRefused(t *testing.T) {
	names := []string{"A", "Makefile", "a", "con", "makefile", "x", "É", "é", "ß", "ẞ"}
	got := windowsRefused(names)
	var keys []string
	for n := range got {
		keys = append(keys, n)
	}
	slices.Sort(keys)
	// ß and ẞ stay apart: NTFS's upcase table, as Go's ToUpper, maps ß
	// to itself.
	want := []string{"a", "con", "makefile", "é"}
	if !slices.Equal(keys, want) {
		t.Fatalf("refused %q, want %q", keys, want)
	}
	if err := got["makefile"]; !errors.Is(err, abi.EEXIST) || !strings.Contains(err.Error(), `"Makefile"`) {
		t.Errorf("makefile: %v", err)
	}
	if windowsRefused([]string{"a", "b"}) != nil {
		t.Error("refused names in a directory without any to refuse")
	}
}

// FuzzWindowsNames: any name is refused or holds none of what Windows
// gives a meaning to; case collisions refuse only names seen before in
// another case. Never a panic.
func FuzzWindowsNames(f *testing.F) {
	for _, s := range []string{"CON", "aux.c", "a:b", "trail.", "a", "Makefile", "\xe9", "com¹.txt", `..\x`, "/", "", ".."} {
		f.Add(s, strings.ToUpper(s))
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if err := windowsNameError(a); err == nil {
			if strings.ContainsAny(a, `<>:"|?*\/`) || strings.HasSuffix(a, ".") || strings.HasSuffix(a, " ") || !utf8.ValidString(a) {
				t.Fatalf("%q accepted", a)
			}
			for _, r := range a {
				if r < 0x20 {
					t.Fatalf("%q accepted", a)
				}
			}
		}
		names := []string{a, b}
		slices.Sort(names)
		refused := windowsRefused(names)
		if names[0] != names[1] && windowsNameError(names[0]) == nil && windowsNameError(names[1]) == nil &&
			(refused[names[1]] != nil) != (strings.ToUpper(names[0]) == strings.ToUpper(names[1])) {
			t.Fatalf("%q after %q: %v", names[1], names[0], refused[names[1]])
		}
	})
}
