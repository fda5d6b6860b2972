package btrfs

import (
	"github.com/klauspost/compress/zstd"

	disk "github.com/lklimg/lklimg/format/btrfs"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// inode is an inode in memory (struct btrfs_inode): its subvolume, its
// number there and its item. Immutable.
type inode struct {
	sv   *subvol
	ino  uint64
	item disk.InodeItem
	// empty marks the directory Linux makes up for a subvolume a
	// snapshot does not hold (new_simple_dir): inode 2, no entries.
	empty bool
}

// iget reads inode ino of the subvolume (btrfs_iget, btrfs_read_locked_inode).
func (sv *subvol) iget(ino uint64) (*inode, error) {
	it, ok, err := sv.t.lookup(disk.Key{Objectid: ino, Type: disk.InodeItemKey})
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, abi.Errorf(abi.ENOENT, "btrfs: subvolume %d: inode %d has no inode item", sv.id, ino)
	}
	item, err := disk.DecodeInodeItem(it.Data)
	if err != nil {
		return nil, abi.Errorf(abi.EUCLEAN, "btrfs: subvolume %d: inode %d: %v", sv.id, ino, err)
	}
	return &inode{sv: sv, ino: ino, item: item}, nil
}

// emptyDir is new_simple_dir's inode, in directory parent's subvolume
// and with its times. Its st_dev is the superblock's, which no
// subvolume's is (Linux's stat shows sb->s_dev for it): sbDev here.
func emptyDir(parent *inode) *inode {
	it := parent.item
	sb := &subvol{f: parent.sv.f, id: parent.sv.id, t: parent.sv.t, rootDirid: parent.sv.rootDirid, dev: sbDev()}
	return &inode{sv: sb, ino: disk.EmptySubvolDirObjectid, empty: true, item: disk.InodeItem{
		Mode: abi.S_IFDIR | 0o755, Nlink: 1,
		Atime: it.Atime, Mtime: it.Mtime, Ctime: it.Ctime,
	}}
}

// Ino is the inode number within its subvolume, as stat shows it.
func (ip *inode) Ino() uint64 { return ip.ino }

func (ip *inode) isDir() bool { return ip.item.Mode&abi.S_IFMT == abi.S_IFDIR }

func (ip *inode) errf(err error) error {
	return abi.Errorf(abi.ErrnoOf(err), "btrfs: subvolume %d inode %d: %v", ip.sv.id, ip.ino, err)
}

// Getattr reports the inode as btrfs_getattr does: st_blocks from
// nbytes rounded up to the sector, st_blksize the sector, the birth
// time (otime), the attributes its flags give, and the subvolume's
// own st_dev.
func (ip *inode) Getattr() (vfs.Attr, error) {
	it, f := ip.item, ip.sv.f
	sec := uint64(f.sb.SectorSize)
	a := vfs.Attr{
		Ino:      ip.ino,
		Mode:     it.Mode,
		Nlink:    it.Nlink,
		Uid:      it.Uid,
		Gid:      it.Gid,
		Size:     int64(it.Size),
		Blocks:   int64((it.Nbytes+sec-1)/sec*sec) >> 9,
		Blksize:  f.sb.SectorSize,
		Atime:    it.Atime,
		Mtime:    it.Mtime,
		Ctime:    it.Ctime,
		Btime:    it.Otime,
		HasBtime: !ip.empty,
		Dev:      ip.sv.dev,
	}
	switch it.Mode & abi.S_IFMT {
	case abi.S_IFCHR, abi.S_IFBLK:
		a.Rdev = abi.Makedev(it.RdevMajorMinor())
	}
	if it.Flags&disk.InodeAppend != 0 {
		a.Attributes |= abi.STATX_ATTR_APPEND
	}
	if it.Flags&disk.InodeCompress != 0 {
		a.Attributes |= abi.STATX_ATTR_COMPRESSED
	}
	if it.Flags&disk.InodeImmutable != 0 {
		a.Attributes |= abi.STATX_ATTR_IMMUTABLE
	}
	if it.Flags&disk.InodeNodump != 0 {
		a.Attributes |= abi.STATX_ATTR_NODUMP
	}
	return a, nil
}

// Readlink returns a symlink's target: its data, an inline extent.
func (ip *inode) Readlink() (string, error) {
	return vfs.LinkTarget(int64(ip.item.Size), ip.readData)
}

// ReadAt reads file data (btrfs_file_read_iter through btrfs_get_extent).
func (ip *inode) ReadAt(p []byte, off int64) (int, error) {
	return vfs.ReadWithin(p, off, int64(ip.item.Size), ip.readData)
}

// readData fills p from file offset off, which the caller kept within
// the size: the extents over it copied in, the rest (holes, prealloc
// extents, the tail past the last extent) zeros.
func (ip *inode) readData(p []byte, off int64) (int, error) {
	clear(p)
	end := uint64(off) + uint64(len(p))
	err := ip.extents(uint64(off), func(kOff uint64, e disk.FileExtent) (bool, error) {
		if kOff >= end {
			return false, nil
		}
		return true, ip.copyExtent(p, uint64(off), kOff, e)
	})
	if err != nil {
		return 0, ip.errf(err)
	}
	return len(p), nil
}

// extents calls fn for each extent item of the file that may cover
// bytes from off on, in file order: the last starting at or before off,
// then the rest.
func (ip *inode) extents(off uint64, fn func(kOff uint64, e disk.FileExtent) (bool, error)) error {
	sv := ip.sv
	var c cursor
	if err := sv.t.seek(disk.Key{Objectid: ip.ino, Type: disk.ExtentDataKey, Offset: off}, &c); err != nil {
		return err
	}
	it, ok := c.item()
	if !ok || it.Key.Objectid != ip.ino || it.Key.Type != disk.ExtentDataKey {
		more, err := c.next()
		if err != nil || !more {
			return err
		}
		it, _ = c.item()
	}
	for it.Key.Objectid == ip.ino && it.Key.Type == disk.ExtentDataKey {
		e, err := disk.DecodeFileExtent(it.Data, sv.f.sb.SectorSize)
		if err != nil {
			return abi.Errorf(abi.EUCLEAN, "extent at %d: %v", it.Key.Offset, err)
		}
		if more, err := fn(it.Key.Offset, e); err != nil || !more {
			return err
		}
		if ok, err = c.next(); err != nil || !ok {
			return err
		}
		it, _ = c.item()
	}
	return nil
}

// extentLen is how many file bytes an extent covers.
func extentLen(e disk.FileExtent) uint64 {
	if e.Type == disk.FileExtentInline {
		return e.RAMBytes
	}
	return e.NumBytes
}

// copyExtent copies the part of extent e (at file offset kOff) that
// overlaps p (at file offset off) into p.
func (ip *inode) copyExtent(p []byte, off, kOff uint64, e disk.FileExtent) error {
	f := ip.sv.f
	eEnd := kOff + extentLen(e)
	if eEnd < kOff {
		return abi.Errorf(abi.EUCLEAN, "extent at %d: length overflows", kOff)
	}
	lo, hi := max(off, kOff), min(off+uint64(len(p)), eEnd)
	if lo >= hi {
		return nil
	}
	dst := p[lo-off : hi-off]
	in := lo - kOff // offset inside the extent's file range
	switch {
	case e.Type == disk.FileExtentInline:
		if e.Compression == disk.CompressNone {
			copy(dst, e.Inline[in:])
			return nil
		}
		data := make([]byte, e.RAMBytes)
		if err := f.decompress(e.Compression, data, e.Inline); err != nil {
			return err
		}
		copy(dst, data[in:])
		return nil
	case e.Type == disk.FileExtentPrealloc || e.DiskBytenr == 0:
		return nil // zeros, already
	case e.Compression == disk.CompressNone:
		if ip.item.Flags&disk.InodeNodatasum != 0 {
			return f.readMirrored(dst, e.DiskBytenr+e.Offset+in, false, "file data")
		}
		return f.readVerified(dst, e.DiskBytenr+e.Offset+in)
	}
	data, err := f.decodedExtent(e, ip.item.Flags&disk.InodeNodatasum == 0)
	if err != nil {
		return err
	}
	if e.Offset+in < uint64(len(data)) {
		copy(dst, data[e.Offset+in:])
	}
	return nil
}

// zextent is the last decoded compressed extent, so that a file read in
// pieces decodes each extent once.
type zextent struct {
	bytenr, disk uint64
	method       uint8
	data         []byte
}

// decodedExtent returns e's decoded data (ram_bytes), from the cache or
// read (its checksums checked when sums) and decoded now. The slice is the cache's: copied out under no
// lock, it is never changed, only replaced.
func (f *fsys) decodedExtent(e disk.FileExtent, sums bool) ([]byte, error) {
	f.zmu.Lock()
	z := f.zcache
	f.zmu.Unlock()
	if z.data != nil && z.bytenr == e.DiskBytenr && z.disk == e.DiskNumBytes && z.method == e.Compression && uint64(len(z.data)) == e.RAMBytes {
		return z.data, nil
	}
	// The on-disk bytes (MaxUncompressed at most, which DecodeFileExtent
	// checked) in a pooled buffer: they are dropped once decoded.
	bp := f.bufs.Get().(*[]byte)
	defer f.bufs.Put(bp)
	src := (*bp)[:e.DiskNumBytes]
	if err := f.readMirrored(src, e.DiskBytenr, sums && f.csumTree != nil, "compressed extent"); err != nil {
		return nil, err
	}
	data := make([]byte, e.RAMBytes)
	if err := f.decompress(e.Compression, data, src); err != nil {
		return nil, abi.Errorf(abi.ErrnoOf(err), "extent at logical %d: %v", e.DiskBytenr, err)
	}
	f.zmu.Lock()
	f.zcache = zextent{bytenr: e.DiskBytenr, disk: e.DiskNumBytes, method: e.Compression, data: data}
	f.zmu.Unlock()
	return data, nil
}

// decompress decodes src into dst with the mount's zstd decoder, made
// on first use with its memory bounded (a btrfs zstd frame's window is
// at most 128 KiB, the extent's size).
func (f *fsys) decompress(method uint8, dst, src []byte) error {
	var zd *zstd.Decoder
	if method == disk.CompressZstd {
		f.zmu.Lock()
		if f.zstd == nil {
			d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(4<<20), zstd.WithDecoderMaxWindow(1<<20))
			if err != nil {
				f.zmu.Unlock()
				return abi.Errorf(abi.EIO, "btrfs: zstd: %v", err)
			}
			f.zstd = d
		}
		zd = f.zstd
		f.zmu.Unlock()
	}
	return disk.Decompress(method, dst, src, f.sb.SectorSize, zd)
}

// hasData reports whether extent e holds data: not a hole, not a
// prealloc extent, which btrfs's SEEK_DATA passes over as holes
// (find_desired_extent) when no dirty pages are over them.
func hasData(e disk.FileExtent) bool {
	return e.Type == disk.FileExtentInline || e.Type == disk.FileExtentReg && e.DiskBytenr != 0
}

// SeekData returns the first offset at or after off with data
// (lseek SEEK_DATA, btrfs_seek_data_hole): ENXIO when none before the
// size.
func (ip *inode) SeekData(off int64) (int64, error) {
	size := int64(ip.item.Size)
	if off < 0 || off >= size {
		return 0, abi.ENXIO
	}
	found := int64(-1)
	err := ip.extents(uint64(off), func(kOff uint64, e disk.FileExtent) (bool, error) {
		if int64(kOff) >= size {
			return false, nil
		}
		if end := kOff + extentLen(e); hasData(e) && end > uint64(off) && end >= kOff {
			found = max(off, int64(kOff))
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return 0, ip.errf(err)
	}
	if found < 0 {
		return 0, abi.ENXIO
	}
	return found, nil
}

// SeekHole returns the first offset at or after off in a hole, the
// size at the latest (lseek SEEK_HOLE).
func (ip *inode) SeekHole(off int64) (int64, error) {
	size := int64(ip.item.Size)
	if off < 0 || off >= size {
		return 0, abi.ENXIO
	}
	// find_desired_extent's quick path: no prealloc extents and as many
	// bytes used as the size, so no holes (even where an extent item is
	// missing from a damaged tree: Linux does not look).
	if ip.item.Flags&disk.InodePrealloc == 0 && ip.item.Nbytes == ip.item.Size {
		return size, nil
	}
	cur := uint64(off)
	err := ip.extents(cur, func(kOff uint64, e disk.FileExtent) (bool, error) {
		end := kOff + extentLen(e)
		if kOff > cur || end < kOff || cur >= uint64(size) {
			return false, nil // a gap before this extent: the hole
		}
		if end <= cur {
			return true, nil // the extent before off
		}
		if !hasData(e) {
			return false, nil // cur is in a hole or prealloc extent
		}
		cur = end
		return true, nil
	})
	if err != nil {
		return 0, ip.errf(err)
	}
	return min(int64(cur), size), nil
}
