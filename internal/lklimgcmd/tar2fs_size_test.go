package lklimgcmd

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestVirtualSize: an uncompressed archive of n bytes gets a filesystem of
// (32 + 16) n (its entries' inodes at 16 KiB each, two 4 KiB blocks each)
// plus 256 MiB, at least 1 GiB (mke2fs.conf's default size type) and at
// most tar2fsVirtualSize, which is also what an archive of unknown size
// gets.
func TestVirtualSize(t *testing.T) {
	for _, c := range []struct {
		n         int64
		ratio, bs int
		want      int64
	}{
		{0, 0, 0, tar2fsVirtualSize},
		{-1, 0, 0, tar2fsVirtualSize},
		{10 << 20, 0, 0, 1 << 30},
		{200 << 20, 0, 0, 200<<20*(32+16) + 256<<20},
		{200 << 20, 4096, 0, 200<<20*(8+16) + 256<<20},
		{20 << 20, 1024, 1024, 1 << 30},
		{200 << 20, 65536, 0, 200<<20*(128+16) + 256<<20},
		{100 << 20, 0, 65536, 100<<20*(32+256) + 256<<20},
		{30 << 30, 0, 0, tar2fsVirtualSize},
		{1 << 62, 0, 0, tar2fsVirtualSize},
	} {
		if got := virtualSize(archiveSize{plain: c.n, headers: c.n}, c.ratio, c.bs); got != c.want {
			t.Errorf("virtualSize(%d, -i %d, -b %d) = %d, want %d", c.n, c.ratio, c.bs, got, c.want)
		}
	}
	// Scanned: the headers as before, the data once, a block per entry.
	for _, c := range []struct {
		a    archiveSize
		bs   int
		want int64
	}{
		{archiveSize{plain: 200 << 20, headers: 20 << 20, entries: 6000}, 0, 20<<20*(32+16) + 180<<20 + 6000*4096 + 256<<20},
		{archiveSize{plain: 200 << 20, headers: 10 << 20, entries: 6000}, 65536, 10<<20*(32+256) + 190<<20 + 6000*65536 + 256<<20},
		{archiveSize{plain: 100 << 20, headers: 1 << 20, entries: 100}, 0, 1 << 30},
		{archiveSize{plain: 1 << 50, headers: 1 << 20, entries: 100}, 0, tar2fsVirtualSize},
		{archiveSize{plain: 1 << 30, headers: 1 << 20, entries: 1 << 40}, 0, tar2fsVirtualSize},
	} {
		if got := virtualSize(c.a, 0, c.bs); got != c.want {
			t.Errorf("virtualSize(%+v, -b %d) = %d, want %d", c.a, c.bs, got, c.want)
		}
	}
}

// TestScanArchive: scanArchive counts an archive's entries and the bytes
// it reads that are not file data (headers, pax records, padding; not
// the second zero block at the end); the file's offset is not moved. An archive it cannot walk
// counts as all headers.
func TestScanArchive(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	sizes := []int64{100000, 0, 1, 5000, 2 << 20}
	data := int64(0)
	for i, n := range sizes {
		h := &tar.Header{Name: fmt.Sprintf("d/%s/f%d", strings.Repeat("x", 120), i), Mode: 0o644, Size: n,
			Typeflag: tar.TypeReg, PAXRecords: map[string]string{"SCHILY.xattr.user.a": "b"}}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(make([]byte, n))
		data += n
	}
	tw.WriteHeader(&tar.Header{Name: "d/", Mode: 0o755, Typeflag: tar.TypeDir})
	tw.Close()
	path := filepath.Join(t.TempDir(), "a.tar")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	size := int64(buf.Len())
	a, err := scanArchive(f, size)
	if skipped := a.plain - a.headers; err != nil || a.entries != 6 || skipped != data+512 {
		t.Errorf("scanArchive: %+v (%v); %d bytes of data in %d", a, err, data, size)
	}
	if pos, _ := f.Seek(0, io.SeekCurrent); pos != 0 {
		t.Errorf("the offset moved: at %d", pos)
	}
	// Cut in the middle of a file's data: all headers.
	if err := os.Truncate(path, size/2); err != nil {
		t.Fatal(err)
	}
	if a, err := scanArchive(f, size/2); err != nil || a != (archiveSize{plain: size / 2, headers: size / 2}) {
		t.Errorf("truncated archive: %+v (%v)", a, err)
	}
}
