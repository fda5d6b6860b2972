package archive

import (
	"archive/tar"
	"bytes"
	"io"
	"strings"
	"testing"
)

// writeGNU writes entries in GNU format.
func writeGNU(t *testing.T, entries []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := NewWriterSize(&buf, 4096)
	tw.SetFormat(FormatGNU)
	for _, e := range entries {
		h := e.h
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatalf("WriteHeader(%q): %v", h.Name, err)
		}
		data := e.data
		if h.Sparse != nil {
			data = nil
			for _, x := range h.Sparse {
				data = append(data, e.data[x.Offset:x.Offset+x.Length]...)
			}
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestGNUGoReader writes every kind of entry in GNU format and reads it
// back with Go's archive/tar, which knows long names, base-256 numbers and
// old GNU sparse files: everything but xattrs and nanoseconds survives.
func TestGNUGoReader(t *testing.T) {
	entries := testEntries()
	// Many regions: the map needs extension blocks (4 + 21 + ...).
	var many []Extent
	manyData := make([]byte, 40*1024)
	for i := range 30 {
		many = append(many, Extent{int64(i) * 1024, 512})
		copy(manyData[i*1024:], strings.Repeat(string(rune('a'+i%26)), 512))
	}
	entries = append(entries, entry{h: Header{Name: "./many-regions", Typeflag: TypeReg, Mode: 0o644,
		Size: int64(len(manyData)), Sparse: many}, data: manyData})
	archive := writeGNU(t, entries)
	if bytes.Contains(archive, []byte("SCHILY")) || bytes.Contains(archive, []byte("PaxHeaders")) {
		t.Error("pax records in a GNU archive")
	}
	tr := tar.NewReader(bytes.NewReader(archive))
	for _, e := range entries {
		hdr, err := tr.Next()
		if err != nil {
			t.Fatalf("%s: %v", e.h.Name, err)
		}
		name := e.h.Name
		if e.h.Typeflag == TypeDir && !strings.HasSuffix(name, "/") {
			name += "/"
		}
		if hdr.Format != tar.FormatGNU {
			t.Errorf("%s: read as %v", name, hdr.Format)
		}
		typ := e.h.Typeflag
		if e.h.Sparse != nil {
			typ = tar.TypeGNUSparse
		}
		if hdr.Name != name || hdr.Typeflag != typ || hdr.Mode != int64(e.h.Mode) || hdr.Uid != int(e.h.Uid) ||
			hdr.Gid != int(e.h.Gid) || hdr.Linkname != e.h.Linkname || hdr.Uname != e.h.Uname[:min(31, len(e.h.Uname))] ||
			hdr.Devmajor != int64(e.h.Devmajor) || hdr.Devminor != int64(e.h.Devminor) ||
			hdr.ModTime.Unix() != e.h.Mtime.Sec || hdr.ModTime.Nanosecond() != 0 {
			t.Errorf("%s: read back %+v", name, hdr)
		}
		if len(hdr.PAXRecords) != 0 || len(hdr.Xattrs) != 0 { //nolint:staticcheck // Xattrs is what Go fills
			t.Errorf("%s: records %v", name, hdr.PAXRecords)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if e.h.Typeflag == TypeReg && (!bytes.Equal(data, e.data) || hdr.Size != e.h.Size) {
			t.Errorf("%s: %d bytes back (size %d), want %d", name, len(data), hdr.Size, len(e.data))
		}
	}
	if _, err := tr.Next(); err != io.EOF {
		t.Errorf("after the entries: %v", err)
	}
}

func TestPutNumeric(t *testing.T) {
	for _, tc := range []struct {
		v     int64
		width int
		want  string
	}{
		{0o777, 8, "0000777\x00"},
		{1 << 21, 8, "\x80\x00\x00\x00\x00\x20\x00\x00"},
		{-1, 12, strings.Repeat("\xff", 12)},
		{-86400, 12, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xae\x80"},
		{1 << 33, 12, "\x80\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00\x00"},
	} {
		f := make([]byte, tc.width)
		putNumeric(f, tc.v)
		if string(f) != tc.want {
			t.Errorf("putNumeric(%d, %d) = %q, want %q", tc.v, tc.width, f, tc.want)
		}
	}
}

func TestParseFormat(t *testing.T) {
	for name, want := range map[string]Format{"pax": FormatPAX, "posix": FormatPAX, "gnu": FormatGNU} {
		if f, err := ParseFormat(name); err != nil || f != want {
			t.Errorf("ParseFormat(%q) = %v, %v", name, f, err)
		}
	}
	if _, err := ParseFormat("ustar"); err == nil {
		t.Error("ustar accepted")
	}
}
