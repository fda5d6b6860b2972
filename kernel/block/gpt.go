package block

import (
	"encoding/binary"
	"hash/crc32"
	"unicode/utf16"

	"github.com/lklimg/lklimg/kernel/abi"
)

// The GUID Partition Table, UEFI 2.10 §5.3. The primary header is at LBA 1
// and its entry array usually at LBA 2; the backup header is at the last
// LBA, its array just before it. Each header names the other (MyLBA,
// AlternateLBA) and carries two CRC32s: one of the header itself (with the
// CRC field taken as zero) and one of the entry array.
//
// Linux's efi.c gives up when the primary GPT is bad unless booted with
// "gpt"; we read the backup then, as sfdisk and gdisk do, and say so in
// the log: an image whose first sectors were overwritten still shows its
// partitions. The Revision field is not checked, as Linux does not.

// gptSignature is the header's first eight bytes.
const gptSignature = "EFI PART"

const (
	gptHeaderMinSize = 92  // the fields of Table 5-5
	gptEntryMinSize  = 128 // the fields of Table 5-6
	gptEntryMaxSize  = 4096
	// gptMaxArrayBytes bounds the entry array we read: 1 MiB is 8192
	// entries of 128 bytes, where tools write 128 entries (16 KiB).
	gptMaxArrayBytes = 1 << 20
	gptNameUnits     = 36 // PartitionName: 72 bytes of UTF-16LE
)

// GPTHeader is the GPT header (UEFI 2.10 §5.3.2, Table 5-5).
type GPTHeader struct {
	Revision                 uint32
	HeaderSize               uint32
	HeaderCRC32              uint32
	MyLBA                    uint64
	AlternateLBA             uint64
	FirstUsableLBA           uint64
	LastUsableLBA            uint64
	DiskGUID                 GUID
	PartitionEntryLBA        uint64
	NumberOfPartitionEntries uint32
	SizeOfPartitionEntry     uint32
	PartitionEntryArrayCRC32 uint32
}

// GPTEntry is a GPT partition entry (UEFI 2.10 §5.3.3, Table 5-6).
type GPTEntry struct {
	PartitionTypeGUID   GUID // all zeros: the entry is unused
	UniquePartitionGUID GUID
	StartingLBA         uint64
	EndingLBA           uint64 // inclusive
	Attributes          uint64
	PartitionName       string
}

// DecodeGPTHeader decodes and checks a GPT header from its sector: the
// signature, HeaderSize (92 up to the sector size), the header CRC32, the
// reserved field, the usable range, and the entry array's shape
// (SizeOfPartitionEntry 128·2^n, the array at most gptMaxArrayBytes). Checks
// against the disk (MyLBA, the array's place) are the caller's.
func DecodeGPTHeader(b []byte) (*GPTHeader, error) {
	if len(b) < SectorSize {
		return nil, abi.Errorf(abi.EINVAL, "gpt header: %d bytes, need %d", len(b), SectorSize)
	}
	if string(b[0:8]) != gptSignature {
		return nil, abi.Errorf(abi.EUCLEAN, "gpt header: bad signature %q", b[0:8])
	}
	h := &GPTHeader{
		Revision:                 binary.LittleEndian.Uint32(b[8:]),
		HeaderSize:               binary.LittleEndian.Uint32(b[12:]),
		HeaderCRC32:              binary.LittleEndian.Uint32(b[16:]),
		MyLBA:                    binary.LittleEndian.Uint64(b[24:]),
		AlternateLBA:             binary.LittleEndian.Uint64(b[32:]),
		FirstUsableLBA:           binary.LittleEndian.Uint64(b[40:]),
		LastUsableLBA:            binary.LittleEndian.Uint64(b[48:]),
		DiskGUID:                 GUID(b[56:72]),
		PartitionEntryLBA:        binary.LittleEndian.Uint64(b[72:]),
		NumberOfPartitionEntries: binary.LittleEndian.Uint32(b[80:]),
		SizeOfPartitionEntry:     binary.LittleEndian.Uint32(b[84:]),
		PartitionEntryArrayCRC32: binary.LittleEndian.Uint32(b[88:]),
	}
	if h.HeaderSize < gptHeaderMinSize || h.HeaderSize > SectorSize {
		return nil, abi.Errorf(abi.EUCLEAN, "gpt header: HeaderSize %d not in [%d, %d]", h.HeaderSize, gptHeaderMinSize, SectorSize)
	}
	var hb [SectorSize]byte
	copy(hb[:], b[:h.HeaderSize])
	clear(hb[16:20])
	if sum := crc32.ChecksumIEEE(hb[:h.HeaderSize]); sum != h.HeaderCRC32 {
		return nil, abi.Errorf(abi.EUCLEAN, "gpt header: HeaderCRC32 %#08x, computed %#08x", h.HeaderCRC32, sum)
	}
	if r := binary.LittleEndian.Uint32(b[20:]); r != 0 {
		return nil, abi.Errorf(abi.EUCLEAN, "gpt header: reserved field is %#x", r)
	}
	if h.FirstUsableLBA > h.LastUsableLBA {
		return nil, abi.Errorf(abi.EUCLEAN, "gpt header: FirstUsableLBA %d > LastUsableLBA %d", h.FirstUsableLBA, h.LastUsableLBA)
	}
	es := h.SizeOfPartitionEntry
	if es < gptEntryMinSize || es > gptEntryMaxSize || es&(es-1) != 0 {
		return nil, abi.Errorf(abi.EUCLEAN, "gpt header: SizeOfPartitionEntry %d is not 128·2^n", es)
	}
	if uint64(h.NumberOfPartitionEntries)*uint64(es) > gptMaxArrayBytes {
		return nil, abi.Errorf(abi.EUCLEAN, "gpt header: %d entries of %d bytes exceed %d bytes",
			h.NumberOfPartitionEntries, es, gptMaxArrayBytes)
	}
	return h, nil
}

// Encode writes the header into the sector b (at least 512 bytes),
// computing HeaderCRC32: DecodeGPTHeader's mirror. The other fields,
// PartitionEntryArrayCRC32 included, are the caller's.
func (h *GPTHeader) Encode(b []byte) {
	clear(b[:SectorSize])
	copy(b[0:8], gptSignature)
	binary.LittleEndian.PutUint32(b[8:], h.Revision)
	binary.LittleEndian.PutUint32(b[12:], h.HeaderSize)
	binary.LittleEndian.PutUint64(b[24:], h.MyLBA)
	binary.LittleEndian.PutUint64(b[32:], h.AlternateLBA)
	binary.LittleEndian.PutUint64(b[40:], h.FirstUsableLBA)
	binary.LittleEndian.PutUint64(b[48:], h.LastUsableLBA)
	copy(b[56:72], h.DiskGUID[:])
	binary.LittleEndian.PutUint64(b[72:], h.PartitionEntryLBA)
	binary.LittleEndian.PutUint32(b[80:], h.NumberOfPartitionEntries)
	binary.LittleEndian.PutUint32(b[84:], h.SizeOfPartitionEntry)
	binary.LittleEndian.PutUint32(b[88:], h.PartitionEntryArrayCRC32)
	h.HeaderCRC32 = crc32.ChecksumIEEE(b[:h.HeaderSize])
	binary.LittleEndian.PutUint32(b[16:], h.HeaderCRC32)
}

// Encode writes the entry into b (at least 128 bytes): the mirror of
// DecodeGPTEntries for one entry. A name longer than 36 UTF-16 code units
// is cut.
func (e *GPTEntry) Encode(b []byte) {
	clear(b[:gptEntryMinSize])
	copy(b[0:16], e.PartitionTypeGUID[:])
	copy(b[16:32], e.UniquePartitionGUID[:])
	binary.LittleEndian.PutUint64(b[32:], e.StartingLBA)
	binary.LittleEndian.PutUint64(b[40:], e.EndingLBA)
	binary.LittleEndian.PutUint64(b[48:], e.Attributes)
	for k, u := range utf16.Encode([]rune(e.PartitionName)) {
		if k == gptNameUnits {
			break
		}
		binary.LittleEndian.PutUint16(b[56+2*k:], u)
	}
}

// arraySectors returns the number of sectors the entry array takes.
func (h *GPTHeader) arraySectors() int {
	n := uint64(h.NumberOfPartitionEntries) * uint64(h.SizeOfPartitionEntry)
	return int((n + SectorSize - 1) / SectorSize)
}

// DecodeGPTEntries decodes the entry array of h from b, checking its
// CRC32. b holds at least NumberOfPartitionEntries·SizeOfPartitionEntry
// bytes.
func DecodeGPTEntries(b []byte, h *GPTHeader) ([]GPTEntry, error) {
	n := int(h.NumberOfPartitionEntries)
	es := int(h.SizeOfPartitionEntry)
	if es < gptEntryMinSize || uint64(n)*uint64(es) > gptMaxArrayBytes {
		return nil, abi.Errorf(abi.EUCLEAN, "gpt entries: bad shape %d×%d", n, es)
	}
	if len(b) < n*es {
		return nil, abi.Errorf(abi.EINVAL, "gpt entries: %d bytes, need %d", len(b), n*es)
	}
	b = b[:n*es]
	if sum := crc32.ChecksumIEEE(b); sum != h.PartitionEntryArrayCRC32 {
		return nil, abi.Errorf(abi.EUCLEAN, "gpt entries: PartitionEntryArrayCRC32 %#08x, computed %#08x",
			h.PartitionEntryArrayCRC32, sum)
	}
	entries := make([]GPTEntry, n)
	var name [gptNameUnits]uint16
	for i := range entries {
		e := b[i*es:][:gptEntryMinSize]
		units := name[:0]
		for k := 0; k < gptNameUnits; k++ {
			u := binary.LittleEndian.Uint16(e[56+2*k:])
			if u == 0 {
				break
			}
			units = append(units, u)
		}
		entries[i] = GPTEntry{
			PartitionTypeGUID:   GUID(e[0:16]),
			UniquePartitionGUID: GUID(e[16:32]),
			StartingLBA:         binary.LittleEndian.Uint64(e[32:]),
			EndingLBA:           binary.LittleEndian.Uint64(e[40:]),
			Attributes:          binary.LittleEndian.Uint64(e[48:]),
			PartitionName:       string(utf16.Decode(units)),
		}
	}
	return entries, nil
}

// readGPT builds the table of a disk with a protective MBR from the
// primary GPT, or from the backup when the primary fails its checks.
func readGPT(s sectorReader, logf func(string, ...any)) (*Table, error) {
	last := s.sectors - 1
	h, entries, err := readGPTAt(s, 1)
	backup := false
	if err != nil {
		logf("GPT: primary GPT header or entries invalid (%v): using the backup GPT at LBA %d", err, last)
		var err2 error
		h, entries, err2 = readGPTAt(s, last)
		if err2 != nil {
			logf("GPT: backup GPT invalid too (%v): no partitions", err2)
			return nil, nil
		}
		backup = true
	} else if h.AlternateLBA != last {
		logf("GPT: primary header thinks the alternate header is at LBA %d, not at the end of the disk (%d)", h.AlternateLBA, last)
	} else if _, _, err := readGPTAt(s, last); err != nil {
		logf("GPT: alternate GPT invalid (%v): using the primary GPT", err)
	}
	t := &Table{
		Label:    "gpt",
		ID:       h.DiskGUID.String(),
		FirstLBA: h.FirstUsableLBA,
		LastLBA:  h.LastUsableLBA,
		Backup:   backup,
	}
	for i, e := range entries {
		if e.PartitionTypeGUID.IsZero() {
			continue
		}
		if i+1 > maxPartitions {
			logf("GPT: entries past %d ignored", maxPartitions)
			break
		}
		// is_pte_valid: a used entry must be in order and on the disk.
		if e.StartingLBA > e.EndingLBA || e.EndingLBA > last {
			logf("GPT: entry %d (LBA %d-%d) is not on the disk: ignored", i+1, e.StartingLBA, e.EndingLBA)
			continue
		}
		t.Partitions = append(t.Partitions, Partition{
			Number:     i + 1,
			Start:      e.StartingLBA,
			Sectors:    e.EndingLBA - e.StartingLBA + 1,
			TypeGUID:   e.PartitionTypeGUID,
			UniqueGUID: e.UniquePartitionGUID,
			Attributes: e.Attributes,
			Name:       e.PartitionName,
		})
	}
	return t, nil
}

// readGPTAt reads and checks the GPT whose header is at lba: the header,
// its place (MyLBA, the usable range and the entry array on the disk, the
// array not over the header), and the entries.
func readGPTAt(s sectorReader, lba uint64) (*GPTHeader, []GPTEntry, error) {
	b, err := s.read(lba, 1)
	if err != nil {
		return nil, nil, err
	}
	h, err := DecodeGPTHeader(b)
	if err != nil {
		return nil, nil, err
	}
	if h.MyLBA != lba {
		return nil, nil, abi.Errorf(abi.EUCLEAN, "gpt header at LBA %d: MyLBA is %d", lba, h.MyLBA)
	}
	if h.LastUsableLBA >= s.sectors {
		return nil, nil, abi.Errorf(abi.EUCLEAN, "gpt header at LBA %d: LastUsableLBA %d beyond the disk (%d sectors)",
			lba, h.LastUsableLBA, s.sectors)
	}
	n := h.arraySectors()
	elba := h.PartitionEntryLBA
	if elba >= s.sectors || uint64(n) > s.sectors-elba || (lba >= elba && lba < elba+uint64(n)) {
		return nil, nil, abi.Errorf(abi.EUCLEAN, "gpt header at LBA %d: entry array at LBA %d (%d sectors) does not fit",
			lba, elba, n)
	}
	if n == 0 {
		return h, nil, nil
	}
	eb, err := s.read(elba, n)
	if err != nil {
		return nil, nil, err
	}
	entries, err := DecodeGPTEntries(eb, h)
	if err != nil {
		return nil, nil, err
	}
	return h, entries, nil
}
