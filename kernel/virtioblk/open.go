package virtioblk

import (
	"errors"
	"io/fs"
	"net"
	"syscall"

	"github.com/lklimg/lklimg/format/nbd"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/mm"
	"github.com/lklimg/lklimg/virtio"
)

// OpenOptions says how Open attaches an image file.
type OpenOptions struct {
	// Format is the image's format ("raw"); "" or "auto" probes it
	// (virtio.OpenImage).
	Format   string
	ReadOnly bool
	// Create, Truncate and Size make or extend the image file (see
	// virtio.RawOptions).
	Create, Truncate bool
	Size             int64
	// CacheUnsafe: flush requests do not flush the file (see
	// virtio.RawFile.SetCacheUnsafe).
	CacheUnsafe bool
}

// Open attaches the image file at path: a backend of its format
// (virtio.OpenImage: raw today), a virtio-blk device over it, and this
// driver on the device, with its queue in arena. A read-only disk opens
// the file O_RDONLY and offers VIRTIO_BLK_F_RO. Close closes all three.
// Errors from the host carry an errno: ENOENT, EACCES, EISDIR, EINVAL
// (not a file or block device, an unknown format, a malformed NBD URI),
// EMEDIUMTYPE (an image format without a backend yet,
// virtio.FormatError; one its backend cannot read, or does not write,
// virtio.ImageError), else EIO (an NBD server not reached or refusing
// the export, among others).
func Open(path string, o OpenOptions, arena *mm.Arena) (*Disk, error) {
	be, err := virtio.OpenImage(path, virtio.ImageOptions{Format: o.Format, ReadOnly: o.ReadOnly,
		Create: o.Create, Truncate: o.Truncate, Size: o.Size, CacheUnsafe: o.CacheUnsafe})
	if err != nil {
		return nil, hostErrno(err)
	}
	dev, err := virtio.NewBlkDevice(be, virtio.BlkConfig{})
	if err != nil {
		be.Close()
		return nil, err
	}
	d, err := New(dev, arena, Options{})
	if err != nil {
		dev.Close()
		return nil, err
	}
	d.owned = dev
	return d, nil
}

// hostErrno gives a host error the errno the kernel reports for it,
// keeping the host's message.
func hostErrno(err error) error {
	errno := abi.EIO
	switch {
	case errors.As(err, new(*virtio.FormatError)) || errors.As(err, new(*virtio.ImageError)):
		errno = abi.EMEDIUMTYPE
	case errors.Is(err, virtio.ErrIsDir) || errors.Is(err, syscall.EISDIR):
		errno = abi.EISDIR
	case errors.Is(err, fs.ErrNotExist):
		errno = abi.ENOENT
	case errors.Is(err, fs.ErrPermission):
		errno = abi.EACCES
	case errors.As(err, new(net.Error)) || errors.Is(err, nbd.ErrProtocol) || errors.As(err, new(*nbd.OptionError)):
		// An NBD server not reached, or not agreeing: the host's I/O.
	case !errors.As(err, new(*fs.PathError)):
		errno = abi.EINVAL // OpenImage's own refusal of the file's type or format name
	}
	return abi.Errorf(errno, "%v", err)
}
