package isofs_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lklimg/lklimg/format/iso9660"
	"github.com/lklimg/lklimg/internal/testutil"
)

// Images other writers make that Linux reads: each built small by
// xorriso, then changed where the writer in question differs, and
// compared with what xorriso or bsdtar extract.

// smallTree writes a few files and a directory under a temporary
// directory and returns it.
func smallTree(t *testing.T) string {
	t.Helper()
	src := filepath.Join(t.TempDir(), "src")
	mkdir(t, filepath.Join(src, "dir"))
	for name, data := range map[string]string{"readme.txt": "hello\n", "dir/inner.dat": "inner data\n"} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return src
}

// pokeImage applies fn to the image's bytes and writes them back.
func pokeImage(t *testing.T, img string, fn func(p []byte)) {
	t.Helper()
	p, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	fn(p)
	if err := os.WriteFile(img, p, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestReadRootRecordLength reads an image whose primary descriptor
// gives its root's record a length byte of 68 where the field holds 34
// (as libarchive's test_read_format_iso_3.iso does): Linux reads only
// the extent from it, and so must we.
func TestReadRootRecordLength(t *testing.T) {
	img := testutil.XorrisoImage(t, smallTree(t), "-R")
	want := testutil.XorrisoView(t, img)
	pokeImage(t, img, func(p []byte) {
		const root = iso9660.FirstDescriptorSector*iso9660.SectorSize + 156
		if p[root] != 34 {
			t.Fatalf("root record length %d, want 34", p[root])
		}
		p[root] = 68
	})
	got := kernelView(t, img, "")
	n := compare(t, want, got, testutil.CompareOptions{Ignore: []string{"links", "xattrs"}, SkipPaths: []string{"."}, MtimeUnit: time.Second})
	if n < 4 {
		t.Errorf("%d entries compared", n)
	}
}
