package xfs

import (
	"bytes"
	"sort"

	"github.com/lklimg/lklimg/format/xfs"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// Directories (xfs_dir2.c, xfs_dir2_readdir.c). A position is a
// directory address: the byte offset of an entry in the directory's
// logical space, in 8-byte units (xfs_dir2_byte_to_dataptr), the same in
// every form. "." and ".." are entries of their own: in a shortform
// directory at the offsets the first data block would give them, in the
// other forms where the data block holds them.

// dirForm is how a directory is stored (xfs_dir2_format).
type dirForm int

const (
	formShort dirForm = iota
	formBlock
	// formLeaf is the leaf and node forms: the same data blocks, their
	// leaves told apart by lookup (readdir reads only data blocks, as
	// xfs_dir2_leaf_getdents does).
	formLeaf
)

// dir is a directory's extents and form, read for one operation.
type dir struct {
	ip   *inode
	exts []xfs.Bmbt
	form dirForm
}

// openDir finds the directory's form: shortform in the inode, a single
// block when its mapping ends with its first directory block
// (xfs_dir2_isblock), else the leaf or node form.
func (ip *inode) openDir() (*dir, error) {
	if !ip.isDir() {
		return nil, abi.ENOTDIR
	}
	d := &dir{ip: ip}
	if ip.di.Format == xfs.FmtLocal {
		d.form = formShort
		return d, nil
	}
	exts, err := ip.extents(dataFork)
	if err != nil {
		return nil, err
	}
	d.exts = exts
	if len(exts) == 0 {
		return nil, ip.errf("directory without blocks")
	}
	last := exts[len(exts)-1]
	if last.StartOff+last.BlockCount == uint64(ip.f.dirfsbs) {
		if ip.di.Size != int64(ip.f.dirbsize) {
			return nil, ip.errf("single-block directory of %d bytes", ip.di.Size)
		}
		d.form = formBlock
		return d, nil
	}
	d.form = formLeaf
	return d, nil
}

// readBlock reads the directory block at byte off of the directory: every
// file system block of it mapped and written (a hole in metadata is
// damage). It returns the bytes, in buf when it has a directory block's
// room (a reader of many blocks reuses one), and checks nothing else.
func (d *dir) readBlock(off int64, buf []byte) ([]byte, error) {
	ip, f := d.ip, d.ip.f
	fb := uint64(off >> f.blkbits)
	for i := uint64(0); i < uint64(f.dirfsbs); {
		m := bmapi(d.exts, fb+i)
		if m.hole || m.unwritten {
			return nil, ip.errf("directory block at %d not mapped", off)
		}
		i += max(m.len, 1)
	}
	b := buf
	if len(b) != f.dirbsize {
		b = make([]byte, f.dirbsize)
	}
	if err := ip.readFork(d.exts, b, off, "directory block"); err != nil {
		return nil, err
	}
	return b, nil
}

// daddr is the 512-byte address of the directory block at byte off, as
// a v5 header records it.
func (d *dir) daddr(off int64) uint64 {
	f := d.ip.f
	m := bmapi(d.exts, uint64(off>>f.blkbits))
	b, _ := f.fsbToByte(m.fsb)
	return uint64(b >> 9)
}

// dataBlock reads and checks the data block at byte off (into buf, as
// readBlock).
func (d *dir) dataBlock(off int64, buf []byte) (*xfs.DataBlock, error) {
	b, err := d.readBlock(off, buf)
	if err != nil {
		return nil, err
	}
	db, err := xfs.DecodeDataBlock(b, d.ip.f.crc, d.form == formBlock, d.ip.ino, d.daddr(off))
	if err != nil {
		return nil, d.ip.errf("%v", err)
	}
	return db, nil
}

// daBlock reads and checks a leaf or node block at byte off.
func (d *dir) daBlock(off int64, what string, entsize int, magics ...uint16) ([]byte, xfs.DaBlkinfo, error) {
	b, err := d.readBlock(off, nil)
	if err != nil {
		return nil, xfs.DaBlkinfo{}, err
	}
	h, err := xfs.DecodeDaBlock(b, d.ip.f.crc, d.ip.ino, d.daddr(off), entsize, what, magics...)
	if err != nil {
		return nil, h, d.ip.errf("%v", err)
	}
	return b, h, nil
}

// dtype is getdents's type of an entry (xfs_dir3_get_dtype): unknown on
// a filesystem without file types in its entries.
func (f *fsys) dtype(ft uint8) uint8 {
	if !f.ftype {
		return abi.DT_UNKNOWN
	}
	return xfs.DType(ft)
}

// checkIno refuses an entry's inode number that names no inode
// (xfs_dir_ino_validate).
func (f *fsys) checkIno(ino uint64) error {
	sb := f.sb
	agno, agbno := ino>>sb.InoBits(), (ino&(1<<sb.InoBits()-1))>>sb.InopBLog
	if ino == 0 || agno >= uint64(sb.AgCount) || agbno >= uint64(sb.AgBlocks) {
		return abi.Errorf(abi.EUCLEAN, "xfs: directory entry names inode %d, beyond the filesystem", ino)
	}
	return nil
}

// ReadDirDots emits the entries from position pos on, "." and ".."
// included where XFS places them (xfs_readdir).
func (ip *inode) ReadDirDots(pos int64, emit func(vfs.DirEntry) bool) error {
	return ip.readDir(pos, true, emit)
}

// ReadDir is ReadDirDots without "." and "..": the VFS uses ReadDirDots.
func (ip *inode) ReadDir(pos int64, emit func(vfs.DirEntry) bool) error {
	return ip.readDir(pos, false, emit)
}

// pending holds one entry back until the next one's position is known:
// an entry's Next is where the following entry lies (getdents's d_off
// is ctx->pos at the next emit), the last one's the directory's end.
type pending struct {
	e    vfs.DirEntry
	have bool
	emit func(vfs.DirEntry) bool
	stop bool
}

// add queues e at position at, emitting the one held before; false
// once the caller wants no more.
func (p *pending) add(e vfs.DirEntry, at int64) bool {
	if p.have {
		p.e.Next = at
		if !p.emit(p.e) {
			p.stop = true
			return false
		}
	}
	p.e, p.have = e, true
	return true
}

// flush emits the held entry with the directory's end position.
func (p *pending) flush(end int64) {
	if p.have && !p.stop {
		p.e.Next = end
		p.emit(p.e)
	}
}

func (ip *inode) readDir(pos int64, dots bool, emit func(vfs.DirEntry) bool) error {
	if pos < 0 {
		return abi.EINVAL
	}
	d, err := ip.openDir()
	if err != nil {
		return err
	}
	f := ip.f
	hdr := int64(xfs.Dir2DataHdrSize)
	if f.crc {
		hdr = xfs.Dir3DataHdrSize
	}
	p := &pending{emit: emit}
	add := func(name []byte, ino uint64, ft uint8, at int64) bool {
		isDot := bytes.Equal(name, []byte(".")) || bytes.Equal(name, []byte(".."))
		if at < pos || (isDot && !dots) {
			return true
		}
		return p.add(vfs.DirEntry{Name: string(name), Ino: ino, Type: f.dtype(ft)}, at)
	}
	end := int64(f.dirbsize) >> xfs.DataAlignLog
	switch d.form {
	case formShort:
		// xfs_dir2_sf_getdents: "." and ".." at the offsets a data
		// block would give them, then the entries at the offsets kept.
		sf, err := xfs.DecodeShortform(ip.di.DataFork(ip.raw), int(ip.di.Size), f.ftype)
		if err != nil {
			return ip.errf("%v", err)
		}
		if err := f.checkIno(sf.Parent); err != nil {
			return ip.errf("%v", err)
		}
		if !add([]byte("."), ip.ino, xfs.FtDir, hdr>>xfs.DataAlignLog) ||
			!add([]byte(".."), sf.Parent, xfs.FtDir, (hdr+int64(xfs.DataEntSize(1, f.ftype)))>>xfs.DataAlignLog) {
			return nil
		}
		for _, e := range sf.Entries {
			if err := f.checkIno(e.Ino); err != nil {
				return ip.errf("%v", err)
			}
			if !add(e.Name, e.Ino, e.Ftype, int64(e.Offset)>>xfs.DataAlignLog) {
				return nil
			}
		}
	case formBlock:
		if pos >= end {
			return nil
		}
		b, err := d.dataBlock(0, nil)
		if err != nil {
			return err
		}
		if ok, err := walkData(f, b, 0, add); err != nil || !ok {
			return err
		}
	default:
		// xfs_dir2_leaf_getdents: the data blocks below the leaf
		// offset, in file order; the end is the end of the last one.
		if pos >= xfs.LeafOffset>>xfs.DataAlignLog {
			return nil
		}
		dbs := int64(f.dirbsize)
		done, last := int64(-1), int64(-1)
		// One buffer for every block: add copies the names it keeps.
		buf := make([]byte, dbs)
		for _, e := range d.exts {
			start, stop := int64(e.StartOff)<<f.blkbits, int64(e.StartOff+e.BlockCount)<<f.blkbits
			if start >= xfs.LeafOffset {
				break
			}
			stop = min(stop, xfs.LeafOffset)
			last = (stop + dbs - 1) / dbs * dbs
			from := max(start, (pos<<xfs.DataAlignLog)/dbs*dbs) / dbs * dbs
			for off := from; off < stop; off += dbs {
				if off <= done {
					continue // a directory block over two extents
				}
				done = off
				b, err := d.dataBlock(off, buf)
				if err != nil {
					return err
				}
				if ok, err := walkData(f, b, off, add); err != nil || !ok {
					return err
				}
			}
		}
		if last < 0 || last>>xfs.DataAlignLog <= pos {
			return nil
		}
		end = last >> xfs.DataAlignLog
	}
	p.flush(end)
	return nil
}

// walkData passes each entry of data block b (at byte base of the
// directory) to add with its position; false when add wanted no more.
func walkData(f *fsys, b *xfs.DataBlock, base int64, add func([]byte, uint64, uint8, int64) bool) (bool, error) {
	for off := b.HdrSize; off < b.End; {
		e, ok, next, err := b.Entry(off, f.ftype)
		if err != nil {
			return false, abi.Errorf(abi.EUCLEAN, "xfs: directory block at %d: %v", base, err)
		}
		if ok {
			if err := f.checkIno(e.Ino); err != nil {
				return false, err
			}
			if !add(e.Name, e.Ino, e.Ftype, (base+int64(off))>>xfs.DataAlignLog) {
				return false, nil
			}
		}
		off = next
	}
	return true, nil
}

// Lookup finds name (xfs_dir_lookup): by a scan of a shortform
// directory, else by its hash in the leaf entries (those of a block
// directory, the leaf block, or the leaves a da btree descent reaches),
// each candidate's data entry compared by name.
func (ip *inode) Lookup(name string) (vfs.Inode, error) {
	d, err := ip.openDir()
	if err != nil {
		return nil, err
	}
	ino, err := d.lookup([]byte(name))
	if err != nil {
		return nil, err
	}
	if err := ip.f.checkIno(ino); err != nil {
		return nil, ip.errf("%v", err)
	}
	return ip.f.iget(ino)
}

func (d *dir) lookup(name []byte) (uint64, error) {
	ip, f := d.ip, d.ip.f
	hash := xfs.HashName(name)
	switch d.form {
	case formShort:
		sf, err := xfs.DecodeShortform(ip.di.DataFork(ip.raw), int(ip.di.Size), f.ftype)
		if err != nil {
			return 0, ip.errf("%v", err)
		}
		for _, e := range sf.Entries {
			if bytes.Equal(e.Name, name) {
				return e.Ino, nil
			}
		}
		return 0, abi.ENOENT
	case formBlock:
		b, err := d.dataBlock(0, nil)
		if err != nil {
			return 0, err
		}
		ino, _, err := d.matchLeaf(b.Leaf, b.Count, hash, name, b)
		return ino, err
	}
	// The leaf form's single leaf (LEAF1), or the root of the node
	// form's da btree (a node, or a lone LEAFN).
	b, h, err := d.daBlock(xfs.LeafOffset, "directory leaf", xfs.LeafEntrySize,
		xfs.Dir2Leaf1Magic, xfs.Dir3Leaf1Magic, xfs.DaNodeMagic, xfs.Da3NodeMagic, xfs.Dir2LeafNMagic, xfs.Dir3LeafNMagic)
	if err != nil {
		return 0, err
	}
	if h.Magic == xfs.Dir2Leaf1Magic || h.Magic == xfs.Dir3Leaf1Magic {
		ino, _, err := d.matchLeaf(b[h.HdrSize:], h.Count, hash, name, nil)
		return ino, err
	}
	return d.nodeLookup(hash, name)
}

// matchLeaf looks for name among the count leaf entries p (sorted by
// hash): binary search to the first of hash, then each entry of that
// hash compared. blk is the single block of a block directory (nil: the
// data blocks are read). more says the entries of hash may go on in the
// next leaf.
func (d *dir) matchLeaf(p []byte, count int, hash uint32, name []byte, blk *xfs.DataBlock) (uint64, bool, error) {
	ip, f := d.ip, d.ip.f
	i := sort.Search(count, func(i int) bool { return xfs.LeafEntryAt(p, i).Hash >= hash })
	for ; i < count; i++ {
		le := xfs.LeafEntryAt(p, i)
		if le.Hash != hash {
			return 0, false, abi.ENOENT
		}
		if le.Address == 0 {
			continue // stale
		}
		byteOff := int64(le.Address) << xfs.DataAlignLog
		base := byteOff - byteOff%int64(f.dirbsize)
		b := blk
		if b == nil {
			if base >= xfs.LeafOffset {
				return 0, false, ip.errf("leaf entry address %d beyond the data", le.Address)
			}
			var err error
			if b, err = d.dataBlock(base, nil); err != nil {
				return 0, false, err
			}
		} else if base != 0 {
			return 0, false, ip.errf("leaf entry address %d beyond the block", le.Address)
		}
		e, ok, _, err := b.Entry(int(byteOff-base), f.ftype)
		if err != nil {
			return 0, false, ip.errf("%v", err)
		}
		if ok && bytes.Equal(e.Name, name) {
			return e.Ino, false, nil
		}
	}
	return 0, true, abi.ENOENT
}

// nodeLookup descends the da btree at the leaf offset to the leaf whose
// hashes cover hash (xfs_da3_node_lookup_int), then looks there and in
// the following leaves while the hash's entries go on.
func (d *dir) nodeLookup(hash uint32, name []byte) (uint64, error) {
	ip, f := d.ip, d.ip.f
	off := int64(xfs.LeafOffset)
	level := -1
	for depth := 0; ; depth++ {
		if depth > xfs.MaxDaLevels {
			return 0, ip.errf("da btree deeper than %d", xfs.MaxDaLevels)
		}
		b, h, err := d.daBlock(off, "directory node", xfs.LeafEntrySize,
			xfs.DaNodeMagic, xfs.Da3NodeMagic, xfs.Dir2LeafNMagic, xfs.Dir3LeafNMagic)
		if err != nil {
			return 0, err
		}
		if h.Magic == xfs.Dir2LeafNMagic || h.Magic == xfs.Dir3LeafNMagic {
			if level > 1 {
				return 0, ip.errf("da btree leaf under a node of level %d", level)
			}
			return d.leafRun(b, h, hash, name)
		}
		if h.Level == 0 || (level >= 0 && h.Level != level-1) || h.Count == 0 {
			return 0, ip.errf("da btree node of level %d, %d entries", h.Level, h.Count)
		}
		level = h.Level
		p := b[h.HdrSize:]
		i := sort.Search(h.Count, func(i int) bool { return xfs.NodeEntryAt(p, i).Hash >= hash })
		if i == h.Count {
			return 0, abi.ENOENT
		}
		off = int64(xfs.NodeEntryAt(p, i).Before) << f.blkbits
		if off >= xfs.FreeOffset {
			return 0, ip.errf("da btree child %d beyond the leaves", xfs.NodeEntryAt(p, i).Before)
		}
	}
}

// leafRun looks for name in leaf b and its right siblings while the
// hash's run goes on, at most as many leaves as the directory has
// blocks.
func (d *dir) leafRun(b []byte, h xfs.DaBlkinfo, hash uint32, name []byte) (uint64, error) {
	ip, f := d.ip, d.ip.f
	for n := int64(0); ; n++ {
		ino, more, err := d.matchLeaf(b[h.HdrSize:], h.Count, hash, name, nil)
		if err != abi.ENOENT || !more || h.Forw == 0 {
			return ino, err
		}
		if n > ip.di.Size>>f.blkbits {
			return 0, ip.errf("directory leaf siblings loop")
		}
		var errb error
		b, h, errb = d.daBlock(int64(h.Forw)<<f.blkbits, "directory leaf", xfs.LeafEntrySize, xfs.Dir2LeafNMagic, xfs.Dir3LeafNMagic)
		if errb != nil {
			return 0, errb
		}
	}
}
