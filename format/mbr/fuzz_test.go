package mbr

import (
	"bytes"
	"testing"
)

// FuzzDecode: no panic, and a record that decodes encodes back to the same
// bytes from the disk signature on.
func FuzzDecode(f *testing.F) {
	m := MBR{DiskSignature: 0x12345678}
	m.Entries[0] = Entry{Status: StatusBootable, FirstCHS: [3]byte{0x20, 0x21, 0}, Type: TypeLinux, LastCHS: [3]byte{0x66, 0x25, 1}, StartLBA: 2048, Sectors: 20480}
	m.Entries[1] = Entry{Type: TypeExtended, StartLBA: 22528, Sectors: 40960}
	b := make([]byte, SectorSize)
	m.Encode(b)
	f.Add(b)
	f.Add(make([]byte, SectorSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		out := bytes.Clone(b[:SectorSize])
		m.Encode(out)
		if !bytes.Equal(out[OffDiskSignature:OffDiskSignature+4], b[OffDiskSignature:OffDiskSignature+4]) ||
			!bytes.Equal(out[OffEntries:], b[OffEntries:SectorSize]) {
			t.Fatalf("round trip differs")
		}
	})
}

func TestCHS(t *testing.T) {
	for _, c := range []struct {
		lba  uint64
		want [3]byte
	}{
		// Values sfdisk writes (255 heads, 63 sectors per track).
		{2048, [3]byte{0x20, 0x21, 0x00}},
		{22527, [3]byte{0x66, 0x25, 0x01}},
		{88063, [3]byte{0x7a, 0x35, 0x05}},
		{18876416, [3]byte{0xfe, 0xff, 0xff}},
	} {
		if got := CHS(c.lba); got != c.want {
			t.Errorf("CHS(%d) = % x, want % x", c.lba, got, c.want)
		}
	}
}
