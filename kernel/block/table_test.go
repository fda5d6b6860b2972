package block

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lklimg/lklimg/format/gpt"
	"github.com/lklimg/lklimg/format/mbr"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel/abi"
)

// sfdiskTable is the part of `sfdisk --json` the tests compare.
type sfdiskTable struct {
	PartitionTable struct {
		Label      string `json:"label"`
		ID         string `json:"id"`
		FirstLBA   uint64 `json:"firstlba"`
		LastLBA    uint64 `json:"lastlba"`
		Partitions []struct {
			Node     string `json:"node"`
			Start    uint64 `json:"start"`
			Size     uint64 `json:"size"`
			Type     string `json:"type"`
			UUID     string `json:"uuid"`
			Name     string `json:"name"`
			Bootable bool   `json:"bootable"`
		} `json:"partitions"`
	} `json:"partitiontable"`
}

// sfdiskImage makes an image of size bytes partitioned by the sfdisk
// script, and returns its bytes and sfdisk's view of the table.
func sfdiskImage(t *testing.T, size int64, script string) ([]byte, sfdiskTable) {
	t.Helper()
	sfdisk := testutil.Need(t, "sfdisk")[0]
	path := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sfdisk, "-q", "--no-reread", "--no-tell-kernel", path)
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v\n%s", err, out)
	}
	var st sfdiskTable
	if err := json.Unmarshal(testutil.Run(t, sfdisk, "--json", path), &st); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data, st
}

// addImage attaches an image held in memory and returns the rig and the log.
func addImage(t *testing.T, data []byte) (*rig, *testLog) {
	t.Helper()
	a := newTestArena(t, 128)
	c := NewCache(a, 64)
	log := &testLog{t: t}
	mgr := NewManager(c, log.logf)
	dev, err := mgr.AddDisk(newMemDisk(a, data))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := mgr.Close(); err != nil {
			t.Error(err)
		}
		c.Close()
	})
	return &rig{arena: a, cache: c, mgr: mgr, dev: dev}, log
}

func (l *testLog) has(sub string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.lines {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// compareSfdisk checks the table and the devices against sfdisk's view.
func compareSfdisk(t *testing.T, r *rig, data []byte, st sfdiskTable) {
	t.Helper()
	tab, err := r.mgr.Table("vda")
	if err != nil || tab == nil {
		t.Fatalf("Table: %v, %v", tab, err)
	}
	want := st.PartitionTable
	if tab.Label != want.Label || !strings.EqualFold(tab.ID, want.ID) {
		t.Errorf("table %s %s, sfdisk says %s %s", tab.Label, tab.ID, want.Label, want.ID)
	}
	if tab.Label == "gpt" && (tab.FirstLBA != want.FirstLBA || tab.LastLBA != want.LastLBA) {
		t.Errorf("usable LBAs %d-%d, sfdisk says %d-%d", tab.FirstLBA, tab.LastLBA, want.FirstLBA, want.LastLBA)
	}
	if len(tab.Partitions) != len(want.Partitions) {
		t.Errorf("%d partitions, sfdisk says %d", len(tab.Partitions), len(want.Partitions))
	}
	parts := r.mgr.Partitions("/dev/vda")
	for _, wp := range want.Partitions {
		num, err := strconv.Atoi(wp.Node[strings.LastIndex(wp.Node, ".img")+4:])
		if err != nil {
			t.Fatal(err)
		}
		var p *Partition
		for i := range tab.Partitions {
			if tab.Partitions[i].Number == num {
				p = &tab.Partitions[i]
			}
		}
		if p == nil {
			t.Errorf("partition %d missing", num)
			continue
		}
		if p.Start != wp.Start || p.Sectors != wp.Size {
			t.Errorf("partition %d: start %d size %d, sfdisk says %d %d", num, p.Start, p.Sectors, wp.Start, wp.Size)
		}
		if tab.Label == "dos" {
			if fmt.Sprintf("%x", p.Type) != wp.Type || p.Bootable != wp.Bootable {
				t.Errorf("partition %d: type %x bootable %v, sfdisk says %s %v", num, p.Type, p.Bootable, wp.Type, wp.Bootable)
			}
		} else if p.TypeGUID.String() != wp.Type || p.UniqueGUID.String() != wp.UUID || p.Name != wp.Name {
			t.Errorf("partition %d: %s %s %q, sfdisk says %s %s %q", num, p.TypeGUID, p.UniqueGUID, p.Name, wp.Type, wp.UUID, wp.Name)
		}
		if p.TypeName() == "" {
			t.Errorf("partition %d: no name for type %s", num, wp.Type)
		}
		name := "vda" + strconv.Itoa(num)
		dev, err := r.mgr.Device(name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		found := false
		for _, d := range parts {
			found = found || d == dev
		}
		if !found {
			t.Errorf("%s not in Partitions(vda)", name)
		}
		wantSize := int64(wp.Size) * 512
		if p.Extended {
			wantSize = 1024
		}
		if dev.Start() != int64(wp.Start)*512 || dev.Size() != wantSize || dev.Partition() != p {
			t.Errorf("%s: device start %d size %d", name, dev.Start(), dev.Size())
		}
		// The device reads the partition's bytes.
		buf := make([]byte, 3000)
		n, err := dev.ReadAt(buf, 0)
		if n != min(len(buf), int(wantSize)) || (err != nil && n == len(buf)) {
			t.Errorf("%s: ReadAt: %d, %v", name, n, err)
		}
		if !bytes.Equal(buf[:n], data[dev.Start():dev.Start()+int64(n)]) {
			t.Errorf("%s: wrong bytes", name)
		}
	}
}

// stamp writes a recognisable pattern at every partition's start, so that
// reading the wrong place shows.
func stamp(data []byte, st sfdiskTable) {
	for _, p := range st.PartitionTable.Partitions {
		if p.Type == "5" || p.Type == "f" || p.Type == "85" {
			continue
		}
		off := p.Start * 512
		for i := uint64(0); i < 8192 && i < p.Size*512; i += 16 {
			copy(data[off+i:], fmt.Sprintf("%-12s%04d", p.Node, i/16%10000))
		}
	}
}

func TestSfdiskMBR(t *testing.T) {
	data, st := sfdiskImage(t, 64<<20, `label: dos
label-id: 0x12345678
disk.img1 : start=63, size=10000, type=83, bootable
disk.img2 : start=10240, size=40960, type=f
disk.img3 : start=51200, size=5000, type=c
disk.img5 : start=12288, size=4000, type=83
disk.img6 : start=18432, size=8000, type=82
disk.img7 : start=28000, size=20000, type=83
`)
	stamp(data, st)
	r, log := addImage(t, data)
	compareSfdisk(t, r, data, st)
	if !log.has(" vda: vda1 vda2 < vda5 vda6 vda7 > vda3") {
		t.Errorf("no Linux-style partition line in the log")
	}
	var names []string
	for _, d := range r.mgr.Partitions("vda") {
		names = append(names, d.Name())
	}
	if got := strings.Join(names, " "); got != "vda1 vda2 vda5 vda6 vda7 vda3" {
		t.Errorf("Partitions(vda) = %s", got)
	}
}

const gptScript = `label: gpt
size=10MiB, type=uefi, name="EFI system"
size=20MiB, type=linux, name="root fs"
disk.img5: size=5MiB, type=swap
size=1MiB, type=21686148-6449-6E6F-744E-656564454649, name="bios"
`

func TestSfdiskGPT(t *testing.T) {
	data, st := sfdiskImage(t, 64<<20, gptScript)
	stamp(data, st)
	r, log := addImage(t, data)
	compareSfdisk(t, r, data, st)
	if !log.has(" vda: vda1 vda2 vda3 vda5") {
		t.Errorf("no Linux-style partition line in the log")
	}
	if tab, _ := r.mgr.Table("vda"); tab.Backup {
		t.Error("intact GPT read from the backup")
	}
}

func TestSfdiskGPTPrimaryHeaderCorrupt(t *testing.T) {
	data, st := sfdiskImage(t, 64<<20, gptScript)
	stamp(data, st)
	data[512+60] ^= 0xFF // in DiskGUID: the header CRC fails
	r, log := addImage(t, data)
	compareSfdisk(t, r, data, st)
	if tab, _ := r.mgr.Table("vda"); !tab.Backup {
		t.Error("table not read from the backup")
	}
	if !log.has("using the backup GPT") {
		t.Error("fallback to the backup not logged")
	}
}

func TestSfdiskGPTEntriesCorrupt(t *testing.T) {
	data, st := sfdiskImage(t, 64<<20, gptScript)
	stamp(data, st)
	data[1024+56] ^= 0x20 // the first entry's name: the array CRC fails
	r, log := addImage(t, data)
	compareSfdisk(t, r, data, st)
	if tab, _ := r.mgr.Table("vda"); !tab.Backup {
		t.Error("table not read from the backup")
	}
	if !log.has("PartitionEntryArrayCRC32") {
		t.Error("bad entry array not logged")
	}
}

func TestSfdiskGPTBothCorrupt(t *testing.T) {
	data, _ := sfdiskImage(t, 64<<20, gptScript)
	data[512+60] ^= 0xFF
	data[len(data)-512+60] ^= 0xFF
	r, log := addImage(t, data)
	if tab, _ := r.mgr.Table("vda"); tab != nil {
		t.Errorf("table from a disk with both GPTs corrupt: %+v", tab)
	}
	if len(r.mgr.Partitions("vda")) != 0 {
		t.Error("partitions from a disk with both GPTs corrupt")
	}
	if !log.has("backup GPT invalid too") {
		t.Error("not logged")
	}
}

// TestSfdiskGPTBackupCorrupt: an intact primary with a bad backup is used,
// with a warning.
func TestSfdiskGPTBackupCorrupt(t *testing.T) {
	data, st := sfdiskImage(t, 64<<20, gptScript)
	data[len(data)-512+60] ^= 0xFF
	r, log := addImage(t, data)
	compareSfdisk(t, r, data, st)
	if !log.has("alternate GPT invalid") {
		t.Error("bad backup not logged")
	}
}

// mbrImage returns a disk of sectors sectors with the given boot record
// at each sector.
func mbrImage(sectors int, records map[uint64]mbr.MBR) []byte {
	data := make([]byte, sectors*512)
	for lba, m := range records {
		m.Encode(data[lba*512:])
	}
	return data
}

// TestEBRLoop follows a chain whose last link points back to the first
// EBR: the loop is cut and logged, the partitions before it kept.
func TestEBRLoop(t *testing.T) {
	var mb, ebr1, ebr2 mbr.MBR
	mb.Entries[0] = mbr.Entry{Type: 0x83, StartLBA: 2048, Sectors: 2048}
	mb.Entries[1] = mbr.Entry{Type: 0x05, StartLBA: 4096, Sectors: 8192}
	ebr1.Entries[0] = mbr.Entry{Type: 0x83, StartLBA: 63, Sectors: 1000}
	ebr1.Entries[1] = mbr.Entry{Type: 0x05, StartLBA: 2048, Sectors: 2048}
	ebr2.Entries[0] = mbr.Entry{Type: 0x83, StartLBA: 63, Sectors: 1000}
	ebr2.Entries[1] = mbr.Entry{Type: 0x05, StartLBA: 0, Sectors: 2048} // back to ebr1
	data := mbrImage(16384, map[uint64]mbr.MBR{0: mb, 4096: ebr1, 6144: ebr2})
	r, log := addImage(t, data)
	tab, _ := r.mgr.Table("vda")
	if tab == nil || len(tab.Partitions) != 4 {
		t.Fatalf("table %+v", tab)
	}
	if p := tab.Partitions[3]; p.Number != 6 || p.Start != 6144+63 || p.Sectors != 1000 || !p.Logical {
		t.Errorf("vda6: %+v", p)
	}
	if !log.has("loops back") {
		t.Error("loop not logged")
	}
	if !log.has(" vda: vda1 vda2 < vda5 vda6 >") {
		t.Error("no partition line")
	}
}

// TestEBRSelfLoop: an EBR linking to itself.
func TestEBRSelfLoop(t *testing.T) {
	var mb, ebr mbr.MBR
	mb.Entries[0] = mbr.Entry{Type: 0x0F, StartLBA: 2048, Sectors: 8192}
	ebr.Entries[0] = mbr.Entry{Type: 0x83, StartLBA: 63, Sectors: 100}
	ebr.Entries[1] = mbr.Entry{Type: 0x0F, StartLBA: 0, Sectors: 8192}
	r, _ := addImage(t, mbrImage(16384, map[uint64]mbr.MBR{0: mb, 2048: ebr}))
	if got := len(r.mgr.Partitions("vda")); got != 2 {
		t.Errorf("%d partitions, want vda1 and vda5", got)
	}
}

// TestMBROutOfRange: a partition starting past the end of the disk is not
// registered, one running past it is cut, as Linux does; entries 3 and 4
// of an EBR outside the extended partition are ignored.
func TestMBROutOfRange(t *testing.T) {
	var mb, ebr mbr.MBR
	mb.Entries[0] = mbr.Entry{Type: 0x83, StartLBA: 2048, Sectors: 100000}
	mb.Entries[1] = mbr.Entry{Type: 0x83, StartLBA: 1 << 30, Sectors: 10}
	mb.Entries[2] = mbr.Entry{Type: 0x85, StartLBA: 1024, Sectors: 1000}
	ebr.Entries[0] = mbr.Entry{Type: 0x83, StartLBA: 1, Sectors: 10}
	ebr.Entries[2] = mbr.Entry{Type: 0x83, StartLBA: 2, Sectors: 5000} // garbage
	r, log := addImage(t, mbrImage(8192, map[uint64]mbr.MBR{0: mb, 1024: ebr}))
	p1, err := r.mgr.Device("vda1")
	if err != nil || p1.Size() != (8192-2048)*512 {
		t.Errorf("vda1: %v", err)
	}
	if _, err := r.mgr.Device("vda2"); !errors.Is(err, abi.ENOENT) {
		t.Errorf("vda2 beyond the disk: %v", err)
	}
	if _, err := r.mgr.Device("vda6"); err == nil {
		t.Error("garbage EBR entry registered")
	}
	if p5, err := r.mgr.Device("vda5"); err != nil || p5.Start() != 1025*512 {
		t.Errorf("vda5: %v", err)
	}
	if !log.has("beyond EOD") {
		t.Error("not logged")
	}
}

// TestNoTable: no signature, or a FAT boot sector, gives no partitions.
func TestNoTable(t *testing.T) {
	r, _ := addImage(t, make([]byte, 1<<20))
	if tab, _ := r.mgr.Table("vda"); tab != nil {
		t.Errorf("table on a zeroed disk: %+v", tab)
	}
	fat := make([]byte, 1<<20)
	fat[0], fat[1], fat[2] = 0xEB, 0x3C, 0x90
	copy(fat[446:], bytes.Repeat([]byte{0x29}, 64)) // boot code over the entries
	fat[510], fat[511] = 0x55, 0xAA
	r, _ = addImage(t, fat)
	if tab, _ := r.mgr.Table("vda"); tab != nil {
		t.Errorf("table on a FAT boot sector: %+v", tab)
	}
	if _, err := r.mgr.Table("vdb"); !errors.Is(err, abi.ENOENT) {
		t.Errorf("Table(vdb): %v", err)
	}
}

// gptImage builds a GPT disk of sectors sectors with a protective mbr.MBR and
// both GPTs of 128 entries.
func gptImage(sectors uint64, parts []gpt.Entry) []byte { return gptImageN(sectors, 128, parts) }

// gptImageN is gptImage with n entries, a multiple of 4.
func gptImageN(sectors uint64, n int, parts []gpt.Entry) []byte {
	data := make([]byte, sectors*512)
	var pmbr mbr.MBR
	pmbr.Entries[0] = mbr.Entry{Type: 0xEE, StartLBA: 1, Sectors: uint32(min(sectors-1, 0xFFFFFFFF))}
	pmbr.Encode(data)
	array := make([]byte, n*128)
	as := uint64(n / 4)
	for i := range parts {
		parts[i].Encode(array[i*128:])
	}
	h := gpt.Header{
		Revision: 0x00010000, HeaderSize: 92,
		FirstUsableLBA: 2 + as, LastUsableLBA: sectors - 2 - as,
		DiskGUID:                 gpt.GUID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		NumberOfPartitionEntries: uint32(n), SizeOfPartitionEntry: 128,
		PartitionEntryArrayCRC32: crc32.ChecksumIEEE(array),
	}
	h.MyLBA, h.AlternateLBA, h.PartitionEntryLBA = 1, sectors-1, 2
	h.Encode(data[512:])
	copy(data[2*512:], array)
	h.MyLBA, h.AlternateLBA, h.PartitionEntryLBA = sectors-1, 1, sectors-1-as
	h.Encode(data[(sectors-1)*512:])
	copy(data[(sectors-1-as)*512:], array)
	return data
}

var linuxFS = gpt.GUID{0xAF, 0x3D, 0xC6, 0x0F, 0x83, 0x84, 0x72, 0x47, 0x8E, 0x79, 0x3D, 0x69, 0xD8, 0x47, 0x7D, 0xE4}

func TestGPTRoundTrip(t *testing.T) {
	if linuxFS.String() != "0FC63DAF-8483-4772-8E79-3D69D8477DE4" {
		t.Fatalf("GUID string %s", linuxFS)
	}
	parts := []gpt.Entry{
		{PartitionTypeGUID: linuxFS, UniquePartitionGUID: gpt.GUID{9}, StartingLBA: 40, EndingLBA: 99, Attributes: 1 << 60, PartitionName: "räksmörgås"},
		{},
		{PartitionTypeGUID: linuxFS, StartingLBA: 100, EndingLBA: 1 << 40}, // off the disk: ignored
		{PartitionTypeGUID: linuxFS, StartingLBA: 150, EndingLBA: 149},     // backwards: ignored
		{PartitionTypeGUID: linuxFS, StartingLBA: 100, EndingLBA: 200, PartitionName: strings.Repeat("x", 40)},
	}
	r, _ := addImage(t, gptImage(256, parts))
	tab, _ := r.mgr.Table("vda")
	if tab == nil || len(tab.Partitions) != 2 {
		t.Fatalf("table %+v", tab)
	}
	p := tab.Partitions[0]
	if p.Number != 1 || p.Start != 40 || p.Sectors != 60 || p.Name != "räksmörgås" || p.Attributes != 1<<60 || p.UniqueGUID != (gpt.GUID{9}) {
		t.Errorf("partition 1: %+v", p)
	}
	if p := tab.Partitions[1]; p.Number != 5 || p.Name != strings.Repeat("x", 36) {
		t.Errorf("partition 5: %+v", p)
	}
}

func TestGPTHeaderChecks(t *testing.T) {
	good := gptImage(256, nil)[512:1024]
	if _, err := gpt.DecodeHeader(good); err != nil {
		t.Fatal(err)
	}
	h, _ := gpt.DecodeHeader(good)
	for name, mutate := range map[string]func(h *gpt.Header){
		"header size small": func(h *gpt.Header) { h.HeaderSize = 91 },
		"entry size 100":    func(h *gpt.Header) { h.SizeOfPartitionEntry = 100 },
		"entry size 384":    func(h *gpt.Header) { h.SizeOfPartitionEntry = 384 },
		"too many entries":  func(h *gpt.Header) { h.NumberOfPartitionEntries = 1 << 20 },
		"usable backwards":  func(h *gpt.Header) { h.FirstUsableLBA = h.LastUsableLBA + 1 },
	} {
		b := make([]byte, 512)
		hh := *h
		mutate(&hh)
		if hh.HeaderSize > 512 || hh.HeaderSize < 92 {
			hh.Encode(b) // Encode needs a sane size; write it afterwards
			binary.LittleEndian.PutUint32(b[12:], hh.HeaderSize)
		} else {
			hh.Encode(b)
		}
		if _, err := gpt.DecodeHeader(b); !errors.Is(err, abi.EUCLEAN) {
			t.Errorf("%s: %v", name, err)
		}
	}
	b := append([]byte(nil), good...)
	b[20] = 1
	if _, err := gpt.DecodeHeader(b); err == nil {
		t.Error("reserved field or CRC not checked")
	}
}

// fuzzTable runs a disk image through the manager: no panic, no partition
// outside the disk, no duplicate number.
func fuzzTable(t *testing.T, data []byte) {
	if len(data) > 1<<20 {
		return
	}
	wd := time.AfterFunc(5*time.Second, func() {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		panic("hang:\n" + string(buf[:n]))
	})
	defer wd.Stop()
	a := newTestArena(t, 32)
	c := NewCache(a, 16)
	mgr := NewManager(c, nil)
	d := newMemDisk(a, data[:len(data)&^511])
	disk, err := mgr.AddDisk(d)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, p := range mgr.Partitions("vda") {
		if seen[p.Name()] {
			t.Fatalf("%s twice", p.Name())
		}
		seen[p.Name()] = true
		if p.Start() < 0 || p.Size() <= 0 || p.Start()+p.Size() > disk.Size() {
			t.Fatalf("%s: start %d size %d on a disk of %d", p.Name(), p.Start(), p.Size(), disk.Size())
		}
	}
	if err := mgr.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

// The fuzz seeds are small disks (a few KiB): the fuzzer mutates and
// minimises whole images, and large ones make it crawl.

func FuzzMBR(f *testing.F) {
	var mb, ebr1, ebr2 mbr.MBR
	mb.Entries[0] = mbr.Entry{Status: 0x80, Type: 0x83, StartLBA: 1, Sectors: 3}
	mb.Entries[1] = mbr.Entry{Type: 0x05, StartLBA: 4, Sectors: 12}
	ebr1.Entries[0] = mbr.Entry{Type: 0x83, StartLBA: 1, Sectors: 3}
	ebr1.Entries[1] = mbr.Entry{Type: 0x05, StartLBA: 4, Sectors: 8}
	ebr2.Entries[0] = mbr.Entry{Type: 0x83, StartLBA: 1, Sectors: 7}
	f.Add(mbrImage(16, map[uint64]mbr.MBR{0: mb, 4: ebr1, 8: ebr2}))
	ebr2.Entries[1] = mbr.Entry{Type: 0x05, StartLBA: 0, Sectors: 4}
	f.Add(mbrImage(16, map[uint64]mbr.MBR{0: mb, 4: ebr1, 8: ebr2}))
	f.Add(mbrImage(2, map[uint64]mbr.MBR{0: mb}))
	f.Add([]byte{})
	f.Fuzz(fuzzTable)
}

func FuzzGPT(f *testing.F) {
	parts := []gpt.Entry{
		{PartitionTypeGUID: linuxFS, StartingLBA: 3, EndingLBA: 6, PartitionName: "a"},
		{PartitionTypeGUID: linuxFS, StartingLBA: 7, EndingLBA: 13, PartitionName: "b"},
	}
	f.Add(gptImageN(16, 4, parts))
	bad := gptImageN(16, 4, parts)
	bad[512+60] ^= 1
	f.Add(bad)
	bad = gptImageN(16, 4, parts)
	bad[1024] ^= 1
	f.Add(bad)
	f.Fuzz(fuzzTable)
}
