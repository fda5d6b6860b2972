package e2fsprogs

import (
	disk "github.com/lklimg/lklimg/format/ext4"
	"github.com/lklimg/lklimg/kernel/abi"
)

// The two ways an inode maps its blocks, as Minimize's moves rewrite
// them: an extent tree (rebuilt when a block of it moves) and a block
// map (pointers rewritten in place).

// fixExtents moves the data and tree blocks past the end of the extent
// tree in raw's i_block and rebuilds the tree over the new extents: a
// moved run that the free space splits becomes several extents, and the
// tree grows (or shrinks) to hold them, as full as its nodes go (so that
// e2fsck finds nothing to narrow), its blocks below the end kept in
// place. It reports whether raw changed.
func (m *mover) fixExtents(ino uint32, raw []byte) (bool, error) {
	f := m.im.f
	cb := f.ClusterBits
	iblock := raw[disk.OffIBlock:][:disk.IBlockLen]
	var xs []disk.Extent
	var nodes []uint64
	past := false
	var walk func(node []byte, want int) error
	walk = func(node []byte, want int) error {
		h, err := disk.DecodeExtentNode(node)
		if err != nil {
			return abi.Errorf(abi.EUCLEAN, "ext4: minimize: inode %d: %v: run e2fsck", ino, err)
		}
		depth := int(h.EhDepth)
		if want >= 0 && depth != want {
			return abi.Errorf(abi.EUCLEAN, "ext4: minimize: inode %d: extent node of depth %d under one of %d: run e2fsck", ino, depth, want+1)
		}
		for i := range int(h.EhEntries) {
			if depth == 0 {
				x := disk.ExtentAt(node, i)
				if x.EeLen == 0 {
					continue
				}
				if err := m.checkBlock(ino, x.EeStart, uint64(x.EeLen)); err != nil {
					return err
				}
				past = past || x.EeStart+uint64(x.EeLen) > m.end
				xs = append(xs, x)
				continue
			}
			blk := disk.ExtentIdxAt(node, i).EiLeaf
			if err := m.checkBlock(ino, blk, 1); err != nil {
				return err
			}
			past = past || blk >= m.end
			nodes = append(nodes, blk)
			b := make([]byte, f.BlockSize)
			if err := m.im.read(blk, b); err != nil {
				return err
			}
			if err := walk(b, depth-1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(iblock, -1); err != nil {
		return false, err
	}
	if !past {
		return false, nil
	}
	// The data clusters past the end, in the file's order, each once.
	var list []uint64
	seen := map[uint64]bool{}
	for _, x := range xs {
		last := (x.EeStart + uint64(x.EeLen) - 1) >> cb
		for c := max(x.EeStart>>cb, m.endC); c <= last; c++ {
			if !seen[c] {
				seen[c] = true
				list = append(list, c)
			}
		}
	}
	ps, err := m.allocClusters(list)
	if err != nil {
		return false, err
	}
	if err := m.copyPieces(ps); err != nil {
		return false, err
	}
	var nx []disk.Extent
	for _, x := range xs {
		b, l, left := x.EeStart, x.EeBlock, uint64(x.EeLen)
		for left > 0 {
			nb, run := m.mapBlock(ps, b)
			k := min(left, run)
			nx = appendExtent(nx, disk.Extent{EeBlock: l, EeLen: uint32(k), EeStart: nb, Unwritten: x.Unwritten})
			b, l, left = b+k, l+uint32(k), left-k
		}
	}
	delta, err := m.putTree(ino, le.Uint32(raw[disk.OffIGeneration:]), iblock, nx, nodes)
	if err != nil {
		return false, err
	}
	if delta != 0 {
		m.im.addIBlocks(raw, delta)
		m.grown += delta
	}
	return true, nil
}

// appendExtent appends x to xs, merged into the last extent when it
// continues it (logically and physically, of the same kind, within
// EXT_INIT_MAX_LEN or EXT_UNWRITTEN_MAX_LEN).
func appendExtent(xs []disk.Extent, x disk.Extent) []disk.Extent {
	maxLen := uint32(disk.ExtentInitMaxLen)
	if x.Unwritten {
		maxLen--
	}
	if k := len(xs); k > 0 {
		p := &xs[k-1]
		if p.Unwritten == x.Unwritten && p.EeBlock+p.EeLen == x.EeBlock && p.EeStart+uint64(p.EeLen) == x.EeStart {
			add := min(x.EeLen, maxLen-p.EeLen)
			p.EeLen += add
			x.EeBlock, x.EeStart, x.EeLen = x.EeBlock+add, x.EeStart+uint64(add), x.EeLen-add
		}
	}
	for x.EeLen > 0 {
		k := min(x.EeLen, maxLen)
		xs = append(xs, disk.Extent{EeBlock: x.EeBlock, EeLen: k, EeStart: x.EeStart, Unwritten: x.Unwritten})
		x.EeBlock, x.EeStart, x.EeLen = x.EeBlock+k, x.EeStart+uint64(k), x.EeLen-k
	}
	return xs
}

// putTree writes the extent tree of xs: in iblock alone when it holds
// them, else over as few levels of full tree blocks as hold them. The
// tree blocks below the end of the old tree (old) are used first, more
// are allocated, those left over are freed. It returns the change in the
// count of tree blocks.
func (m *mover) putTree(ino, gen uint32, iblock []byte, xs []disk.Extent, old []uint64) (int64, error) {
	f := m.im.f
	cb := f.ClusterBits
	per := f.ExtentBlockMax()
	var levels []int // tree blocks per level, leaves first
	for n := len(xs); n > disk.ExtentRootMax; {
		n = (n + per - 1) / per
		levels = append(levels, n)
	}
	depth := len(levels)
	if depth > disk.ExtentMaxDepth {
		return 0, abi.Errorf(abi.EFBIG, "ext4: minimize: inode %d: %d extents need too deep a tree", ino, len(xs))
	}
	total := 0
	for _, n := range levels {
		total += n
	}
	var blks []uint64
	for _, b := range old {
		if b < m.end {
			if len(blks) < total {
				blks = append(blks, b)
			} else {
				m.release(b >> cb)
			}
		}
	}
	if more := uint64(total - len(blks)); more > 0 {
		ps, err := m.alloc(0, more)
		if err != nil {
			return 0, err
		}
		for _, p := range ps {
			for c := p.new; c < p.new+p.n; c++ {
				blks = append(blks, c<<cb)
			}
		}
	}
	type child struct {
		key uint32
		blk uint64
	}
	var kids []child
	next := 0
	node := func(d int, fill func(nd disk.ExtNode) (int, uint32)) error {
		blk := blks[next]
		next++
		b := make([]byte, f.BlockSize)
		nd := disk.ExtNode{Blk: blk, B: b}
		disk.InitExtentNode(b, per, d)
		n, key := fill(nd)
		nd.SetEntries(n)
		m.im.setExtentTail(b, ino, gen)
		kids = append(kids, child{key, blk})
		if m.dry {
			return nil
		}
		return m.im.write(blk, b)
	}
	if depth > 0 {
		for i := 0; i < len(xs); i += per {
			chunk := xs[i:min(i+per, len(xs))]
			if err := node(0, func(nd disk.ExtNode) (int, uint32) {
				for j, x := range chunk {
					nd.PutExtent(j, x)
				}
				return len(chunk), chunk[0].EeBlock
			}); err != nil {
				return 0, err
			}
		}
		for d := 1; d < depth; d++ {
			below := kids
			kids = nil
			for i := 0; i < len(below); i += per {
				chunk := below[i:min(i+per, len(below))]
				if err := node(d, func(nd disk.ExtNode) (int, uint32) {
					for j, c := range chunk {
						nd.PutIdx(j, c.key, c.blk)
					}
					return len(chunk), chunk[0].key
				}); err != nil {
					return 0, err
				}
			}
		}
	}
	clear(iblock)
	disk.InitExtentNode(iblock, disk.ExtentRootMax, depth)
	root := disk.ExtNode{Blk: 0, B: iblock}
	if depth == 0 {
		for j, x := range xs {
			root.PutExtent(j, x)
		}
		root.SetEntries(len(xs))
	} else {
		for j, c := range kids {
			root.PutIdx(j, c.key, c.blk)
		}
		root.SetEntries(len(kids))
	}
	return int64(total) - int64(len(old)), nil
}

// setExtentTail sets a tree block's ext4_extent_tail: the crc32c of the
// node (header and eh_max slots) seeded by the inode's number and
// generation, with metadata_csum.
func (im *offImage) setExtentTail(b []byte, ino, gen uint32) {
	f := im.f
	if !f.Super.MetadataCsum() {
		return
	}
	off := disk.ExtentHeaderSize + f.ExtentBlockMax()*disk.ExtentEntrySize
	le.PutUint32(b[off:], disk.Csum32(f.CrcTab, f.InodeCsumSeed(ino, gen), b[:off]))
}

// addIBlocks adds n clusters to raw's i_blocks (in 512-byte sectors, or
// in blocks with huge_file's EXT4_HUGE_FILE_FL).
func (im *offImage) addIBlocks(raw []byte, n int64) {
	f := im.f
	unit := int64(1) << f.ClusterBits
	if !(f.Super.HasRoCompat(disk.RoCompatHugeFile) && le.Uint32(raw[disk.OffIFlags:])&disk.InodeHugeFileFl != 0) {
		unit *= int64(f.BlockSize) / 512
	}
	v := int64(le.Uint32(raw[disk.OffIBlocksLo:])) | int64(le.Uint16(raw[disk.OffIBlocksHigh:]))<<32
	v += n * unit
	le.PutUint32(raw[disk.OffIBlocksLo:], uint32(v))
	le.PutUint16(raw[disk.OffIBlocksHigh:], uint16(v>>32))
}

// fixBlockMap moves the data and indirect blocks past the end of the
// block map in raw's i_block (direct, indirect, double and triple
// indirect pointers), in the order ext2fs_bmap allocates them (an
// indirect block before the blocks it lists), and rewrites the pointers
// to them. It reports whether raw changed.
func (m *mover) fixBlockMap(ino uint32, raw []byte) (bool, error) {
	f := m.im.f
	iblock := raw[disk.OffIBlock:][:disk.IBlockLen]
	if disk.AllZero(iblock) {
		return false, nil
	}
	if f.ClusterBits != 0 {
		return false, abi.Errorf(abi.EUCLEAN, "ext4: minimize: inode %d: a block map with bigalloc: run e2fsck", ino)
	}
	apb := int(f.BlockSize / 4)
	level := func(i int) int { return max(0, i-disk.NdirBlocks+1) }
	var list []uint64
	seen := map[uint64]bool{}
	var walk func(ptr uint64, lvl int) error
	walk = func(ptr uint64, lvl int) error {
		if ptr == 0 {
			return nil
		}
		if err := m.checkBlock(ino, ptr, 1); err != nil {
			return err
		}
		if ptr >= m.end {
			if seen[ptr] {
				return abi.Errorf(abi.EUCLEAN, "ext4: minimize: inode %d: block %d mapped twice: run e2fsck", ino, ptr)
			}
			seen[ptr] = true
			list = append(list, ptr)
		}
		if lvl == 0 {
			return nil
		}
		b := make([]byte, f.BlockSize)
		if err := m.im.read(ptr, b); err != nil {
			return err
		}
		for i := range apb {
			if err := walk(uint64(le.Uint32(b[4*i:])), lvl-1); err != nil {
				return err
			}
		}
		return nil
	}
	for i := range disk.IBlockLen / 4 {
		if err := walk(uint64(le.Uint32(iblock[4*i:])), level(i)); err != nil {
			return false, err
		}
	}
	if len(list) == 0 {
		return false, nil
	}
	ps, err := m.allocClusters(list)
	if err != nil {
		return false, err
	}
	if err := m.copyPieces(ps); err != nil {
		return false, err
	}
	var fix func(ptr uint64, lvl int) (uint64, error)
	fix = func(ptr uint64, lvl int) (uint64, error) {
		if ptr == 0 {
			return 0, nil
		}
		np, _ := m.mapBlock(ps, ptr)
		if lvl == 0 {
			return np, nil
		}
		b := make([]byte, f.BlockSize)
		if err := m.im.read(ptr, b); err != nil {
			return 0, err
		}
		changed := np != ptr
		for i := range apb {
			e := uint64(le.Uint32(b[4*i:]))
			ne, err := fix(e, lvl-1)
			if err != nil {
				return 0, err
			}
			if ne != e {
				le.PutUint32(b[4*i:], uint32(ne))
				changed = true
			}
		}
		if changed && !m.dry {
			return np, m.im.write(np, b)
		}
		return np, nil
	}
	for i := range disk.IBlockLen / 4 {
		np, err := fix(uint64(le.Uint32(iblock[4*i:])), level(i))
		if err != nil {
			return false, err
		}
		le.PutUint32(iblock[4*i:], uint32(np))
	}
	return true, nil
}
