// Package mbr is the on-disk format of the DOS partition table: the
// master boot record in sector 0, the extended boot records (EBRs) that
// chain logical partitions inside an extended partition, and the
// protective MBR in front of a GPT. It is what Linux's
// block/partitions/msdos.c reads and util-linux's libfdisk (dos.c,
// pt-mbr.h) writes, shared by the kernel's partition reader
// (kernel/block) and the partitioner (tools/fdisk); it holds no state and
// does no I/O.
//
// Layout of sector 0 (and of every EBR): boot code, the disk signature at
// 440 (meaningful in the MBR only), four 16-byte entries at 446, the
// signature 0x55 0xAA at 510. An entry: status (0x80 bootable, 0x00 not),
// CHS of the first sector, type, CHS of the last sector, LBA of the first
// sector (u32), number of sectors (u32). Readers ignore the CHS fields, as
// Linux does (LBA is the truth); writers fill them as fdisk does (CHS).
package mbr
