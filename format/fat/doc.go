// Package fat is the on-disk format of the FAT filesystems (FAT12, FAT16
// and FAT32, with VFAT long names): the boot sector and its BIOS
// Parameter Block, the FSInfo sector, the file allocation table's
// entries, directory entries and long-name slots, and FAT's dates and
// times. It is what Linux's include/uapi/linux/msdos_fs.h and
// dosfstools' headers share, and what both the driver (kernel/fs/vfat)
// and the userspace tools (tools/dosfstools) import; it holds no state
// and does no I/O.
//
// The reference is Microsoft's "FAT: General Overview of On-Disk Format"
// (fatgen103, 2000), cited as fatgen §N. Where Linux reads the format
// differently from the specification, this package follows Linux
// (fs/fat/inode.c), since what Linux shows is what a user expects: the
// FAT type is FAT32 when the 16-bit FAT size is zero, not by the cluster
// count alone; the count of clusters is bounded by what the FAT can hold.
//
// Names follow fatgen's: BPB_BytsPerSec is BootSector.BytsPerSec,
// DIR_FstClusLO is DirEntry.FstClusLO. Decoders check every length and
// value before use and return EUCLEAN errors that name the structure.
package fat

import "encoding/binary"

// le is the byte order of every FAT structure.
var le = binary.LittleEndian
