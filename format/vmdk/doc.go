// Package vmdk is the on-disk format of VMware's virtual disks (VMware's
// Virtual Disk Format 1.1, "hosted sparse extents" and "stream-optimized
// compressed sparse extents"): the sparse extent header, the text
// descriptor and its extent lines, grain directories and tables, and the
// grain markers of a stream-optimized extent. It holds no state and does
// no I/O; the virtio backend (virtio/backend_vmdk.go) serves a disk with
// it.
//
// Numbers in the binary structures are little-endian; offsets and sizes
// are in 512-byte sectors, as the specification counts them. Decoders
// check what they rely on and return errors wrapping ErrCorrupt (or
// ErrUnsupported for what is not read: ESXi's VMFS extents, a disk with
// a parent).
package vmdk
