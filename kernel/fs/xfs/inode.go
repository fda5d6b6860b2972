package xfs

import (
	"sort"
	"sync"

	"github.com/lklimg/lklimg/format/xfs"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// inode is an inode in memory (struct xfs_inode): its number, the
// decoded core, and the raw inode whose forks it reads. Immutable after
// iget but for the extent lists, decoded on first use under mu.
type inode struct {
	f   *fsys
	ino uint64
	di  *xfs.Dinode
	raw []byte

	mu sync.Mutex
	// data and attr are the forks' extent lists once read.
	data, attr *[]xfs.Bmbt
}

// Which fork (XFS_DATA_FORK, XFS_ATTR_FORK).
const (
	dataFork = 0
	attrFork = 1
)

// iget reads inode ino (xfs_iget, xfs_imap and xfs_inode_from_disk): the
// inode number gives its group, block and index (format/xfs doc); the
// inode is decoded and checked, a free one (mode 0) is EUCLEAN as Linux's
// xfs_iget refuses it on lookup.
func (f *fsys) iget(ino uint64) (*inode, error) {
	sb := f.sb
	agno := ino >> sb.InoBits()
	agino := ino & (1<<sb.InoBits() - 1)
	agbno := agino >> sb.InopBLog
	if agno >= uint64(sb.AgCount) || agbno >= uint64(sb.AgBlocks) || ino == 0 {
		return nil, abi.Errorf(abi.EUCLEAN, "xfs: inode %d beyond the filesystem", ino)
	}
	off, err := f.fsbToByte(agno<<sb.AgBlkLog | agbno)
	if err != nil {
		return nil, abi.Errorf(abi.EUCLEAN, "xfs: inode %d: %v", ino, err)
	}
	off += int64(agino&(1<<sb.InopBLog-1)) * int64(sb.InodeSize)
	raw := make([]byte, sb.InodeSize)
	if err := f.readMeta(raw, off, "inode"); err != nil {
		return nil, abi.Errorf(abi.ErrnoOf(err), "xfs: inode %d: %v", ino, err)
	}
	di, err := xfs.DecodeDinode(raw, f.crc, ino)
	if err != nil {
		return nil, err
	}
	if di.Mode == 0 {
		return nil, abi.Errorf(abi.EUCLEAN, "xfs: inode %d is free", ino)
	}
	ip := &inode{f: f, ino: ino, di: di, raw: raw}
	if ms := f.bmaps[ino]; len(ms) > 0 {
		if err := ip.applyBmaps(ms); err != nil {
			return nil, err
		}
	}
	if ip.isReg() || ip.isDir() || ip.mode()&abi.S_IFMT == abi.S_IFLNK {
		// A size the filesystem cannot hold is damage; refusing it keeps
		// a reader from filling terabytes with zeros (xfs_dinode_verify
		// bounds it by the largest file).
		if di.Size > 1<<53 {
			return nil, abi.Errorf(abi.EUCLEAN, "xfs: inode %d: size %d", ino, di.Size)
		}
	}
	return ip, nil
}

// Ino is the inode number as Linux shows it: the XFS inode number.
func (ip *inode) Ino() uint64 { return ip.ino }

func (ip *inode) mode() uint32 { return uint32(ip.di.Mode) }
func (ip *inode) isDir() bool  { return ip.mode()&abi.S_IFMT == abi.S_IFDIR }
func (ip *inode) isReg() bool  { return ip.mode()&abi.S_IFMT == abi.S_IFREG }

// errf is an EUCLEAN error naming the inode.
func (ip *inode) errf(format string, args ...any) error {
	return abi.Errorf(abi.EUCLEAN, "xfs: inode %d: "+format, append([]any{ip.ino}, args...)...)
}

func ts(t xfs.Timestamp) abi.Timespec { return abi.Timespec{Sec: t.Sec, Nsec: t.Nsec} }

// Getattr reports the inode as xfs_vn_getattr does: blocks from
// di_nblocks (both forks and the bmap btree blocks), the birth time of
// v3 inodes, the preferred I/O size as xfs_stat_blksize (a page, or the
// block when larger), the immutable, append and nodump flags.
func (ip *inode) Getattr() (vfs.Attr, error) {
	f, di := ip.f, ip.di
	a := vfs.Attr{
		Ino:     ip.ino,
		Mode:    ip.mode(),
		Nlink:   di.Nlink,
		Uid:     di.Uid,
		Gid:     di.Gid,
		Size:    di.Size,
		Blocks:  int64(di.NBlocks) << (f.blkbits - 9),
		Blksize: uint32(max(4096, f.bsize)),
		Atime:   ts(di.Atime),
		Mtime:   ts(di.Mtime),
		Ctime:   ts(di.Ctime),
	}
	if di.Version >= 3 {
		a.Btime, a.HasBtime = ts(di.Crtime), true
	}
	switch ip.mode() & abi.S_IFMT {
	case abi.S_IFCHR, abi.S_IFBLK:
		a.Rdev = abi.Makedev(xfs.Rdev(di.DataFork(ip.raw)))
		a.Size = 0 // xfs_setup_inode: i_size of a special file is 0
	case abi.S_IFIFO, abi.S_IFSOCK:
		a.Size = 0
	}
	if di.Flags&xfs.DiflagImmutable != 0 {
		a.Attributes |= abi.STATX_ATTR_IMMUTABLE
	}
	if di.Flags&xfs.DiflagAppend != 0 {
		a.Attributes |= abi.STATX_ATTR_APPEND
	}
	if di.Flags&xfs.DiflagNodump != 0 {
		a.Attributes |= abi.STATX_ATTR_NODUMP
	}
	return a, nil
}

// extents returns a fork's extent list, read on first use: the records
// in the inode (extents format) or the leaves of its bmap btree (btree
// format), walked left to right (xfs_iread_extents).
func (ip *inode) extents(which int) ([]xfs.Bmbt, error) {
	ip.mu.Lock()
	defer ip.mu.Unlock()
	slot := &ip.data
	if which == attrFork {
		slot = &ip.attr
	}
	if *slot != nil {
		return **slot, nil
	}
	exts, err := ip.readExtents(which)
	if err != nil {
		return nil, err
	}
	*slot = &exts
	return exts, nil
}

func (ip *inode) readExtents(which int) ([]xfs.Bmbt, error) {
	di := ip.di
	fork, format, n, what := di.DataFork(ip.raw), di.Format, di.NExtents, "data fork"
	if which == attrFork {
		fork, format, n, what = di.AttrFork(ip.raw), di.AFormat, uint64(di.ANExtents), "attribute fork"
	}
	switch format {
	case xfs.FmtExtents:
		exts, err := xfs.DecodeExtents(fork, n, what)
		if err != nil {
			return nil, ip.errf("%v", err)
		}
		return exts, nil
	case xfs.FmtBtree:
		root, err := xfs.DecodeBmdr(fork, what)
		if err != nil {
			return nil, ip.errf("%v", err)
		}
		var exts []xfs.Bmbt
		budget := (min(n, ip.f.sb.DBlocks) + 1) * xfs.MaxBtreeLevels
		if exts, err = ip.walkBtree(root, exts, &budget, what); err != nil {
			return nil, err
		}
		if uint64(len(exts)) != n {
			return nil, ip.errf("%s: %d extents in the btree, %d counted", what, len(exts), n)
		}
		return exts, nil
	}
	return nil, ip.errf("%s of format %d has no extents", what, format)
}

// walkBtree appends the records under node, children left to right;
// each child's level must be one below its parent's, and budget bounds
// the blocks read, so that a looping btree ends.
func (ip *inode) walkBtree(node xfs.BtreeNode, exts []xfs.Bmbt, budget *uint64, what string) ([]xfs.Bmbt, error) {
	f := ip.f
	buf := make([]byte, f.bsize)
	for _, ptr := range node.Ptrs {
		if *budget == 0 {
			return exts, ip.errf("%s: bmap btree too large", what)
		}
		*budget--
		off, err := f.fsbToByte(ptr)
		if err != nil {
			return exts, ip.errf("%s: bmap btree: %v", what, err)
		}
		if err := f.readMeta(buf, off, "bmap btree block"); err != nil {
			return exts, ip.errf("%v", err)
		}
		b, child, recs, err := xfs.DecodeBmbtBlock(buf, f.crc, ip.ino, uint64(off>>9), exts, what)
		if err != nil {
			return exts, ip.errf("%v", err)
		}
		exts = recs
		if b.Level != node.Level-1 {
			return exts, ip.errf("%s: bmap btree block at level %d under level %d", what, b.Level, node.Level)
		}
		if b.Level > 0 {
			if exts, err = ip.walkBtree(child, exts, budget, what); err != nil {
				return exts, err
			}
		}
	}
	return exts, nil
}

// mapping is where file block fb lies: the extent holding it, or the
// hole up to the next extent (len blocks; 0: to the end of the file).
type mapping struct {
	hole, unwritten bool
	fsb             uint64 // first file system block, for an extent
	len             uint64 // blocks from fb
}

// bmapi maps file block fb of a fork's extents (xfs_bmapi_read).
func bmapi(exts []xfs.Bmbt, fb uint64) mapping {
	i := sort.Search(len(exts), func(i int) bool { return exts[i].StartOff+exts[i].BlockCount > fb })
	if i == len(exts) {
		return mapping{hole: true}
	}
	e := exts[i]
	if e.StartOff > fb {
		return mapping{hole: true, len: e.StartOff - fb}
	}
	d := fb - e.StartOff
	return mapping{unwritten: e.Unwritten, fsb: e.StartBlock + d, len: e.BlockCount - d}
}

// readFork reads p from byte off of a fork whose extents are exts: holes
// and unwritten extents as zeros. An extent's blocks are contiguous
// within its group only: each is mapped by fsbToByte, and a run crossing
// a group's end is refused.
func (ip *inode) readFork(exts []xfs.Bmbt, p []byte, off int64, what string) error {
	f := ip.f
	for n := 0; n < len(p); {
		pos := off + int64(n)
		fb := uint64(pos >> f.blkbits)
		in := pos & (f.bsize - 1)
		m := bmapi(exts, fb)
		left := int64(len(p) - n)
		if m.len != 0 {
			left = min(left, int64(m.len)<<f.blkbits-in)
		}
		chunk := p[n : n+int(left)]
		if m.hole || m.unwritten {
			clear(chunk)
		} else {
			start, err := f.fsbToByte(m.fsb)
			if err != nil {
				return ip.errf("%s: %v", what, err)
			}
			agbno := m.fsb & (1<<f.sb.AgBlkLog - 1)
			if agbno+uint64((in+left+f.bsize-1)>>f.blkbits) > uint64(f.sb.AgBlocks) {
				return ip.errf("%s: extent at block %d crosses its group's end", what, m.fsb)
			}
			if err := f.readMeta(chunk, start+in, what); err != nil {
				return ip.errf("%v", err)
			}
		}
		n += len(chunk)
	}
	return nil
}

// ReadAt reads file data (xfs_file_read_iter).
func (ip *inode) ReadAt(p []byte, off int64) (int, error) {
	return vfs.ReadWithin(p, off, ip.di.Size, func(p []byte, off int64) (int, error) {
		exts, err := ip.extents(dataFork)
		if err != nil {
			return 0, err
		}
		if err := ip.readFork(exts, p, off, "data"); err != nil {
			return 0, err
		}
		return len(p), nil
	})
}

// SeekData returns the first offset >= off in a written extent
// (iomap_seek_data: unwritten extents without cached pages are holes).
func (ip *inode) SeekData(off int64) (int64, error) {
	return ip.seek(off, true)
}

// SeekHole returns the first offset >= off outside written extents; the
// end of the file counts as one.
func (ip *inode) SeekHole(off int64) (int64, error) {
	return ip.seek(off, false)
}

func (ip *inode) seek(off int64, data bool) (int64, error) {
	size := ip.di.Size
	if off < 0 || off >= size {
		return 0, abi.ENXIO
	}
	exts, err := ip.extents(dataFork)
	if err != nil {
		return 0, err
	}
	bs := ip.f.bsize
	for pos := off; pos < size; {
		m := bmapi(exts, uint64(pos/bs))
		isData := !m.hole && !m.unwritten
		if isData == data {
			return pos, nil
		}
		if m.len == 0 {
			break
		}
		pos = (pos/bs + int64(m.len)) * bs
	}
	if data {
		return 0, abi.ENXIO
	}
	return size, nil
}

// Readlink returns a symlink's target: the data fork itself (local) or
// its blocks, each behind a checked header on v5 (xfs_readlink,
// xfs_symlink_remote_read).
func (ip *inode) Readlink() (string, error) {
	f, di := ip.f, ip.di
	n := int(di.Size)
	if n <= 0 || n > xfs.MaxSymlinkLen {
		return "", ip.errf("symlink of %d bytes", n)
	}
	if di.Format == xfs.FmtLocal {
		fork := di.DataFork(ip.raw)
		if n > len(fork) {
			return "", ip.errf("inline symlink of %d bytes in a fork of %d", n, len(fork))
		}
		return string(fork[:n]), nil
	}
	exts, err := ip.extents(dataFork)
	if err != nil {
		return "", err
	}
	// One buffer per extent (xfs_symlink_remote_read): on v5 one header
	// at its start, its checksum over the whole extent.
	out := make([]byte, 0, n)
	for _, e := range exts {
		if len(out) >= n {
			break
		}
		if e.Unwritten || e.BlockCount > xfs.MaxSymlinkLen/512+1 {
			return "", ip.errf("symlink extent of %d blocks", e.BlockCount)
		}
		start, err := f.fsbToByte(e.StartBlock)
		if err != nil {
			return "", ip.errf("symlink: %v", err)
		}
		buf := make([]byte, int64(e.BlockCount)<<f.blkbits)
		if err := f.readMeta(buf, start, "symlink block"); err != nil {
			return "", ip.errf("%v", err)
		}
		piece := buf
		if f.crc {
			o, k, err := xfs.DecodeRemoteHdr(buf, xfs.SymlinkMagic, ip.ino, uint64(start>>9), "symlink")
			if err != nil {
				return "", ip.errf("%v", err)
			}
			if o != len(out) || k == 0 {
				return "", ip.errf("symlink extent holds %d bytes from %d, %d expected", k, o, len(out))
			}
			piece = buf[xfs.RemoteHdrSize : xfs.RemoteHdrSize+k]
		}
		out = append(out, piece[:min(len(piece), n-len(out))]...)
	}
	if len(out) < n {
		return "", ip.errf("symlink of %d bytes has %d", n, len(out))
	}
	return string(out), nil
}
