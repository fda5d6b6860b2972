package ext4

import (
	"math/bits"
	"sort"

	disk "github.com/lklimg/lklimg/format/ext4"
	"github.com/lklimg/lklimg/kernel/abi"
)

// Block and inode allocation (fs/ext4/balloc.c, ialloc.c, mballoc.c; the
// bitmaps in Documentation/filesystems/ext4/bitmaps.rst, the descriptors
// in group_descr.rst). The allocator is simpler than mballoc but keeps
// its rules:
//
//   - The bitmaps say which blocks and inodes are used. A group whose
//     block bitmap was never written (BLOCK_UNINIT, with uninit_bg or
//     metadata_csum) has its bitmap computed from the group's metadata, as
//     ext4_init_block_bitmap does, and written out the first time the
//     group changes; likewise INODE_UNINIT inode bitmaps start empty.
//   - Every change to a bitmap updates its group descriptor (free counts,
//     used directories, bg_itable_unused, flags), the bitmap's checksum
//     with metadata_csum and the descriptor's checksum (crc32c with
//     metadata_csum, crc16 with uninit_bg), all in the running
//     transaction; the superblock's counts follow at commit (sbDirty).
//   - Blocks are taken near a goal (the block after the file's previous
//     block, or the start of the inode's flex group), as many contiguous
//     ones as asked for and free there, so that a file written in order
//     stays in one extent.
//   - Blocks freed in the running transaction are not handed out again
//     before it commits (pending, emptied by releaseFreedHook): the old,
//     committed metadata may still point at them.
//   - Data allocations leave the kernel's reserve (2% of the blocks, at
//     most 4096, on extent filesystems: s_resv_clusters) to metadata, so
//     that an extent tree can still grow when data filled the disk.
//
// The "alloc=pack" mount option (this driver's own, for building images
// that are then cut to size: Minimize) replaces the placement policy, not
// the rules: a new inode takes the lowest free inode number; a file's
// data continues right after its previous block when that one is free,
// and otherwise, like every metadata block (extent tree, block map,
// xattr, directory and htree blocks alike), goes to the lowest free run
// that holds the whole request, or failing one, the lowest free blocks.
// A filesystem filled from empty so uses only its first groups, each
// file still in as few extents as the free space allows.
//
// With bigalloc (Documentation/filesystems/ext4/bigalloc.rst) the unit of
// allocation is the cluster, 2^clusterBits blocks: a bit of a block bitmap
// is a cluster, s_clusters_per_group of them a group, bg_free_blocks_count
// and the allocator's counts are clusters, while s_free_blocks_count
// stays in blocks (ext4_commit_super stores EXT4_C2B of the free
// clusters; e2fsck's pass 5 compares it so). A cluster belongs to one
// inode, which is charged the whole cluster in i_blocks (mballoc's
// dquot_alloc_block of EXT4_C2B(len)); a tree or xattr block takes a
// cluster of its own. allocBlocks and freeBlocks take and give whole
// clusters; which block of a cluster a file's block uses is mapRange's
// and removeRange's business (file_write.go, extent_write.go). Without
// bigalloc a cluster is a block and nothing changes.

// allocState is the allocator's part of a read-write mount, used under the
// write lock.
type allocState struct {
	// pending holds the blocks freed in the running transaction, sorted
	// by start and merged.
	pending []blockRange
	// freeBlocks is the sum of the groups' free block counts, once
	// counted (haveFree).
	freeBlocks uint64
	haveFree   bool
	// gen numbers the inodes allocated by this mount, for generations.
	gen uint32
	// scratch is a block-sized buffer for bitmap reads.
	scratch []byte
	// pack is the alloc=pack mount option: lowest free first.
	pack bool
}

func init() {
	releaseFreedHook = func(f *fsys) { f.alloc.pending = f.alloc.pending[:0] }
}

// readBlockBitmap reads group g's block bitmap into b without adding it to
// the transaction.
func (h *handle) readBlockBitmap(g uint32, b []byte) error {
	f := h.f
	d := &f.Groups[g]
	if f.HasGroupCsum() && d.BgFlags&disk.BgBlockUninit != 0 {
		f.InitBlockBitmap(g, b)
		return nil
	}
	if err := f.readBlock(b, d.BgBlockBitmap); err != nil {
		return h.fail(abi.Errorf(abi.EIO, "ext4: group %d: block bitmap %d: %v", g, d.BgBlockBitmap, err))
	}
	return nil
}

// blockBitmap returns the transaction's copy of group g's block bitmap,
// first writing out a BLOCK_UNINIT group's computed bitmap (and clearing
// the flag, as ext4_read_block_bitmap_nowait does).
func (h *handle) blockBitmap(g uint32) ([]byte, error) {
	f := h.f
	d := &f.Groups[g]
	if !f.HasGroupCsum() || d.BgFlags&disk.BgBlockUninit == 0 {
		return h.metaBlock(d.BgBlockBitmap)
	}
	b, err := h.newMetaBlock(d.BgBlockBitmap)
	if err != nil {
		return nil, err
	}
	f.InitBlockBitmap(g, b)
	d.BgFlags &^= disk.BgBlockUninit
	free := uint64(0)
	for i := uint64(0); i < f.GroupClusters(g); i++ {
		if !disk.TestBit(b, i) {
			free++
		}
	}
	if uint32(free) != d.BgFreeBlocksCount {
		f.adjustFree(int64(free) - int64(d.BgFreeBlocksCount))
		d.BgFreeBlocksCount = uint32(free)
	}
	return b, nil
}

// inodeBitmap returns the transaction's copy of group g's inode bitmap; an
// INODE_UNINIT bitmap starts empty but for the bits past the group's
// inodes, and the flag goes.
func (h *handle) inodeBitmap(g uint32) ([]byte, error) {
	f := h.f
	d := &f.Groups[g]
	if !f.HasGroupCsum() || d.BgFlags&disk.BgInodeUninit == 0 {
		return h.metaBlock(d.BgInodeBitmap)
	}
	b, err := h.newMetaBlock(d.BgInodeBitmap)
	if err != nil {
		return nil, err
	}
	disk.SetBits(b, uint64(f.Super.SInodesPerGroup), uint64(f.BlockSize)*8)
	d.BgFlags &^= disk.BgInodeUninit
	return b, nil
}

// dirtyGroup writes group g's descriptor into its descriptor block in the
// transaction, with the bitmap checksums from bb and ib (either may be
// nil: unchanged) and the descriptor checksum (ext4_group_desc_csum_set,
// ext4_block_bitmap_csum_set, ext4_inode_bitmap_csum_set).
func (h *handle) dirtyGroup(g uint32, bb, ib []byte) error {
	f := h.f
	d := &f.Groups[g]
	if f.Super.MetadataCsum() {
		if bb != nil {
			// s_clusters_per_group is not checked against the block
			// size without bigalloc: bound it by the bitmap.
			n := min(uint64(f.Super.SClustersPerGroup/8), uint64(len(bb)))
			d.BgBlockBitmapCsum = disk.Csum32(f.CrcTab, f.CsumSeed, bb[:n])
		}
		if ib != nil {
			d.BgInodeBitmapCsum = disk.Csum32(f.CrcTab, f.CsumSeed, ib[:f.Super.SInodesPerGroup/8])
		}
		if f.Super.DescSize() < disk.MinDescSize64 {
			d.BgBlockBitmapCsum &= 0xFFFF
			d.BgInodeBitmapCsum &= 0xFFFF
		}
	}
	ds := f.Super.DescSize()
	blk := f.DescBlock(uint64(g) / uint64(f.DescPerBlock))
	b, err := h.metaBlock(blk)
	if err != nil {
		return err
	}
	raw := b[(g%f.DescPerBlock)*ds:][:ds]
	disk.EncodeGroupDesc(raw, d, ds)
	if f.HasGroupCsum() {
		d.BgChecksum = f.GroupDescCsum(g, raw)
		le.PutUint16(raw[disk.OffBgChecksum:], d.BgChecksum)
	}
	f.sbDirty = true
	return nil
}

// totalFree returns the free clusters of all groups.
func (f *fsys) totalFree() uint64 {
	if !f.alloc.haveFree {
		var n uint64
		for i := range f.Groups {
			n += uint64(f.Groups[i].BgFreeBlocksCount)
		}
		f.alloc.freeBlocks, f.alloc.haveFree = n, true
	}
	return f.alloc.freeBlocks
}

func (f *fsys) adjustFree(d int64) {
	if f.alloc.haveFree {
		f.alloc.freeBlocks = uint64(int64(f.alloc.freeBlocks) + d)
	}
}

// resvClusters is the kernel's own reserve, kept from data allocations
// (ext4_calculate_resv_clusters: 2% of the clusters, at most 4096, with
// extents only).
func (f *fsys) resvClusters() uint64 {
	if !f.Super.HasIncompat(disk.IncompatExtents) {
		return 0
	}
	return min(f.Super.SBlocksCount>>f.ClusterBits/50, 4096)
}

// pendingEnd returns the end of the pending range holding blk, or 0 when
// blk is not pending.
func (f *fsys) pendingEnd(blk uint64) uint64 {
	p := f.alloc.pending
	i := sort.Search(len(p), func(i int) bool { return p[i].start+p[i].n > blk })
	if i < len(p) && p[i].start <= blk {
		return p[i].start + p[i].n
	}
	return 0
}

// addPending records [start, start+n) as freed in this transaction.
func (f *fsys) addPending(start, n uint64) {
	p := f.alloc.pending
	i := sort.Search(len(p), func(i int) bool { return p[i].start >= start })
	p = append(p, blockRange{})
	copy(p[i+1:], p[i:])
	p[i] = blockRange{start, n}
	// Merge with the neighbours.
	if i+1 < len(p) && p[i].start+p[i].n == p[i+1].start {
		p[i].n += p[i+1].n
		p = append(p[:i+1], p[i+2:]...)
	}
	if i > 0 && p[i-1].start+p[i-1].n == p[i].start {
		p[i-1].n += p[i].n
		p = append(p[:i], p[i+1:]...)
	}
	f.alloc.pending = p
}

// goalBlock is where an inode's blocks go when nothing better is known
// (ext4_inode_to_goal_block): the start of its group, or with flex groups
// of four or more, of its flex group, one group further for regular files
// so that their data stays apart from the flex group's metadata.
func (f *fsys) goalBlock(ip *inode) uint64 {
	if ip == nil || f.alloc.pack {
		return uint64(f.Super.SFirstDataBlock)
	}
	g := (ip.ino - 1) / f.Super.SInodesPerGroup
	if fs := f.FlexSize(); fs >= 4 {
		g &^= fs - 1
		if ip.isReg() {
			g++
		}
	}
	if uint64(g) >= uint64(len(f.Groups)) {
		g = 0
	}
	return f.GroupFirst(g)
}

// allocBlocks allocates up to n contiguous blocks at or after goal (in
// goal's group, then the following groups, wrapping), marks them used,
// counts them in ip's i_blocks (ip may be nil) and returns the first and
// how many. With bigalloc it takes whole clusters, enough to hold n
// blocks: the first block returned starts a cluster and the count is a
// multiple of the cluster size. Data allocations (meta false) leave the
// kernel's reserve alone. ENOSPC when no block is free.
func (h *handle) allocBlocks(ip *inode, goal, n uint64, meta bool) (uint64, uint64, error) {
	f := h.f
	sb := f.Super
	if n == 0 {
		return 0, 0, nil
	}
	// From here on n, like the bitmaps, counts clusters.
	n = (n + f.ClusterMask()) >> f.ClusterBits
	free := f.totalFree()
	if !meta {
		resv := f.resvClusters()
		if free <= resv {
			return 0, 0, h.fail(abi.Errorf(abi.ENOSPC, "ext4: no free blocks"))
		}
		n = min(n, free-resv)
	} else if free == 0 {
		return 0, 0, h.fail(abi.Errorf(abi.ENOSPC, "ext4: no free blocks"))
	}
	n = min(n, uint64(sb.SClustersPerGroup))
	if goal < uint64(sb.SFirstDataBlock) || goal >= sb.SBlocksCount {
		goal = uint64(sb.SFirstDataBlock)
	}
	if f.alloc.scratch == nil {
		f.alloc.scratch = make([]byte, f.BlockSize)
	}
	buf := f.alloc.scratch
	if f.alloc.pack {
		return h.allocPacked(ip, goal, n, meta)
	}
	g0, off0 := f.GroupOfBlock(goal)
	ngroups := uint32(len(f.Groups))
	for i := uint32(0); i <= ngroups; i++ {
		g := (g0 + i) % ngroups
		if f.Groups[g].BgFreeBlocksCount == 0 {
			continue
		}
		if err := h.readBlockBitmap(g, buf); err != nil {
			return 0, 0, err
		}
		// In the goal's group, search from the goal first, then (on the
		// last round) from the group's start.
		from, to := uint64(0), f.GroupClusters(g)
		switch {
		case i == 0:
			from = off0
		case i == ngroups:
			to = min(to, off0)
		}
		start, got := f.findFreeRun(g, buf, from, to, n)
		if got == 0 {
			continue
		}
		return h.takeClusters(ip, g, start, got)
	}
	return 0, 0, h.fail(abi.Errorf(abi.ENOSPC, "ext4: no free blocks"))
}

// takeClusters marks bits [start, start+n) of group g used for ip (may be
// nil), charging them to its i_blocks, and returns the first block and
// the number of blocks.
func (h *handle) takeClusters(ip *inode, g uint32, start, n uint64) (uint64, uint64, error) {
	f := h.f
	if err := h.markBlocks(g, start, n); err != nil {
		return 0, 0, err
	}
	if ip != nil {
		ip.blocks += int64(n) * f.ClusterSectors()
	}
	return f.GroupFirst(g) + start<<f.ClusterBits, n << f.ClusterBits, nil
}

// allocPacked is allocBlocks under alloc=pack, n counting clusters: data
// continues at goal when goal is free (goal is then the block after the
// file's previous one); otherwise the blocks come from the lowest free run
// of n, or, when no group has one, the lowest free blocks. Metadata (meta)
// ignores goal.
func (h *handle) allocPacked(ip *inode, goal, n uint64, meta bool) (uint64, uint64, error) {
	f := h.f
	buf := f.alloc.scratch
	if !meta && goal > uint64(f.Super.SFirstDataBlock) {
		g, off := f.GroupOfBlock(goal)
		if f.Groups[g].BgFreeBlocksCount > 0 {
			if err := h.readBlockBitmap(g, buf); err != nil {
				return 0, 0, err
			}
			if start, got := f.findFreeRun(g, buf, off, f.GroupClusters(g), n); got > 0 && start == off {
				return h.takeClusters(ip, g, start, got)
			}
		}
	}
	// Two passes from the first group: a run of n (a group with fewer
	// free blocks cannot hold one), then any free block.
	for pass := 0; pass < 2; pass++ {
		for g := range uint32(len(f.Groups)) {
			free := uint64(f.Groups[g].BgFreeBlocksCount)
			if free == 0 || pass == 0 && free < n {
				continue
			}
			if err := h.readBlockBitmap(g, buf); err != nil {
				return 0, 0, err
			}
			to := f.GroupClusters(g)
			for from := uint64(0); from < to; {
				start, got := f.findFreeRun(g, buf, from, to, n)
				if got == 0 {
					break
				}
				if pass == 1 || got == n {
					return h.takeClusters(ip, g, start, got)
				}
				from = start + got
			}
		}
	}
	return 0, 0, h.fail(abi.Errorf(abi.ENOSPC, "ext4: no free blocks"))
}

// findFreeRun finds the first free bit in [from, to) of group g's bitmap b
// whose cluster is not pending, and returns it with the number of free,
// not pending clusters that follow it (at most n).
func (f *fsys) findFreeRun(g uint32, b []byte, from, to, n uint64) (uint64, uint64) {
	first := f.GroupFirst(g)
	cb := f.ClusterBits
	for i := from; i < to; {
		i = disk.FindZero(b, i, to)
		if i == to {
			break
		}
		if e := f.pendingEnd(first + i<<cb); e != 0 {
			i = (e - first + f.ClusterMask()) >> cb
			continue
		}
		j := i + 1
		for j < to && j-i < n && !disk.TestBit(b, j) && f.pendingEnd(first+j<<cb) == 0 {
			j++
		}
		return i, j - i
	}
	return 0, 0
}

// markBlocks marks bits [start, start+n) of group g used.
func (h *handle) markBlocks(g uint32, start, n uint64) error {
	f := h.f
	// The bitmap said these are free; refuse to hand out the group's own
	// metadata all the same, as ext4_mb_mark_diskspace_used checks.
	blk := f.GroupFirst(g) + start<<f.ClusterBits
	if start < f.BaseMetaClusters(g) || f.overlapsGroupMeta(g, blk, n<<f.ClusterBits) {
		return h.fail(abi.Errorf(abi.EUCLEAN, "ext4: group %d: allocating blocks %d+%d which overlap filesystem metadata", g, blk, n<<f.ClusterBits))
	}
	b, err := h.blockBitmap(g)
	if err != nil {
		return err
	}
	for i := start; i < start+n; i++ {
		if disk.TestBit(b, i) {
			return h.fail(abi.Errorf(abi.EUCLEAN, "ext4: group %d: block %d already in use", g, f.GroupFirst(g)+i<<f.ClusterBits))
		}
	}
	for i := start; i < start+n; i++ {
		disk.SetBit(b, i)
	}
	f.Groups[g].BgFreeBlocksCount -= uint32(n)
	f.adjustFree(-int64(n))
	return h.dirtyGroup(g, b, nil)
}

// overlapsGroupMeta reports whether blocks [blk, blk+n) hold a bitmap or
// inode table of a group of g's flex group.
func (f *fsys) overlapsGroupMeta(g uint32, blk, n uint64) bool {
	fs := f.FlexSize()
	lo := g &^ (fs - 1)
	hi := min(uint64(lo)+uint64(fs), uint64(len(f.Groups)))
	in := func(start, count uint64) bool { return start < blk+n && blk < start+count }
	for j := uint64(lo); j < hi; j++ {
		d := &f.Groups[j]
		if in(d.BgBlockBitmap, 1) || in(d.BgInodeBitmap, 1) || in(d.BgInodeTable, f.InodeTableBlocks) {
			return true
		}
	}
	return false
}

// freeRange clears the bits of blocks [start, start+n), which may span
// groups, forgets them from the transaction and keeps them from reuse
// until it commits. With bigalloc the range is whole clusters.
func (h *handle) freeRange(start, n uint64) error {
	f := h.f
	sb := f.Super
	cb := f.ClusterBits
	if start < uint64(sb.SFirstDataBlock) || start+n > sb.SBlocksCount || start+n < start {
		return h.fail(abi.Errorf(abi.EUCLEAN, "ext4: freeing blocks %d+%d outside the filesystem", start, n))
	}
	if start&f.ClusterMask() != 0 || n&f.ClusterMask() != 0 && start+n != sb.SBlocksCount {
		return h.fail(abi.Errorf(abi.EUCLEAN, "ext4: freeing blocks %d+%d, not whole clusters", start, n))
	}
	for n > 0 {
		g, bit := f.GroupOfBlock(start)
		k := min(n, f.GroupBlocks(g)-bit<<cb) // blocks
		kc := (k + f.ClusterMask()) >> cb     // bits
		if bit < f.BaseMetaClusters(g) || f.overlapsGroupMeta(g, start, k) {
			return h.fail(abi.Errorf(abi.EUCLEAN, "ext4: freeing blocks %d+%d which overlap filesystem metadata", start, k))
		}
		b, err := h.blockBitmap(g)
		if err != nil {
			return err
		}
		for i := bit; i < bit+kc; i++ {
			if !disk.TestBit(b, i) {
				return h.fail(abi.Errorf(abi.EUCLEAN, "ext4: group %d: freeing block %d, already free", g, start+(i-bit)<<cb))
			}
		}
		for i := bit; i < bit+kc; i++ {
			disk.ClearBit(b, i)
		}
		for blk := start; blk < start+k; blk++ {
			h.forget(blk)
		}
		f.Groups[g].BgFreeBlocksCount += uint32(kc)
		f.adjustFree(int64(kc))
		if err := h.dirtyGroup(g, b, nil); err != nil {
			return err
		}
		h.freeLater(start, k)
		f.addPending(start, k)
		start += k
		n -= k
	}
	return nil
}

// allocBlock allocates one block near goal (near ip's blocks when goal is
// 0) for metadata (an xattr block, a tree node) and returns it, counted
// in ip's i_blocks (ip may be nil); its contents are the caller's
// (newMetaBlock), and so is writing ip. Metadata may use the kernel's
// reserve. ENOSPC when none is free.
func (h *handle) allocBlock(ip *inode, goal uint64) (uint64, error) {
	if goal == 0 {
		goal = h.f.goalBlock(ip)
	}
	blk, _, err := h.allocBlocks(ip, goal, 1, true)
	return blk, err
}

// freeBlocks frees n blocks from start, owned by ip (whose i_blocks it
// lowers; ip may be nil), that held metadata or data: it clears their
// bits, forgets them from the transaction and keeps them from reuse until
// commit. Writing ip is the caller's. With bigalloc it frees the clusters
// that hold the blocks, whole: the caller knows that no other block of
// them is in use (a tree or xattr block has its cluster to itself;
// removeRange frees a file's partial cluster only with its last block).
func (h *handle) freeBlocks(ip *inode, start, n uint64) error {
	if n == 0 {
		return nil
	}
	f := h.f
	m := f.ClusterMask()
	end := min((start+n+m)&^m, f.Super.SBlocksCount)
	start &^= m
	if err := h.freeRange(start, end-start); err != nil {
		return err
	}
	if ip != nil {
		ip.blocks -= int64((end-start+m)>>f.ClusterBits) * f.ClusterSectors()
		if ip.blocks < 0 {
			ip.blocks = 0
		}
	}
	return nil
}

// Inodes.

// inodeGroup chooses the group of a new inode (find_group_orlov for a
// directory made in the root, find_group_other otherwise, simplified): a
// top-level directory goes to the (flex) group with the fewest
// directories among those with at least the average free inodes and
// blocks, spreading the tree over the disk; anything else goes to its
// parent's (flex) group, or the next one with a free inode.
func (f *fsys) inodeGroup(dir *inode, isDir bool) (uint32, bool) {
	ngroups := uint32(len(f.Groups))
	fs := f.FlexSize()
	units := (ngroups + fs - 1) / fs
	type unit struct{ freei, freeb, dirs uint64 }
	count := func(u uint32) unit {
		var c unit
		for g := u * fs; g < min(u*fs+fs, ngroups); g++ {
			d := &f.Groups[g]
			c.freei += uint64(d.BgFreeInodesCount)
			c.freeb += uint64(d.BgFreeBlocksCount)
			c.dirs += uint64(d.BgUsedDirsCount)
		}
		return c
	}
	firstFree := func(u uint32) (uint32, bool) {
		for g := u * fs; g < min(u*fs+fs, ngroups); g++ {
			if f.Groups[g].BgFreeInodesCount > 0 {
				return g, true
			}
		}
		return 0, false
	}
	if f.alloc.pack {
		// alloc=pack: the lowest free inode.
		for g := range ngroups {
			if f.Groups[g].BgFreeInodesCount > 0 {
				return g, true
			}
		}
		return 0, false
	}
	parent := uint32(0)
	if dir != nil {
		parent = (dir.ino - 1) / f.Super.SInodesPerGroup
	}
	if isDir && (dir == nil || dir.ino == disk.RootIno) {
		var tot unit
		for u := uint32(0); u < units; u++ {
			c := count(u)
			tot.freei += c.freei
			tot.freeb += c.freeb
		}
		avei, aveb := tot.freei/uint64(units), tot.freeb/uint64(units)
		best, found := uint32(0), false
		var bestDirs uint64
		for u := uint32(0); u < units; u++ {
			c := count(u)
			if c.freei == 0 || c.freei < avei || c.freeb < aveb {
				continue
			}
			if !found || c.dirs < bestDirs {
				best, bestDirs, found = u, c.dirs, true
			}
		}
		if found {
			if g, ok := firstFree(best); ok {
				return g, true
			}
		}
	}
	pu := parent / fs
	for i := uint32(0); i < units; i++ {
		if g, ok := firstFree((pu + i) % units); ok {
			return g, true
		}
	}
	return 0, false
}

// allocInode takes a free inode for a new file near dir and marks it used
// (the bitmap part of __ext4_new_inode). ENOSPC when none is free.
func (h *handle) allocInode(dir *inode, isDir bool) (uint32, error) {
	f := h.f
	sb := f.Super
	g, ok := f.inodeGroup(dir, isDir)
	if !ok {
		return 0, h.fail(abi.Errorf(abi.ENOSPC, "ext4: no free inodes"))
	}
	ipg := uint64(sb.SInodesPerGroup)
	b, err := h.inodeBitmap(g)
	if err != nil {
		return 0, err
	}
	// Reserved inodes (below s_first_ino) are never handed out.
	from := uint64(0)
	if base := uint64(g) * ipg; base+1 < uint64(sb.SFirstIno) {
		from = min(uint64(sb.SFirstIno)-1-base, ipg)
	}
	idx := disk.FindZero(b, from, ipg)
	if idx == ipg {
		return 0, h.fail(abi.Errorf(abi.EUCLEAN, "ext4: group %d: free inodes count %d but no free inode",
			g, f.Groups[g].BgFreeInodesCount))
	}
	disk.SetBit(b, idx)
	d := &f.Groups[g]
	d.BgFreeInodesCount--
	if isDir {
		d.BgUsedDirsCount++
	}
	if f.HasGroupCsum() {
		// bg_itable_unused counts the never used inodes at the end of
		// the table, which e2fsck need not read.
		if used := ipg - uint64(d.BgItableUnused); idx >= used {
			d.BgItableUnused = uint32(ipg - idx - 1)
		}
		// The group's block bitmap is written once an inode is used in
		// it, as __ext4_new_inode does.
		if d.BgFlags&disk.BgBlockUninit != 0 {
			bb, err := h.blockBitmap(g)
			if err != nil {
				return 0, err
			}
			if err := h.dirtyGroup(g, bb, nil); err != nil {
				return 0, err
			}
		}
	}
	if err := h.dirtyGroup(g, nil, b); err != nil {
		return 0, err
	}
	return uint32(uint64(g)*ipg + idx + 1), nil
}

// freeInode clears inode ino's bit (ext4_free_inode).
func (h *handle) freeInode(ino uint32, isDir bool) error {
	f := h.f
	ipg := f.Super.SInodesPerGroup
	if ino < f.Super.SFirstIno || ino > f.Super.SInodesCount {
		return h.fail(abi.Errorf(abi.EUCLEAN, "ext4: freeing reserved or nonexistent inode %d", ino))
	}
	g, idx := (ino-1)/ipg, uint64((ino-1)%ipg)
	d := &f.Groups[g]
	if f.HasGroupCsum() && d.BgFlags&disk.BgInodeUninit != 0 {
		return h.fail(abi.Errorf(abi.EUCLEAN, "ext4: freeing inode %d of an uninitialised group", ino))
	}
	b, err := h.inodeBitmap(g)
	if err != nil {
		return err
	}
	if !disk.TestBit(b, idx) {
		return h.fail(abi.Errorf(abi.EUCLEAN, "ext4: freeing inode %d, already free", ino))
	}
	disk.ClearBit(b, idx)
	d.BgFreeInodesCount++
	if isDir && d.BgUsedDirsCount > 0 {
		d.BgUsedDirsCount--
	}
	return h.dirtyGroup(g, nil, b)
}

// newGeneration returns an i_generation for a new inode: Linux takes a
// random number; a counter mixed with the inode number and the volume's
// UUID keeps images reproducible.
func (f *fsys) newGeneration(ino uint32) uint32 {
	f.alloc.gen++
	x := uint64(ino)<<32 | uint64(f.alloc.gen)
	x ^= uint64(le.Uint32(f.Super.SUUID[:])) * 0x9E3779B97F4A7C15
	x ^= x >> 29
	x *= 0xBF58476D1CE4E5B9
	return uint32(x>>32) ^ bits.RotateLeft32(uint32(x), 7)
}
