package ext4

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

// hashNames are names for the hash checks: short and long (several
// rounds of half_md4's 32 and tea's 16 bytes), and with bytes >= 0x80,
// where the signed and unsigned variants part.
func hashNames() []string {
	names := []string{"a", "hello", ".", "..", "lost+found", "Makefile",
		"caf\xc3\xa9", "\xff", "\x80\x81\x82\x83", "na\xefve-\xe9t\xe9",
		"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e.txt",
		strings.Repeat("x", 15), strings.Repeat("y", 16), strings.Repeat("z", 17),
		strings.Repeat("q", 31), strings.Repeat("r", 32), strings.Repeat("s", 33),
		strings.Repeat("\xfe\x01", 40), strings.Repeat("long-name.", 25) + "\xaa\xbb\xcc\xdd\xee",
	}
	// Every byte but the ones debugfs's command line splits or quotes on.
	var all []byte
	for c := 1; c < 256; c++ {
		if c > ' ' && c != '"' && c != '\\' && c != '#' && c != '/' && c != 0x7f {
			all = append(all, byte(c))
		}
	}
	for i := 0; i < len(all); i += 50 {
		names = append(names, string(all[i:min(i+50, len(all))]))
	}
	return names
}

var dxHashOut = regexp.MustCompile(`is 0x([0-9a-f]+) \(minor 0x([0-9a-f]+)\)`)

// TestDirHashDebugfs compares DirHash for every hash version (signed and
// unsigned) with the default and a chosen seed against debugfs's dx_hash,
// e2fsprogs' ext2fs_dirhash.
func TestDirHashDebugfs(t *testing.T) {
	debugfs := testutil.Need(t, "debugfs")[0]
	seeds := []struct {
		uuid string
		seed [4]uint32
	}{
		{"00000000-0000-0000-0000-000000000000", [4]uint32{}},
		// s_hash_seed is the UUID's bytes as little-endian words:
		// 9e 1f 0c 2a | 7d 3b 4c 5e | 8f 60 71 82 | 93 a4 b5 c6.
		{"9e1f0c2a-7d3b-4c5e-8f60-718293a4b5c6", [4]uint32{0x2a0c1f9e, 0x5e4c3b7d, 0x8271608f, 0xc6b5a493}},
	}
	names := hashNames()
	type query struct {
		version uint8
		seed    [4]uint32
		name    string
	}
	var qs []query
	var cmds strings.Builder
	for _, s := range seeds {
		for v := uint8(HashLegacy); v <= HashTeaUnsigned; v++ {
			for _, n := range names {
				qs = append(qs, query{v, s.seed, n})
				fmt.Fprintf(&cmds, "dx_hash -h %d -s %s %s\n", v, s.uuid, n)
			}
		}
	}
	file := filepath.Join(t.TempDir(), "cmds")
	if err := os.WriteFile(file, []byte(cmds.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(debugfs, "-f", file).Output()
	if err != nil {
		t.Fatalf("debugfs: %v", err)
	}
	got := dxHashOut.FindAllStringSubmatch(string(out), -1)
	if len(got) != len(qs) {
		t.Fatalf("debugfs answered %d of %d queries:\n%s", len(got), len(qs), out)
	}
	differ := 0
	for i, q := range qs {
		wantH, _ := strconv.ParseUint(got[i][1], 16, 32)
		wantM, _ := strconv.ParseUint(got[i][2], 16, 32)
		h, m, ok := DirHash(q.version, []byte(q.name), q.seed)
		if !ok || h != uint32(wantH) || m != uint32(wantM) {
			t.Errorf("DirHash(%d, %q, %x) = %#x, %#x, %v; debugfs: %#x, %#x", q.version, q.name, q.seed, h, m, ok, wantH, wantM)
		}
		if q.version < HashLegacyUnsigned {
			if u, _, _ := DirHash(q.version+3, []byte(q.name), q.seed); u != h {
				differ++
			}
		}
	}
	// The signed and unsigned variants must part on the names with high bytes.
	if differ == 0 {
		t.Error("signed and unsigned hashes never differ")
	}
	if _, _, ok := DirHash(HashSiphash, []byte("a"), [4]uint32{1}); ok {
		t.Error("DirHash computes SipHash, which needs the casefolded name and the key")
	}
}
