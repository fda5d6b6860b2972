package ext4

import (
	"sort"

	disk "github.com/lklimg/lklimg/format/ext4"
	"github.com/lklimg/lklimg/kernel/abi"
)

// Changing extent trees (fs/ext4/extents.c; the format in extent.go). Every
// change is one of two steps, each keeping the tree valid on its own:
//
//   - insertExtent puts one extent where no other maps: merged with a
//     neighbour in the same leaf when logically and physically contiguous
//     and of the same kind (ext4_ext_try_to_merge), else into its leaf;
//     a full leaf is split (ext4_ext_split: at the insertion point when
//     appending, so that a file written in order fills its leaves, in
//     half otherwise), up to the first ancestor with room, and when the
//     root in i_block is full too the tree grows one level
//     (ext4_ext_grow_indepth).
//   - removeRange unmaps logical blocks [from, to): extents inside go,
//     extents across an end are trimmed, an extent across both is split;
//     a node left empty is freed with its index entry, and a root left
//     empty becomes an empty leaf again (ext4_ext_remove_space).
//
// Every index entry's ei_block equals the first key of its child, as
// e2fsck requires (ext4_ext_correct_indexes keeps it so); tree blocks
// carry the tail checksum with metadata_csum and count in i_blocks.

// extLevel is a node on the path from the root to a leaf and the entry
// followed there: the last whose key is at most the key sought, or -1 in
// a leaf when the key lies before every entry.
type extLevel struct {
	disk.ExtNode
	i int
}

// dirtyNode sets a tree block's tail checksum after a change; the root is
// written with the inode.
func (h *handle) dirtyNode(ip *inode, n disk.ExtNode) {
	f := h.f
	if n.Blk == 0 || !f.Super.MetadataCsum() {
		return
	}
	off := disk.ExtentHeaderSize + n.Max()*disk.ExtentEntrySize
	le.PutUint32(n.B[off:], disk.Csum32(f.CrcTab, ip.csumSeed, n.B[:off]))
}

// extentPath descends from the root to the leaf where key belongs
// (ext4_find_extent), taking each tree block into the transaction.
func (h *handle) extentPath(ip *inode, key uint32) ([]extLevel, error) {
	f := h.f
	var path []extLevel
	n := disk.ExtNode{Blk: 0, B: ip.iBlock[:]}
	for {
		hd, err := disk.DecodeExtentNode(n.B)
		if err != nil {
			return nil, h.fail(abi.Errorf(abi.EUCLEAN, "ext4: inode %d: extent block %d: %v", ip.ino, n.Blk, err))
		}
		if len(path) > 0 && int(hd.EhDepth) != path[len(path)-1].Depth()-1 || len(path) > disk.ExtentMaxDepth {
			return nil, h.fail(abi.Errorf(abi.EUCLEAN, "ext4: inode %d: extent block %d: bad depth %d", ip.ino, n.Blk, hd.EhDepth))
		}
		k := int(hd.EhEntries)
		i := sort.Search(k, func(i int) bool { return n.Key(i) > key }) - 1
		if hd.EhDepth == 0 {
			return append(path, extLevel{n, i}), nil
		}
		if k == 0 {
			return nil, h.fail(abi.Errorf(abi.EUCLEAN, "ext4: inode %d: extent block %d: empty index node", ip.ino, n.Blk))
		}
		i = max(i, 0)
		path = append(path, extLevel{n, i})
		child := disk.ExtentIdxAt(n.B, i).EiLeaf
		if child < uint64(f.Super.SFirstDataBlock) || child >= f.Super.SBlocksCount {
			return nil, h.fail(abi.Errorf(abi.EUCLEAN, "ext4: inode %d: extent index points to block %d outside the filesystem", ip.ino, child))
		}
		b, err := h.metaBlock(child)
		if err != nil {
			return nil, err
		}
		n = disk.ExtNode{Blk: child, B: b}
	}
}

// fixIndexes makes the index entries above level l agree with the first
// key of the node at l, going up while the entry changed is a node's
// first (ext4_ext_correct_indexes).
func (h *handle) fixIndexes(ip *inode, path []extLevel, l int) {
	for ; l > 0; l-- {
		if path[l].Entries() == 0 {
			return
		}
		k := path[l].Key(0)
		p := path[l-1]
		if p.Key(p.i) == k {
			return
		}
		p.SetKey(p.i, k)
		h.dirtyNode(ip, p.ExtNode)
		if p.i != 0 {
			return
		}
	}
}

// maxExtentLen is the longest extent of a kind (EXT_INIT_MAX_LEN,
// EXT_UNWRITTEN_MAX_LEN).
func maxExtentLen(unwritten bool) uint32 {
	if unwritten {
		return disk.ExtentInitMaxLen - 1
	}
	return disk.ExtentInitMaxLen
}

// canMerge reports whether b follows a directly, on disk too, with the
// same kind and a length that fits.
func canMerge(a, b disk.Extent) bool {
	return a.EeBlock+a.EeLen == b.EeBlock && a.EeStart+uint64(a.EeLen) == b.EeStart &&
		a.Unwritten == b.Unwritten && a.EeLen+b.EeLen <= maxExtentLen(a.Unwritten)
}

// insertExtent maps x, whose logical blocks map nothing yet, into ip's
// tree (ext4_ext_insert_extent). It may allocate tree blocks (ENOSPC).
func (h *handle) insertExtent(ip *inode, x disk.Extent) error {
	// Each round either inserts or makes room one level up; a tree of
	// depth d needs at most d+1 rounds of making room.
	for round := 0; round < 2*disk.ExtentMaxDepth+2; round++ {
		path, err := h.extentPath(ip, x.EeBlock)
		if err != nil {
			return err
		}
		leaf := path[len(path)-1]
		n, i := leaf.Entries(), leaf.i
		if i >= 0 {
			if l := disk.ExtentAt(leaf.B, i); canMerge(l, x) {
				l.EeLen += x.EeLen
				if i+1 < n {
					if r := disk.ExtentAt(leaf.B, i+1); canMerge(l, r) {
						l.EeLen += r.EeLen
						leaf.DeleteAt(i + 1)
					}
				}
				leaf.PutExtent(i, l)
				h.dirtyNode(ip, leaf.ExtNode)
				return nil
			}
		}
		if i+1 < n {
			if r := disk.ExtentAt(leaf.B, i+1); canMerge(x, r) {
				r.EeBlock, r.EeStart, r.EeLen = x.EeBlock, x.EeStart, r.EeLen+x.EeLen
				leaf.PutExtent(i+1, r)
				h.dirtyNode(ip, leaf.ExtNode)
				h.fixIndexes(ip, path, len(path)-1)
				return nil
			}
		}
		if n < leaf.Max() {
			leaf.InsertAt(i + 1)
			leaf.PutExtent(i+1, x)
			h.dirtyNode(ip, leaf.ExtNode)
			h.fixIndexes(ip, path, len(path)-1)
			return nil
		}
		if err := h.makeRoom(ip, path, x.EeBlock); err != nil {
			return err
		}
	}
	return h.fail(abi.Errorf(abi.EUCLEAN, "ext4: inode %d: extent tree insertion does not converge", ip.ino))
}

// makeRoom splits the full node under the deepest ancestor of the leaf
// that has room, or grows the tree when even the root is full.
func (h *handle) makeRoom(ip *inode, path []extLevel, key uint32) error {
	for l := len(path) - 2; l >= 0; l-- {
		if path[l].Entries() < path[l].Max() {
			return h.splitNode(ip, path, l+1, key)
		}
	}
	return h.growDepth(ip)
}

// treeGoal is where a new tree block goes: near the inode's blocks.
func (h *handle) treeGoal(ip *inode, near uint64) uint64 {
	if near != 0 {
		return near + 1
	}
	return h.f.goalBlock(ip)
}

// growDepth moves the root's entries into a new block and makes the root
// an index of that one block (ext4_ext_grow_indepth).
func (h *handle) growDepth(ip *inode) error {
	f := h.f
	root := disk.ExtNode{Blk: 0, B: ip.iBlock[:]}
	d := root.Depth()
	if d+1 > disk.ExtentMaxDepth {
		return h.fail(abi.Errorf(abi.EFBIG, "ext4: inode %d: extent tree too deep", ip.ino))
	}
	nb, err := h.allocBlock(ip, h.treeGoal(ip, 0))
	if err != nil {
		return err
	}
	b, err := h.newMetaBlock(nb)
	if err != nil {
		return err
	}
	k := root.Entries()
	disk.InitExtentNode(b, f.ExtentBlockMax(), d)
	copy(b[disk.ExtentHeaderSize:], root.B[disk.ExtentHeaderSize:disk.ExtentHeaderSize+k*disk.ExtentEntrySize])
	child := disk.ExtNode{Blk: nb, B: b}
	child.SetEntries(k)
	h.dirtyNode(ip, child)
	first := uint32(0)
	if k > 0 {
		first = child.Key(0)
	}
	clear(root.B[disk.ExtentHeaderSize:])
	disk.InitExtentNode(root.B, disk.ExtentRootMax, d+1)
	root.SetEntries(1)
	root.PutIdx(0, first, nb)
	return nil
}

// splitNode splits the full node at level l of path, whose parent has
// room, moving its upper entries into a new block (ext4_ext_split). A
// leaf into which key is appended keeps its entries: the new, empty leaf
// starts at key.
func (h *handle) splitNode(ip *inode, path []extLevel, l int, key uint32) error {
	f := h.f
	nd, p := path[l], path[l-1]
	n := nd.Entries()
	m := n / 2
	border := uint32(0)
	switch {
	case nd.Depth() == 0 && nd.i == n-1:
		m, border = n, key
	case nd.i == n-1:
		m = n - 1
	}
	if m < n {
		border = nd.Key(m)
	}
	nb, err := h.allocBlock(ip, h.treeGoal(ip, nd.Blk))
	if err != nil {
		return err
	}
	b, err := h.newMetaBlock(nb)
	if err != nil {
		return err
	}
	disk.InitExtentNode(b, f.ExtentBlockMax(), nd.Depth())
	nn := disk.ExtNode{Blk: nb, B: b}
	copy(b[disk.ExtentHeaderSize:], nd.B[disk.ExtentHeaderSize+m*disk.ExtentEntrySize:disk.ExtentHeaderSize+n*disk.ExtentEntrySize])
	nn.SetEntries(n - m)
	clear(nd.B[disk.ExtentHeaderSize+m*disk.ExtentEntrySize : disk.ExtentHeaderSize+n*disk.ExtentEntrySize])
	nd.SetEntries(m)
	h.dirtyNode(ip, nn)
	h.dirtyNode(ip, nd.ExtNode)
	p.InsertAt(p.i + 1)
	p.PutIdx(p.i+1, border, nb)
	h.dirtyNode(ip, p.ExtNode)
	return nil
}

// removeEntry deletes entry i of the leaf at the end of path; a node left
// empty goes, with its index entry, up to the root, which becomes an
// empty leaf when nothing is left.
func (h *handle) removeEntry(ip *inode, path []extLevel, i int) error {
	l := len(path) - 1
	path[l].DeleteAt(i)
	for l > 0 && path[l].Entries() == 0 {
		if err := h.freeBlocks(ip, path[l].Blk, 1); err != nil {
			return err
		}
		l--
		path[l].DeleteAt(path[l].i)
		i = path[l].i
	}
	if l == 0 && path[0].Entries() == 0 {
		disk.InitExtentNode(path[0].B, disk.ExtentRootMax, 0)
		return nil
	}
	h.dirtyNode(ip, path[l].ExtNode)
	if i == 0 {
		h.fixIndexes(ip, path, l)
	}
	return nil
}

// nextLeafKey returns the first key after the subtree path leads to, when
// there is one.
func nextLeafKey(path []extLevel) (uint32, bool) {
	for l := len(path) - 2; l >= 0; l-- {
		if path[l].i+1 < path[l].Entries() {
			return path[l].Key(path[l].i + 1), true
		}
	}
	return 0, false
}

// findExtent returns the first extent that ends after start and begins
// before to, with its path and index, or ok false.
func (h *handle) findExtent(ip *inode, start, to uint64) (path []extLevel, i int, x disk.Extent, ok bool, err error) {
	for {
		path, err = h.extentPath(ip, uint32(min(start, 1<<32-1)))
		if err != nil {
			return nil, 0, disk.Extent{}, false, err
		}
		leaf := path[len(path)-1]
		i = leaf.i
		if i < 0 || uint64(disk.ExtentAt(leaf.B, i).EeBlock)+uint64(disk.ExtentAt(leaf.B, i).EeLen) <= start {
			i++
		}
		if i < leaf.Entries() {
			x = disk.ExtentAt(leaf.B, i)
			return path, i, x, uint64(x.EeBlock) < to, nil
		}
		k, more := nextLeafKey(path)
		if !more || uint64(k) >= to || uint64(k) <= start {
			return nil, 0, disk.Extent{}, false, nil
		}
		start = uint64(k)
	}
}

// removeRange unmaps logical blocks [from, to) of ip, freeing the data
// blocks when free is set (a conversion keeps them).
func (h *handle) removeRange(ip *inode, from, to uint64, free bool) error {
	start := from
	for start < to {
		path, i, x, ok, err := h.findExtent(ip, start, to)
		if err != nil || !ok {
			return err
		}
		leaf := path[len(path)-1]
		xs, xe := uint64(x.EeBlock), uint64(x.EeBlock)+uint64(x.EeLen)
		a, b := max(xs, from), min(xe, to)
		pa := x.EeStart + (a - xs)
		switch {
		case a == xs && b == xe:
			if err := h.removeEntry(ip, path, i); err != nil {
				return err
			}
		case a == xs:
			y := x
			y.EeBlock, y.EeStart, y.EeLen = uint32(b), x.EeStart+(b-xs), uint32(xe-b)
			leaf.PutExtent(i, y)
			h.dirtyNode(ip, leaf.ExtNode)
			if i == 0 {
				h.fixIndexes(ip, path, len(path)-1)
			}
		case b == xe:
			y := x
			y.EeLen = uint32(a - xs)
			leaf.PutExtent(i, y)
			h.dirtyNode(ip, leaf.ExtNode)
		default:
			// The range lies inside x: keep its head, insert its tail.
			y := x
			y.EeLen = uint32(a - xs)
			leaf.PutExtent(i, y)
			h.dirtyNode(ip, leaf.ExtNode)
			tail := disk.Extent{EeBlock: uint32(b), EeLen: uint32(xe - b), EeStart: x.EeStart + (b - xs), Unwritten: x.Unwritten}
			if err := h.insertExtent(ip, tail); err != nil {
				// Put x back whole, so that nothing leaks.
				if p2, j, y2, ok2, err2 := h.findExtent(ip, xs, xs+1); err2 == nil && ok2 && uint64(y2.EeBlock) == xs {
					p2[len(p2)-1].PutExtent(j, x)
					h.dirtyNode(ip, p2[len(p2)-1].ExtNode)
				}
				return err
			}
		}
		if free {
			if err := h.freeUnmapped(ip, a, b, pa); err != nil {
				return err
			}
		}
		start = b
	}
	return nil
}

// freeUnmapped frees the blocks of logical [a, b), mapped from pa and
// just unmapped. With bigalloc it frees whole clusters, as
// ext4_ext_rm_leaf does with its partial cluster: the clusters inside the
// range, and each cluster at its ends once no block of its logical
// cluster is mapped any more (a cluster shared with blocks of the file
// still mapped is freed with the last of them).
func (h *handle) freeUnmapped(ip *inode, a, b, pa uint64) error {
	f := h.f
	m := f.ClusterMask()
	if m == 0 {
		return h.freeBlocks(ip, pa, b-a)
	}
	if (a^pa)&m != 0 {
		return h.fail(abi.Errorf(abi.EUCLEAN, "ext4: inode %d: extent at block %d maps into its cluster at another offset (%d)", ip.ino, a, pa))
	}
	// Logical [fa, fb) is what goes: a and b rounded inwards to clusters,
	// then outwards again at an end whose cluster is no longer used.
	fa, fb := (a+m)&^m, b&^m
	unused := func(c uint64) (bool, error) {
		_, _, _, used, err := h.findExtent(ip, c, c+m+1)
		return !used, err
	}
	if fa != a {
		ok, err := unused(a &^ m)
		if err != nil {
			return err
		}
		if ok {
			fa = a &^ m
		}
	}
	if fb != b && fb >= fa {
		ok, err := unused(fb)
		if err != nil {
			return err
		}
		if ok {
			fb += m + 1
		}
	}
	if fb <= fa {
		return nil
	}
	return h.freeBlocks(ip, pa-a+fa, fb-fa)
}

// setExtentKind makes the mapped blocks of [from, to) written or
// unwritten (ext4_convert_unwritten_extents; the reverse for ZERO_RANGE).
func (h *handle) setExtentKind(ip *inode, from, to uint64, unwritten bool) error {
	start := from
	for start < to {
		path, i, x, ok, err := h.findExtent(ip, start, to)
		if err != nil || !ok {
			return err
		}
		xs, xe := uint64(x.EeBlock), uint64(x.EeBlock)+uint64(x.EeLen)
		a, b := max(xs, from), min(xe, to)
		if x.Unwritten != unwritten {
			if a == xs && b == xe && x.EeLen <= maxExtentLen(unwritten) {
				leaf := path[len(path)-1]
				x.Unwritten = unwritten
				leaf.PutExtent(i, x)
				h.dirtyNode(ip, leaf.ExtNode)
			} else {
				if err := h.removeRange(ip, a, b, false); err != nil {
					return err
				}
				y := disk.Extent{EeBlock: uint32(a), EeLen: uint32(b - a), EeStart: x.EeStart + (a - xs), Unwritten: unwritten}
				if err := h.insertExtent(ip, y); err != nil {
					return err
				}
			}
		}
		start = b
	}
	return nil
}

// extentTruncate frees every block of ip from logical block from on.
func (h *handle) extentTruncate(ip *inode, from uint64) error {
	if from >= 1<<32 {
		return nil
	}
	return h.removeRange(ip, from, 1<<32, true)
}

// initExtentRoot makes i_block an empty extent root (ext4_ext_tree_init).
func (ip *inode) initExtentRoot() {
	clear(ip.iBlock[:])
	disk.InitExtentNode(ip.iBlock[:], disk.ExtentRootMax, 0)
}
