package xfs

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

// TestHashName compares HashName with xfs_db's hash command (libxfs's
// xfs_da_hashname) on names of every length modulo 4, bytes above 0x7f (no spaces: xfs_db splits on them)
// and the longest name.
func TestHashName(t *testing.T) {
	testutil.Need(t, "mkfs.xfs", "xfs_db")
	img := filepath.Join(t.TempDir(), "img")
	testutil.Run(t, "truncate", "-s", "300M", img)
	testutil.Run(t, "mkfs.xfs", "-q", img)
	names := []string{"a", "ab", "abc", "abcd", "entry-12", "lost+found", "Ünïcödé-☃", strings.Repeat("n", 255), "x.y.z.w.v"}
	args := []string{"-r"}
	for _, n := range names {
		args = append(args, "-c", "hash "+n)
	}
	out, err := exec.Command("xfs_db", append(args, img)...).CombinedOutput()
	if err != nil {
		t.Fatalf("xfs_db: %v\n%s", err, out)
	}
	lines := strings.Fields(string(out))
	if len(lines) != len(names) {
		t.Fatalf("xfs_db gave %d hashes for %d names:\n%s", len(lines), len(names), out)
	}
	for i, n := range names {
		if got := fmt.Sprintf("0x%x", HashName([]byte(n))); got != lines[i] {
			t.Errorf("%q: hash %s, xfs_db %s", n, got, lines[i])
		}
	}
}
