package isofs

import (
	"errors"

	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// SendTo is vfs.FileSender (Kernel.Sendfile): a file stored as it is
// (not zisofs) lies in its sections' runs of blocks, each sent from the
// device to the host descriptor dst in one piece. A zisofs file is left
// to read(2) (EOPNOTSUPP). Errors: the device's (vfs.BlockSender).
func (ip *inode) SendTo(dst abi.HostFile, off, n int64) (int64, error) {
	if ip.mode&abi.S_IFMT == abi.S_IFDIR {
		return 0, abi.EISDIR
	}
	if off < 0 || n < 0 {
		return 0, abi.EINVAL
	}
	if off >= ip.size || n == 0 {
		return 0, nil
	}
	f := ip.f
	dev, ok := f.dev.(vfs.BlockSender)
	if !ok || ip.zf != nil {
		return 0, abi.Errorf(abi.EOPNOTSUPP, "isofs: inode %d: not sendable from the device", ip.ino)
	}
	pos, end := off, off+min(n, ip.size-off)
	for pos < end {
		blk, run := ip.mapBlock(pos >> f.shift)
		want := min(end-pos, run<<f.shift-pos&(f.bsize-1))
		at := blk<<f.shift + pos&(f.bsize-1)
		k, err := dev.SendTo(dst, at, want)
		pos += k
		if err != nil {
			if errors.As(err, new(*abi.HostWriteError)) || (pos == off && errors.Is(err, abi.EOPNOTSUPP)) {
				return pos - off, err
			}
			return pos - off, abi.Errorf(abi.EIO, "isofs: inode %d: send at %d: %v", ip.ino, at+k, err)
		}
		if k < want {
			break // the device ended: read(2) says how
		}
	}
	return pos - off, nil
}
