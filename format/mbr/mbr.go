package mbr

import (
	"encoding/binary"

	"github.com/lklimg/lklimg/kernel/abi"
)

// SectorSize is the size of a boot record, and the unit of its LBAs.
const SectorSize = 512

// Offsets in a boot record's sector.
const (
	OffDiskSignature = 440
	OffEntries       = 446
	EntrySize        = 16
	OffBootSignature = 510
)

// Partition types (system indicators) the table's own logic depends on.
const (
	TypeEmpty         = 0x00
	TypeExtended      = 0x05 // DOS extended (CHS)
	TypeExtendedLBA   = 0x0F // Windows extended (LBA)
	TypeLinux         = 0x83
	TypeLinuxExtended = 0x85
	TypeGPTProtective = 0xEE
)

// StatusBootable is the status byte of the active ("bootable") partition.
const StatusBootable = 0x80

// Entry is one of the four partition entries of an MBR or EBR.
type Entry struct {
	Status   byte // StatusBootable or 0
	FirstCHS [3]byte
	Type     byte
	LastCHS  [3]byte
	StartLBA uint32 // in an EBR, relative to the EBR or the extended partition
	Sectors  uint32
}

// MBR is a decoded master boot record or extended boot record.
type MBR struct {
	DiskSignature uint32 // meaningful in the MBR only
	Entries       [4]Entry
}

// IsExtended reports whether a partition type holds a chain of EBRs: DOS
// (0x05), Windows LBA (0x0F) and Linux (0x85) extended partitions, the
// three msdos.c follows.
func IsExtended(t byte) bool {
	return t == TypeExtended || t == TypeExtendedLBA || t == TypeLinuxExtended
}

// Decode decodes a boot record from its sector. It fails (EINVAL) when
// the sector is short or lacks the 0x55AA signature: the sector is then
// no boot record at all, which is not corruption.
func Decode(b []byte) (*MBR, error) {
	if len(b) < SectorSize {
		return nil, abi.Errorf(abi.EINVAL, "mbr: %d bytes, need %d", len(b), SectorSize)
	}
	if b[OffBootSignature] != 0x55 || b[OffBootSignature+1] != 0xAA {
		return nil, abi.Errorf(abi.EINVAL, "mbr: no 0x55AA signature (%#02x%02x)", b[OffBootSignature], b[OffBootSignature+1])
	}
	m := &MBR{DiskSignature: binary.LittleEndian.Uint32(b[OffDiskSignature:])}
	for i := range m.Entries {
		e := b[OffEntries+i*EntrySize:][:EntrySize]
		m.Entries[i] = Entry{
			Status:   e[0],
			FirstCHS: [3]byte(e[1:4]),
			Type:     e[4],
			LastCHS:  [3]byte(e[5:8]),
			StartLBA: binary.LittleEndian.Uint32(e[8:12]),
			Sectors:  binary.LittleEndian.Uint32(e[12:16]),
		}
	}
	return m, nil
}

// Encode writes the boot record into the sector b (at least SectorSize
// bytes), with the 0x55AA signature, leaving the boot code and the two
// bytes before the entries alone: Decode's mirror.
func (m *MBR) Encode(b []byte) {
	binary.LittleEndian.PutUint32(b[OffDiskSignature:], m.DiskSignature)
	for i, en := range m.Entries {
		e := b[OffEntries+i*EntrySize:][:EntrySize]
		e[0] = en.Status
		copy(e[1:4], en.FirstCHS[:])
		e[4] = en.Type
		copy(e[5:8], en.LastCHS[:])
		binary.LittleEndian.PutUint32(e[8:12], en.StartLBA)
		binary.LittleEndian.PutUint32(e[12:16], en.Sectors)
	}
	b[OffBootSignature], b[OffBootSignature+1] = 0x55, 0xAA
}

// Geometry fdisk gives a disk image, whose CHS geometry nothing reports:
// 255 heads of 63 sectors per track (libfdisk's defaults).
const (
	Heads           = 255
	SectorsPerTrack = 63
)

// CHS returns the three CHS bytes of an entry for lba as fdisk writes
// them: head, then sector (1-63) with cylinder bits 8-9 in its top two
// bits, then cylinder bits 0-7; an LBA beyond cylinder 1023 is written as
// the maximum, 1023/254/63.
func CHS(lba uint64) [3]byte {
	c := lba / (Heads * SectorsPerTrack)
	if c > 1023 {
		return [3]byte{0xFE, 0xFF, 0xFF}
	}
	h := lba / SectorsPerTrack % Heads
	s := lba%SectorsPerTrack + 1
	return [3]byte{byte(h), byte(s) | byte(c>>8)<<6, byte(c)}
}

// Protective returns the protective MBR of a GPT disk of sectors sectors
// (UEFI 2.10 §5.2.3), as libfdisk writes it: one entry of type 0xEE from
// LBA 1 over the rest of the disk (at most 2^32-1 sectors), CHS 0/0/2 to
// the maximum, not bootable, no disk signature.
func Protective(sectors uint64) MBR {
	var m MBR
	m.Entries[0] = Entry{
		FirstCHS: [3]byte{0x00, 0x02, 0x00},
		Type:     TypeGPTProtective,
		LastCHS:  [3]byte{0xFF, 0xFF, 0xFF},
		StartLBA: 1,
		Sectors:  uint32(min(sectors-1, 0xFFFFFFFF)),
	}
	return m
}
