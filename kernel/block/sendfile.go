package block

import (
	"fmt"

	"github.com/lklimg/lklimg/kernel/abi"
)

// Sender is implemented by disks that can send their bytes to a host
// descriptor without the page cache (virtioblk.Disk: the device's host
// side does it, virtio/sendfile.go).
type Sender interface {
	// SendTo sends n bytes from off to dst and returns how many it sent;
	// fewer without an error means the image ended. Errors: EOPNOTSUPP
	// (nothing sent), *abi.HostWriteError (dst failed), EIO.
	SendTo(dst abi.HostFile, off, n int64) (int64, error)
}

// SendTo sends n bytes of the device from off (clipped to its end) to
// the host descriptor dst, for Kernel.Sendfile: the bytes go from the
// image to dst on the host, never through the page cache. Only a disk
// that refuses writes can: the page cache of a writable one may hold
// pages newer than the disk. Errors: EINVAL for a negative range,
// EOPNOTSUPP when the disk cannot send or may be written, and the disk's
// (see Sender).
func (d *Device) SendTo(dst abi.HostFile, off, n int64) (int64, error) {
	if off < 0 || n < 0 {
		return 0, abi.Errorf(abi.EINVAL, "%s: send of %d bytes at %d", d.name, n, off)
	}
	s, ok := d.m.disk.(Sender)
	if !ok || !d.m.disk.ReadOnly() {
		return 0, abi.Errorf(abi.EOPNOTSUPP, "%s: not a read-only disk that can send to the host", d.name)
	}
	if off >= d.size {
		return 0, nil
	}
	n = min(n, d.size-off)
	k, err := s.SendTo(dst, d.start+off, n)
	if err != nil {
		return k, fmt.Errorf("%s: %w", d.name, err)
	}
	return k, nil
}
