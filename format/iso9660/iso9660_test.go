package iso9660

import (
	"bytes"
	"compress/zlib"
	"strings"
	"testing"
	"time"
)

func TestDecodeDate(t *testing.T) {
	for _, c := range []struct {
		p    []byte
		want time.Time
	}{
		{[]byte{70, 1, 1, 0, 0, 0, 0}, time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)},
		{[]byte{124, 2, 29, 23, 59, 58, 0}, time.Date(2024, 2, 29, 23, 59, 58, 0, time.UTC)},
		// Local time 8 steps (2 hours) ahead of GMT.
		{[]byte{100, 6, 15, 12, 0, 0, 8}, time.Date(2000, 6, 15, 10, 0, 0, 0, time.UTC)},
		// Behind GMT (-20 steps: 5 hours).
		{[]byte{100, 6, 15, 12, 0, 0, 0xEC}, time.Date(2000, 6, 15, 17, 0, 0, 0, time.UTC)},
		// Beyond ±13 hours the offset is ignored.
		{[]byte{100, 6, 15, 12, 0, 0, 60}, time.Date(2000, 6, 15, 12, 0, 0, 0, time.UTC)},
		{[]byte{0, 12, 31, 0, 0, 0, 0}, time.Date(1900, 12, 31, 0, 0, 0, 0, time.UTC)},
		{[]byte{255, 12, 31, 23, 59, 59, 0}, time.Date(2155, 12, 31, 23, 59, 59, 0, time.UTC)},
	} {
		if got := DecodeDate(c.p); got.Sec != c.want.Unix() || got.Nsec != 0 {
			t.Errorf("% x: %d, want %d (%v)", c.p, got.Sec, c.want.Unix(), c.want)
		}
	}
	long := []byte("2038011903141408\x00")
	if got := DecodeLongDate(long); got.Sec != time.Date(2038, 1, 19, 3, 14, 14, 0, time.UTC).Unix() || got.Nsec != 80000000 {
		t.Errorf("long form: %+v", got)
	}
	if got := DecodeLongDate([]byte("1899123123595900\x00")); got.Sec != 0 {
		t.Errorf("long form before 1900: %+v, want 0", got)
	}
}

func TestNames(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"README.TXT;1", "readme.txt"},
		{"NOEXT.;1", "noext"},
		{"NOEXT;1", "noext"},
		{"A;B;1", "a.b"},
		{"DIR", "dir"},
		{"WITH/SLASH", "with.slash"},
		{"NUL\x00REST", "nul"},
		{"FILE.TXT;2", "file.txt.2"},
	} {
		if got := string(TranslateName(nil, []byte(c.in))); got != c.want {
			t.Errorf("TranslateName(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	ucs := func(s string) []byte {
		var b []byte
		for _, r := range s {
			b = append(b, byte(r>>8), byte(r))
		}
		return b
	}
	for _, c := range []struct {
		in   []byte
		want string
	}{
		{ucs("Hello World.txt;1"), "Hello World.txt"},
		{ucs("Ünïcödé ☃"), "Ünïcödé ☃"},
		{ucs("dots..."), "dots"},
		{ucs("a."), "a"},
		{append(ucs("emoji-"), 0xD8, 0x3D, 0xDE, 0x00), "emoji-😀"},
		{append(ucs("lone"), 0xD8, 0x3D), "lone"},
		{append(ucs("odd"), 'x'), "odd"},
	} {
		if got := string(JolietName(nil, c.in)); got != c.want {
			t.Errorf("JolietName(% x) = %q, want %q", c.in, got, c.want)
		}
	}
}

// sl builds an SL entry's data.
func sl(flags byte, comps ...SLComponent) SL {
	return SL{Flags: flags, Components: comps}
}

func TestSymlinkTarget(t *testing.T) {
	c := func(flags byte, text string) SLComponent { return SLComponent{Flags: flags, Text: []byte(text)} }
	for _, tc := range []struct {
		entries []SL
		want    string
	}{
		{[]SL{sl(0, c(SLRoot, ""), c(0, "etc"), c(0, "passwd"))}, "/etc/passwd"},
		{[]SL{sl(0, c(SLParent, ""), c(0, "small.txt"))}, "../small.txt"},
		{[]SL{sl(0, c(SLCurrent, ""), c(0, "a"))}, "./a"},
		// A component continued in the next entry, then the next
		// component in a third.
		{[]SL{sl(SLContinue, c(SLContinue, "long")), sl(SLContinue, c(0, "name")), sl(0, c(0, "x"))}, "longname/x"},
	} {
		var got []byte
		for _, e := range tc.entries {
			got, _ = e.AppendTarget(got, 4095)
		}
		if string(got) != tc.want {
			t.Errorf("%+v: %q, want %q", tc.entries, got, tc.want)
		}
	}
	if _, ok := sl(0, c(0, string(bytes.Repeat([]byte("x"), 200)))).AppendTarget(nil, 100); ok {
		t.Error("a target past the limit was accepted")
	}
	raw := []byte{'S', 'L', 5 + 2 + 3, 1, 0, 0, 3, 'a', 'b'}
	if _, err := DecodeSL(Entry{Sig: SigSL, Data: raw[4:]}); err == nil {
		t.Error("a component running past its entry was accepted")
	}
}

func TestZisofsInflate(t *testing.T) {
	block := bytes.Repeat([]byte("zisofs "), 5000)[:32768]
	var z bytes.Buffer
	w := zlib.NewWriter(&z)
	w.Write(block)
	w.Close()
	var inf ZisofsInflater
	out := make([]byte, 32768)
	for range 2 {
		if n, err := inf.Inflate(out, z.Bytes()); err != nil || n != len(block) || !bytes.Equal(out, block) {
			t.Fatalf("inflate: %d, %v", n, err)
		}
	}
	if _, err := inf.Inflate(out[:100], z.Bytes()); err == nil {
		t.Error("a stream longer than its block was accepted")
	}
	bad := bytes.Clone(z.Bytes())
	bad[len(bad)/2] ^= 0xff
	if _, err := inf.Inflate(out, bad); err == nil {
		t.Error("a damaged stream was accepted")
	}
	if err := CheckZisofsBlock(10, 5, 100, 15); err == nil {
		t.Error("pointers out of order were accepted")
	}
	if err := CheckZisofsBlock(10, 200, 100, 15); err == nil {
		t.Error("a block past the file was accepted")
	}
}

func TestSUSPEntries(t *testing.T) {
	// NM, then ST: what follows ST is not read.
	area := []byte("NM\x06\x01\x00aST\x04\x01NM\x06\x01\x00b")
	var names []string
	for {
		e, rest, ok, err := NextEntry(area)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		nm, err := DecodeNM(e)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, string(nm.Name))
		area = rest
	}
	if len(names) != 1 || names[0] != "a" {
		t.Errorf("names %q, want [a]", names)
	}
	for _, bad := range [][]byte{[]byte("NM\x02\x01"), []byte("NM\x09\x01\x00a")} {
		if _, _, _, err := NextEntry(bad); err == nil {
			t.Errorf("% x: accepted", bad)
		}
	}
	// TF, long form: MODIFY and ACCESS, 17 bytes each.
	tf := append([]byte{TFModify | TFAccess | TFLongForm}, []byte("2024022912000050\x08")...)
	tf = append(tf, []byte("1969123123595999\x00")...)
	got, err := DecodeTF(Entry{Sig: SigTF, Data: tf})
	if err != nil {
		t.Fatal(err)
	}
	if m := got.Times[1]; m.Sec != time.Date(2024, 2, 29, 10, 0, 0, 0, time.UTC).Unix() || m.Nsec != 500000000 {
		t.Errorf("modify: %+v", m)
	}
	if a := got.Times[2]; a.Sec != -1 || a.Nsec != 990000000 {
		t.Errorf("access: %+v", a)
	}
	// Too short for its second stamp: the first is kept.
	got, err = DecodeTF(Entry{Sig: SigTF, Data: tf[:20]})
	if err == nil || got.Flags&TFAccess != 0 || got.Flags&TFModify == 0 {
		t.Errorf("short TF: flags %x, %v", got.Flags, err)
	}
}

// TestSLWrappedLength decodes an SL entry as genisoimage writes one of
// more than 255 bytes in a continuation area: five components of 90
// bytes (465 bytes) under a length byte of 465-256 = 209, a TF after.
// Linux's get_symlink_chunk takes the components that start within the
// 209 bytes, the third of them whole past the entry's end, and the walk
// goes on 209 bytes on.
func TestSLWrappedLength(t *testing.T) {
	comp := append([]byte{0, 90}, bytes.Repeat([]byte("t"), 90)...)
	area := append([]byte{'S', 'L', byte(5 + 5*len(comp)), 1, 0}, bytes.Repeat(comp, 5)...)
	area = append(area, 'T', 'F', 5, 1, 0)
	e, rest, ok, err := NextEntry(area)
	if err != nil || !ok {
		t.Fatalf("NextEntry: %v %v", ok, err)
	}
	if len(rest) != len(area)-209 {
		t.Errorf("the walk goes on %d bytes on, want 209", len(area)-len(rest))
	}
	sl, err := DecodeSL(e)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := sl.AppendTarget(nil, 4095)
	want := strings.Join([]string{strings.Repeat("t", 90), strings.Repeat("t", 90), strings.Repeat("t", 90)}, "/")
	if !ok || string(got) != want {
		t.Errorf("target of %d bytes %q, want %d", len(got), got, len(want))
	}
	// Past the area's end a component is refused.
	e.Tail = e.Tail[:250]
	if _, err := DecodeSL(e); err == nil {
		t.Error("a component running past its area was accepted")
	}
}
