// Package dosfstools is lklimg's FAT userspace tools, the counterparts of
// dosfstools' programs: Mkfs (mkfs.fat, also called mkfs.vfat and
// mkfs.msdos) makes FAT12, FAT16 and FAT32 volumes. Like dosfstools on
// Linux it works on a block device it is handed (an io.WriterAt: a kernel
// file descriptor on /dev/vda or /dev/vdaN), never through the driver:
// the on-disk format comes from format/fat, which the driver
// (kernel/fs/vfat) imports too.
//
// Mkfs is checked byte for byte against mkfs.fat 4.2 on a regular file of
// the same size (mkfs_test.go): the same FAT type, cluster size, FAT
// size, reserved sectors, root directory, geometry and media byte for a
// size and the same options, and the same bytes written: mkfs.fat writes
// the reserved sectors, the FATs and the root directory (on FAT32 its
// first cluster) and nothing else, so what lay in the data area stays.
package dosfstools

import "encoding/binary"

// le is the byte order of every FAT structure.
var le = binary.LittleEndian
