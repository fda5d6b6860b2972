package fat

import (
	"bytes"
	"testing"
)

// TestPutBootCode: the jump lands on the code, whose "mov si" points at
// the message where the BIOS loads the sector; the code area ends in NULs
// and the sector in the signature; the BPB is left alone.
func TestPutBootCode(t *testing.T) {
	for _, fat32 := range []bool{false, true} {
		p := bytes.Repeat([]byte{0xA5}, BootSectorSize)
		PutBootCode(p, fat32)
		off, size := BootCodeOffset16, BootCodeSize16
		if fat32 {
			off, size = BootCodeOffset32, BootCodeSize32
		}
		if p[0] != 0xEB || int(p[1])+2 != off || p[2] != 0x90 {
			t.Errorf("fat32=%v: jump % x", fat32, p[:3])
		}
		if !bytes.Equal(p[3:off], bytes.Repeat([]byte{0xA5}, off-3)) {
			t.Errorf("fat32=%v: the BPB changed", fat32)
		}
		code := p[off : off+size]
		msg := int(le.Uint16(code[3:])) - bootLoadAddress - off
		if msg != BootCodeMessage || string(code[msg:msg+len(BootMessage)]) != BootMessage {
			t.Errorf("fat32=%v: mov si points at %d", fat32, msg)
		}
		if tail := code[msg+len(BootMessage):]; !bytes.Equal(tail, make([]byte, len(tail))) {
			t.Errorf("fat32=%v: the code area is not NUL after the message", fat32)
		}
		if !HasSignature(p) {
			t.Errorf("fat32=%v: no signature", fat32)
		}
	}
}

func TestLabelEntry(t *testing.T) {
	name := [NameLen]byte{0xE5, 'A', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '}
	d := LabelEntry(name, 0x4A6E, 0x5000)
	p := make([]byte, DirEntrySize)
	d.Encode(p)
	if p[0] != DirEntKanji || p[11] != AttrVolumeID || d.Cluster(32) != 0 || d.FileSize != 0 ||
		d.WrtDate != 0x4A6E || d.CrtDate != 0x4A6E || d.LstAccDate != 0x4A6E || d.WrtTime != 0x5000 || d.CrtTime != 0x5000 {
		t.Errorf("label entry % x", p)
	}
	for _, c := range []byte("\"*+,./:;<=>?[\\]|\x00\x1f") {
		if !IllegalNameByte(c) {
			t.Errorf("%q legal", c)
		}
	}
	for _, c := range []byte("AZ09 !#$%&'()-@^_`{}~\x80\xe5") {
		if IllegalNameByte(c) {
			t.Errorf("%q illegal", c)
		}
	}
}
