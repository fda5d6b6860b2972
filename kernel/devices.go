package kernel

import (
	"strconv"
	"strings"

	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/block"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// VirtblkMajor is the major number of the disks' device numbers (st_dev of
// their files, st_rdev of their /dev nodes). virtio_blk registers a dynamic
// major, which is 254, 253 or 252 on most machines; this kernel fixes it at
// 254 so numbers are stable. Minors are 16 a disk, as virtio_blk's
// PART_BITS of 4 gives: vda is 0, vda1 is 1, vdb is 16, vdb3 is 19.
const VirtblkMajor = 254

// minorsPerDisk is 1<<PART_BITS of drivers/block/virtio_blk.c.
const minorsPerDisk = 16

// devices is the block layer as the kernel uses it: disks attached from
// image files, and their devices (whole disks and partitions) by name. The
// real one is blockLayer (disk.go); tests substitute fakes.
type devices interface {
	// addDisk attaches an image file and returns the disk's name ("vda").
	addDisk(path string, opts DiskOptions) (string, error)
	// resizeDisk makes a disk n bytes long (block.Manager.ResizeDisk).
	resizeDisk(name string, n int64) error
	// rereadPartitions reads a disk's partition table again
	// (block.Manager.RereadPartitions) and names the partition devices
	// dropped and made.
	rereadPartitions(d *block.Device, holder any) (dropped, made []string, err error)
	// device returns a disk or partition by name ("vda1" or "/dev/vda1"),
	// or ENXIO.
	device(name string) (vfs.BlockDevice, error)
	// partitions returns the partition names of a disk, in table order,
	// or ENXIO for an unknown disk.
	partitions(disk string) ([]string, error)
	// tableLabel returns the type of a disk's partition table as sfdisk
	// names it ("dos", "gpt"), "" for none, or ENXIO for an unknown disk.
	tableLabel(disk string) (string, error)
	// partitionInfo returns a disk's size and partition table, or ENOENT
	// for an unknown disk.
	partitionInfo(disk string) (PartitionTableInfo, error)
	// close detaches every disk and frees the cache.
	close() error
}

// devNumber returns the device number of a virtio disk or partition by
// name: Makedev(VirtblkMajor, disk*16 + partition), disks counted from vda
// as virtio_blk names them (vda..vdz, vdaa, ...). It returns false for a
// name it cannot place, or a partition beyond 15.
func devNumber(name string) (uint64, bool) {
	name = strings.TrimPrefix(name, "/dev/")
	if !strings.HasPrefix(name, "vd") {
		return 0, false
	}
	rest := name[2:]
	i := 0
	disk := 0
	for i < len(rest) && rest[i] >= 'a' && rest[i] <= 'z' {
		disk = disk*26 + int(rest[i]-'a') + 1
		i++
	}
	if i == 0 || disk > 1<<16 {
		return 0, false
	}
	disk-- // bijective base 26: "a" is 1
	part := 0
	if i < len(rest) {
		n, err := strconv.Atoi(rest[i:])
		if err != nil || n <= 0 || n >= minorsPerDisk || rest[i] == '0' {
			return 0, false
		}
		part = n
	}
	return abi.Makedev(VirtblkMajor, uint32(disk*minorsPerDisk+part)), true
}
