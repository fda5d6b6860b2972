package erofs

import (
	"errors"

	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// SendTo sends file data from off to the host descriptor dst
// (vfs.FileSender, for Kernel.Sendfile): each contiguous piece of an
// uncompressed file, the inline tail included (its bytes lie on the
// device as they are read), is one send of the device's bytes. It stops
// before a hole of a chunk-based file; compressed files are never sent.
// It returns EOPNOTSUPP if it sent nothing. Errors: EUCLEAN for a
// damaged map, the device's (vfs.BlockSender).
func (ip *inode) SendTo(dst abi.HostFile, off, n int64) (int64, error) {
	if off < 0 || n < 0 {
		return 0, abi.EINVAL
	}
	size := int64(ip.di.Size)
	if off >= size || n == 0 {
		return 0, nil
	}
	dev, ok := ip.f.dev.(vfs.BlockSender)
	if !ok || ip.di.Compressed() {
		return 0, abi.Errorf(abi.EOPNOTSUPP, "erofs: nid %d: data not sendable from the device", ip.nid)
	}
	pos, end := off, off+min(n, size-off)
	for pos < end {
		m, err := ip.mapFlat(pos)
		if err != nil {
			return pos - off, inodeErr(ip.nid, err)
		}
		if m.hole || m.meta && ip.mbox {
			break // zeros, or bytes of the metabox: Read makes them
		}
		want := min(m.len, end-pos)
		k, err := dev.SendTo(dst, m.pa, want)
		pos += k
		if err != nil {
			if errors.As(err, new(*abi.HostWriteError)) || (pos == off && errors.Is(err, abi.EOPNOTSUPP)) {
				return pos - off, err
			}
			return pos - off, abi.Errorf(abi.EIO, "erofs: nid %d: send at %d: %v", ip.nid, m.pa+k, err)
		}
		if k < want {
			break // the image ended: Read makes the rest
		}
	}
	if pos == off {
		return 0, abi.Errorf(abi.EOPNOTSUPP, "erofs: nid %d: no data on the device at %d", ip.nid, off)
	}
	return pos - off, nil
}
