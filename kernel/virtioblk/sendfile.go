package virtioblk

import (
	"errors"

	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/virtio"
)

// sender is the host extension of a device that sends its bytes to a
// host descriptor (virtio.Device.SendTo).
type sender interface {
	SendTo(dst virtio.Sink, off, n int64) (int64, error)
}

// SendTo sends n bytes of the disk from off to the host descriptor dst,
// without them entering the arena: the device's host side sends them
// (virtio/sendfile.go). It returns the bytes sent; fewer than n without
// an error means the image file ended. Errors: EOPNOTSUPP when the device
// or the host cannot (nothing was sent), *abi.HostWriteError when dst
// failed, EIO when the image did.
func (d *Disk) SendTo(dst abi.HostFile, off, n int64) (int64, error) {
	s, ok := d.dev.(sender)
	if !ok {
		return 0, abi.Errorf(abi.EOPNOTSUPP, "virtio-blk: the device cannot send to a host descriptor")
	}
	if d.broken.Load() {
		return 0, abi.Errorf(abi.EIO, "virtio-blk: device needs reset")
	}
	k, err := s.SendTo(dst, off, n)
	var se *virtio.SinkError
	switch {
	case err == nil:
		return k, nil
	case errors.As(err, &se):
		return k, &abi.HostWriteError{Err: se.Err}
	case errors.Is(err, errors.ErrUnsupported):
		return k, abi.Errorf(abi.EOPNOTSUPP, "virtio-blk: %v", err)
	default:
		return k, abi.Errorf(abi.EIO, "virtio-blk: send at %d: %v", off, err)
	}
}
