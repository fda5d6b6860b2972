package block

import (
	"io"

	"github.com/lklimg/lklimg/format/gpt"
	"github.com/lklimg/lklimg/format/mbr"
	"github.com/lklimg/lklimg/kernel/abi"
)

// This file is what Linux's block/partitions/core.c does around the
// parsers: read the first sectors, pick the parser (a protective MBR means
// GPT, as efi.c is tried before msdos.c and msdos.c declines a disk with an
// 0xEE entry), and hand back the table. Which partitions become devices,
// and how ones running past the end of the disk are cut, is the Manager's.

// SectorSize is the logical block size of every disk: partition tables
// count in 512-byte sectors.
const SectorSize = 512

// maxPartitions is the highest partition number a disk gets, as Linux's
// DISK_MAX_PARTS (256 minors, the disk itself being minor 0).
const maxPartitions = 255

// Table is a disk's partition table as found on the disk, for the
// partition devices and for tools that list it (lklimg info). Starts and
// sizes are in 512-byte sectors, as sfdisk reports them.
type Table struct {
	// Label is the table's type as sfdisk names it: "dos" or "gpt".
	Label string
	// ID is the disk identifier: the MBR's disk signature ("0x1234abcd")
	// or the GPT's disk GUID.
	ID string
	// FirstLBA and LastLBA bound the sectors GPT partitions may use;
	// Entries is the length of the GPT's entry array.
	FirstLBA, LastLBA uint64
	Entries           uint32
	// Backup is set when the primary GPT was corrupt and the table was
	// read from the backup GPT at the end of the disk.
	Backup bool
	// Partitions are the table's partitions in the order Linux lists them:
	// primary slots in order, each extended partition followed by its
	// logical partitions.
	Partitions []Partition
}

// Partition is one entry of a Table.
type Partition struct {
	// Number is N in vdaN: the MBR slot (1-4), 5 and up for logical
	// partitions in chain order, or the GPT entry index plus one.
	Number int
	// Start and Sectors place the partition on the disk.
	Start, Sectors uint64

	// MBR: the partition type (system indicator), the boot flag, and
	// whether it is an extended partition (holding a chain of EBRs) or a
	// logical partition inside one.
	Type     byte
	Bootable bool
	Extended bool
	Logical  bool

	// GPT: the type and unique GUIDs, attribute bits and name.
	TypeGUID   gpt.GUID
	UniqueGUID gpt.GUID
	Attributes uint64
	Name       string
}

// sectorReader reads whole sectors of a disk of a known size.
type sectorReader struct {
	r       io.ReaderAt
	sectors uint64
}

// read returns n sectors from lba, or an error if they lie beyond the disk
// or cannot be read.
func (s sectorReader) read(lba uint64, n int) ([]byte, error) {
	if n <= 0 || lba >= s.sectors || uint64(n) > s.sectors-lba {
		return nil, abi.Errorf(abi.EIO, "sectors %d+%d beyond the end of the disk (%d sectors)", lba, n, s.sectors)
	}
	b := make([]byte, n*SectorSize)
	if _, err := s.r.ReadAt(b, int64(lba*SectorSize)); err != nil {
		return nil, err
	}
	return b, nil
}

// ReadTable reads the partition table of a disk of size bytes through r.
// It returns nil and no error when the disk has none (no 0x55AA signature,
// a filesystem boot sector, an unusable GPT), and an error when the disk
// cannot be read. logf receives what Linux would print about the table.
func ReadTable(r io.ReaderAt, size int64, logf func(format string, args ...any)) (*Table, error) {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	s := sectorReader{r: r, sectors: uint64(max(size, 0)) / SectorSize}
	if s.sectors < 2 {
		return nil, nil
	}
	b, err := s.read(0, 1)
	if err != nil {
		return nil, err
	}
	m, err := mbr.Decode(b)
	if err != nil {
		return nil, nil
	}
	for _, e := range m.Entries {
		if e.Type == mbr.TypeGPTProtective {
			return readGPT(s, logf)
		}
	}
	return readMSDOS(s, m, logf)
}

// TypeName returns a name for the partition's type, as fdisk lists them,
// or "" for a type it does not know. Only the common types are named.
func (p *Partition) TypeName() string {
	if p.TypeGUID.IsZero() {
		switch p.Type {
		case 0x01, 0x04, 0x06, 0x0B, 0x0C, 0x0E:
			return "FAT"
		case 0x05, 0x0F, 0x85:
			return "Extended"
		case 0x07:
			return "HPFS/NTFS/exFAT"
		case 0x82:
			return "Linux swap"
		case 0x83:
			return "Linux"
		case 0x8E:
			return "Linux LVM"
		case 0xEF:
			return "EFI (FAT-12/16/32)"
		case 0xFD:
			return "Linux raid autodetect"
		}
		return ""
	}
	// The type GUIDs of UEFI 2.10 §5.3.3 and the Discoverable Partitions
	// Specification.
	switch p.TypeGUID.String() {
	case "C12A7328-F81F-11D2-BA4B-00A0C93EC93B":
		return "EFI System"
	case "21686148-6449-6E6F-744E-656564454649":
		return "BIOS boot"
	case "0FC63DAF-8483-4772-8E79-3D69D8477DE4":
		return "Linux filesystem"
	case "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F":
		return "Linux swap"
	case "E6D6D379-F507-44C2-A23C-238F2A3DF928":
		return "Linux LVM"
	case "A19D880F-05FC-4D3B-A006-743F0F84911E":
		return "Linux RAID"
	case "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709":
		return "Linux root (x86-64)"
	case "44479540-F297-41B2-9AF7-D131D5F0458A":
		return "Linux root (x86)"
	case "B921B045-1DF0-41C3-AF44-4C6F280D3FAE":
		return "Linux root (ARM-64)"
	case "BC13C2FF-59E6-4262-A352-B275FD6F7172":
		return "Linux extended boot"
	case "933AC7E1-2EB4-4F13-B844-0E14E2AEF915":
		return "Linux home"
	case "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7":
		return "Microsoft basic data"
	case "E3C9E316-0B5C-4DB8-817D-F92DF00215AE":
		return "Microsoft reserved"
	}
	return ""
}
