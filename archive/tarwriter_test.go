package archive

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"maps"
	"math/rand"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPAXRecordLength(t *testing.T) {
	for _, tc := range []struct{ key, value, want string }{
		{"path", "a", "9 path=a\n"},
		{"mtime", "1700000000.123456789", "30 mtime=1700000000.123456789\n"},
		// 9 bytes and 1 digit would make 10: the length gains a digit.
		{"k", "12345", "11 k=12345\n"},
		{"k", "1234", "9 k=1234\n"},
		{"SCHILY.xattr.user.x", "\x00\n=", "27 SCHILY.xattr.user.x=\x00\n=\n"},
	} {
		if got := string(appendPAXRecord(nil, tc.key, tc.value)); got != tc.want {
			t.Errorf("record(%q, %q) = %q, want %q", tc.key, tc.value, got, tc.want)
		}
	}
	// Around the length's digit boundaries, the length is the record's.
	for n := 80; n < 1100; n++ {
		r := appendPAXRecord(nil, "k", strings.Repeat("v", n))
		var size int
		for _, c := range r[:bytes.IndexByte(r, ' ')] {
			size = size*10 + int(c-'0')
		}
		if size != len(r) {
			t.Fatalf("value of %d bytes: record says %d, is %d", n, size, len(r))
		}
	}
}

func TestFormatPAXTime(t *testing.T) {
	for _, tc := range []struct {
		t    Time
		want string
	}{
		{Time{1700000000, 0}, "1700000000"},
		{Time{1700000000, 123456789}, "1700000000.123456789"},
		{Time{1700000000, 500000000}, "1700000000.5"},
		{Time{1, 1000}, "1.000001"},
		{Time{-1, 500000000}, "-0.5"},
		{Time{-86400, 250000000}, "-86399.75"},
		{Time{-5, 0}, "-5"},
	} {
		if got := formatPAXTime(tc.t); got != tc.want {
			t.Errorf("formatPAXTime(%+v) = %q, want %q", tc.t, got, tc.want)
		}
	}
}

func TestSplitUSTARPath(t *testing.T) {
	for _, tc := range []struct {
		name         string
		prefix, base string
		ok           bool
	}{
		{"./a", "", "./a", true},
		{strings.Repeat("a", 100), "", strings.Repeat("a", 100), true},
		{"./" + strings.Repeat("d", 50) + "/" + strings.Repeat("f", 60), "./" + strings.Repeat("d", 50), strings.Repeat("f", 60), true},
		{"./" + strings.Repeat("f", 120), "", "", false},        // no '/' to split at
		{"./" + strings.Repeat("d", 160) + "/f", "", "", false}, // prefix too long
		{"./d/" + strings.Repeat("f", 101), "", "", false},      // name too long
		{strings.Repeat("d", 150) + "/" + strings.Repeat("f", 100), strings.Repeat("d", 150), strings.Repeat("f", 100), true},
	} {
		p, b, ok := splitUSTARPath(tc.name)
		if p != tc.prefix || b != tc.base || ok != tc.ok {
			t.Errorf("split(%q) = %q, %q, %v; want %q, %q, %v", tc.name, p, b, ok, tc.prefix, tc.base, tc.ok)
		}
	}
}

// entry is a header and its data (the whole file, holes as zeros).
type entry struct {
	h    Header
	data []byte
}

func writeArchive(t testing.TB, entries []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := NewWriterSize(&buf, 4096) // small, so that flushes happen
	for _, e := range entries {
		h := e.h
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatalf("WriteHeader(%q): %v", h.Name, err)
		}
		if h.Sparse == nil {
			if _, err := tw.Write(e.data); err != nil {
				t.Fatal(err)
			}
			continue
		}
		for _, x := range h.Sparse {
			if _, err := tw.ReadFrom(bytes.NewReader(e.data[x.Offset : x.Offset+x.Length])); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if buf.Len()%blockSize != 0 {
		t.Fatalf("archive of %d bytes: not whole blocks", buf.Len())
	}
	return buf.Bytes()
}

func testEntries() []entry {
	sparse := make([]byte, 15000)
	copy(sparse[1024:], "data in the middle")
	copy(sparse[len(sparse)-5:], "tail!")
	holeEnd := make([]byte, 100000)
	copy(holeEnd, "head")
	long := "./" + strings.Repeat("long-directory-name/", 12) + strings.Repeat("é", 60)
	return []entry{
		{h: Header{Name: "./", Typeflag: TypeDir, Mode: 0o755, Mtime: Time{1600000000, 0}}, data: nil},
		{h: Header{Name: "./file", Typeflag: TypeReg, Mode: 0o4755, Uid: 1000, Gid: 100, Size: 6,
			Mtime: Time{1700000000, 123456789}}, data: []byte("hello\n")},
		{h: Header{Name: "./named", Typeflag: TypeReg, Mode: 0o644, Uid: 1000, Gid: 100,
			Uname: "user", Gname: "a-group-name-longer-than-31-bytes"}},
		{h: Header{Name: "./big-ids", Typeflag: TypeReg, Mode: 0o644, Uid: 3000000, Gid: 1 << 31,
			Mtime: Time{4102444800, 0}}, data: nil},
		{h: Header{Name: "./before-1970", Typeflag: TypeReg, Mtime: Time{-86400, 250000000}}},
		{h: Header{Name: long, Typeflag: TypeReg, Mode: 0o600, Size: 3}, data: []byte("abc")},
		{h: Header{Name: "./link", Typeflag: TypeLink, Linkname: long}},
		{h: Header{Name: "./symlink", Typeflag: TypeSymlink, Mode: 0o777, Linkname: strings.Repeat("t/", 250)}},
		{h: Header{Name: "./null", Typeflag: TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3}},
		{h: Header{Name: "./disk", Typeflag: TypeBlock, Mode: 0o660, Devmajor: 4095, Devminor: 1048575}},
		{h: Header{Name: "./fifo", Typeflag: TypeFifo, Mode: 0o644}},
		{h: Header{Name: "./xattrs", Typeflag: TypeReg, Xattrs: []Xattr{
			{"security.selinux", []byte("system_u:object_r:etc_t:s0\x00")},
			{"user.binary", []byte{0, 1, '\n', '=', 0xff}},
			{"user.empty", []byte{}},
		}}},
		{h: Header{Name: "./sparse", Typeflag: TypeReg, Mode: 0o644, Size: int64(len(sparse)),
			Sparse: []Extent{{1024, 512}, {14848, 152}}}, data: sparse},
		{h: Header{Name: "./sparse-hole-end", Typeflag: TypeReg, Mode: 0o644, Size: int64(len(holeEnd)),
			Sparse: []Extent{{0, 512}}}, data: holeEnd},
		{h: Header{Name: "./all-hole", Typeflag: TypeReg, Mode: 0o644, Size: 5000, Sparse: []Extent{}}, data: make([]byte, 5000)},
		{h: Header{Name: "./not-utf8-\xff", Typeflag: TypeReg}},
	}
}

// TestWriterGoReader writes entries of every kind and reads them back with
// Go's archive/tar.
func TestWriterGoReader(t *testing.T) {
	entries := testEntries()
	tr := tar.NewReader(bytes.NewReader(writeArchive(t, entries)))
	for _, e := range entries {
		hdr, err := tr.Next()
		if err != nil {
			t.Fatalf("%s: %v", e.h.Name, err)
		}
		name := e.h.Name
		if e.h.Typeflag == TypeDir && !strings.HasSuffix(name, "/") {
			name += "/"
		}
		if hdr.Name != name {
			t.Errorf("name %q, want %q", hdr.Name, name)
		}
		if hdr.Typeflag != e.h.Typeflag || hdr.Mode != int64(e.h.Mode) || hdr.Uid != int(e.h.Uid) ||
			hdr.Gid != int(e.h.Gid) || hdr.Linkname != e.h.Linkname ||
			hdr.Devmajor != int64(e.h.Devmajor) || hdr.Devminor != int64(e.h.Devminor) {
			t.Errorf("%s: read back %+v", name, hdr)
		}
		if want := time.Unix(e.h.Mtime.Sec, e.h.Mtime.Nsec); !hdr.ModTime.Equal(want) {
			t.Errorf("%s: mtime %v, want %v", name, hdr.ModTime, want)
		}
		if hdr.Uname != e.h.Uname || hdr.Gname != e.h.Gname || !hdr.AccessTime.IsZero() || !hdr.ChangeTime.IsZero() {
			t.Errorf("%s: uname/gname/atime/ctime: %+v", name, hdr)
		}
		xattrs := map[string]string{}
		for k, v := range hdr.PAXRecords {
			if n, ok := strings.CutPrefix(k, paxXattrPrefix); ok {
				xattrs[n] = v
			}
		}
		want := map[string]string{}
		for _, x := range e.h.Xattrs {
			want[x.Name] = string(x.Value)
		}
		if !maps.Equal(xattrs, want) {
			t.Errorf("%s: xattrs %q, want %q", name, xattrs, want)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if e.h.Typeflag == TypeReg && !bytes.Equal(data, e.data) && !(len(data) == 0 && e.data == nil) {
			t.Errorf("%s: data differs (%d bytes, want %d)", name, len(data), len(e.data))
		}
	}
	if _, err := tr.Next(); err != io.EOF {
		t.Errorf("after the last entry: %v, want EOF", err)
	}
}

// TestWriterDeterministic: the same entries give the same bytes, with pax
// records sorted and fixed pseudo-entry names.
func TestWriterDeterministic(t *testing.T) {
	a := writeArchive(t, testEntries())
	b := writeArchive(t, testEntries())
	if !bytes.Equal(a, b) {
		t.Fatal("two archives of the same entries differ")
	}
	for _, s := range []string{"./PaxHeaders/file", "./GNUSparseFile.0/sparse", "hdrcharset=BINARY", "3\n1024\n512\n14848\n152\n15000\n0\n\x00"} {
		if !bytes.Contains(a, []byte(s)) {
			t.Errorf("archive does not contain %q", s)
		}
	}
	if !bytes.HasSuffix(a, make([]byte, 2*blockSize)) {
		t.Error("archive does not end with two zero blocks")
	}
}

func TestWriterErrors(t *testing.T) {
	tw := NewWriter(io.Discard)
	if err := tw.WriteHeader(&Header{Name: "./f", Typeflag: TypeReg, Size: 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write([]byte("abcd")); !errors.Is(err, ErrWriteTooLong) {
		t.Errorf("write past the size: %v", err)
	}
	if err := tw.WriteHeader(&Header{Name: "./g", Typeflag: TypeReg}); err != nil {
		t.Errorf("after 3 of 3 bytes: %v", err)
	}
	tw = NewWriter(io.Discard)
	tw.WriteHeader(&Header{Name: "./f", Typeflag: TypeReg, Size: 3})
	if err := tw.Close(); err == nil || !strings.Contains(err.Error(), "3 bytes of data missing") {
		t.Errorf("close with data missing: %v", err)
	}
	for _, h := range []Header{
		{Name: "", Typeflag: TypeReg},
		{Name: "./x", Typeflag: TypeReg, Xattrs: []Xattr{{"user.a=b", nil}}},
		{Name: "./x", Typeflag: TypeReg, Size: 10, Sparse: []Extent{{5, 10}}},
		{Name: "./x", Typeflag: TypeReg, Size: 10, Sparse: []Extent{{4, 2}, {5, 1}}},
		{Name: "./x", Typeflag: TypeReg, Mtime: Time{0, 1e9}},
		{Name: "./x", Typeflag: TypeReg, Size: 2000, Sparse: []Extent{{512, 100}}}, // not whole blocks
		{Name: "./x", Typeflag: TypeReg, Size: 2000, Sparse: []Extent{{100, 512}}}, // not at a block
	} {
		if err := NewWriter(io.Discard).WriteHeader(&h); err == nil {
			t.Errorf("WriteHeader(%+v) accepted", h)
		}
	}
	// ZeroFill completes a failed entry.
	var buf bytes.Buffer
	tw = NewWriter(&buf)
	tw.WriteHeader(&Header{Name: "./f", Typeflag: TypeReg, Size: 10})
	tw.Write([]byte("abc"))
	tw.ZeroFill()
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(&buf)
	tr.Next()
	if data, _ := io.ReadAll(tr); string(data) != "abc\x00\x00\x00\x00\x00\x00\x00" {
		t.Errorf("zero-filled data %q", data)
	}
}

func TestAlignExtents(t *testing.T) {
	got := AlignExtents([]Extent{{0, 4}, {600, 10}, {1030, 1}, {4096, 4096}, {9000, 100}}, 9050)
	want := []Extent{{0, 1536}, {4096, 4096}, {8704, 346}}
	if !slices.Equal(got, want) {
		t.Errorf("AlignExtents = %v, want %v", got, want)
	}
}

// headCapture keeps the first bytes written and counts the rest.
type headCapture struct {
	head []byte
	n    int64
}

func (c *headCapture) Write(p []byte) (int, error) {
	if room := 64<<10 - len(c.head); room > 0 {
		c.head = append(c.head, p[:min(room, len(p))]...)
	}
	c.n += int64(len(p))
	return len(p), nil
}

// TestWriterHugeSize: a file beyond ustar's 8 GiB size field gets a pax
// size record, and a sparse one beyond it a realsize record.
func TestWriterHugeSize(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 8 GiB (to nowhere)")
	}
	const size = 8<<30 + 1
	var c headCapture
	tw := NewWriter(&c)
	if err := tw.WriteHeader(&Header{Name: "./huge", Typeflag: TypeReg, Size: size}); err != nil {
		t.Fatal(err)
	}
	tw.ZeroFill()
	if err := tw.WriteHeader(&Header{Name: "./huge-sparse", Typeflag: TypeReg, Size: 1 << 40, Sparse: []Extent{{1 << 39, 512}}}); err != nil {
		t.Fatal(err)
	}
	tw.ZeroFill()
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	hdr, err := tar.NewReader(bytes.NewReader(c.head)).Next()
	if err != nil {
		t.Fatal(err)
	}
	if hdr.Size != size || hdr.PAXRecords["size"] != "8589934593" {
		t.Errorf("huge: size %d, records %v", hdr.Size, hdr.PAXRecords)
	}
	if want := int64(3*blockSize + size + padding(size) + 3*blockSize + 512 + 512 + 2*blockSize); c.n != want {
		t.Errorf("archive of %d bytes, want %d", c.n, want)
	}
}

// TestByteSum: the word-at-a-time sum of a header's bytes is the byte by
// byte one, for all-255 blocks (the lanes' worst case) and random ones
// of every length around the word and lane boundaries.
func TestByteSum(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	for _, n := range []int{0, 1, 7, 8, 9, 511, 512, 513, 1024, 4096} {
		for k := 0; k < 50; k++ {
			b := make([]byte, n)
			r.Read(b)
			if k == 0 {
				for i := range b {
					b[i] = 255
				}
			}
			var want int64
			for _, c := range b {
				want += int64(c)
			}
			if got := byteSum(b); got != want {
				t.Fatalf("%d bytes: sum %d, want %d", n, got, want)
			}
		}
	}
}
