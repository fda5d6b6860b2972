// Package virtioblk is the library kernel's virtio-blk driver (virtio 1.2
// §5.2): it turns the block layer's requests into descriptor chains on a
// split virtqueue whose rings live in the kernel's arena, kicks the device
// and sleeps until the device's interrupt reports the request used.
//
// A request is a chain of a 16-byte header (device-readable), the data
// segments (readable for writes, writable for reads), and a 1-byte status
// (writable), as §5.2.6 describes it. The header and status of every
// request slot ("tag") are carved once at initialisation from an arena
// page, so the hot path allocates nothing: a request takes a tag and
// descriptors from free lists, fills them, publishes the head in the
// available ring, notifies the device, and waits on the tag's channel.
//
// When the device offers VIRTIO_F_INDIRECT_DESC (§2.7.5.3), as package
// virtio's does, each tag also owns an indirect descriptor table in the
// arena: the chain is written there and takes a single ring descriptor,
// so the queue depth is the queue size (128 by default) whatever the
// number of segments per request. Without it, chains go straight into the
// ring's descriptor table and the depth is what their lengths allow.
//
// Many goroutines may submit at once, as many as the queue holds; the rest
// wait for a tag or descriptors to come back. Requests larger than the device's
// seg_max or the driver's transfer limit are split into several chains,
// issued in order.
//
// Locking: Disk.mu guards the free lists, the descriptor table and the
// available ring, and is held across Transport.Notify (the device reads
// the available ring inside Notify, see package virtio). The used ring is
// read only in the interrupt handler, which the device calls with its
// used ring held; Disk.usedMu guards the tags' pending state between the
// submitters and that handler.
package virtioblk
