package erofs

import (
	"sync"

	disk "github.com/lklimg/lklimg/format/erofs"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// inode is an inode in memory (struct erofs_inode): the on-disk inode
// and where it lies. Immutable after iget but for the compressed file's
// map information, read on first use under zmu.
type inode struct {
	f   *fsys
	nid uint64
	di  *disk.Inode
	// pos is the inode's byte offset (erofs_iloc); inline is where its
	// inline part starts, after the inode and its xattr body (the tail
	// of a FLAT_INLINE file, a chunk or compressed file's indexes).
	// Both are offsets in the metabox inode's data when mbox is set (the
	// nid's disk.NidMetaboxBit), else on the device.
	pos, inline int64
	mbox        bool

	zmu sync.Mutex
	z   *zinfo // compressed files' map header, nil until read (zmap.go)
}

// iget reads the inode nid (erofs_iget and erofs_read_inode). An
// extended inode may cross a block boundary: the device is read as bytes,
// so it is read whole all the same.
func (f *fsys) iget(nid uint64) (*inode, error) {
	mbox := nid>>disk.NidMetaboxBit != 0
	slot := nid &^ (1 << disk.NidMetaboxBit)
	if slot > (uint64(1)<<62)>>disk.InodeSlotBits {
		return nil, abi.Errorf(abi.EUCLEAN, "erofs: nid %d out of range", nid)
	}
	// erofs_iloc: from meta_blkaddr, or from the metabox's start.
	pos := int64(slot) << disk.InodeSlotBits
	if !mbox {
		pos += int64(f.sb.MetaBlkAddr) << f.blkbits
	}
	var b [disk.InodeExtendedSize]byte
	n := disk.InodeCompactSize
	if err := f.readMetaIn(mbox, b[:n], pos, "inode"); err != nil {
		return nil, inodeErr(nid, err)
	}
	if disk.InodeSize(uint16(b[0])|uint16(b[1])<<8) == disk.InodeExtendedSize {
		n = disk.InodeExtendedSize
		if err := f.readMetaIn(mbox, b[disk.InodeCompactSize:n], pos+disk.InodeCompactSize, "inode"); err != nil {
			return nil, inodeErr(nid, err)
		}
	}
	di, err := disk.DecodeInode(b[:n])
	if err != nil {
		return nil, inodeErr(nid, err)
	}
	ip := &inode{f: f, nid: nid, di: di, pos: pos, inline: pos + int64(n) + int64(di.XattrISize()), mbox: mbox}
	if err := ip.checkSize(); err != nil {
		return nil, inodeErr(nid, err)
	}
	return ip, nil
}

// readMeta reads the inode's metadata at off (pos and inline's space).
func (ip *inode) readMeta(p []byte, off int64, what string) error {
	return ip.f.readMetaIn(ip.mbox, p, off, what)
}

// metaSize is the size of the space the inode's metadata lies in: the
// device's, or the metabox's data.
func (ip *inode) metaSize() int64 {
	if ip.mbox && ip.f.metabox != nil {
		return int64(ip.f.metabox.di.Size)
	}
	return ip.f.dev.Size()
}

// checkSize refuses a size the image cannot hold: the blocks of a flat
// file, the chunk entries of a chunk-based one, the lcluster indexes of a
// compressed one (or its fragment) must lie on the device. Linux reports
// such a size and fails the reads; refusing the inode (EUCLEAN) keeps a
// damaged size from making a reader fill terabytes with zeros.
func (ip *inode) checkSize() error {
	f, di := ip.f, ip.di
	size, dev := int64(di.Size), f.dev.Size()
	switch ip.mode() & abi.S_IFMT {
	case abi.S_IFREG, abi.S_IFDIR, abi.S_IFLNK:
	default:
		return nil
	}
	nblocks := (size + f.bsize - 1) >> f.blkbits
	bad := func(what string) error {
		return abi.Errorf(abi.EUCLEAN, "erofs: size %d: %s beyond the device (%d bytes)", size, what, dev)
	}
	switch di.DataLayout() {
	case disk.InodeFlatPlain, disk.InodeFlatInline:
		if di.NoData() {
			return nil
		}
		n := nblocks
		if di.DataLayout() == disk.InodeFlatInline && n > 0 {
			n-- // the tail is inline
		}
		if n > 0 && (di.Start()+n)<<f.blkbits > dev {
			return bad("data blocks")
		}
	case disk.InodeChunkBased:
		bits := f.blkbits + uint(di.ChunkFormat()&disk.ChunkFormatBlkBitsMask)
		if bits > 40 {
			return abi.Errorf(abi.EUCLEAN, "erofs: chunk of 2^%d bytes", bits)
		}
		if ip.inline+(size>>bits)*int64(disk.ChunkEntrySize(di.ChunkFormat())) > ip.metaSize() {
			return bad("chunk entries")
		}
	case disk.InodeCompressedFull, disk.InodeCompressedCompact:
		hpos := (ip.inline + 7) &^ 7
		var b [disk.MapHeaderSize]byte
		if err := ip.readMeta(b[:], hpos, "map header"); err != nil {
			return err
		}
		h, _ := disk.DecodeMapHeader(b[:])
		if h.WholeFragment() {
			if f.packed == nil || size > int64(f.packed.di.Size) {
				return bad("fragment")
			}
		} else if di.DataLayout() == disk.InodeCompressedFull && h.Advise&disk.AdviseExtents != 0 {
			// Extent records: as many as the header says (zmap.go).
		} else {
			// One index per lcluster: 2 bytes at the least (compact),
			// 8 in the full form.
			lcbits := f.blkbits + uint(h.ClusterBits&7)
			n, each := (size+1<<lcbits-1)>>lcbits, int64(2)
			if di.DataLayout() == disk.InodeCompressedFull {
				each = disk.LclusterIndexSize
			}
			if hpos+disk.MapHeaderSize+n*each > ip.metaSize() {
				return bad("lcluster indexes")
			}
		}
	}
	return nil
}

// inodeErr names the inode in err's reason.
func inodeErr(nid uint64, err error) error {
	return abi.Errorf(abi.ErrnoOf(err), "nid %d: %v", nid, err)
}

// Ino is the inode number: the nid, as on 64-bit Linux (erofs_squash_ino).
func (ip *inode) Ino() uint64 { return ip.f.ino(ip.nid) }

// ino returns the inode number of nid: the nid itself, but in an image
// with a metabox, where Linux 6.18 keeps the numbers of the metabox's
// inodes small: the nid's bits 31-62 move up one, the metabox bit (63)
// takes bit 31's place (as the host shows them: 2^31 plus the slot).
func (f *fsys) ino(nid uint64) uint64 {
	if f.sb.FeatureIncompat&disk.FeatureIncompatMetabox == 0 {
		return nid
	}
	return nid<<1&^(1<<32-1) | nid&(1<<31-1) | nid>>disk.NidMetaboxBit<<31
}

func (ip *inode) mode() uint32 { return uint32(ip.di.Mode) }

func (ip *inode) isDir() bool { return ip.mode()&abi.S_IFMT == abi.S_IFDIR }

// Getattr reports the inode as erofs_read_inode and erofs_getattr do: a
// compact inode's time is the build time (plus its mtime offset, zero
// in older images), atime and ctime equal mtime; blocks are the
// compressed count for compressed files, else the size in whole blocks;
// every file is immutable, compressed ones say so.
func (ip *inode) Getattr() (vfs.Attr, error) {
	f, di := ip.f, ip.di
	a := vfs.Attr{
		Ino:        ip.Ino(),
		Mode:       ip.mode(),
		Nlink:      di.Nlink,
		Uid:        di.Uid,
		Gid:        di.Gid,
		Size:       int64(di.Size),
		Blksize:    uint32(f.bsize),
		Attributes: abi.STATX_ATTR_IMMUTABLE,
	}
	switch ip.mode() & abi.S_IFMT {
	case abi.S_IFCHR, abi.S_IFBLK:
		a.Rdev = abi.Makedev(di.Rdev())
	}
	if di.Extended() {
		a.Mtime = abi.Timespec{Sec: int64(di.Mtime), Nsec: int64(di.MtimeNsec)}
	} else {
		a.Mtime = abi.Timespec{Sec: int64(f.sb.BuildTime + di.Mtime), Nsec: int64(f.sb.BuildTimeNsec)}
	}
	a.Atime, a.Ctime = a.Mtime, a.Mtime
	if di.Compressed() {
		// blocks_lo only, as erofs_read_inode.
		a.Attributes |= abi.STATX_ATTR_COMPRESSED
		a.Blocks = int64(di.U) << (f.blkbits - 9)
	} else {
		a.Blocks = (int64(di.Size) + f.bsize - 1) >> f.blkbits << (f.blkbits - 9)
	}
	return a, nil
}

// Readlink returns a symlink's target: its data, at most a page less
// one byte (page_get_link's nd_terminate_link).
func (ip *inode) Readlink() (string, error) {
	return vfs.LinkTarget(int64(ip.di.Size), ip.readData)
}

// ReadAt reads file data (erofs_file_read_iter, z_erofs_read_folio).
func (ip *inode) ReadAt(p []byte, off int64) (int, error) {
	return vfs.ReadWithin(p, off, int64(ip.di.Size), ip.readData)
}

// readData fills p from off, which the caller has kept within the size.
func (ip *inode) readData(p []byte, off int64) (int, error) {
	if ip.di.Compressed() {
		return ip.zread(p, off)
	}
	n := 0
	for n < len(p) {
		pos := off + int64(n)
		m, err := ip.mapFlat(pos)
		if err != nil {
			return n, inodeErr(ip.nid, err)
		}
		chunk := p[n : n+int(min(int64(len(p)-n), m.len))]
		if m.hole {
			clear(chunk)
		} else if !m.meta && m.pa+int64(len(chunk)) > ip.f.dev.Size() {
			// A read past the disk's end fails its I/O (EIO), as a
			// chunk of an extra device the image does not hold.
			return n, abi.Errorf(abi.EIO, "erofs: nid %d: data at %d+%d beyond the device (%d bytes)", ip.nid, m.pa, len(chunk), ip.f.dev.Size())
		} else if err := ip.f.readMetaIn(m.meta && ip.mbox, chunk, m.pa, "data"); err != nil {
			return n, inodeErr(ip.nid, err)
		}
		n += len(chunk)
	}
	return n, nil
}

// flatMap is where a piece of an uncompressed file lies: len bytes from
// pa on the device (or, for meta, the inline tail, in the inode's
// metadata space), or a hole.
type flatMap struct {
	pa, len    int64
	hole, meta bool
}

// mapFlat maps the byte at off (< size) of an uncompressed file
// (erofs_map_blocks_flatmode, erofs_map_blocks for chunks).
func (ip *inode) mapFlat(off int64) (flatMap, error) {
	f, di := ip.f, ip.di
	size := int64(di.Size)
	switch di.DataLayout() {
	case disk.InodeFlatPlain, disk.InodeFlatInline:
		if di.NoData() {
			// No block: zeros to the end.
			return flatMap{hole: true, len: size - off}, nil
		}
		nblocks := (size + f.bsize - 1) >> f.blkbits
		lastblk := nblocks
		if di.DataLayout() == disk.InodeFlatInline {
			lastblk--
		}
		if off < lastblk<<f.blkbits {
			return flatMap{pa: di.Start()<<f.blkbits + off, len: lastblk<<f.blkbits - off}, nil
		}
		// The tail, inline after the inode: it may not cross a block.
		tail := size - lastblk<<f.blkbits
		if ip.inline%f.bsize+tail > f.bsize {
			return flatMap{}, abi.Errorf(abi.EUCLEAN, "erofs: inline data cross block boundary")
		}
		return flatMap{pa: ip.inline + off - lastblk<<f.blkbits, len: size - off, meta: true}, nil
	case disk.InodeChunkBased:
		format := di.ChunkFormat()
		bits := f.blkbits + uint(format&disk.ChunkFormatBlkBitsMask)
		unit := int64(disk.ChunkEntrySize(format))
		chunk := off >> bits
		pos := (ip.inline+unit-1)/unit*unit + chunk*unit
		var b [8]byte
		if err := ip.readMeta(b[:unit], pos, "chunk index"); err != nil {
			return flatMap{}, err
		}
		e, err := disk.DecodeChunkEntry(b[:unit], format)
		if err != nil {
			return flatMap{}, err
		}
		in := off - chunk<<bits
		n := min(int64(1)<<bits-in, size-off)
		if e.Hole {
			return flatMap{hole: true, len: n}, nil
		}
		if id := e.DeviceID & disk.DeviceIDMask(uint16(len(f.devs))); id != 0 {
			// erofs_map_dev, flatdev: the device's unified address.
			// An unknown device is ENODEV there, which read(2) shows
			// as a failed read: EIO.
			if int(id) > len(f.devs) {
				return flatMap{}, abi.Errorf(abi.EIO, "erofs: chunk on device %d of %d", id, len(f.devs))
			}
			e.BlkAddr += f.devs[id-1].UniAddr
		}
		if e.BlkAddr >= 1<<(62-f.blkbits) {
			return flatMap{}, abi.Errorf(abi.EUCLEAN, "erofs: chunk at block %d", e.BlkAddr)
		}
		return flatMap{pa: int64(e.BlkAddr)<<f.blkbits + in, len: n}, nil
	}
	return flatMap{}, abi.Errorf(abi.EOPNOTSUPP, "erofs: data layout %d", di.DataLayout())
}
