// Package gpt is the on-disk format of the GUID Partition Table (UEFI
// 2.10 §5.3): the header (primary at LBA 1, backup at the last LBA), the
// partition entry array, their CRC32s, and GUIDs in the mixed-endian
// layout of UEFI 2.10 Appendix A. It is what Linux's
// block/partitions/efi.c reads and util-linux's libfdisk (gpt.c) writes,
// shared by the kernel's partition reader (kernel/block) and the
// partitioner (tools/fdisk); it holds no state and does no I/O. The
// protective MBR in front of a GPT is format/mbr's (Protective).
//
// Names follow the specification's tables: Header.FirstUsableLBA is
// Table 5-5's FirstUsableLBA. Decoders check every length and field they
// rely on and return EUCLEAN errors that name the structure.
package gpt
