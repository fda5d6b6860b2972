package ext4

import (
	"errors"

	disk "github.com/lklimg/lklimg/format/ext4"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// Writing regular files (fs/ext4/file.c, inode.c, extents.c fallocate):
// data goes through the page cache (writeData), the block map changes in
// the handle. The bytes of a file's last block past i_size are kept zero,
// as Linux keeps them (it writes whole pages zeroed past EOF): a write
// that starts past EOF and a truncation zero them, so that extending a
// file never uncovers old bytes.

// How mapRange treats a hole.
const (
	mapLookup   = iota // report it
	mapCreate          // fill it with written blocks (unwritten ones become written)
	mapPrealloc        // fill it with unwritten extents (fallocate)
)

// What mapRange found or made.
const (
	mapHole      = iota // pblk 0
	mapWritten          // blocks with data
	mapUnwritten        // preallocated blocks, reading as zeros
	mapFresh            // new or just converted: every block is the caller's to write in full
)

// maxLblk is the end of the logical blocks ip can map: 2^32-1 with
// extents (EXT_MAX_BLOCKS), the reach of the block map otherwise.
func (ip *inode) maxLblk() uint64 {
	if ip.flags&disk.InodeExtentsFl != 0 {
		return 1<<32 - 1
	}
	return ip.f.bmapLimit()
}

// maxBytes is the largest file size (s_maxbytes for the inode's mapping).
func (ip *inode) maxBytes() int64 {
	return int64(ip.maxLblk() << ip.f.BlockBits)
}

// mapRange maps logical blocks from lblk (at most n) to disk, as
// ext4_map_blocks does, and returns the first physical block (0 for a
// hole), how many blocks from lblk share the state and the state.
func (h *handle) mapRange(ip *inode, lblk, n uint64, how int) (uint64, uint64, int, error) {
	f := h.f
	end := ip.maxLblk()
	if lblk >= end {
		return 0, 0, mapHole, h.fail(abi.Errorf(abi.EFBIG, "ext4: inode %d: block %d beyond the largest file", ip.ino, lblk))
	}
	n = min(n, end-lblk)
	if !ip.hasBlockMap() && ip.isLnk() {
		return 0, 0, mapHole, h.fail(abi.Errorf(abi.EINVAL, "ext4: inode %d: fast symlink has no blocks", ip.ino))
	}
	runs, err := ip.blockRuns()
	if err != nil {
		return 0, 0, mapHole, h.fail(err)
	}
	i := findRun(runs, lblk)
	if i < len(runs) && runs[i].lblk <= lblk {
		r := runs[i]
		got := min(n, r.n-(lblk-r.lblk))
		pblk := r.pblk + lblk - r.lblk
		if !r.unwritten {
			return pblk, got, mapWritten, nil
		}
		if how != mapCreate {
			return pblk, got, mapUnwritten, nil
		}
		err := h.setExtentKind(ip, lblk, lblk+got, false)
		ip.invalidateMap()
		if werr := h.writeInode(ip); err == nil {
			err = werr
		}
		if err != nil {
			return 0, 0, mapHole, err
		}
		return pblk, got, mapFresh, nil
	}
	hole := end - lblk
	if i < len(runs) {
		hole = runs[i].lblk - lblk
	}
	got := min(n, hole)
	if how == mapLookup {
		return 0, got, mapHole, nil
	}
	// The goal: where the previous block lies, continued
	// (ext4_ext_find_goal), else the inode's group.
	goal := f.goalBlock(ip)
	if i > 0 {
		p := runs[i-1]
		goal = p.pblk + (lblk - p.lblk)
	}
	var pblk uint64
	state := mapFresh
	if ip.flags&disk.InodeExtentsFl != 0 {
		unwritten := how == mapPrealloc
		got = min(got, uint64(maxExtentLen(unwritten)))
		var left, right *run
		if i > 0 {
			left = &runs[i-1]
		}
		if i < len(runs) {
			right = &runs[i]
		}
		var alloc, k uint64 // the clusters allocated, in blocks
		if pblk, got, err = h.impliedCluster(ip, lblk, got, left, right); err == nil && pblk == 0 {
			off := lblk & f.ClusterMask()
			alloc, k, err = h.allocBlocks(ip, goal, off+got, false)
			pblk, got = alloc+off, min(got, k-off)
		}
		if err != nil {
			return 0, 0, mapHole, err
		}
		if err = h.insertExtent(ip, disk.Extent{EeBlock: uint32(lblk), EeLen: uint32(got), EeStart: pblk, Unwritten: unwritten}); err != nil {
			h.freeBlocks(ip, alloc, k)
			ip.invalidateMap()
		} else {
			ip.addRun(run{lblk: lblk, pblk: pblk, n: got, unwritten: unwritten})
		}
		if unwritten {
			state = mapUnwritten
		}
	} else {
		if f.ClusterBits != 0 {
			return 0, 0, mapHole, h.fail(abi.Errorf(abi.EUCLEAN, "ext4: inode %d: block map on a bigalloc filesystem", ip.ino))
		}
		if how == mapPrealloc {
			return 0, 0, mapHole, h.fail(abi.Errorf(abi.EOPNOTSUPP, "ext4: inode %d: no unwritten extents in a block map", ip.ino))
		}
		pblk, got, err = h.bmapAlloc(ip, lblk, got, goal)
		ip.invalidateMap()
	}
	if werr := h.writeInode(ip); err == nil {
		err = werr
	}
	if err != nil {
		return 0, 0, mapHole, err
	}
	return pblk, got, state, nil
}

// impliedCluster handles a hole at lblk (got blocks long, between the
// runs left and right, either nil) with bigalloc, as
// get_implied_cluster_alloc does in ext4_ext_map_blocks: a logical cluster
// maps into one physical cluster, at the same offsets (e2fsck's
// has_unaligned_cluster_map), so when a neighbour already maps a block of
// lblk's logical cluster, lblk goes into that neighbour's physical cluster,
// already allocated and charged, and it returns that block and how many
// blocks to map there (to the cluster's end at most). Otherwise it returns
// pblk 0 and got shortened so that the blocks to allocate stop before the
// right neighbour's cluster. Without bigalloc it returns 0 and got.
func (h *handle) impliedCluster(ip *inode, lblk, got uint64, left, right *run) (uint64, uint64, error) {
	f := h.f
	m := f.ClusterMask()
	if m == 0 {
		return 0, got, nil
	}
	for _, r := range []*run{left, right} {
		if r != nil && (r.lblk^r.pblk)&m != 0 {
			return 0, 0, h.fail(abi.Errorf(abi.EUCLEAN, "ext4: inode %d: extent at block %d maps into its cluster at another offset (%d)",
				ip.ino, r.lblk, r.pblk))
		}
	}
	lc := lblk &^ m
	switch {
	case left != nil && (left.lblk+left.n-1)&^m == lc:
		return (left.pblk+left.n-1)&^m + lblk&m, min(got, lc+m+1-lblk), nil
	case right != nil && right.lblk&^m == lc:
		return right.pblk&^m + lblk&m, min(got, lc+m+1-lblk), nil
	case right != nil:
		got = min(got, right.lblk&^m-lblk)
	}
	return 0, got, nil
}

// mapBlocks maps logical block lblk of ip to disk (ext4_map_blocks): it
// returns the physical block and how many blocks from lblk map
// contiguously (at most n). With create, a hole is filled by allocating up
// to n blocks, contiguous where possible, near the file's other blocks,
// and unwritten blocks become written; the blocks' contents are then the
// caller's to write. A hole (or unwritten blocks) without create returns
// pblk 0 and its length (at most n).
func (h *handle) mapBlocks(ip *inode, lblk, n uint64, create bool) (pblk, got uint64, err error) {
	how := mapLookup
	if create {
		how = mapCreate
	}
	pblk, got, st, err := h.mapRange(ip, lblk, n, how)
	if st == mapUnwritten || st == mapHole {
		pblk = 0
	}
	return pblk, got, err
}

// zeroRange writes zeros over the written blocks of byte range [from, to)
// of ip (holes and unwritten blocks read as zeros already).
func (h *handle) zeroRange(ip *inode, from, to int64) error {
	f := h.f
	if from >= to {
		return nil
	}
	bits := f.BlockBits
	zero := f.getBlock()
	defer f.putBlock(zero)
	clear(zero)
	for pos := from; pos < to; {
		lblk := uint64(pos) >> bits
		last := uint64(to-1) >> bits
		pblk, got, st, err := h.mapRange(ip, lblk, last-lblk+1, mapLookup)
		if err != nil {
			return err
		}
		segEnd := min(to, int64((lblk+got)<<bits))
		if st == mapWritten {
			for p := pos; p < segEnd; {
				k := min(segEnd-p, int64(len(zero)))
				phys := int64(pblk)<<bits + (p - int64(lblk<<bits))
				if err := h.writeData(zero[:k], phys); err != nil {
					return err
				}
				p += k
			}
		}
		pos = segEnd
	}
	return nil
}

// zeroBlockTail zeroes the bytes of the block holding byte off from off to
// the block's end, or to limit when that comes first.
func (h *handle) zeroBlockTail(ip *inode, off, limit int64) error {
	bs := int64(h.f.BlockSize)
	if off&(bs-1) == 0 {
		return nil
	}
	return h.zeroRange(ip, off, min(limit, (off|(bs-1))+1))
}

// WriteAt writes p at off (ext4_buffered_write_iter): holes and unwritten
// blocks under it are allocated or converted, new blocks written in full
// (zeros around the data), i_size grows to the end of the data and mtime
// and ctime become ctx.Now. It returns the bytes written; ENOSPC with the
// count written when the filesystem fills; EFBIG at the largest file;
// EPERM for an immutable or append-only file written elsewhere than at
// its end.
func (fi fileInode) WriteAt(ctx vfs.Ctx, p []byte, off int64) (int, error) {
	ip := fi.inode
	f := ip.f
	if off < 0 {
		return 0, abi.EINVAL
	}
	if len(p) == 0 {
		return 0, nil
	}
	done := 0
	for retried := false; ; retried = true {
		h, err := f.begin()
		if err != nil {
			return done, err
		}
		n, err := h.writeFile(ip, ctx, p[done:], off+int64(done))
		done += n
		pending := len(f.alloc.pending) > 0
		if serr := h.stop(); err == nil {
			err = serr
		}
		if !errors.Is(err, abi.ENOSPC) || retried || !pending {
			return done, err
		}
		// Blocks freed by the running transaction become free at its
		// commit: commit and try once more (ext4_should_retry_alloc).
		if err := f.Sync(); err != nil {
			return done, err
		}
	}
}

func (h *handle) writeFile(ip *inode, ctx vfs.Ctx, p []byte, off int64) (int, error) {
	f := h.f
	if ip.flags&disk.InodeImmutableFl != 0 || ip.flags&disk.InodeAppendFl != 0 && off != ip.size {
		return 0, abi.EPERM
	}
	if ip.flags&disk.InodeEncryptFl != 0 {
		return 0, abi.Errorf(abi.EOPNOTSUPP, "ext4: inode %d: writing encrypted data is not supported", ip.ino)
	}
	if ip.mayInline || ip.flags&disk.InodeInlineDataFl != 0 {
		done, err := h.writeInline(ip, p, off)
		if err != nil {
			return 0, err
		}
		if done {
			ip.mtime, ip.ctime = ctx.Now, ctx.Now
			return len(p), h.writeInode(ip)
		}
	}
	limit := ip.maxBytes()
	if off >= limit {
		return 0, abi.Errorf(abi.EFBIG, "ext4: inode %d: write at %d beyond the largest file", ip.ino, off)
	}
	if int64(len(p)) > limit-off {
		p = p[:limit-off]
	}
	if off > ip.size {
		if err := h.zeroBlockTail(ip, ip.size, off); err != nil {
			return 0, err
		}
	}
	bits := f.BlockBits
	end := off + int64(len(p))
	scratch := f.getBlock()
	defer f.putBlock(scratch)
	pos := off
	var err error
	for pos < end {
		lblk := uint64(pos) >> bits
		last := uint64(end-1) >> bits
		var pblk, got uint64
		var st int
		pblk, got, st, err = h.mapRange(ip, lblk, last-lblk+1, mapCreate)
		if err != nil {
			break
		}
		segStart := int64(lblk << bits)
		segEnd := min(end, int64((lblk+got)<<bits))
		phys := int64(pblk) << bits
		if st == mapFresh {
			err = h.writeFresh(p[pos-off:segEnd-off], phys, pos-segStart, scratch)
		} else {
			err = h.writeData(p[pos-off:segEnd-off], phys+pos-segStart)
		}
		if err != nil {
			break
		}
		pos = segEnd
		if pos > ip.size {
			ip.size = pos
			ip.sizeChanged()
		}
	}
	if pos > off {
		ip.mtime, ip.ctime = ctx.Now, ctx.Now
	}
	if werr := h.writeInode(ip); err == nil {
		err = werr
	}
	return int(pos - off), err
}

// writeFresh writes data at byte lead of the newly allocated blocks that
// start at disk byte phys: the bytes of those blocks before and after the
// data read as zeros (they were a hole). A partial first or last block is
// put together in buf, a block-sized scratch buffer, and written whole, so
// that the page cache never reads a block only to overwrite it (as Linux's
// block_write_begin zeroes a new buffer instead of reading it).
func (h *handle) writeFresh(data []byte, phys, lead int64, buf []byte) error {
	bs := int64(len(buf))
	if lead > 0 || int64(len(data)) < bs {
		clear(buf)
		n := copy(buf[lead:], data)
		if err := h.writeData(buf, phys); err != nil {
			return err
		}
		data, phys = data[n:], phys+bs
	}
	if whole := int64(len(data)) &^ (bs - 1); whole > 0 {
		if err := h.writeData(data[:whole], phys); err != nil {
			return err
		}
		data, phys = data[whole:], phys+whole
	}
	if len(data) > 0 {
		clear(buf)
		copy(buf, data)
		return h.writeData(buf, phys)
	}
	return nil
}

// Fallocate is fallocate(2) (ext4_fallocate): mode 0 or KEEP_SIZE
// allocates the holes of the range as unwritten extents (reading as
// zeros), and mode 0 extends i_size to its end; PUNCH_HOLE|KEEP_SIZE
// frees the whole blocks of the range (within i_size) and zeroes the
// partial ones; ZERO_RANGE (with or without KEEP_SIZE) makes the range
// read as zeros with its blocks allocated: whole blocks become unwritten,
// partial ones are zeroed; COLLAPSE_RANGE and INSERT_RANGE (alone) take
// blocks out of the file or put a hole into it, moving what follows
// (extent_shift.go). EOPNOTSUPP for other modes, and for all but
// PUNCH_HOLE on block-mapped (ext2/ext3) files; EINVAL for a bad range;
// an inline file's data move to a block first, in every mode;
// EFBIG past the largest file; ENOSPC when the disk fills (what was
// allocated stays).
func (fi fileInode) Fallocate(ctx vfs.Ctx, mode uint32, off, n int64) error {
	ip := fi.inode
	f := ip.f
	if off < 0 || n <= 0 {
		return abi.EINVAL
	}
	const known = abi.FALLOC_FL_KEEP_SIZE | abi.FALLOC_FL_PUNCH_HOLE | abi.FALLOC_FL_ZERO_RANGE |
		abi.FALLOC_FL_COLLAPSE_RANGE | abi.FALLOC_FL_INSERT_RANGE
	shift := mode&(abi.FALLOC_FL_COLLAPSE_RANGE|abi.FALLOC_FL_INSERT_RANGE) != 0
	switch {
	case mode&^known != 0:
		return abi.EOPNOTSUPP
	case mode&abi.FALLOC_FL_PUNCH_HOLE != 0 && mode != abi.FALLOC_FL_PUNCH_HOLE|abi.FALLOC_FL_KEEP_SIZE:
		return abi.EOPNOTSUPP
	case shift && mode != abi.FALLOC_FL_COLLAPSE_RANGE && mode != abi.FALLOC_FL_INSERT_RANGE:
		return abi.EOPNOTSUPP
	case mode&abi.FALLOC_FL_PUNCH_HOLE == 0 && ip.flags&(disk.InodeExtentsFl|disk.InodeInlineDataFl) == 0:
		return abi.Errorf(abi.EOPNOTSUPP, "ext4: inode %d: fallocate needs extents", ip.ino)
	}
	if n > ip.maxBytes()-off {
		return abi.Errorf(abi.EFBIG, "ext4: inode %d: fallocate past the largest file", ip.ino)
	}
	h, err := f.begin()
	if err != nil {
		return err
	}
	err = h.fallocate(ip, ctx, mode, off, n)
	if serr := h.stop(); err == nil {
		err = serr
	}
	return err
}

func (h *handle) fallocate(ip *inode, ctx vfs.Ctx, mode uint32, off, n int64) error {
	if ip.flags&(disk.InodeImmutableFl|disk.InodeAppendFl) != 0 {
		return abi.EPERM
	}
	// Inline data move to a block first, whatever the mode
	// (ext4_fallocate's ext4_convert_inline_data).
	if err := h.uninline(ip); err != nil {
		return err
	}
	switch {
	case mode&abi.FALLOC_FL_PUNCH_HOLE != 0:
		return h.punchHole(ip, ctx, off, n)
	case ip.flags&disk.InodeExtentsFl == 0:
		return abi.Errorf(abi.EOPNOTSUPP, "ext4: inode %d: fallocate needs extents", ip.ino)
	case mode&(abi.FALLOC_FL_COLLAPSE_RANGE|abi.FALLOC_FL_INSERT_RANGE) != 0:
		collapse := mode == abi.FALLOC_FL_COLLAPSE_RANGE
		if err := ip.checkShiftRange(collapse, off, n); err != nil {
			return err
		}
		if collapse {
			return h.collapseRange(ip, ctx, off, n)
		}
		return h.insertRange(ip, ctx, off, n)
	case mode&abi.FALLOC_FL_ZERO_RANGE != 0:
		return h.zeroFileRange(ip, ctx, off, n, mode&abi.FALLOC_FL_KEEP_SIZE != 0)
	}
	return h.preallocate(ip, ctx, off, n, mode&abi.FALLOC_FL_KEEP_SIZE != 0)
}

// allocUnwritten fills the holes of logical blocks [from, to) with
// unwritten extents.
func (h *handle) allocUnwritten(ip *inode, from, to uint64) error {
	for lblk := from; lblk < to; {
		_, got, _, err := h.mapRange(ip, lblk, to-lblk, mapPrealloc)
		if err != nil {
			return err
		}
		lblk += got
	}
	return nil
}

// setSizeAfter extends i_size to end unless keep is set, with ctime, and
// mtime when the size grew (ext4_alloc_file_blocks).
func (h *handle) setSizeAfter(ip *inode, ctx vfs.Ctx, end int64, keep bool) error {
	ip.ctime = ctx.Now
	if !keep && end > ip.size {
		if err := h.zeroBlockTail(ip, ip.size, end); err != nil {
			return err
		}
		ip.size = end
		ip.mtime = ctx.Now
		ip.sizeChanged()
	}
	return h.writeInode(ip)
}

func (h *handle) preallocate(ip *inode, ctx vfs.Ctx, off, n int64, keep bool) error {
	bits := h.f.BlockBits
	from, to := uint64(off)>>bits, uint64(off+n-1)>>bits+1
	err := h.allocUnwritten(ip, from, to)
	if serr := h.setSizeAfter(ip, ctx, off+n, keep); err == nil {
		err = serr
	}
	return err
}

// punchHole frees the whole blocks of [off, off+n) within i_size and
// zeroes the rest of the range (ext4_punch_hole).
func (h *handle) punchHole(ip *inode, ctx vfs.Ctx, off, n int64) error {
	f := h.f
	end := min(off+n, ip.size)
	if off >= end {
		return nil
	}
	bs := int64(f.BlockSize)
	first := (off + bs - 1) &^ (bs - 1) // first whole block's start
	last := end &^ (bs - 1)             // end of the last whole block
	if end == ip.size {
		last = (end + bs - 1) &^ (bs - 1) // the EOF block counts as whole
	}
	var err error
	if first >= last {
		err = h.zeroRange(ip, off, end)
	} else {
		err = h.zeroRange(ip, off, first)
		if err == nil {
			err = h.zeroRange(ip, last, end)
		}
		if err == nil {
			lo, hi := uint64(first)>>f.BlockBits, uint64(last)>>f.BlockBits
			if ip.flags&disk.InodeExtentsFl != 0 {
				err = h.removeRange(ip, lo, hi, true)
			} else {
				err = h.bmapRemove(ip, lo, hi)
			}
			ip.invalidateMap()
		}
	}
	ip.mtime, ip.ctime = ctx.Now, ctx.Now
	if werr := h.writeInode(ip); err == nil {
		err = werr
	}
	return err
}

// zeroFileRange is FALLOC_FL_ZERO_RANGE (ext4_zero_range): the range's
// holes become unwritten extents, its whole written blocks unwritten, and
// the written parts of partial blocks are zeroed.
func (h *handle) zeroFileRange(ip *inode, ctx vfs.Ctx, off, n int64, keep bool) error {
	f := h.f
	bits := f.BlockBits
	bs := int64(f.BlockSize)
	end := off + n
	from, to := uint64(off)>>bits, uint64(end-1)>>bits+1
	err := h.allocUnwritten(ip, from, to)
	first := (off + bs - 1) &^ (bs - 1)
	last := end &^ (bs - 1)
	if err == nil && first < last {
		err = h.setExtentKind(ip, uint64(first)>>bits, uint64(last)>>bits, true)
		ip.invalidateMap()
	}
	if err == nil {
		err = h.zeroRange(ip, off, min(first, end))
	}
	if err == nil && last >= first {
		err = h.zeroRange(ip, max(last, off), end)
	}
	ip.mtime = ctx.Now
	if serr := h.setSizeAfter(ip, ctx, end, keep); err == nil {
		err = serr
	}
	return err
}

// Setattr applies the attributes a.Valid names (ext4_setattr): the
// permission bits, owner, group, times (nanoseconds and dates past 2038
// where the inode has the extra fields) and, for regular files, the size:
// a truncation zeroes the rest of the new last block and frees the blocks
// past it (preallocated ones too, even at the same size), an extension
// leaves a hole; mtime and ctime become ctx.Now when the size changes.
// A new mode rewrites the access ACL to agree (posix_acl_chmod). EINVAL for a size on another file type or a negative size, EFBIG past
// the largest file, EPERM for a size change of an immutable or
// append-only file. A size change of an encrypted file is ENOKEY
// (fscrypt_prepare_setattr: it needs the key), of a verity file EPERM
// (fsverity_prepare_setattr).
func (ip *inode) Setattr(ctx vfs.Ctx, a vfs.SetAttr) error {
	f := ip.f
	if a.Valid&vfs.SetSize != 0 {
		switch {
		case ip.isDir():
			return abi.EISDIR
		case !ip.isReg() || a.Size < 0:
			return abi.EINVAL
		case a.Size > ip.maxBytes():
			return abi.EFBIG
		case ip.isEncrypted():
			return abi.Errorf(abi.ENOKEY, "ext4: inode %d: truncating an encrypted file, no key", ip.ino)
		case ip.flags&disk.InodeVerityFl != 0:
			return abi.Errorf(abi.EPERM, "ext4: inode %d: truncating a verity file", ip.ino)
		}
	}
	h, err := f.begin()
	if err != nil {
		return err
	}
	err = h.setattr(ip, ctx, a)
	if serr := h.stop(); err == nil {
		err = serr
	}
	return err
}

func (h *handle) setattr(ip *inode, ctx vfs.Ctx, a vfs.SetAttr) error {
	f := h.f
	if a.Valid&vfs.SetSize != 0 {
		if ip.flags&(disk.InodeImmutableFl|disk.InodeAppendFl) != 0 {
			return abi.EPERM
		}
		old, size := ip.size, a.Size
		bs := int64(f.BlockSize)
		inline := false
		if ip.flags&disk.InodeInlineDataFl != 0 {
			var err error
			if inline, err = h.truncateInline(ip, size); err != nil {
				return err
			}
		}
		switch {
		case inline:
		case size > old:
			if err := h.zeroBlockTail(ip, old, size); err != nil {
				return err
			}
			ip.size = size
			ip.sizeChanged()
		default:
			if err := h.zeroBlockTail(ip, size, old); err != nil {
				return err
			}
			if err := h.truncateBlocks(ip, uint64((size+bs-1)>>f.BlockBits)); err != nil {
				return err
			}
			ip.size = size
			ip.sizeChanged()
		}
		if size != old {
			ip.mtime, ip.ctime = ctx.Now, ctx.Now
		}
	}
	if a.Valid&vfs.SetMode != 0 {
		ip.mode = ip.mode&abi.S_IFMT | uint16(a.Mode&07777)
	}
	if a.Valid&vfs.SetUid != 0 {
		ip.uid = a.Uid
	}
	if a.Valid&vfs.SetGid != 0 {
		ip.gid = a.Gid
	}
	if a.Valid&vfs.SetAtime != 0 {
		ip.atime = a.Atime
	}
	if a.Valid&vfs.SetMtime != 0 {
		ip.mtime = a.Mtime
	}
	if a.Valid&vfs.SetCtime != 0 {
		ip.ctime = a.Ctime
	}
	if err := h.writeInode(ip); err != nil {
		return err
	}
	if a.Valid&vfs.SetMode != 0 {
		return h.aclChmod(ip, ctx.Now)
	}
	return nil
}
