package block

import (
	"fmt"

	"github.com/lklimg/lklimg/format/mbr"
)

// The MBR (DOS) partition table and the chain of extended boot records, as
// Linux's block/partitions/msdos.c reads them; the format is format/mbr's.
// CHS fields are ignored, as by Linux: LBA is the truth.

// maxEBRs bounds the extended chain: there cannot be more EBRs that hold
// a partition than partition numbers, and a chain of empty links longer
// than that is corrupt.
const maxEBRs = 2 * maxPartitions

// readMSDOS builds the table of an MBR disk (msdos_partition). A status
// byte other than 0x00 or 0x80 means sector 0 is not a partition table
// (most often a FAT boot sector): the disk has no table.
func readMSDOS(s sectorReader, m *mbr.MBR, logf func(string, ...any)) (*Table, error) {
	for _, e := range m.Entries {
		if e.Status != 0 && e.Status != 0x80 {
			return nil, nil
		}
	}
	t := &Table{Label: "dos", ID: fmt.Sprintf("0x%08x", m.DiskSignature)}
	next := 5
	for slot, e := range m.Entries {
		// An entry with no sectors is unused, whatever its type.
		if e.Sectors == 0 {
			continue
		}
		p := Partition{
			Number:   slot + 1,
			Start:    uint64(e.StartLBA),
			Sectors:  uint64(e.Sectors),
			Type:     e.Type,
			Bootable: e.Status == mbr.StatusBootable,
			Extended: mbr.IsExtended(e.Type),
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
		ebr, err := mbr.Decode(b)
		if err != nil {
			return next
		}
		for i, e := range ebr.Entries {
			if e.Sectors == 0 || mbr.IsExtended(e.Type) {
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
				Bootable: e.Status == mbr.StatusBootable,
				Logical:  true,
			})
			next++
			if next > maxPartitions {
				break
			}
		}
		link := -1
		for i, e := range ebr.Entries {
			if e.Sectors != 0 && mbr.IsExtended(e.Type) {
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
