// Package block is the library kernel's block layer: block devices named as
// Linux names virtio disks (/dev/vda, /dev/vdb, ... and partitions vda1,
// ...), partition tables (MBR, GPT), and the page cache every device reads
// through, with readahead and merged requests.
//
// # Pieces
//
//   - Disk (disk.go) is the driver of a whole disk: virtioblk's, or a test's
//     disk in memory. It moves bytes between the disk and arena segments.
//   - Cache (cache.go) is the page cache (Linux's page cache of block
//     devices): 4 KiB arena pages keyed by (disk, page index), shared by all
//     disks of a kernel and bounded by the page count given to NewCache.
//   - readahead.go turns misses into large requests and reads ahead of
//     sequential readers in the background (Linux's on-demand readahead).
//   - Device (device.go) is a block device, a disk or a partition: a byte
//     window over the disk's pages. Filesystems see it as a vfs.BlockDevice.
//   - File (fops.go) is an open device, what a block device node opens
//     (Linux's def_blk_fops and block/ioctl.c): reads and writes cut at the
//     device's end, fallocate, fsync, discard, zeroout, BLKFLSBUF.
//   - claim.go holds devices exclusively for mounts and O_EXCL opens
//     (bd_may_claim): a held partition keeps its disk, a held disk its
//     partitions, from other holders (EBUSY).
//   - Manager (manager.go) names disks, reads their partition tables and
//     registers the partitions, logging what Linux logs.
//   - table.go, mbr.go and gpt.go decode partition tables.
//
// # The page cache
//
// A page is in one of these states, under the cache's one mutex: free;
// loading (a Disk.Read is filling it; readers of the page wait, so a page
// is read once however many want it); up to date (readers take a
// reference while they copy out, several at once); locked (one writer
// copies in; readers and other writers wait); dirty (newer than the disk;
// never evicted, written back by Sync or when dirty pages pass half the
// cache). Eviction is CLOCK over clean, unreferenced, unlocked pages: the
// hand clears a page's referenced bit the first time it passes and takes
// the page the second time.
//
// Memory: the cache takes pages from the arena one at a time as it needs
// them, up to its bound, and recycles them after that; it stops growing
// early if the arena runs out (the rest belongs to virtqueues and others).
// Page descriptors are allocated with the cache, and a read of cached
// pages allocates nothing.
//
// # Requests and readahead
//
// A miss reads the run of missing consecutive pages from the missed page
// on, up to the readahead window, in one Disk.Read whose segments are the
// pages (pages adjacent in the arena make one segment), within 1 MiB and
// the disk's segment limit (Limiter). A miss just after a previous
// miss's window is sequential: the window grows from 128 KiB, doubling up
// to 1 MiB (or an eighth of the cache). A marker page in each window
// starts the next window in the background when a reader reaches it, so
// the disk reads while the reader copies. Background reads run on at most
// four goroutines from a bounded queue; they take only pages nobody is
// using, never more than half the cache unread, and are dropped when
// memory is short or the queue is full. A filesystem that knows where a
// file lies calls Device.Readahead to the same effect.
//
// # Partitions
//
// ReadTable reads sector 0: no 0x55AA signature, or a boot sector whose
// status bytes are not 0x00/0x80 (a FAT filesystem), means no table; an
// entry of type 0xEE means GPT; anything else is an MBR with, perhaps,
// extended partitions whose logical partitions are numbered from 5. A GPT
// whose primary header or entry array fails its checks is read from the
// backup at the end of the disk (Linux needs the "gpt" boot option for
// that; sfdisk and gdisk do it). As Linux does, a partition starting
// beyond the end of the disk is not registered, one running past it is
// cut, and an extended partition's device is its first two sectors.
//
// Errors: device reads and writes fail with abi.EIO (the disk failed),
// EINVAL (negative offset), ENOSPC (a write past the end), EROFS
// (read-only disk); Manager.Device fails with ENOENT for an unknown name,
// as the missing /dev node would.
package block
