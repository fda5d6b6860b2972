package block

import "github.com/lklimg/lklimg/kernel/mm"

// Disk is the driver of one whole disk, as the block layer sees it: a
// virtioblk.Disk. Offsets and lengths are in bytes and multiples of 512 (a
// sector); data moves between the disk and arena segments, in order, so the
// device transfers straight into the page cache.
//
// Implementations are safe for concurrent use and may serve many requests
// at once.
type Disk interface {
	// Read fills segs, in order, with the bytes of the disk from off.
	Read(off int64, segs []mm.Seg) error
	// Write writes segs, in order, to the disk from off.
	Write(off int64, segs []mm.Seg) error
	// Flush makes completed writes durable.
	Flush() error
	// Discard tells the device that n bytes from off are unused.
	Discard(off, n int64) error
	// WriteZeroes makes n bytes from off read as zeros.
	WriteZeroes(off, n int64) error
	// Size returns the capacity in bytes.
	Size() int64
	// ReadOnly reports whether the device refuses writes (VIRTIO_BLK_F_RO).
	ReadOnly() bool
	// ID returns the device's serial (VIRTIO_BLK_T_GET_ID), possibly empty.
	ID() string
}
