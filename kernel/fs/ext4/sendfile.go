package ext4

import (
	"errors"

	disk "github.com/lklimg/lklimg/format/ext4"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// SendTo sends file data from off to the host descriptor dst
// (vfs.FileSender, for Kernel.Sendfile): each physically contiguous run
// of written blocks is one send of the device's bytes, as readRaw reads
// it. It stops before a hole or an unwritten extent (they read as zeros,
// which are not on the disk) and sends nothing of inline data; it then
// returns EOPNOTSUPP if it sent nothing. A read-write mount, whose data
// may be newer in memory than on the disk, and a journal replayed in
// memory (f.dev is then its overlay, which cannot send) never send.
// Errors: ENOKEY for encrypted contents; EOPNOTSUPP for a damaged block
// map, which ReadAt reads up to the damage; the device's
// (vfs.BlockSender).
func (fi fileInode) SendTo(dst abi.HostFile, off, n int64) (int64, error) {
	defer fi.f.rlock()()
	ip, f := fi.inode, fi.f
	if off < 0 || n < 0 {
		return 0, abi.EINVAL
	}
	if off >= ip.size || n == 0 {
		return 0, nil
	}
	if ip.flags&disk.InodeEncryptFl != 0 {
		return 0, abi.Errorf(abi.ENOKEY, "ext4: inode %d: encrypted contents", ip.ino)
	}
	dev, ok := f.dev.(vfs.BlockSender)
	if !ok || f.rw || ip.flags&disk.InodeInlineDataFl != 0 {
		return 0, abi.Errorf(abi.EOPNOTSUPP, "ext4: inode %d: data not sendable from the device", ip.ino)
	}
	runs, err := ip.blockRuns()
	if d := (*mapDamage)(nil); errors.As(err, &d) {
		// Read shows the blocks before the damage (readRaw).
		return 0, abi.Errorf(abi.EOPNOTSUPP, "ext4: inode %d: damaged block map: %v", ip.ino, err)
	}
	if err != nil {
		return 0, dataErr(err)
	}
	bits := f.BlockBits
	pos, end := off, off+min(n, ip.size-off)
	for i := findRun(runs, uint64(pos)>>bits); pos < end; i++ {
		lblk := uint64(pos) >> bits
		if i == len(runs) || runs[i].lblk > lblk || runs[i].unwritten {
			break // a hole or an unwritten extent: zeros, which Read makes
		}
		r := runs[i]
		stop := min(end, int64((r.lblk+r.n)<<bits))
		phys := int64(r.pblk+lblk-r.lblk)<<bits + pos&int64(f.BlockSize-1)
		want := stop - pos
		k, err := dev.SendTo(dst, phys, want)
		pos += k
		if err != nil {
			if errors.As(err, new(*abi.HostWriteError)) || (pos == off && errors.Is(err, abi.EOPNOTSUPP)) {
				return pos - off, err
			}
			return pos - off, abi.Errorf(abi.EIO, "ext4: inode %d: send block %d: %v", ip.ino, (phys+k)>>bits, err)
		}
		if k < want {
			break // the image ended: Read makes the rest
		}
	}
	if pos == off {
		return 0, abi.Errorf(abi.EOPNOTSUPP, "ext4: inode %d: no data on the device at %d", ip.ino, off)
	}
	return pos - off, nil
}
