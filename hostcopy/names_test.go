package hostcopy

import (
	"errors"
	"slices"
	"strings"
	"testing"

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
