//go:build linux

package archive

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
	"golang.org/x/sys/unix"
)

// TestWriterTools lists the test entries with GNU tar and bsdtar, which
// must accept every header, and extracts them with GNU tar: sparse files
// come back with their holes.
func TestWriterTools(t *testing.T) {
	file := filepath.Join(t.TempDir(), "t.tar")
	if err := os.WriteFile(file, writeArchive(t, testEntries()), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{"tar", "bsdtar"} {
		t.Run(tool, func(t *testing.T) {
			path := testutil.Need(t, tool)[0]
			list := string(testutil.Run(t, path, "-tvf", file))
			for _, want := range []string{"./sparse-hole-end", "./not-utf8-", "long-directory-name/long-directory-name", "./symlink -> t/t/t/"} {
				if !strings.Contains(list, want) {
					t.Errorf("%s -tvf does not show %q:\n%s", tool, want, list)
				}
			}
		})
	}
	tarPath := testutil.Need(t, "tar")[0]
	dst := t.TempDir()
	testutil.Run(t, tarPath, "-xf", file, "-C", dst, "./sparse", "./sparse-hole-end", "./all-hole")
	for _, tc := range []struct {
		name      string
		size      int64
		firstData int64 // -1: none
	}{
		{"sparse", 15000, 1024},
		{"sparse-hole-end", 100000, 0},
		{"all-hole", 5000, -1},
	} {
		f, err := os.Open(filepath.Join(dst, tc.name))
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := f.Stat()
		if fi.Size() != tc.size {
			t.Errorf("%s: size %d, want %d", tc.name, fi.Size(), tc.size)
		}
		hole, err := unix.Seek(int(f.Fd()), 0, unix.SEEK_HOLE)
		if err != nil || hole >= tc.size {
			t.Errorf("%s: first hole at %d (%v): GNU tar did not restore the holes", tc.name, hole, err)
		}
		f.Close()
	}
}
