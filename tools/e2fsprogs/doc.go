// Package e2fsprogs is lklimg's ext2/ext3/ext4 userspace tools, the
// counterparts of e2fsprogs' programs: Mkfs (mke2fs), Minimize (resize2fs
// -M: blocks move, inodes do not), AddJournal (tune2fs -j) and
// AddOrphanFile (tune2fs -O orphan_file). Like e2fsprogs on Linux they
// work on a block device they are handed (an io.WriterAt, ImageDevice: a
// kernel file descriptor on /dev/vda or /dev/vdaN), never through the
// driver: the on-disk format comes from format/ext4, which the driver
// (kernel/fs/ext4) imports too.
//
// Mkfs is checked byte for byte against mke2fs 1.47.0 (mkfs_test.go); the
// others against resize2fs, tune2fs, e2fsck and the host kernel.
package e2fsprogs

import "encoding/binary"

// le is the byte order of every ext4 structure.
var le = binary.LittleEndian
