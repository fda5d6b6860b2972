package vfat

import (
	"io"

	"github.com/lklimg/lklimg/kernel/abi"
)

// Regular file reads: the cluster chain as runs, each run read from the
// device in one piece. FAT has no holes: every byte below the size is in
// a cluster (Linux's fat_cont_expand writes zeros to grow a file), so
// there is no Seeker: SEEK_DATA and SEEK_HOLE see the file as all data.

// ReadAt reads file data at off (fat's generic_file_read_iter through
// fat_get_block). A chain shorter than the size is EIO ("request beyond
// EOF", as fat_bmap_cluster reports it).
func (ip *inode) ReadAt(p []byte, off int64) (int, error) {
	f := ip.f
	f.mu.RLock()
	defer f.mu.RUnlock()
	if off < 0 {
		return 0, abi.EINVAL
	}
	if off >= ip.size {
		return 0, io.EOF
	}
	want := min(int64(len(p)), ip.size-off)
	runs, err := ip.chainShared()
	if err != nil {
		return 0, err
	}
	cs := int64(f.ClusterSize)
	n := int64(0)
	for n < want {
		pos := off + n
		lc := uint32(pos / cs)
		r, ok := findRun(runs, lc)
		if !ok {
			return int(n), abi.Errorf(abi.EIO, "vfat: request beyond EOF (i_pos %d): cluster %d of the file", ip.ipos, lc)
		}
		inRun := int64(r.log+r.n)*cs - pos
		chunk := min(want-n, inRun)
		dev := f.ClusterOffset(r.phys+lc-r.log) + pos%cs
		if _, err := f.dev.ReadAt(p[n:n+chunk], dev); err != nil {
			return int(n), abi.Errorf(abi.EIO, "vfat: i_pos %d: reading at %d: %v", ip.ipos, dev, err)
		}
		n += chunk
	}
	if n < int64(len(p)) {
		return int(n), io.EOF
	}
	return int(n), nil
}
