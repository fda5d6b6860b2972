package fat

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBootSectorRoundTrip(t *testing.T) {
	for _, b := range []BootSector{
		{JmpBoot: [3]byte{0xEB, 0x3C, 0x90}, OEMName: [8]byte{'m', 'k', 'f', 's', '.', 'f', 'a', 't'},
			BytsPerSec: 512, SecPerClus: 4, RsvdSecCnt: 4, NumFATs: 2, RootEntCnt: 512, TotSec16: 40960,
			Media: 0xF8, FATSz16: 40, SecPerTrk: 32, NumHeads: 8, DrvNum: 0x80, BootSig: BootSig,
			VolID: 0x12345678, VolLab: [11]byte{'N', 'O', ' ', 'N', 'A', 'M', 'E', ' ', ' ', ' ', ' '}},
		{JmpBoot: [3]byte{0xEB, 0x58, 0x90}, BytsPerSec: 4096, SecPerClus: 1, RsvdSecCnt: 32, NumFATs: 2,
			TotSec32: 1 << 20, Media: 0xF8, FATSz32: 1024, ExtFlags: 0x81, RootClus: 2, FSInfo: 1, BkBootSec: 6,
			Reserved1: StateDirty, BootSig: BootSig, VolID: 0xCAFE},
	} {
		p := make([]byte, BootSectorSize)
		for i := range p {
			p[i] = byte(i * 7) // what Encode does not write stays; what it does must round-trip
		}
		b.Encode(p)
		got, err := DecodeBootSector(p)
		if err != nil {
			t.Fatal(err)
		}
		if *got != b {
			t.Errorf("round trip:\n got %+v\nwant %+v", *got, b)
		}
		if got.IsFAT32() != (b.FATSz16 == 0) {
			t.Errorf("IsFAT32 = %v", got.IsFAT32())
		}
		if p[b.StateOffset()]&StateDirty != b.Reserved1&StateDirty {
			t.Errorf("state byte at %d is %#x", b.StateOffset(), p[b.StateOffset()])
		}
	}
}

func TestLayout(t *testing.T) {
	// A FAT16 volume: 4 reserved, 2 FATs of 40, 512 root entries (32
	// sectors of 512), 4-sector clusters.
	b := BootSector{BytsPerSec: 512, SecPerClus: 4, RsvdSecCnt: 4, NumFATs: 2, RootEntCnt: 512,
		TotSec16: 40960, Media: 0xF8, FATSz16: 40}
	l, err := b.Check()
	if err != nil {
		t.Fatal(err)
	}
	wantData := uint32(4 + 2*40 + 32)
	if l.Bits != 16 || l.DataStart != wantData || l.Clusters != (40960-wantData)/4 || l.RootStart != 84 {
		t.Errorf("layout %+v", l)
	}
	if got := l.ClusterOffset(2); got != int64(wantData)*512 {
		t.Errorf("cluster 2 at %d", got)
	}
	// Fewer than 4085 clusters is FAT12.
	b.TotSec16 = 4000
	if l, err := b.Check(); err != nil || l.Bits != 12 {
		t.Errorf("small volume: %v %+v", err, l)
	}
	// What Linux refuses, each with its reason.
	for name, mut := range map[string]func(*BootSector){
		"fats":     func(b *BootSector) { b.NumFATs = 0 },
		"reserved": func(b *BootSector) { b.RsvdSecCnt = 0 },
		"media":    func(b *BootSector) { b.Media = 0x12 },
		"sector":   func(b *BootSector) { b.BytsPerSec = 1000 },
		"cluster":  func(b *BootSector) { b.SecPerClus = 3 },
		"fatsize":  func(b *BootSector) { b.FATSz16 = 0 },
		"rootents": func(b *BootSector) { b.RootEntCnt = 17 },
		"tiny":     func(b *BootSector) { b.TotSec16 = 100 },
	} {
		bb := b
		mut(&bb)
		if _, err := bb.Check(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestEntries(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, bits := range []int{12, 16, 32} {
		const n = 1000
		fat := make([]byte, 4*n+4)
		for i := range fat {
			fat[i] = byte(r.Uint32()) // FAT32's high nibble must survive
		}
		orig := slices.Clone(fat)
		want := make([]uint32, n)
		for i := uint32(FirstCluster); i < n; i++ {
			switch r.IntN(4) {
			case 0:
				want[i] = EntEOF
			case 1:
				want[i] = EntFree
			case 2:
				want[i] = EntBad
			default:
				want[i] = FirstCluster + r.Uint32N(MaxClusters(bits)-FirstCluster)
			}
			off, _ := EntryOffset(bits, i)
			PutEntry(bits, i, fat[off:], want[i])
		}
		for i := uint32(FirstCluster); i < n; i++ {
			off, size := EntryOffset(bits, i)
			if got := GetEntry(bits, i, fat[off:off+int64(size)]); got != want[i] {
				t.Fatalf("FAT%d entry %d = %#x, want %#x", bits, i, got, want[i])
			}
			if bits == 32 && fat[off+3]&0xF0 != orig[off+3]&0xF0 {
				t.Fatalf("FAT32 entry %d lost its high bits", i)
			}
		}
	}
}

func TestLongNameSlots(t *testing.T) {
	short := [NameLen]byte{'L', 'O', 'N', 'G', 'N', 'A', '~', '1', 'T', 'X', 'T'}
	sum := Checksum(&short)
	// The checksum is a rotate and add: changing any byte changes it.
	for i := range short {
		s := short
		s[i]++
		if Checksum(&s) == sum {
			t.Errorf("checksum blind to byte %d", i)
		}
	}
	for _, n := range []int{1, 12, 13, 14, 26, 255} {
		name := make([]uint16, n)
		for i := range name {
			name[i] = uint16('a' + i%26)
		}
		slots, err := LongNameSlots(name, sum)
		if err != nil {
			t.Fatal(err)
		}
		if len(slots) != (n+12)/13 || !slots[0].Last || slots[len(slots)-1].Ord != 1 {
			t.Fatalf("%d units: %d slots, first %+v", n, len(slots), slots[0])
		}
		// Stored order is reverse: read them back from the short entry up.
		var got []uint16
		for i := len(slots) - 1; i >= 0; i-- {
			p := make([]byte, DirEntrySize)
			slots[i].Encode(p)
			if !IsLongName(p) {
				t.Fatal("slot not recognised as a long name")
			}
			s := DecodeSlot(p)
			if s != slots[i] {
				t.Fatalf("slot round trip %+v != %+v", s, slots[i])
			}
			got = append(got, s.Units[:]...)
		}
		if !slices.Equal(got[:n], name) || (len(got) > n && got[n] != 0) {
			t.Errorf("%d units: read back %v", n, got)
		}
		for _, u := range got[min(n+1, len(got)):] {
			if u != 0xFFFF {
				t.Errorf("%d units: padding %#x", n, u)
			}
		}
	}
	if _, err := LongNameSlots(make([]uint16, 256), 0); err == nil {
		t.Error("256 units accepted")
	}
}

func TestTimes(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 1000 {
		sec := MinTime.Unix() + r.Int64N(MaxTime.Unix()-MinTime.Unix())
		nsec := r.Int64N(1e9)
		for _, off := range []int{0, 3600, -5 * 3600} {
			d, tm, cs := FromUnix(sec, nsec, off)
			// Without cs the date and time keep 2 s steps; with it, 10 ms.
			s2, _ := ToUnix(d, tm, 0, off)
			if s2 != sec&^1 && !(sec+int64(off) < MinTime.Unix() || sec+int64(off) > MaxTime.Unix()) {
				t.Fatalf("%d offset %d: back to %d", sec, off, s2)
			}
			s3, n3 := ToUnix(d, tm, cs, off)
			if (s3 != sec || n3 != nsec/1e7*1e7) && s2 == sec&^1 {
				t.Fatalf("%d.%09d: back to %d.%09d", sec, nsec, s3, n3)
			}
		}
	}
	if d, tm, _ := FromUnix(0, 0, 0); d != 0x21 || tm != 0 {
		t.Errorf("1970 clamps to %#x %#x", d, tm)
	}
	d, tm, cs := FromUnix(time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC).Unix(), 0, 0)
	if s, _ := ToUnix(d, tm, cs, 0); s != MaxTime.Unix()+1 {
		t.Errorf("2200 clamps to %v", time.Unix(s, 0).UTC())
	}
}

func FuzzBootSector(f *testing.F) {
	p := make([]byte, BootSectorSize)
	(&BootSector{BytsPerSec: 512, SecPerClus: 4, RsvdSecCnt: 4, NumFATs: 2, RootEntCnt: 512,
		TotSec16: 40960, Media: 0xF8, FATSz16: 40}).Encode(p)
	f.Add(p)
	f.Fuzz(func(t *testing.T, p []byte) {
		b, err := DecodeBootSector(p)
		if err != nil {
			return
		}
		l, err := b.Check()
		if err != nil {
			return
		}
		if l.Clusters == 0 || l.DataStart >= l.TotalSectors || !l.ValidCluster(l.MaxCluster-1) || l.ValidCluster(l.MaxCluster) {
			t.Fatalf("accepted layout %+v", l)
		}
	})
}
