// Package qcow2 is the on-disk format of QEMU's qcow2 disk images
// (QEMU's docs/interop/qcow2.txt, versions 2 and 3): the header and its
// extensions, the L1 and L2 tables that map the guest's clusters to the
// image file's (standard and extended L2 entries, with subclusters), and
// compressed cluster descriptors. It holds no state and does no I/O; the
// virtio backend (virtio/backend_qcow2.go) serves a disk with it.
//
// All numbers are big-endian. Names follow the specification: a guest
// offset is split into an L1 index, an L2 index and an offset in the
// cluster; Header.ClusterBits is cluster_bits. Decoders check every
// field they rely on and return errors wrapping ErrCorrupt (or
// ErrUnsupported for what this package does not read: encryption, an
// unknown incompatible feature) that name the structure.
package qcow2
