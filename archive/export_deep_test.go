//go:build linux

package archive

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

// TestExportDeepTree: below maxDirFDs levels of open directories the walk
// goes on by full paths, and the archive is the same as the host's tree,
// with a file and a symlink at every level.
func TestExportDeepTree(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	dir := src
	for i := range maxDirFDs + 10 {
		dir = filepath.Join(dir, "d")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "f"), bytes.Repeat([]byte{byte(i)}, i+1), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("f", filepath.Join(dir, "l")); err != nil {
			t.Fatal(err)
		}
	}
	want, err := testutil.ScanDir(src)
	if err != nil {
		t.Fatal(err)
	}
	out, reports := exportHost(t, src, Options{})
	if len(reports) != 0 {
		t.Errorf("reports: %v", reports)
	}
	got, err := testutil.ScanTar(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range testutil.Compare(want, got, testutil.CompareOptions{}) {
		t.Errorf("host vs archive: %s", d)
	}
	deepest := strings.Repeat("d/", maxDirFDs+10) + "l"
	if e := got[deepest]; e == nil {
		t.Errorf("%s missing from the archive", deepest)
	}
}
