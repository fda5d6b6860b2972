package e2fsprogs

import (
	"cmp"
	"slices"

	disk "github.com/lklimg/lklimg/format/ext4"
	"github.com/lklimg/lklimg/kernel/abi"
)

// Minimize's moves: the blocks of files that lie past the new end are
// moved into free blocks below it and everything pointing at them is
// rewritten, as resize2fs does when it shrinks (resize/resize2fs.c
// blocks_to_move, block_mover, inode_scan_and_fix), done our way: the
// inodes of the groups kept are scanned once, and each inode with a
// block past the end is fixed on its own, its data copied first, then
// its map (extent tree or block map) and last the inode itself.
//
// Everything is counted in clusters (whole clusters move, keeping a
// block's offset in its cluster, as bigalloc's extents need). A block
// below the end never moves; the clusters a file moves are taken, run by
// run in the file's order, from the lowest free run that holds the whole
// run (else from the largest runs), so that contiguous runs stay so.
//
// The journal, the orphan file and the bad blocks inode do not move:
// Minimize runs before AddJournal and AddOrphanFile, and their blocks
// carry their place (s_jnl_blocks, the orphan blocks' checksums). The
// dry run asks for an end past them instead (as without moves), and a
// real one refuses to cut them (EOPNOTSUPP).

// mover moves the blocks past end during a cut. bitmaps are the kept
// groups' block bitmaps as cut builds them (a group whose bitmap is
// computed, BLOCK_UNINIT, joins them when a cluster is taken in it).
type mover struct {
	im        *offImage
	end       uint64 // the new s_blocks_count
	endC      uint64 // the first cluster past the end
	oldBlocks uint64 // s_blocks_count before the cut: the pointers' bound
	bitmaps   map[uint32][]byte
	dry       bool              // count only: nothing is written
	free      []blockRange      // free clusters below the end (in clusters)
	xattr     map[uint64]uint64 // xattr blocks moved: old -> new
	short     uint64            // clusters wanted that were not free
	fake      uint64            // the next cluster a dry run pretends to take
	// pinned is the end a dry run wants for the blocks of the inodes
	// it may not move; high is the end of the blocks of the inode being
	// fixed (checkBlock).
	pinned, high uint64
	grown        int64 // tree clusters added, net
}

// piece is n clusters moved from old to new.
type piece struct{ old, new, n uint64 }

// newMover sets up the moves to a filesystem of end blocks (the geometry
// im.f holds is the new one already), with the free clusters below end
// that bitmaps (and the computed bitmaps of the other kept groups) show.
func (im *offImage) newMover(end, oldBlocks uint64, bitmaps map[uint32][]byte, dry bool) *mover {
	f := im.f
	cb := f.ClusterBits
	m := &mover{im: im, end: end, endC: (end + f.ClusterMask()) >> cb, oldBlocks: oldBlocks,
		bitmaps: bitmaps, dry: dry, xattr: map[uint64]uint64{}, fake: (oldBlocks + f.ClusterMask()) >> cb}
	b := make([]byte, f.BlockSize)
	for g := range uint32(len(f.Groups)) {
		bm, ok := bitmaps[g]
		if !ok {
			f.InitBlockBitmap(g, b)
			bm = b
		}
		first := f.GroupFirst(g) >> cb
		size := f.GroupClusters(g)
		for i := disk.FindZero(bm, 0, size); i < size; i = disk.FindZero(bm, i, size) {
			j := i + 1
			for j < size && !disk.TestBit(bm, j) {
				j++
			}
			if k := len(m.free); k > 0 && m.free[k-1].start+m.free[k-1].n == first+i {
				m.free[k-1].n += j - i
			} else {
				m.free = append(m.free, blockRange{first + i, j - i})
			}
			i = j
		}
	}
	return m
}

// wants is the end a dry run found too small asks for: 0 when all fit,
// else past the blocks it may not move and with room for the clusters
// that did not fit.
func (m *mover) wants() uint64 {
	w := m.pinned
	if m.short > 0 {
		w = max(w, m.end+m.short<<m.im.f.ClusterBits)
	}
	return w
}

// take marks n clusters from cluster c used in their groups' bitmaps.
func (m *mover) take(c, n uint64) {
	f := m.im.f
	cb := f.ClusterBits
	for ; n > 0; c, n = c+1, n-1 {
		g, bit := f.GroupOfBlock(c << cb)
		bm, ok := m.bitmaps[g]
		if !ok {
			bm = make([]byte, f.BlockSize)
			f.InitBlockBitmap(g, bm)
			m.bitmaps[g] = bm
		}
		disk.SetBit(bm, bit)
	}
}

// release marks cluster c free (a tree block the rebuilt tree no longer
// needs); it is not handed out again.
func (m *mover) release(c uint64) {
	f := m.im.f
	g, bit := f.GroupOfBlock(c << f.ClusterBits)
	if bm, ok := m.bitmaps[g]; ok {
		disk.ClearBit(bm, bit)
	}
}

// alloc finds room for the n clusters from old: the lowest free run that
// holds them all, else pieces of the largest runs. A dry run counts what
// does not fit in short and pretends to place it past the end; a real
// one fails with ENOSPC (its dry run said it fits).
func (m *mover) alloc(old, n uint64) ([]piece, error) {
	var out []piece
	for n > 0 {
		best := -1
		for i, r := range m.free {
			if r.n >= n {
				best = i
				break
			}
			if best < 0 || r.n > m.free[best].n {
				best = i
			}
		}
		if best < 0 {
			if !m.dry {
				return nil, abi.Errorf(abi.ENOSPC, "ext4: minimize: no free cluster below %d to move cluster %d to", m.end, old)
			}
			out = append(out, piece{old, m.fake, n})
			m.short += n
			m.fake += n
			return out, nil
		}
		r := &m.free[best]
		k := min(n, r.n)
		out = append(out, piece{old, r.start, k})
		m.take(r.start, k)
		r.start += k
		r.n -= k
		if r.n == 0 {
			m.free = slices.Delete(m.free, best, best+1)
		}
		old, n = old+k, n-k
	}
	return out, nil
}

// allocClusters places the clusters of list (in a file's order, each
// once) and returns the pieces sorted by old cluster.
func (m *mover) allocClusters(list []uint64) ([]piece, error) {
	var ps []piece
	for i := 0; i < len(list); {
		j := i + 1
		for j < len(list) && list[j] == list[j-1]+1 {
			j++
		}
		p, err := m.alloc(list[i], uint64(j-i))
		if err != nil {
			return nil, err
		}
		ps = append(ps, p...)
		i = j
	}
	slices.SortFunc(ps, func(a, b piece) int { return cmp.Compare(a.old, b.old) })
	return ps, nil
}

// copyPieces copies the moved clusters to their new places.
func (m *mover) copyPieces(ps []piece) error {
	if m.dry {
		return nil
	}
	f := m.im.f
	cb := f.ClusterBits
	const chunk = 1 << 20
	buf := make([]byte, chunk)
	for _, p := range ps {
		from, to := int64(p.old<<cb<<f.BlockBits), int64(p.new<<cb<<f.BlockBits)
		for left := int64(p.n << cb << f.BlockBits); left > 0; {
			k := min(left, chunk)
			if _, err := m.im.dev.ReadAt(buf[:k], from); err != nil {
				return abi.Errorf(abi.EIO, "ext4: minimize: read at %d: %v", from, err)
			}
			if _, err := m.im.dev.WriteAt(buf[:k], to); err != nil {
				return abi.Errorf(abi.EIO, "ext4: minimize: write at %d: %v", to, err)
			}
			from, to, left = from+k, to+k, left-k
		}
	}
	return nil
}

// mapBlock is block b's place after the moves ps, and how many blocks
// from b on keep moving with it.
func (m *mover) mapBlock(ps []piece, b uint64) (uint64, uint64) {
	cb := m.im.f.ClusterBits
	c := b >> cb
	if c < m.endC {
		return b, m.endC<<cb - b
	}
	i, _ := slices.BinarySearchFunc(ps, c, func(p piece, c uint64) int {
		if p.old+p.n <= c {
			return -1
		}
		if p.old > c {
			return 1
		}
		return 0
	})
	if i == len(ps) || ps[i].old > c {
		return b, 1 // not moved: cannot happen for a block the file lists
	}
	p := ps[i]
	return (p.new+c-p.old)<<cb | b&m.im.f.ClusterMask(), (p.old+p.n)<<cb - b
}

// checkBlock refuses a pointer outside the filesystem as it was.
func (m *mover) checkBlock(ino uint32, b, n uint64) error {
	first := uint64(m.im.f.Super.SFirstDataBlock)
	if b < first || b+n > m.oldBlocks || b+n < b {
		return abi.Errorf(abi.EUCLEAN, "ext4: minimize: inode %d: block %d+%d out of range: run e2fsck", ino, b, n)
	}
	m.high = max(m.high, b+n)
	return nil
}

// relocate scans the inodes in use of the groups kept and moves every
// block of theirs past the end.
func (m *mover) relocate() error {
	f := m.im.f
	sb := f.Super
	ipg := sb.SInodesPerGroup
	ibm := make([]byte, f.BlockSize)
	table := make([]byte, f.InodeTableBlocks<<f.BlockBits)
	for g := range uint32(len(f.Groups)) {
		d := &f.Groups[g]
		if f.HasGroupCsum() && d.BgFlags&disk.BgInodeUninit != 0 {
			continue
		}
		if err := m.im.read(d.BgInodeBitmap, ibm); err != nil {
			return err
		}
		if disk.AllZero(ibm[:(ipg+7)/8]) {
			continue
		}
		if _, err := m.im.dev.ReadAt(table, int64(d.BgInodeTable<<f.BlockBits)); err != nil {
			return abi.Errorf(abi.EIO, "ext4: minimize: group %d: inode table: %v", g, err)
		}
		for i := range ipg {
			if !disk.TestBit(ibm, uint64(i)) {
				continue
			}
			raw := table[uint64(i)*uint64(f.InodeSize):][:f.InodeSize]
			pos := int64(d.BgInodeTable<<f.BlockBits) + int64(i)*int64(f.InodeSize)
			if err := m.fixInode(g*ipg+i+1, raw, pos); err != nil {
				return err
			}
		}
	}
	return nil
}

// fixInode moves inode ino's blocks past the end (its slot raw, at pos).
func (m *mover) fixInode(ino uint32, raw []byte, pos int64) error {
	f := m.im.f
	sb := f.Super
	if ino == resizeIno {
		// Its blocks are the reserved GDT blocks but for the double
		// indirect block, a block like any other: it moves, and cut
		// rebuilds the inode over it (rebuildResizeInode).
		dind := uint64(le.Uint32(raw[disk.OffIBlock+4*dindBlockIdx:]))
		if dind < m.end {
			return nil
		}
		ps, err := m.alloc(dind>>f.ClusterBits, 1)
		if err != nil || m.dry {
			return err
		}
		le.PutUint32(raw[disk.OffIBlock+4*dindBlockIdx:], uint32(ps[0].new<<f.ClusterBits))
		return m.im.writeInodeRaw(ino, raw, pos)
	}
	mode := le.Uint16(raw[disk.OffIMode:]) & abi.S_IFMT
	flags := le.Uint32(raw[disk.OffIFlags:])
	size := uint64(le.Uint32(raw[disk.OffISizeLo:])) | uint64(le.Uint32(raw[disk.OffISizeHigh:]))<<32
	changed := false
	m.high = 0
	var err error
	// A symlink shorter than i_block is held in it (ext4_inode_is_fast_symlink;
	// an encrypted one too: its ciphertext is as long as i_size + 1).
	hasMap := flags&disk.InodeInlineDataFl == 0 &&
		(mode == 0 || mode == abi.S_IFREG || mode == abi.S_IFDIR || mode == abi.S_IFLNK && size >= disk.IBlockLen)
	if hasMap {
		if flags&disk.InodeExtentsFl != 0 {
			changed, err = m.fixExtents(ino, raw)
		} else {
			changed, err = m.fixBlockMap(ino, raw)
		}
		if err != nil {
			return err
		}
	}
	acl := uint64(le.Uint32(raw[disk.OffIFileACLLo:]))
	if sb.HasIncompat(disk.Incompat64bit) {
		acl |= uint64(le.Uint16(raw[disk.OffIFileACLHigh:])) << 32
	}
	if acl != 0 {
		if err := m.checkBlock(ino, acl, 1); err != nil {
			return err
		}
		if acl >= m.end {
			nb, err := m.moveXattrBlock(ino, acl)
			if err != nil {
				return err
			}
			le.PutUint32(raw[disk.OffIFileACLLo:], uint32(nb))
			if sb.HasIncompat(disk.Incompat64bit) {
				le.PutUint16(raw[disk.OffIFileACLHigh:], uint16(nb>>32))
			}
			changed = true
		}
	}
	if !changed {
		return nil
	}
	if ino == 1 || ino == sb.SJournalInum || ino == sb.SOrphanFileInum {
		if m.dry {
			m.pinned = max(m.pinned, m.high)
			return nil
		}
		return abi.Errorf(abi.EOPNOTSUPP, "ext4: minimize: inode %d (journal, orphan file or bad blocks) has blocks past block %d: not moved", ino, m.end)
	}
	if m.dry {
		return nil
	}
	return m.im.writeInodeRaw(ino, raw, pos)
}

// moveXattrBlock moves the xattr block blk (shared by every inode that
// names it: moved once) and returns its new place; its checksum covers
// its block number (ext4_xattr_block_csum).
func (m *mover) moveXattrBlock(ino uint32, blk uint64) (uint64, error) {
	if nb, ok := m.xattr[blk]; ok {
		return nb, nil
	}
	f := m.im.f
	cb := f.ClusterBits
	ps, err := m.allocClusters([]uint64{blk >> cb})
	if err != nil {
		return 0, err
	}
	nb := ps[0].new<<cb | blk&f.ClusterMask()
	m.xattr[blk] = nb
	if m.dry {
		return nb, nil
	}
	b := make([]byte, f.BlockSize)
	if err := m.im.read(blk, b); err != nil {
		return 0, err
	}
	if le.Uint32(b[0:]) != disk.XattrMagic {
		return 0, abi.Errorf(abi.EUCLEAN, "ext4: minimize: inode %d: xattr block %d: bad magic", ino, blk)
	}
	if f.Super.MetadataCsum() {
		le.PutUint32(b[disk.OffXattrHChecksum:], f.XattrBlockCsum(b, nb))
	}
	return nb, m.im.write(nb, b)
}
