package block

import (
	"encoding/binary"
	"fmt"

	"github.com/lklimg/lklimg/kernel/abi"
)

// The MBR (DOS) partition table and the chain of extended boot records, as
// Linux's block/partitions/msdos.c reads them. Layout of sector 0 (and of
// every EBR): the disk signature at 440 (MBR only), four 16-byte entries
// at 446, the signature 0x55 0xAA at 510. An entry: status (0x80 bootable,
// 0x00 not), CHS of the first sector, type, CHS of the last sector, LBA of
// the first sector (u32), number of sectors (u32). CHS fields are ignored,
// as by Linux: LBA is the truth.

const (
	mbrSignatureOffset   = 440
	mbrEntriesOffset     = 446
	mbrEntrySize         = 16
	mbrBootSigOffset     = 510
	mbrTypeGPTProtective = 0xEE
	// maxEBRs bounds the extended chain: there cannot be more EBRs that
	// hold a partition than partition numbers, and a chain of empty
	// links longer than that is corrupt.
	maxEBRs = 2 * maxPartitions
)

// MBREntry is one of the four partition entries of an MBR or EBR.
type MBREntry struct {
	Status   byte // 0x80: bootable ("active")
	FirstCHS [3]byte
	Type     byte // system indicator: 0x83 Linux, 0x05 extended, 0xEE GPT...
	LastCHS  [3]byte
	StartLBA uint32 // in an EBR, relative (see readExtended)
	Sectors  uint32
}

// MBR is a decoded master boot record or extended boot record.
type MBR struct {
	DiskSignature uint32 // meaningful in the MBR only
	Entries       [4]MBREntry
}

// isExtended reports whether a partition type holds a chain of EBRs: DOS
// (0x05), Windows LBA (0x0F) and Linux (0x85) extended partitions.
func isExtended(t byte) bool { return t == 0x05 || t == 0x0F || t == 0x85 }

// DecodeMBR decodes a boot record from its sector. It fails when the
// sector is short or lacks the 0x55AA signature.
func DecodeMBR(b []byte) (*MBR, error) {
	if len(b) < SectorSize {
		return nil, abi.Errorf(abi.EINVAL, "mbr: %d bytes, need %d", len(b), SectorSize)
	}
	if b[mbrBootSigOffset] != 0x55 || b[mbrBootSigOffset+1] != 0xAA {
		return nil, abi.Errorf(abi.EINVAL, "mbr: no 0x55AA signature (%#02x%02x)", b[mbrBootSigOffset], b[mbrBootSigOffset+1])
	}
	m := &MBR{DiskSignature: binary.LittleEndian.Uint32(b[mbrSignatureOffset:])}
	for i := range m.Entries {
		e := b[mbrEntriesOffset+i*mbrEntrySize:][:mbrEntrySize]
		m.Entries[i] = MBREntry{
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

// Encode writes the boot record into the sector b (at least 512 bytes),
// leaving the boot code alone: DecodeMBR's mirror, for tests and for the
// image writers to come.
func (m *MBR) Encode(b []byte) {
	binary.LittleEndian.PutUint32(b[mbrSignatureOffset:], m.DiskSignature)
	for i, en := range m.Entries {
		e := b[mbrEntriesOffset+i*mbrEntrySize:][:mbrEntrySize]
		e[0] = en.Status
		copy(e[1:4], en.FirstCHS[:])
		e[4] = en.Type
		copy(e[5:8], en.LastCHS[:])
		binary.LittleEndian.PutUint32(e[8:12], en.StartLBA)
		binary.LittleEndian.PutUint32(e[12:16], en.Sectors)
	}
	b[mbrBootSigOffset], b[mbrBootSigOffset+1] = 0x55, 0xAA
}

// readMSDOS builds the table of an MBR disk (msdos_partition). A status
// byte other than 0x00 or 0x80 means sector 0 is not a partition table
// (most often a FAT boot sector): the disk has no table.
func readMSDOS(s sectorReader, mbr *MBR, logf func(string, ...any)) (*Table, error) {
	for _, e := range mbr.Entries {
		if e.Status != 0 && e.Status != 0x80 {
			return nil, nil
		}
	}
	t := &Table{Label: "dos", ID: fmt.Sprintf("0x%08x", mbr.DiskSignature)}
	next := 5
	for slot, e := range mbr.Entries {
		// An entry with no sectors is unused, whatever its type.
		if e.Sectors == 0 {
			continue
		}
		p := Partition{
			Number:   slot + 1,
			Start:    uint64(e.StartLBA),
			Sectors:  uint64(e.Sectors),
			Type:     e.Type,
			Bootable: e.Status == 0x80,
			Extended: isExtended(e.Type),
		}
		t.Partitions = append(t.Partitions, p)
		if p.Extended {
			next = readExtended(s, t, p.Start, p.Sectors, next, logf)
		}
	}
	return t, nil
}

// readExtended follows the EBR chain of the extended partition at first
// (of firstSize sectors), appending logical partitions numbered from next,
// and returns the next free number (parse_extended). In each EBR, a
// non-extended entry is a logical partition starting relative to the EBR
// itself; the first extended entry links to the next EBR, relative to the
// start of the outer extended partition. The third and fourth entries are
// taken only if they lie inside the EBR's and the extended partition's
// bounds, as Linux does because old tools left garbage there. The chain
// ends at an EBR without a link or without a signature, at a loop, at the
// end of the disk, or after maxEBRs links.
func readExtended(s sectorReader, t *Table, first, firstSize uint64, next int, logf func(string, ...any)) int {
	this, thisSize := first, firstSize
	seen := make(map[uint64]bool)
	for n := 0; ; n++ {
		if next > maxPartitions {
			logf("msdos: more than %d partitions: the rest of the extended partition is ignored", maxPartitions)
			return next
		}
		if n == maxEBRs {
			logf("msdos: extended partition chain longer than %d links: ignored from sector %d", maxEBRs, this)
			return next
		}
		if seen[this] {
			logf("msdos: extended partition chain loops back to sector %d: ignored from there", this)
			return next
		}
		seen[this] = true
		b, err := s.read(this, 1)
		if err != nil {
			logf("msdos: cannot read EBR at sector %d: %v", this, err)
			return next
		}
		ebr, err := DecodeMBR(b)
		if err != nil {
			return next
		}
		for i, e := range ebr.Entries {
			if e.Sectors == 0 || isExtended(e.Type) {
				continue
			}
			offs, size := uint64(e.StartLBA), uint64(e.Sectors)
			start := this + offs
			if i >= 2 && (offs+size > thisSize || start < first || start+size > first+firstSize) {
				continue
			}
			t.Partitions = append(t.Partitions, Partition{
				Number:   next,
				Start:    start,
				Sectors:  size,
				Type:     e.Type,
				Bootable: e.Status == 0x80,
				Logical:  true,
			})
			next++
			if next > maxPartitions {
				break
			}
		}
		link := -1
		for i, e := range ebr.Entries {
			if e.Sectors != 0 && isExtended(e.Type) {
				link = i
				break
			}
		}
		if link < 0 {
			return next
		}
		this, thisSize = first+uint64(ebr.Entries[link].StartLBA), uint64(ebr.Entries[link].Sectors)
	}
}
