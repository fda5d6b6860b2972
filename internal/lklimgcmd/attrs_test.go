//go:build linux

package lklimgcmd

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
	"golang.org/x/sys/unix"
)

// TestParseModeAgainstChmod applies modes with parseMode and with GNU
// chmod on host files and directories of several starting modes, umask
// 022, and requires the same result; and refuses what chmod refuses.
func TestParseModeAgainstChmod(t *testing.T) {
	chmodBin := testutil.Need(t, "chmod")[0]
	dir := t.TempDir()
	old := unix.Umask(0o022)
	defer unix.Umask(old)
	modes := []string{"u+x", "go-w", "a=r", "=", "u=g", "g=u", "o=u", "+t", "a+X", "+X", "g+s", "u+s,g-s",
		"u=rwx,g=rx,o=", "o+t,u-s", "+x", "=w", "+rwx", "ug=rw", "a-x,u+X", "u+", "+",
		"755", "0", "4755", "2755", "02755", "00755", "000755", "7777", "1", "ugo+rw,o-r"}
	for _, start := range []uint32{0o644, 0o755, 0o4751, 0o2700, 0o1777, 0o000, 0o6711} {
		for _, isDir := range []bool{false, true} {
			for _, mode := range modes {
				p := filepath.Join(dir, "x")
				os.RemoveAll(p)
				if isDir {
					if err := os.Mkdir(p, 0o700); err != nil {
						t.Fatal(err)
					}
				} else if err := os.WriteFile(p, nil, 0o600); err != nil {
					t.Fatal(err)
				}
				if err := unix.Chmod(p, start); err != nil {
					t.Fatal(err)
				}
				if out, err := exec.Command(chmodBin, mode, p).CombinedOutput(); err != nil {
					t.Fatalf("chmod %s: %v %s", mode, err, out)
				}
				var st unix.Stat_t
				if err := unix.Stat(p, &st); err != nil {
					t.Fatal(err)
				}
				got, ok := parseMode(mode, start, isDir, 0o022)
				if !ok || got != st.Mode&0o7777 {
					t.Errorf("mode %q on %#o (dir %v): got %#o %v, chmod gives %#o", mode, start, isDir, got, ok, st.Mode&0o7777)
				}
			}
		}
	}
	for _, bad := range []string{"", "u", "u+z", "8", "0x7", "rwx", "u+x,", "77777", "a+=r,"} {
		want := exec.Command(chmodBin, bad, filepath.Join(dir, "x")).Run() == nil
		if _, ok := parseMode(bad, 0o644, false, 0o022); ok != want {
			t.Errorf("mode %q: parses %v, chmod accepts %v", bad, ok, want)
		}
	}
}

// TestDecodeValue checks setfattr's value syntax on the forms getfattr
// prints.
func TestDecodeValue(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"plain", "plain", true},
		{`"quoted \"x\" \\ \012 end"`, "quoted \"x\" \\ \n end", true},
		{"0x00ff41", "\x00\xffA", true},
		{"0X4142", "AB", true},
		{"0sAAEC", "\x00\x01\x02", true},
		{"0x4", "", false},
		{"0s!!", "", false},
		{`"abc`, `"abc`, true},
		{`"`, `"`, true},
		{`""`, "", true},
		{"", "", true},
	} {
		got, err := decodeValue(c.in)
		if (err == nil) != c.ok || (c.ok && string(got) != c.want) {
			t.Errorf("decodeValue(%q) = %q, %v; want %q ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
}
