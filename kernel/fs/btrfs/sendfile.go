package btrfs

import (
	"errors"

	disk "github.com/lklimg/lklimg/format/btrfs"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// SendTo is vfs.FileSender (Kernel.Sendfile): each regular,
// uncompressed extent from off goes to the host descriptor dst in one
// send of the device's bytes, after its data checksums were verified
// (as a read verifies them: EIO where one differs, nothing of the bad
// sector sent). It stops before what is not on the device as is (a
// hole, a prealloc extent, inline data, a compressed extent: a read
// makes or decodes it) and returns EOPNOTSUPP if it sent nothing.
// Errors: EUCLEAN for a damaged extent item or tree, EIO for a checksum
// that differs, the device's (vfs.BlockSender).
func (ip *inode) SendTo(dst abi.HostFile, off, n int64) (int64, error) {
	if off < 0 || n < 0 {
		return 0, abi.EINVAL
	}
	f := ip.sv.f
	size := int64(ip.item.Size)
	if off >= size || n == 0 {
		return 0, nil
	}
	if _, ok := f.dev.(vfs.BlockSender); !ok {
		return 0, abi.Errorf(abi.EOPNOTSUPP, "btrfs: inode %d: data not sendable from the device", ip.ino)
	}
	sums := ip.item.Flags&disk.InodeNodatasum == 0
	pos, end := uint64(off), uint64(off+min(n, size-off))
	var sendErr error
	err := ip.extents(pos, func(kOff uint64, e disk.FileExtent) (bool, error) {
		eEnd := kOff + extentLen(e)
		switch {
		case pos >= end || kOff > pos || eEnd < kOff:
			return false, nil // done, or a gap: an implicit hole
		case eEnd <= pos:
			return true, nil // the extent before off
		case e.Type != disk.FileExtentReg || e.DiskBytenr == 0 || e.Compression != disk.CompressNone:
			return false, nil
		}
		want := min(eEnd, end) - pos
		k, err := f.sendLogical(dst, e.DiskBytenr+e.Offset+(pos-kOff), want, sums)
		pos += k
		if err != nil {
			sendErr = err
			return false, nil
		}
		return k == want, nil
	})
	sent := int64(pos) - off
	if sent > 0 && errors.Is(sendErr, abi.EOPNOTSUPP) {
		// What could not be sent is left to the next call, which
		// leaves it to read(2).
		return sent, nil
	}
	if sendErr != nil {
		if errors.As(sendErr, new(*abi.HostWriteError)) || (sent == 0 && errors.Is(sendErr, abi.EOPNOTSUPP)) {
			return sent, sendErr
		}
		return sent, ip.errf(sendErr)
	}
	if err != nil {
		return sent, ip.errf(err)
	}
	if sent == 0 {
		return 0, abi.Errorf(abi.EOPNOTSUPP, "btrfs: inode %d: no data on the device at %d", ip.ino, off)
	}
	return sent, nil
}

// sendBuf is how many bytes of data are verified at a time before they
// are sent: the size of the mount's pooled buffers, which also hold a
// compressed extent's on-disk bytes (the constant below fails to compile
// if they could not).
const sendBuf = 256 << 10

const _ = uint(sendBuf - disk.MaxUncompressed)

// sendLogical sends n bytes of file data at logical address at to dst,
// each chunk's run in one send, after verifying their sectors when
// sums. It returns how many bytes went; fewer without an error when the
// device ended.
func (f *fsys) sendLogical(dst abi.HostFile, at, n uint64, sums bool) (uint64, error) {
	var done uint64
	for done < n {
		c := f.chunks.find(at + done)
		if c == nil {
			return done, abi.Errorf(abi.EUCLEAN, "btrfs: file data: logical %d is in no chunk", at+done)
		}
		// The first copy whose sectors pass is sent.
		mirror, want := 0, uint64(0)
		var verr error
		for m := range c.Copies() {
			_, _, run := f.place(c, at+done, m)
			want, mirror = min(n-done, run), m
			if !sums || f.csumTree == nil {
				break
			}
			if verr = f.verifyRange(at+done, want, m); verr == nil {
				break
			}
		}
		if verr != nil && c.IsRAID56() {
			// Read(2) rebuilds it from the rest of its row.
			return done, abi.Errorf(abi.EOPNOTSUPP, "btrfs: logical %d: to be rebuilt from its parity", at+done)
		}
		if verr != nil {
			return done, verr
		}
		d, phys, _ := f.place(c, at+done, mirror)
		dev, ok := d.(vfs.BlockSender)
		if !ok {
			return done, abi.Errorf(abi.EOPNOTSUPP, "btrfs: logical %d: data not sendable from its device", at+done)
		}
		k, err := dev.SendTo(dst, phys, int64(want))
		done += uint64(k)
		if err != nil {
			return done, err
		}
		if uint64(k) < want {
			return done, nil
		}
	}
	return done, nil
}

// verifyRange reads and checks the sectors around n bytes of file data
// at logical address at in copy mirror, a buffer's worth at a time.
func (f *fsys) verifyRange(at, n uint64, mirror int) error {
	sec := uint64(f.sb.SectorSize)
	lo := at &^ (sec - 1)
	hi := (at + n + sec - 1) &^ (sec - 1)
	bp := f.bufs.Get().(*[]byte)
	defer f.bufs.Put(bp)
	buf := *bp
	for lo < hi {
		k := min(hi-lo, uint64(len(buf)))
		if err := f.readLogical(buf[:k], lo, mirror, "file data"); err != nil {
			return err
		}
		if err := f.verifyData(buf[:k], lo); err != nil {
			return err
		}
		lo += k
	}
	return nil
}
