package xfs

import (
	"errors"

	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// SendTo is vfs.FileSender (Kernel.Sendfile): the run of each written
// extent from off goes to the host descriptor dst in one send of the
// device's bytes. It stops before a hole or an unwritten extent (zeros,
// which read(2) makes) and returns EOPNOTSUPP if it sent nothing.
// Errors: EUCLEAN for a damaged map, the device's (vfs.BlockSender).
func (ip *inode) SendTo(dst abi.HostFile, off, n int64) (int64, error) {
	if off < 0 || n < 0 {
		return 0, abi.EINVAL
	}
	f := ip.f
	size := ip.di.Size
	if off >= size || n == 0 {
		return 0, nil
	}
	dev, ok := f.dev.(vfs.BlockSender)
	if !ok {
		return 0, abi.Errorf(abi.EOPNOTSUPP, "xfs: inode %d: data not sendable from the device", ip.ino)
	}
	exts, err := ip.extents(dataFork)
	if err != nil {
		return 0, err
	}
	pos, end := off, off+min(n, size-off)
	for pos < end {
		m := bmapi(exts, uint64(pos>>f.blkbits))
		if m.hole || m.unwritten {
			break
		}
		in := pos & (f.bsize - 1)
		want := min(int64(m.len)<<f.blkbits-in, end-pos)
		start, err := f.fsbToByte(m.fsb)
		if err != nil {
			return pos - off, ip.errf("data: %v", err)
		}
		if agbno := m.fsb & (1<<f.sb.AgBlkLog - 1); agbno+uint64((in+want+f.bsize-1)>>f.blkbits) > uint64(f.sb.AgBlocks) {
			return pos - off, ip.errf("data: extent at block %d crosses its group's end", m.fsb)
		}
		k, err := dev.SendTo(dst, start+in, want)
		pos += k
		if err != nil {
			if errors.As(err, new(*abi.HostWriteError)) || (pos == off && errors.Is(err, abi.EOPNOTSUPP)) {
				return pos - off, err
			}
			return pos - off, abi.Errorf(abi.EIO, "xfs: inode %d: send at %d: %v", ip.ino, start+in+k, err)
		}
		if k < want {
			break // the device ended: read(2) makes the rest
		}
	}
	if pos == off {
		return 0, abi.Errorf(abi.EOPNOTSUPP, "xfs: inode %d: no data on the device at %d", ip.ino, off)
	}
	return pos - off, nil
}
