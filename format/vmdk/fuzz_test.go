package vmdk

import (
	"encoding/binary"
	"errors"
	"testing"
)

// sparseHeader is a valid hosted sparse extent header (version 1, 64 KiB
// grains, 512 entries per table), for seeds.
func sparseHeader() []byte {
	b := make([]byte, SectorSize)
	le := binary.LittleEndian
	le.PutUint32(b, Magic)
	le.PutUint32(b[4:], 1)
	le.PutUint32(b[8:], FlagValidNewlineTest|FlagRedundantGT)
	le.PutUint64(b[12:], 16384)
	le.PutUint64(b[20:], 128)
	le.PutUint64(b[28:], 1)
	le.PutUint64(b[36:], 20)
	le.PutUint32(b[44:], 512)
	le.PutUint64(b[56:], 21)
	return b
}

const flatDescriptor = "# Disk DescriptorFile\nversion=1\nCID=1f913b52\nparentCID=ffffffff\ncreateType=\"monolithicFlat\"\n\n" +
	"# Extent description\nRW 16384 FLAT \"t-flat.vmdk\" 0\nRDONLY 8 ZERO\n\n# The Disk Data Base\n#DDB\nddb.virtualHWVersion = \"4\"\n"

// TestParse: a header and a descriptor as qemu-img writes them decode;
// damaged ones are ErrCorrupt or ErrUnsupported.
func TestParse(t *testing.T) {
	h, err := DecodeHeader(sparseHeader())
	if err != nil || h.GDEntries() != 1 || h.GrainSize != 128 {
		t.Fatalf("%+v %v", h, err)
	}
	d, err := ParseDescriptor([]byte(flatDescriptor))
	if err != nil || d.CreateType != "monolithicFlat" || d.ParentCID != "ffffffff" || len(d.Extents) != 2 ||
		d.Extents[0] != (Extent{"RW", 16384, "FLAT", "t-flat.vmdk", 0}) || d.Extents[1].Type != "ZERO" {
		t.Fatalf("%+v %v", d, err)
	}
	for _, c := range []struct {
		name string
		b    func([]byte)
		want error
	}{
		{"version 9", func(b []byte) { b[4] = 9 }, ErrUnsupported},
		{"grain 3 sectors", func(b []byte) { b[20] = 3 }, ErrCorrupt},
		{"no tables", func(b []byte) { b[44], b[45] = 0, 0 }, ErrCorrupt},
	} {
		b := sparseHeader()
		c.b(b)
		if _, err := DecodeHeader(b); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	for _, bad := range []string{"RW x FLAT \"a\"", "RW 10 FLAT noquotes", "# nothing\n"} {
		if _, err := ParseDescriptor([]byte(bad)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func FuzzDecodeHeader(f *testing.F) {
	f.Add(sparseHeader())
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := DecodeHeader(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("error without its kind: %v", err)
			}
			return
		}
		if h.GDEntries() > maxCapacity/8 {
			t.Fatalf("%d directory entries", h.GDEntries())
		}
	})
}

func FuzzParseDescriptor(f *testing.F) {
	f.Add([]byte(flatDescriptor))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseDescriptor(b)
		if err == nil && (len(d.Extents) == 0 || len(d.Extents) > maxExtents) {
			t.Fatalf("%d extents", len(d.Extents))
		}
	})
}
