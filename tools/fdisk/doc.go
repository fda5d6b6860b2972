// Package fdisk is the partitioner of util-linux's fdisk package, as its
// sfdisk runs from a script: Parse reads sfdisk's script format (the
// header lines, partitions in the named or the positional form), Plan
// lays the partitions out on a disk of a given size as sfdisk 2.38 does
// (1 MiB alignment on disks over 4 MiB, the default start and size, sizes
// with suffixes rounded to the grain, logical partitions in an extended
// one), and Write writes the table (a DOS MBR and its chain of EBRs, or a
// protective MBR and both GPTs) through a block device the kernel opens,
// as tools/e2fsprogs writes filesystems. The formats are format/mbr's and
// format/gpt's; the disk is re-read by the caller (BLKRRPART).
//
// GUIDs and the DOS disk identifier are random as sfdisk makes them,
// unless a seed is given (IDs): then each is derived from the seed and
// what it identifies, so that the same script and seed give the same
// bytes.
package fdisk
