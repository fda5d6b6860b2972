package vfat

import (
	"cmp"

	"github.com/lklimg/lklimg/format/fat"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// File writes, truncation, fallocate and attribute changes (fs/fat/file.c,
// inode.c). FAT has no holes: a file grows by clusters written with its
// data or with zeros (fat_cont_expand), so every byte below the size is
// on the disk. A write sets the archive attribute and the write time.

// maxFileSize is the largest FAT file (s_maxbytes): 4 GiB - 1.
const maxFileSize = 1<<32 - 1

// WriteAt writes p at off (fat's generic_file_write_iter): a gap from
// the end of the file to off is written with zeros first. EFBIG at or
// past 4 GiB - 1; a write across it is cut there. When the volume fills,
// what fits is written and ENOSPC returned with its count (fitted).
func (ip *inode) WriteAt(ctx vfs.Ctx, p []byte, off int64) (n int, err error) {
	f := ip.f
	w, done := f.lockW()
	defer done(&err)
	if off >= maxFileSize {
		return 0, abi.Errorf(abi.EFBIG, "vfat: offset %d past the largest FAT file", off)
	}
	if off+int64(len(p)) > maxFileSize {
		p = p[:maxFileSize-off]
	}
	if err := ip.expand(w, off); err != nil {
		return 0, err
	}
	end := off + int64(len(p))
	var full error
	if err := ip.allocTo(w, end); err != nil {
		if abi.ErrnoOf(err) != abi.ENOSPC {
			return 0, err
		}
		fit, ferr := ip.fitted(end)
		if ferr != nil || fit <= off {
			return 0, cmp.Or(ferr, err)
		}
		p, end, full = p[:fit-off], fit, err
		if err := ip.allocTo(w, end); err != nil {
			return 0, err
		}
	}
	var pad int64
	if end >= ip.size {
		if pad, err = ip.tailPad(w, end); err != nil {
			return 0, err
		}
	}
	if err := ip.writeData(p, off, pad); err != nil {
		return 0, err
	}
	ip.size = max(ip.size, end)
	ip.de.Attr |= fat.AttrArchive
	f.setMtime(&ip.de, ctx.Now)
	if err := ip.writeInode(); err != nil {
		return 0, err
	}
	return len(p), full
}

// fitted returns how far a write ending at end gets on a full volume:
// generic_perform_write copies page by page, each page's clusters got
// first (cont_write_begin), so it stops at the first page of the file
// whose clusters are not all free; the pages before it are written, and
// the write returns their count.
func (ip *inode) fitted(end int64) (int64, error) {
	runs, err := ip.chain()
	if err != nil {
		return 0, err
	}
	free, err := ip.f.countFree()
	if err != nil {
		return 0, err
	}
	room := (int64(chainClusters(runs)) + free) * int64(ip.f.ClusterSize)
	if room >= end {
		return end, nil
	}
	return room / pageSize * pageSize, nil
}

// allocTo makes the chain hold end bytes.
func (ip *inode) allocTo(w *fatReader, end int64) error {
	runs, err := ip.chain()
	if err != nil {
		return err
	}
	cs := int64(ip.f.ClusterSize)
	need := (end+cs-1)/cs - int64(chainClusters(runs))
	if need <= 0 {
		return nil
	}
	_, err = ip.grow(w, int(need))
	return err
}

// expand writes zeros from the end of the file to size (what
// cont_write_begin does before a write past the end): the clusters past
// the old size may hold anything.
func (ip *inode) expand(w *fatReader, size int64) error {
	if size <= ip.size {
		return nil
	}
	if err := ip.allocTo(w, size); err != nil {
		return err
	}
	zero := make([]byte, min(size-ip.size, 1<<20))
	for pos := ip.size; pos < size; {
		n := min(int64(len(zero)), size-pos)
		if err := ip.writeData(zero[:n], pos, 0); err != nil {
			return err
		}
		pos += n
	}
	ip.size = size
	return nil
}

// writeData writes p at off into clusters the chain already holds, one
// device write per run, and pad zeros after it (tailPad); the page the
// last bytes and the zeros share is written as one piece, so that the
// device's cache takes it whole instead of reading it first.
func (ip *inode) writeData(p []byte, off, pad int64) error {
	f := ip.f
	runs, err := ip.chain()
	if err != nil {
		return err
	}
	cs := int64(f.ClusterSize)
	for n := int64(0); n < int64(len(p)); {
		pos := off + n
		lc := uint32(pos / cs)
		r, ok := findRun(runs, lc)
		if !ok {
			return abi.Errorf(abi.EIO, "vfat: i_pos %d: no cluster %d to write", ip.ipos, lc)
		}
		chunk := min(int64(len(p))-n, int64(r.log+r.n)*cs-pos)
		dev := f.ClusterOffset(r.phys+lc-r.log) + pos%cs
		data := p[n : n+chunk]
		if n+chunk == int64(len(p)) && pad > 0 {
			err = f.writePadded(data, dev, pad)
		} else {
			_, err = f.wdev.WriteAt(data, dev)
		}
		if err != nil {
			return abi.Errorf(abi.EIO, "vfat: i_pos %d: writing at %d: %v", ip.ipos, dev, err)
		}
		n += chunk
	}
	return nil
}

// writePadded writes data at the device offset dev followed by pad zeros
// (pad < pageSize): the whole pages of data as they are, the last page's
// bytes and the zeros together from a page of its own.
func (f *fsys) writePadded(data []byte, dev, pad int64) error {
	end := dev + int64(len(data))
	ps := max(f.pageStart(end), dev)
	if ps > dev {
		if _, err := f.wdev.WriteAt(data[:ps-dev], dev); err != nil {
			return err
		}
	}
	var page [pageSize]byte
	k := copy(page[:], data[ps-dev:])
	_, err := f.wdev.WriteAt(page[:int64(k)+pad], ps)
	return err
}

// pageSize is the device cache's page: what it reads first when a write
// covers part of one it does not hold.
const pageSize = 4096

// pageStart returns the device offset where the cache's page holding the
// device offset off starts: the disk's pages, a partition starting
// anywhere.
func (f *fsys) pageStart(off int64) int64 {
	var shift int64
	if p, ok := f.dev.(interface{ Start() int64 }); ok {
		shift = p.Start() % pageSize
	}
	return (off+shift)/pageSize*pageSize - shift
}

// tailPad returns how many zeros a write whose end, end, is the file's
// new end may add after it on the device, to the end of its page, where
// nothing lies: the rest of the file's last cluster past its size, then
// free clusters. The device's cache keeps whole pages (Linux's buffer
// heads keep sectors), so a page a write covers only in part is read
// from the disk first: once per file while a volume is filled, whose
// files end in clusters smaller than a page. Padded, the page is written
// whole and not read. Nothing is lost: Linux zeroes a new block's bytes
// past the end too (block_write_begin), and a free cluster holds
// nothing.
func (ip *inode) tailPad(w *fatReader, end int64) (int64, error) {
	f := ip.f
	if end == 0 {
		return 0, nil
	}
	runs, err := ip.chain()
	if err != nil {
		return 0, err
	}
	cs := int64(f.ClusterSize)
	lc := uint32((end - 1) / cs)
	r, ok := findRun(runs, lc)
	if !ok {
		return 0, abi.Errorf(abi.EIO, "vfat: i_pos %d: no cluster %d to write", ip.ipos, lc)
	}
	c := r.phys + lc - r.log
	dev := f.ClusterOffset(c) + (end-1)%cs + 1
	pageEnd := f.pageStart(dev + pageSize - 1)
	stop := min(f.ClusterOffset(c)+cs, pageEnd)
	for stop < pageEnd {
		// The next cluster, if it is free; then the one after.
		c++
		if !f.ValidCluster(c) {
			break
		}
		v, err := w.getRaw(c)
		if err != nil {
			return 0, err
		}
		if v != fat.EntFree {
			break
		}
		stop = min(stop+cs, pageEnd)
	}
	return max(stop-dev, 0), nil
}

// truncate sets the size (fat_setattr with ATTR_SIZE): growing writes
// zeros, shrinking frees the clusters past the new end; either way the
// archive attribute is set when the file has clusters.
func (ip *inode) truncate(w *fatReader, size int64) error {
	if size > maxFileSize {
		return abi.Errorf(abi.EFBIG, "vfat: size %d past the largest FAT file", size)
	}
	if size >= ip.size {
		if size > ip.size {
			ip.de.Attr |= fat.AttrArchive
		}
		return ip.expand(w, size)
	}
	cs := int64(ip.f.ClusterSize)
	if ip.start() != 0 {
		ip.de.Attr |= fat.AttrArchive
	}
	ip.size = size
	return ip.cut(w, uint32((size+cs-1)/cs))
}

// trimPrealloc gives back the clusters past the size (fat_free_eofblocks),
// which fallocate with FALLOC_FL_KEEP_SIZE added, when the inode leaves
// memory.
func (ip *inode) trimPrealloc(w *fatReader) error {
	runs, err := ip.chain()
	if err != nil {
		return err
	}
	cs := int64(ip.f.ClusterSize)
	keep := uint32((ip.size + cs - 1) / cs)
	if chainClusters(runs) <= keep {
		return nil
	}
	if err := ip.cut(w, keep); err != nil {
		return err
	}
	return ip.writeInode()
}

// Fallocate is fat_fallocate: mode 0 grows the file with zeros as an
// extending truncate does; FALLOC_FL_KEEP_SIZE adds clusters past the
// size without changing it (given back when the inode leaves memory);
// every other mode is EOPNOTSUPP.
func (ip *inode) Fallocate(ctx vfs.Ctx, mode uint32, off, n int64) (err error) {
	f := ip.f
	if mode&^abi.FALLOC_FL_KEEP_SIZE != 0 {
		return abi.Errorf(abi.EOPNOTSUPP, "vfat: fallocate mode %#x", mode)
	}
	w, done := f.lockW()
	defer done(&err)
	end := off + n
	if end > maxFileSize {
		return abi.Errorf(abi.EFBIG, "vfat: %d bytes past the largest FAT file", end)
	}
	if mode&abi.FALLOC_FL_KEEP_SIZE != 0 {
		return ip.allocTo(w, end)
	}
	if end <= ip.size {
		return nil
	}
	if err := ip.expand(w, end); err != nil {
		return err
	}
	ip.de.Attr |= fat.AttrArchive
	f.setMtime(&ip.de, ctx.Now)
	return ip.writeInode()
}

// Setattr changes what FAT holds of the attributes (fat_setattr): the
// size; the write bits of the mode, as the read-only attribute, where the
// mount's masks let a mode hold it (any other chmod is silently ignored,
// setuid, setgid and sticky are EPERM); owners only to the mount's own
// (else EPERM); mtime and the access date. ctime is the write time: a
// change of its own is dropped. With the quiet option, what would be
// EPERM succeeds and changes nothing. The root's times never change.
func (ip *inode) Setattr(ctx vfs.Ctx, a vfs.SetAttr) (err error) {
	f := ip.f
	w, done := f.lockW()
	defer done(&err)
	o := &f.opts
	if a.Valid&(vfs.SetUid|vfs.SetGid) != 0 {
		if a.Valid&vfs.SetUid != 0 && a.Uid != o.uid || a.Valid&vfs.SetGid != 0 && a.Gid != o.gid {
			if o.quiet {
				return nil
			}
			return abi.Errorf(abi.EPERM, "vfat: owners are the mount's (uid=%d, gid=%d)", o.uid, o.gid)
		}
	}
	if a.Valid&vfs.SetMode != 0 {
		if a.Mode&^0o777 != 0 {
			if o.quiet {
				return nil
			}
			return abi.Errorf(abi.EPERM, "vfat: no setuid, setgid or sticky bits on FAT")
		}
		ip.chmod(a.Mode)
	}
	if a.Valid&vfs.SetSize != 0 {
		if ip.dir {
			return abi.EISDIR
		}
		if err := ip.truncate(w, a.Size); err != nil {
			return err
		}
		f.setMtime(&ip.de, ctx.Now)
	}
	if ip.ipos != 0 {
		if a.Valid&vfs.SetMtime != 0 {
			f.setMtime(&ip.de, a.Mtime)
		}
		if a.Valid&vfs.SetAtime != 0 {
			f.setAtime(&ip.de, a.Atime)
		}
	}
	return ip.writeInode()
}

// chmod applies a permission change as fat_sanitize_mode allows it: read
// and execute bits as they are, the write bits all there (clearing
// ATTR_RO) or all gone (setting it, where the mode can hold it:
// files, directories with rodir, and a mask that leaves a write bit).
// Anything else changes nothing.
func (ip *inode) chmod(mode uint32) {
	o := &ip.f.opts
	mask := o.fmask
	if ip.dir {
		mask = o.dmask
	}
	cur := ip.mode() & 0o777
	perm := mode & 0o777 &^ mask
	if perm&0o555 != cur&0o555 {
		return
	}
	canHoldRO := (!ip.dir || o.rodir) && 0o222&^mask != 0
	switch perm & 0o222 {
	case 0o222 &^ mask:
		ip.de.Attr &^= fat.AttrReadOnly
	case 0:
		if canHoldRO {
			ip.de.Attr |= fat.AttrReadOnly
		}
	}
}
