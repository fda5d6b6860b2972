package dosfstools

import (
	"github.com/lklimg/lklimg/format/fat"
)

// MkfsParams is what mkfs.fat takes from its command line and learns of
// its device. The zero value of each option is mkfs.fat's default.
type MkfsParams struct {
	// Size is the device's size in bytes (BLKGETSIZE64, or a regular
	// file's st_size).
	Size int64
	// Partition says the device is a partition of a disk, not a regular
	// file; nil for a file (the case mkfs.fat is compared with).
	Partition *Partition

	FATBits     int    // -F 12|16|32; 0: by size
	SectorSize  uint32 // -S, a power of two from 512 to 32768; 0: 512
	SecPerClus  uint32 // -s, a power of two from 1 to 128; 0: by size
	Reserved    uint32 // -R, 1 to 65535; 0: 32 on FAT32, else 1
	RootEntries uint32 // -r, 16 to 32768; 0: 512 (112 or 224 on floppy sizes)
	NumFATs     uint32 // -f, 1 to 4; 0: 2
	// Hidden is BPB_HiddSec (-h) when HiddenGiven; otherwise it is the
	// partition's start, 0 for a file.
	Hidden      uint32
	HiddenGiven bool
	Media       uint8 // -M, 0xF0 or 0xF8 to 0xFF; 0: by size (0xF8, floppies' own)
	// Heads and SecPerTrk are -g HEADS/SECTORS, the geometry in the BPB
	// (the volume is cut to whole tracks of it); 0: by size.
	Heads, SecPerTrk uint16
	// DriveNumber is BS_DrvNum (-D) when DriveGiven; otherwise 0x80 with
	// media 0xF8, 0 with a floppy's.
	DriveNumber uint8
	DriveGiven  bool
	// BackupBoot is the FAT32 backup boot sector (-b) when BackupGiven
	// (0: none); otherwise 6, or what room the reserved sectors leave.
	BackupBoot  uint16
	BackupGiven bool
	// NoAlign is -a: the FATs and the root directory are not padded to
	// whole clusters, nor the volume cut to whole tracks.
	NoAlign bool
	// Label is -n, at most 11 characters ("" or spaces: no label, "NO
	// NAME" in the boot sector). mkfs.fat 4.2 keeps its case (and warns
	// of lower case) and refuses what is not ASCII.
	Label    string
	VolumeID uint32 // -i; mkfs.fat's default is VolumeIDAt the time
	// Time is when the volume is made, in seconds since the epoch: the
	// label entry's dates and times, in the zone TimeOffset seconds east
	// of UTC (mkfs.fat: localtime, or gmtime with --invariant).
	Time       int64
	TimeOffset int
}

// Partition is what mkfs.fat reads of a partition's block device from
// sysfs: where it starts on its disk and the disk's size, both in
// 512-byte sectors. The start becomes the hidden sectors; the disk's size,
// not the partition's, chooses the heads and sectors per track; and a
// partition is a fixed disk's (no floppy defaults).
type Partition struct {
	Start       uint64
	DiskSectors uint64
}

// Invariant is mkfs.fat --invariant: the volume ID and time it uses
// instead of the clock's, the time in UTC.
const (
	InvariantVolumeID = 0x1234abcd
	InvariantTime     = 1426325213
)

// VolumeIDAt is the volume ID mkfs.fat derives from the clock when -i is
// not given (generate_volume_id): the seconds shifted left by 20 bits,
// the microseconds in the low 20.
func VolumeIDAt(sec int64, usec int64) uint32 {
	return uint32(sec)<<20 | uint32(usec)
}

// MkfsSummary is what mkfs.fat -v reports of the volume it makes.
type MkfsSummary struct {
	Boot       fat.BootSector // the boot sector as written
	Bits       int            // 12, 16 or 32
	Sectors    uint32         // the volume's sectors
	FATSectors uint32         // of each FAT
	Clusters   uint32
	// Warnings are mkfs.fat's warnings for these parameters (lower-case
	// label, too few clusters for FAT32, -r on FAT32, ...), in its words.
	Warnings []string
}

// PlanMkfs returns what Mkfs would make with p, without writing; its
// errors are mkfs.fat's, in its words.
func PlanMkfs(p MkfsParams) (MkfsSummary, error) {
	l, err := planMkfs(p)
	if err != nil {
		return MkfsSummary{}, err
	}
	return MkfsSummary{Boot: l.boot, Bits: l.bits, Sectors: l.sectors, FATSectors: l.fatLength,
		Clusters: l.clusters, Warnings: l.warnings}, nil
}
