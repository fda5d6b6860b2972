package archive

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
)

// readAll reads every entry of an archive with Reader: the headers, and
// each regular file's stored data (its regions' bytes for a sparse file).
func readAll(t testing.TB, archive []byte) ([]*Header, [][]byte) {
	t.Helper()
	tr := NewReader(bytes.NewReader(archive))
	var hs []*Header
	var data [][]byte
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return hs, data
		}
		if err != nil {
			t.Fatalf("after %d entries: %v", len(hs), err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("%s: %v", h.Name, err)
		}
		hs = append(hs, h)
		data = append(data, b)
	}
}

// stored is what Writer takes as an entry's data: the file's bytes, or
// its regions' bytes one after another.
func stored(e entry) []byte {
	if e.h.Sparse == nil {
		return e.data
	}
	var b []byte
	for _, x := range e.h.Sparse {
		b = append(b, e.data[x.Offset:x.Offset+x.Length]...)
	}
	return b
}

// TestReaderRoundTrip: what Writer writes, in pax and in GNU format,
// Reader reads back field by field, sparse maps and xattrs included (GNU
// format drops what it has no place for: nanoseconds and xattrs).
func TestReaderRoundTrip(t *testing.T) {
	entries := testEntries()
	var many []Extent
	manyData := make([]byte, 40*1024)
	for i := range 30 {
		many = append(many, Extent{int64(i) * 1024, 512})
		copy(manyData[i*1024:], strings.Repeat(string(rune('a'+i%26)), 512))
	}
	entries = append(entries, entry{h: Header{Name: "./many-regions", Typeflag: TypeReg, Mode: 0o644,
		Size: int64(len(manyData)), Sparse: many}, data: manyData})
	for _, format := range []Format{FormatPAX, FormatGNU} {
		var archive []byte
		if format == FormatGNU {
			archive = writeGNU(t, entries)
		} else {
			archive = writeArchive(t, entries)
		}
		hs, data := readAll(t, archive)
		if len(hs) != len(entries) {
			t.Fatalf("format %d: %d entries, want %d", format, len(hs), len(entries))
		}
		for i, e := range entries {
			want := e.h
			if want.Typeflag == TypeDir && !strings.HasSuffix(want.Name, "/") {
				want.Name += "/"
			}
			if want.Typeflag != TypeReg {
				want.Size = 0
			}
			if format == FormatGNU {
				want.Mtime.Nsec = 0
				want.Xattrs = nil
				if len(want.Gname) > 31 {
					want.Gname = want.Gname[:31]
				}
			}
			got := *hs[i]
			if got.Sparse != nil && len(got.Sparse) == 0 && want.Sparse != nil && len(want.Sparse) == 0 {
				got.Sparse = want.Sparse
			}
			if !equalHeaders(&got, &want) {
				t.Errorf("format %d: read %+v\nwant %+v", format, got, want)
			}
			if want.Typeflag == TypeReg && !bytes.Equal(data[i], stored(e)) {
				t.Errorf("format %d: %s: data differs (%d bytes, want %d)", format, want.Name, len(data[i]), len(stored(e)))
			}
		}
	}
}

func equalHeaders(a, b *Header) bool {
	eqTime := func(x, y *Time) bool { return x == nil && y == nil || x != nil && y != nil && *x == *y }
	return a.Name == b.Name && a.Typeflag == b.Typeflag && a.Mode == b.Mode && a.Uid == b.Uid &&
		a.Gid == b.Gid && a.Uname == b.Uname && a.Gname == b.Gname && a.Size == b.Size &&
		a.Mtime == b.Mtime && eqTime(a.Atime, b.Atime) && eqTime(a.Ctime, b.Ctime) &&
		a.Linkname == b.Linkname && a.Devmajor == b.Devmajor && a.Devminor == b.Devminor &&
		slices.EqualFunc(a.Xattrs, b.Xattrs, func(x, y Xattr) bool { return x.Name == y.Name && bytes.Equal(x.Value, y.Value) }) &&
		slices.Equal(a.Sparse, b.Sparse)
}

// block builds one header block with the given fields and a correct
// checksum (signed when signed is set).
func block(fields map[int]string, signed bool) []byte {
	b := make([]byte, blockSize)
	for off, v := range fields {
		copy(b[off:], v)
	}
	for i := range lenChksum {
		b[offChksum+i] = ' '
	}
	var sum int64
	for _, c := range b {
		if signed {
			sum += int64(int8(c))
		} else {
			sum += int64(c)
		}
	}
	if sum < 0 {
		// A negative signed sum cannot be written in octal: not a case
		// a real tar makes.
		panic("negative checksum")
	}
	putOctal(b[offChksum:offChksum+7], sum)
	return b
}

func pad(b []byte) []byte { return append(b, make([]byte, padding(int64(len(b))))...) }

// TestReaderDialects reads hand-made headers of each dialect: v7, a
// signed checksum, base-256 numbers, star's prefix, pax globals, GNU
// sparse 0.0 and 0.1 records, LIBARCHIVE xattrs and ACL text.
func TestReaderDialects(t *testing.T) {
	var a []byte
	// v7: no magic, a directory by its trailing slash, a file with
	// typeflag NUL, and a high byte in a name for the signed checksum.
	a = append(a, block(map[int]string{offName: "v7dir/", offMode: "0000755\x00", offUid: "0000012\x00",
		offGid: "     13\x00", offSize: "00000000000\x00", offMtime: "00000000100\x00"}, false)...)
	a = append(a, block(map[int]string{offName: "v7dir/f\xe9", offMode: "644 ", offSize: "5", offMtime: "7"}, true)...)
	a = append(a, pad([]byte("hello"))...)
	// base-256 uid and negative mtime; star's prefix.
	b256 := make([]byte, blockSize)
	copy(b256[offName:], "b256")
	copy(b256[offMode:], "0000644\x00")
	b256[offTypeflag] = '0'
	copy(b256[offMagic:], "ustar\x0000")
	copy(b256[offPrefix:], "star-prefix")
	copy(b256[offStarTrailer:], "tar\x00")
	copy(b256[offUid:], []byte{0x80, 0, 0, 0, 0, 0x2d, 0xc6, 0xc0})
	copy(b256[offMtime:], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe})
	copy(b256[offSize:], "00000000000\x00")
	setChecksum(b256)
	a = append(a, b256...)
	// A global header, then an entry with its own records: GNU sparse
	// 0.1, LIBARCHIVE xattrs, ACL text (star's, with ids).
	a = withPAX(a, 'g', "uid", "77", "mtime", "-1.25", "path", "not/for/every/entry")
	a = withPAX(a, 'x', "GNU.sparse.map", "0,3,1024,2", "GNU.sparse.size", "2000", "GNU.sparse.name", "real/name",
		"LIBARCHIVE.xattr.user.a%3Db", "AAEC",
		"SCHILY.acl.access", "user::rw-,group::r--,other::r--,user:joe:rwx:1000,group:2000:r-x,mask::rwx",
		"SCHILY.acl.default", "user::rwx\ngroup::r-x\nother::---\n", "atime", "5.5")
	a = withData(a, "GNUSparseFile/name", "0000600\x00", "abcde")
	// GNU sparse 0.0, a minimal access ACL (no xattr), and an empty
	// record that deletes the global uid: the header's 0 again.
	a = withPAX(a, 'x', "GNU.sparse.size", "4096", "GNU.sparse.numblocks", "2",
		"GNU.sparse.offset", "512", "GNU.sparse.numbytes", "1", "GNU.sparse.offset", "4096", "GNU.sparse.numbytes", "0",
		"SCHILY.acl.access", "user::rw-\ngroup::r--\nother::r--\n", "uid", "")
	a = withData(a, "s00", "", "z")
	a = append(a, make([]byte, 2*blockSize)...)

	tr := NewReader(bytes.NewReader(a))
	next := func() *Header {
		t.Helper()
		h, err := tr.Next()
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	h := next()
	if h.Name != "v7dir/" || h.Typeflag != TypeDir || h.Mode != 0o755 || h.Uid != 0o12 || h.Gid != 0o13 || h.Mtime.Sec != 64 {
		t.Errorf("v7 dir: %+v", h)
	}
	h = next()
	if d, _ := io.ReadAll(tr); h.Name != "v7dir/f\xe9" || h.Typeflag != TypeReg || h.Size != 5 || string(d) != "hello" || h.Mode != 0o644 {
		t.Errorf("v7 file (signed checksum): %+v %q", h, d)
	}
	h = next()
	if h.Name != "star-prefix/b256" || h.Uid != 3000000 || h.Mtime.Sec != -2 {
		t.Errorf("base-256, star: %+v", h)
	}
	h = next()
	aclAccess := []byte{2, 0, 0, 0}
	for _, e := range []aclEntry{{aclTagUserObj, 6, aclUndefinedID}, {aclTagUser, 7, 1000}, {aclTagGroupObj, 4, aclUndefinedID},
		{aclTagGroup, 5, 2000}, {aclTagMask, 7, aclUndefinedID}, {aclTagOther, 4, aclUndefinedID}} {
		aclAccess = binary.LittleEndian.AppendUint16(aclAccess, e.tag)
		aclAccess = binary.LittleEndian.AppendUint16(aclAccess, e.perm)
		aclAccess = binary.LittleEndian.AppendUint32(aclAccess, e.id)
	}
	wantX := []Xattr{{"system.posix_acl_access", aclAccess}, {"system.posix_acl_default", nil}, {"user.a=b", []byte{0, 1, 2}}}
	if len(h.Xattrs) == 3 {
		wantX[1].Value = h.Xattrs[1].Value // checked below
	}
	if d, _ := io.ReadAll(tr); h.Name != "real/name" || h.Size != 2000 || string(d) != "abcde" || h.Uid != 77 ||
		!slices.Equal(h.Sparse, []Extent{{0, 3}, {1024, 2}}) || h.Mtime != (Time{-2, 750000000}) ||
		h.Atime == nil || *h.Atime != (Time{5, 500000000}) || !equalHeaders(&Header{Xattrs: h.Xattrs}, &Header{Xattrs: wantX}) {
		t.Errorf("pax 0.1: %+v %q", h, d)
	}
	if len(h.Xattrs) == 3 && len(h.Xattrs[1].Value) != 4+3*8 {
		t.Errorf("default ACL: %x", h.Xattrs[1].Value)
	}
	h = next()
	if d, _ := io.ReadAll(tr); h.Name != "s00" || h.Size != 4096 || string(d) != "z" || h.Uid != 0 ||
		!slices.Equal(h.Sparse, []Extent{{512, 1}}) || h.Xattrs != nil {
		t.Errorf("pax 0.0: %+v %q", h, d)
	}
	if _, err := tr.Next(); err != io.EOF {
		t.Errorf("end: %v", err)
	}
}

// withPAX appends a pax extended header of type typ ('x' or 'g') holding
// the records kv (key, value, key, value, ...).
func withPAX(a []byte, typ byte, kv ...string) []byte {
	var recs []byte
	for i := 0; i < len(kv); i += 2 {
		recs = appendPAXRecord(recs, kv[i], kv[i+1])
	}
	a = append(a, block(map[int]string{offName: "pax", offSize: octal(len(recs)), offTypeflag: string(typ), offMagic: "ustar\x0000"}, false)...)
	return append(a, pad(recs)...)
}

// withData appends a ustar regular file's header and data.
func withData(a []byte, name, mode, data string) []byte {
	a = append(a, block(map[int]string{offName: name, offMode: mode, offSize: octal(len(data)), offTypeflag: "0", offMagic: "ustar\x0000"}, false)...)
	return append(a, pad([]byte(data))...)
}

func octal(n int) string {
	b := make([]byte, lenSize)
	putOctal(b, int64(n))
	return string(b)
}

// TestReaderDamaged: every kind of damage is an error wrapping ErrFormat
// (or the end of the archive where GNU tar sees one), never a panic.
func TestReaderDamaged(t *testing.T) {
	good := writeArchive(t, testEntries())
	hs, _ := readAll(t, good)
	for _, c := range []struct {
		name  string
		input []byte
		want  string
	}{
		{"checksum", func() []byte { b := bytes.Clone(good); b[10] ^= 1; return b }(), "checksum mismatch"},
		{"not tar", bytes.Repeat([]byte("hello world\n"), 100), "not a tar header"},
		{"cut in header", good[:blockSize+100], "ends inside a header"},
		{"cut in data", good[:len(good)-3*blockSize-100], "ends inside the entry"},
	} {
		tr := NewReader(bytes.NewReader(c.input))
		var err error
		for err == nil {
			if _, err = tr.Next(); err == nil {
				_, err = io.Copy(io.Discard, tr)
			}
		}
		if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	// Without its end blocks, or with one zero block, an archive ends
	// where its entries do.
	end := len(good) - 2*blockSize
	for _, cut := range []int{end, end + blockSize} {
		got, _ := readAll(t, good[:cut])
		if len(got) != len(hs) {
			t.Errorf("cut at %d: %d entries, want %d", cut, len(got), len(hs))
		}
	}
}

// FuzzReader reads fuzzed archives: Reader may refuse them (with an error
// wrapping ErrFormat, or an unexpected end), never panic, loop or give
// more data than an entry announces.
func FuzzReader(f *testing.F) {
	// Small seeds (the fuzzer minimizes what it finds, slowly for large
	// inputs): each kind of header, little data.
	for _, format := range []Format{FormatPAX, FormatGNU} {
		var buf bytes.Buffer
		tw := NewWriterSize(&buf, 4096)
		tw.SetFormat(format)
		tw.WriteHeader(&Header{Name: "./" + strings.Repeat("long/", 30), Typeflag: TypeReg, Size: 5000,
			Sparse: []Extent{{0, 512}, {1024, 512}, {2048, 512}, {3072, 512}, {4096, 512}, {4608, 392}},
			Xattrs: []Xattr{{"user.a", []byte("b")}}, Mtime: Time{-5, 5}})
		tw.Write(make([]byte, 5*512+392))
		tw.WriteHeader(&Header{Name: "./l", Typeflag: TypeSymlink, Linkname: strings.Repeat("t", 200), Uid: 1 << 30})
		tw.WriteHeader(&Header{Name: "./f", Typeflag: TypeReg, Size: 3})
		tw.Write([]byte("abc"))
		tw.Close()
		f.Add(buf.Bytes())
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		tr := NewReader(bytes.NewReader(data))
		for range 10000 {
			h, err := tr.Next()
			if err != nil {
				if err != io.EOF && !errors.Is(err, ErrFormat) {
					t.Fatalf("Next: %v", err)
				}
				return
			}
			want := int64(0)
			if h.Typeflag == TypeReg {
				want = h.Size
				if h.Sparse != nil {
					want = 0
					for _, r := range h.Sparse {
						if r.Offset < 0 || r.Length <= 0 || r.Offset+r.Length > h.Size {
							t.Fatalf("%s: region %+v, size %d", h.Name, r, h.Size)
						}
						want += r.Length
					}
				}
			}
			n, err := io.Copy(io.Discard, tr)
			if err != nil {
				if !errors.Is(err, ErrFormat) {
					t.Fatalf("Read: %v", err)
				}
				return
			}
			if n != want {
				t.Fatalf("%s: %d bytes of data, want %d", h.Name, n, want)
			}
		}
	})
}

// TestACLText converts ACL text as star, bsdtar and GNU tar write it.
func TestACLText(t *testing.T) {
	entry := func(tag, perm uint16, id uint32) []byte {
		b := binary.LittleEndian.AppendUint16(nil, tag)
		b = binary.LittleEndian.AppendUint16(b, perm)
		return binary.LittleEndian.AppendUint32(b, id)
	}
	none := uint32(aclUndefinedID)
	want := slices.Concat([]byte{2, 0, 0, 0}, entry(aclTagUserObj, 7, none), entry(aclTagUser, 5, 1000),
		entry(aclTagUser, 4, 1001), entry(aclTagGroupObj, 5, none), entry(aclTagMask, 7, none), entry(aclTagOther, 0, none))
	for _, text := range []string{
		"user::rwx,user:b:r--:1001,user:a:r-x:1000,group::r-x,mask::rwx,other::---",                    // star, bsdtar: unsorted, with ids
		"user::rwx\nuser:1000:r-x\nuser:1001:r--\ngroup::r-x\t#effective:r-x\nmask::rwx\nother::---\n", // numeric names
		"u::rwx,u:1000:rx,u:1001:r,g::rx,m:rwx,o::",                                                    // short forms
	} {
		got, err := aclXattr(text, true)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%q: %x %v\nwant %x", text, got, err, want)
		}
	}
	if got, err := aclXattr("user::rw-\ngroup::r--\nother::r--\n", true); got != nil || err != nil {
		t.Errorf("a minimal access ACL: %x %v, want none", got, err)
	}
	if got, err := aclXattr("user::rwx,group::r-x,other::---", false); len(got) != 4+3*8 || err != nil {
		t.Errorf("a minimal default ACL: %x %v", got, err)
	}
	for _, bad := range []string{"user:joe:rwx", "user::rwz", "bogus::rwx", "user"} {
		if _, err := aclXattr(bad, true); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
