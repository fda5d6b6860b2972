// Package virtio is the device side of the library kernel's disks: split
// virtqueues laid out as the virtio 1.2 specification lays them out in guest
// memory (§2.7), device status and feature negotiation (§2.1, §2.2, §3.1),
// and the virtio-blk device (§5.2) backed by a host file (an image, raw or
// of a format read) or an NBD export (backend_nbd.go).
//
// The package imports nothing of the kernel. It sees guest memory only
// through Memory, as a real device sees only bus addresses, and the driver
// sees the device only through Transport, a method-call rendering of the
// virtio-mmio register file (§4.2.2): features, status, config space, queue
// setup, the queue notify "kick", and an interrupt callback.
//
// # Subset implemented
//
// One split virtqueue per device (no VIRTIO_BLK_F_MQ), with indirect
// descriptor tables (VIRTIO_F_INDIRECT_DESC, §2.7.5.3) so that a request
// takes one ring slot whatever its number of segments. No packed rings
// and no VIRTIO_F_EVENT_IDX: they are not offered, so a conforming driver
// never uses them; the device interrupts after every completion and
// ignores VIRTQ_AVAIL_F_NO_INTERRUPT, which the spec allows (§2.7.7).
//
// # Concurrency
//
// The driver posts chains and calls Transport.Notify. The device pops every
// available chain inside Notify, in the caller's goroutine, validating each
// descriptor, and hands the decoded requests to a pool of worker goroutines
// that move the data between the backend and guest memory in parallel.
// Completions are published in the used ring under a lock, and the
// interrupt callback runs under that same lock, so the driver may read the
// used ring from the callback without any further synchronisation. In the
// other direction, a driver must serialise its writes to the available
// ring with its calls to Notify (it holds one lock across both), which is
// what makes the device's reads of the available ring race-free.
//
// # Errors in what the driver wrote
//
// A malformed chain (index out of range, a loop, a buffer outside memory,
// a readable descriptor after a writable one, a request without header or
// status byte) never panics the device: it sets DEVICE_NEEDS_RESET, stops
// taking buffers from the queue, lets the requests already taken complete,
// and then sends a configuration change interrupt (§2.1.2), after which
// the driver knows nothing more will complete until it resets the device.
package virtio
