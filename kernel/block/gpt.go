package block

import (
	"github.com/lklimg/lklimg/format/gpt"
	"github.com/lklimg/lklimg/kernel/abi"
)

// The GUID Partition Table, UEFI 2.10 §5.3, as Linux's efi.c reads it; the
// format (headers, entries, CRC32s) is format/gpt's. The primary header is
// at LBA 1 and its entry array usually at LBA 2; the backup header is at
// the last LBA, its array just before it.
//
// Linux's efi.c gives up when the primary GPT is bad unless booted with
// "gpt"; we read the backup then, as sfdisk and gdisk do, and say so in
// the log: an image whose first sectors were overwritten still shows its
// partitions. The Revision field is not checked, as Linux does not.

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
		Entries:  h.NumberOfPartitionEntries,
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
func readGPTAt(s sectorReader, lba uint64) (*gpt.Header, []gpt.Entry, error) {
	b, err := s.read(lba, 1)
	if err != nil {
		return nil, nil, err
	}
	h, err := gpt.DecodeHeader(b)
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
	n := h.ArraySectors()
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
	entries, err := gpt.DecodeEntries(eb, h)
	if err != nil {
		return nil, nil, err
	}
	return h, entries, nil
}
