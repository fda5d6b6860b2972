// Package block is the library kernel's block layer: block devices named as
// Linux names virtio disks (/dev/vda, /dev/vdb, ... and partitions vda1,
// ...), partition tables (MBR, GPT), and the page cache every device reads
// through, with readahead and merged requests.
package block
