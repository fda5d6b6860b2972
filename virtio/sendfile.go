package virtio

import (
	"errors"
	"fmt"
)

// Sending a disk's bytes to a host descriptor without passing them through
// guest memory: the host-side half of the kernel's Sendfile (a host
// extension, outside the virtio spec, as vhost hands a guest's buffers to
// the host's own descriptors). A read request copies the image's bytes
// into the arena, the driver copies them out to the caller, and the caller
// writes them to its output: three copies that sendfile(2) or splice(2)
// on the host make none when the output is a pipe (the pipe holds
// references to the host's page cache pages) and one in the host kernel
// otherwise.

// Sink is a descriptor of the host process that a disk's bytes can be
// sent to: a pipe, a file, a character device. *os.File is one.
type Sink interface {
	Fd() uintptr
}

// Sender is implemented by backends that can send their bytes to a Sink.
type Sender interface {
	// SendTo writes n bytes of the backend from off to dst, at dst's file
	// position, and returns how many it wrote; fewer than n without an
	// error means the backend's file ended, or that what follows is not
	// held as is in a file (a qcow2 cluster compressed or not allocated):
	// a read gets the rest. A failure to write dst is a
	// *SinkError; a backend that cannot send to dst (the host refuses
	// the pair: EINVAL) returns an error matching errors.ErrUnsupported
	// before it wrote anything.
	SendTo(dst Sink, off, n int64) (int64, error)
}

// SinkError is a failure to write the Sink (EPIPE, ENOSPC, ...), which is
// the output's and not the disk's.
type SinkError struct{ Err error }

func (e *SinkError) Error() string { return "write: " + e.Err.Error() }
func (e *SinkError) Unwrap() error { return e.Err }

// SendTo sends n bytes of the device from off to dst when its backend is
// a Sender (see there); the range must lie on the device. It is not a
// request on the virtqueue: the driver calls it directly, as it reads the
// config space.
func (d *Device) SendTo(dst Sink, off, n int64) (int64, error) {
	b, ok := d.fn.(*blk)
	if !ok {
		return 0, errors.ErrUnsupported
	}
	s, ok := b.be.(Sender)
	if !ok {
		return 0, fmt.Errorf("virtio: backend cannot send to a host descriptor: %w", errors.ErrUnsupported)
	}
	if size := b.be.Size(); off < 0 || n < 0 || off > size || n > size-off {
		return 0, fmt.Errorf("virtio: send of %d bytes at %d past the device's end %d", n, off, b.be.Size())
	}
	d.mu.Lock()
	broken := d.broken
	d.mu.Unlock()
	if broken {
		return 0, errors.New("virtio: device needs reset")
	}
	return s.SendTo(dst, off, n)
}
