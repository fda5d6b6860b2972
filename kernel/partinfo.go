package kernel

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/lklimg/lklimg/kernel/block"
)

// PartitionTableInfo is a disk's partition table as a tool lists it
// (sfdisk -l, fdisk -l): the kernel's own copy of what the block layer
// decoded, so that tools need not know kernel/block.
type PartitionTableInfo struct {
	// Disk is the disk's name ("vda").
	Disk string
	// Size is the disk's size in bytes; Sectors is Size in SectorSize
	// units (the logical block size partition tables count in).
	Size       int64
	SectorSize int
	Sectors    uint64
	// Label is the table's type as sfdisk names it, "dos" (MBR) or "gpt";
	// "" for a disk without a table (and then nothing below is set).
	Label string
	// ID is the disk identifier as sfdisk prints it: the MBR disk
	// signature ("0x1234abcd") or the GPT disk GUID (upper case).
	ID string
	// FirstLBA and LastLBA bound the sectors GPT partitions may use;
	// TableLength is the number of entries of the GPT's array (128 as
	// sfdisk makes it; sfdisk --dump's table-length).
	FirstLBA, LastLBA uint64
	TableLength       uint32
	// Backup is set when the primary GPT was corrupt and the table was
	// read from the backup GPT.
	Backup bool
	// Partitions in the order of their numbers, as sfdisk and fdisk list
	// them: MBR slots 1-4, then logical partitions; GPT entries in order.
	// (Kernel.Partitions lists logical partitions after their extended
	// partition, as Linux does.)
	Partitions []PartitionInfo
}

// PartitionInfo is one partition of a PartitionTableInfo.
type PartitionInfo struct {
	// Number is N in vdaN; Device is the device's name ("vda5").
	Number int
	Device string
	// Start and Sectors place the partition as the table does, in
	// sectors; Offset and Size are the same in bytes. They are the
	// table's even when the partition runs past the end of the disk (its
	// device is then cut, as Linux does).
	Start, Sectors uint64
	Offset, Size   int64
	// TypeName is the type's name as fdisk lists it ("Linux filesystem",
	// "EFI System", "Linux swap / Solaris"...), "" for a type not named.
	TypeName string

	// MBR: the type byte (system indicator), the boot flag ("active"),
	// and whether it is an extended partition or a logical one inside it.
	Type     byte
	Bootable bool
	Extended bool
	Logical  bool

	// GPT: the partition type GUID, the unique partition GUID (upper
	// case, as sfdisk prints them), the attribute bits and the name.
	TypeGUID   string
	UUID       string
	Attributes uint64
	Name       string
}

// End returns the partition's last sector, as fdisk's End column.
func (p *PartitionInfo) End() uint64 {
	if p.Sectors == 0 {
		return p.Start
	}
	return p.Start + p.Sectors - 1
}

// PartitionInfo returns disk's partition table ("vda" or "/dev/vda") with
// each partition's place, type and names, as read when the disk was added.
// A disk without a table has an empty Label. Errors: ENOENT for an
// unknown disk.
func (k *Kernel) PartitionInfo(disk string) (PartitionTableInfo, error) {
	return k.devs.partitionInfo(strings.TrimPrefix(disk, "/dev/"))
}

func (b *blockLayer) partitionInfo(disk string) (PartitionTableInfo, error) {
	dev, err := b.mgr.Device(disk)
	if err != nil {
		return PartitionTableInfo{}, err
	}
	t, err := b.mgr.Table(disk)
	if err != nil {
		return PartitionTableInfo{}, err
	}
	info := PartitionTableInfo{
		Disk:       dev.Name(),
		Size:       dev.Size(),
		SectorSize: block.SectorSize,
		Sectors:    uint64(dev.Size()) / block.SectorSize,
	}
	if t == nil {
		return info, nil
	}
	info.Label, info.ID = t.Label, t.ID
	info.FirstLBA, info.LastLBA, info.Backup = t.FirstLBA, t.LastLBA, t.Backup
	info.TableLength = t.Entries
	for i := range t.Partitions {
		info.Partitions = append(info.Partitions, partitionInfo(dev.Name(), &t.Partitions[i]))
	}
	slices.SortStableFunc(info.Partitions, func(a, b PartitionInfo) int { return cmp.Compare(a.Number, b.Number) })
	return info, nil
}

// partitionInfo converts one entry of the block layer's table.
func partitionInfo(disk string, p *block.Partition) PartitionInfo {
	pi := PartitionInfo{
		Number:   p.Number,
		Device:   fmt.Sprintf("%s%d", disk, p.Number),
		Start:    p.Start,
		Sectors:  p.Sectors,
		Offset:   int64(p.Start) * block.SectorSize,
		Size:     int64(p.Sectors) * block.SectorSize,
		Type:     p.Type,
		Bootable: p.Bootable,
		Extended: p.Extended,
		Logical:  p.Logical,
	}
	if p.TypeGUID.IsZero() {
		pi.TypeName = mbrTypeNames[p.Type]
		return pi
	}
	pi.TypeGUID, pi.UUID = p.TypeGUID.String(), p.UniqueGUID.String()
	pi.Attributes, pi.Name = p.Attributes, p.Name
	// The block layer's names of GPT types are fdisk's.
	pi.TypeName = p.TypeName()
	return pi
}

// mbrTypeNames names the common MBR partition types as fdisk does
// (util-linux include/pt-mbr-partnames.h).
var mbrTypeNames = map[byte]string{
	0x01: "FAT12",
	0x04: "FAT16 <32M",
	0x05: "Extended",
	0x06: "FAT16",
	0x07: "HPFS/NTFS/exFAT",
	0x0b: "W95 FAT32",
	0x0c: "W95 FAT32 (LBA)",
	0x0e: "W95 FAT16 (LBA)",
	0x0f: "W95 Ext'd (LBA)",
	0x82: "Linux swap / Solaris",
	0x83: "Linux",
	0x85: "Linux extended",
	0x8e: "Linux LVM",
	0xee: "GPT",
	0xef: "EFI (FAT-12/16/32)",
	0xfd: "Linux raid autodetect",
}
