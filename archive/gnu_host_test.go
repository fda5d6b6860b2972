//go:build linux

package archive

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lklimg/lklimg/internal/testutil"
)

// TestExportGNU exports the host tree in GNU format: GNU tar and bsdtar
// extract it to the tree, holes included, less what the format cannot
// hold (xattrs, nanoseconds).
func TestExportGNU(t *testing.T) {
	src, want := testutil.NewTree(t)
	out, _ := exportHost(t, src, Options{Format: FormatGNU})
	file := filepath.Join(t.TempDir(), "gnu.tar")
	if err := os.WriteFile(file, out, 0o644); err != nil {
		t.Fatal(err)
	}
	opts := testutil.CompareOptions{
		SkipTypes: []string{testutil.TypeSocket},
		Ignore:    []string{"xattrs"},
		MtimeUnit: time.Second,
		HoleUnit:  4096,
	}
	for _, tool := range []string{"tar", "bsdtar"} {
		t.Run(tool, func(t *testing.T) {
			path := testutil.Need(t, tool)[0]
			dst := t.TempDir()
			testutil.Run(t, path, "--numeric-owner", "-xpf", file, "-C", dst)
			got, err := testutil.ScanDir(dst)
			if err != nil {
				t.Fatal(err)
			}
			got["."].Mtime = want["."].Mtime // the extraction directory's
			for _, d := range testutil.Compare(want, got, opts) {
				t.Errorf("host vs %s -x of the GNU archive: %s", tool, d)
			}
			list := string(testutil.Run(t, path, "-tvf", file))
			if strings.Contains(list, "@LongLink") || !strings.Contains(list, "sparse/hole-end") {
				t.Errorf("%s -tvf:\n%s", tool, list)
			}
		})
	}
}
