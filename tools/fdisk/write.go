package fdisk

import (
	"fmt"
	"io"

	"github.com/lklimg/lklimg/format/gpt"
	"github.com/lklimg/lklimg/format/mbr"
)

// Device is the block device a table is written to (a devfile.File on
// /dev/vda).
type Device interface {
	io.ReaderAt
	io.WriterAt
}

// Write writes t to dev, as sfdisk writes a new label: the boot code (the
// first 440 bytes of sector 0) is kept, the rest of sector 0 is the new
// table's. A DOS table is the MBR and, for an extended partition, its
// chain of EBRs (one at its first sector even when it holds no logical
// partition). A GPT is the protective MBR, the primary header at LBA 1
// with its entry array from LBA 2, and the backup array and header at the
// end of the disk. The caller syncs and re-reads the table.
func Write(dev Device, t *Table) error {
	sector0 := make([]byte, SectorSize)
	if _, err := dev.ReadAt(sector0, 0); err != nil && err != io.EOF {
		return fmt.Errorf("reading sector 0: %w", err)
	}
	clear(sector0[mbr.OffDiskSignature:])
	if err := wipeGPT(dev, t.Sectors); err != nil {
		return err
	}
	if t.Label == "gpt" {
		return writeGPT(dev, t, sector0)
	}
	return writeDOS(dev, t, sector0)
}

// wipeGPT erases the signature of an old GPT's headers, as sfdisk has
// libblkid wipe the old table's magic before it writes a new label: the 8
// bytes "EFI PART" at LBA 1 and at the last LBA are zeroed, the rest left
// (a new GPT writes both sectors again; a DOS label leaves them so).
func wipeGPT(dev Device, sectors uint64) error {
	for _, lba := range []uint64{1, sectors - 1} {
		var sig [8]byte
		if _, err := dev.ReadAt(sig[:], int64(lba*SectorSize)); err != nil && err != io.EOF {
			return fmt.Errorf("reading sector %d: %w", lba, err)
		}
		if string(sig[:]) == gpt.Signature {
			if _, err := dev.WriteAt(make([]byte, len(sig)), int64(lba*SectorSize)); err != nil {
				return fmt.Errorf("wiping the GPT signature at sector %d: %w", lba, err)
			}
		}
	}
	return nil
}

func writeAt(dev Device, b []byte, lba uint64) error {
	if _, err := dev.WriteAt(b, int64(lba*SectorSize)); err != nil {
		return fmt.Errorf("writing sector %d: %w", lba, err)
	}
	return nil
}

// entry is an MBR entry for sectors [start, end], start stored relative
// to base, with fdisk's CHS of the absolute sectors.
func entry(typ byte, boot bool, start, end, base uint64) mbr.Entry {
	e := mbr.Entry{
		FirstCHS: mbr.CHS(start), Type: typ, LastCHS: mbr.CHS(end),
		StartLBA: uint32(start - base), Sectors: uint32(end - start + 1),
	}
	if boot {
		e.Status = mbr.StatusBootable
	}
	return e
}

func writeDOS(dev Device, t *Table, sector0 []byte) error {
	m := mbr.MBR{DiskSignature: t.DiskID}
	var ext *Partition
	var logicals []*Partition
	for i := range t.Partitions {
		p := &t.Partitions[i]
		if p.Logical {
			logicals = append(logicals, p)
			continue
		}
		m.Entries[p.Number-1] = entry(p.Type, p.Bootable, p.Start, p.End(), 0)
		if p.Extended {
			ext = p
		}
	}
	m.Encode(sector0)
	if err := writeAt(dev, sector0, 0); err != nil {
		return err
	}
	if ext == nil {
		return nil
	}
	// Each EBR: its logical partition relative to the EBR, and the link
	// to the next EBR relative to the extended partition, covering that
	// EBR and its partition.
	if len(logicals) == 0 {
		var e mbr.MBR
		b := make([]byte, SectorSize)
		e.Encode(b)
		return writeAt(dev, b, ext.Start)
	}
	for i, p := range logicals {
		var e mbr.MBR
		e.Entries[0] = entry(p.Type, p.Bootable, p.Start, p.End(), p.EBR)
		if i+1 < len(logicals) {
			n := logicals[i+1]
			e.Entries[1] = entry(mbr.TypeExtended, false, n.EBR, n.End(), ext.Start)
		}
		b := make([]byte, SectorSize)
		e.Encode(b)
		if err := writeAt(dev, b, p.EBR); err != nil {
			return err
		}
	}
	return nil
}

func writeGPT(dev Device, t *Table, sector0 []byte) error {
	pm := mbr.Protective(t.Sectors)
	pm.Encode(sector0)
	if err := writeAt(dev, sector0, 0); err != nil {
		return err
	}
	h := gpt.Header{
		Revision: gpt.Revision, HeaderSize: gpt.HeaderSize,
		FirstUsableLBA: t.FirstLBA, LastUsableLBA: t.LastLBA, DiskGUID: t.DiskGUID,
		NumberOfPartitionEntries: t.Entries, SizeOfPartitionEntry: gpt.EntrySize,
	}
	entries := make([]gpt.Entry, t.Entries)
	for _, p := range t.Partitions {
		entries[p.Number-1] = gpt.Entry{
			PartitionTypeGUID: p.TypeGUID, UniquePartitionGUID: p.UUID,
			StartingLBA: p.Start, EndingLBA: p.End(), Attributes: p.Attrs, PartitionName: p.Name,
		}
	}
	array := gpt.EncodeArray(&h, entries)
	h.PartitionEntryArrayCRC32 = gpt.ArrayCRC32(array[:h.ArrayBytes()])
	last := t.Sectors - 1
	backupArray := last - uint64(h.ArraySectors())
	hb := make([]byte, SectorSize)
	// The backup first, as libfdisk writes it, so that a crash leaves
	// the old primary or both new.
	h.MyLBA, h.AlternateLBA, h.PartitionEntryLBA = last, 1, backupArray
	h.Encode(hb)
	if err := writeAt(dev, array, backupArray); err != nil {
		return err
	}
	if err := writeAt(dev, hb, last); err != nil {
		return err
	}
	h.MyLBA, h.AlternateLBA, h.PartitionEntryLBA = 1, last, 2
	h.Encode(hb)
	if err := writeAt(dev, array, 2); err != nil {
		return err
	}
	return writeAt(dev, hb, 1)
}
