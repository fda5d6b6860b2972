package btrfs

import (
	"errors"
	"sort"
	"sync"

	disk "github.com/lklimg/lklimg/format/btrfs"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// Logical addresses and trees (fs/btrfs/volumes.c, ctree.c): every tree
// block and extent is named by a logical address, which a chunk maps to
// the device; a tree is searched from its root block down its key
// pointers to a leaf, as btrfs_search_slot does.

// chunkMap is the mount's chunks, sorted by logical start (the
// extent_map tree of fs_info->mapping_tree).
type chunkMap []disk.Chunk

// find returns the chunk holding logical, or nil.
func (m chunkMap) find(logical uint64) *disk.Chunk {
	i := sort.Search(len(m), func(i int) bool { return m[i].Logical+m[i].Length > logical })
	if i < len(m) && m[i].Logical <= logical {
		return &m[i]
	}
	return nil
}

// add puts c in, replacing a chunk at the same start (the chunk tree's
// item replaces the superblock's bootstrap copy). Overlapping chunks are
// refused.
func (m *chunkMap) add(c disk.Chunk) error {
	s := *m
	i := sort.Search(len(s), func(i int) bool { return s[i].Logical >= c.Logical })
	if i < len(s) && s[i].Logical == c.Logical {
		if s[i].Length != c.Length {
			return abi.Errorf(abi.EUCLEAN, "btrfs: chunk at %d: two lengths %d and %d", c.Logical, s[i].Length, c.Length)
		}
		s[i] = c
		return nil
	}
	if i > 0 && s[i-1].Logical+s[i-1].Length > c.Logical || i < len(s) && c.Logical+c.Length > s[i].Logical {
		return abi.Errorf(abi.EUCLEAN, "btrfs: chunk at %d+%d overlaps another", c.Logical, c.Length)
	}
	*m = append(s[:i], append([]disk.Chunk{c}, s[i:]...)...)
	return nil
}

// checkChunk refuses a chunk with a stripe on a device not found
// (ENOENT, as read_one_chunk without -o degraded) or beyond any device.
func (f *fsys) checkChunk(c disk.Chunk) error {
	if c.Length%(disk.StripeLen*uint64(c.DataStripes())) != 0 && c.Type&disk.BlockGroupStriped&^disk.BlockGroupMirrored != 0 {
		return abi.Errorf(abi.EUCLEAN, "btrfs: chunk at %d: length %d not whole stripes of %d", c.Logical, c.Length, len(c.Stripes))
	}
	per := c.DevLength()
	for _, s := range c.Stripes {
		if err := f.missing(s.Devid); err != nil {
			return abi.Errorf(abi.ENOENT, "btrfs: chunk at %d: %v", c.Logical, err)
		}
		// A stripe past the device's end is refused with the dev extents
		// (verifyDevExtents), as Linux does, not here: rescue=all
		// mounts such a filesystem, and a read past the end fails.
		if s.Offset+per < s.Offset || int64(s.Offset+per) < 0 {
			return abi.Errorf(abi.EUCLEAN, "btrfs: chunk at %d: stripe at %d+%d beyond any device", c.Logical, s.Offset, per)
		}
	}
	return nil
}

// place returns the device and offset on it where copy mirror of the
// byte at logical at (in chunk c) lies, and how many bytes from it lie
// on in a row (btrfs_map_block). The device is nil where it is missing
// (-o degraded).
func (f *fsys) place(c *disk.Chunk, at uint64, mirror int) (vfs.BlockDevice, int64, uint64) {
	i, phys, run := c.Place(at, mirror)
	return f.devs[c.Stripes[i].Devid], int64(phys), run
}

// readLogical reads len(p) bytes at logical address at from copy
// mirror (0: the first; a mirrored chunk has one on each stripe), across
// chunks.
func (f *fsys) readLogical(p []byte, at uint64, mirror int, what string) error {
	for len(p) > 0 {
		c := f.chunks.find(at)
		if c == nil {
			return abi.Errorf(abi.EUCLEAN, "btrfs: %s: logical %d is in no chunk", what, at)
		}
		if c.IsRAID56() && mirror == c.Copies() {
			// Each piece rebuilt; one whose row has another
			// device missing is read as it is (degraded: the one
			// missing is not its own).
			n, err := f.rebuild(p, c, at, what)
			if err == errPeerMissing {
				n, err = f.readPiece(p, c, at, 0, what)
			}
			if err != nil {
				return err
			}
			p, at = p[n:], at+n
			continue
		}
		n, err := f.readPiece(p, c, at, mirror, what)
		if err != nil {
			return err
		}
		p, at = p[n:], at+n
	}
	return nil
}

// errPeerMissing is rebuild's error when another device of the row is
// missing.
var errPeerMissing = errors.New("btrfs: a device of the row is missing")

// readPiece reads the bytes at logical at of chunk c in copy mirror, up
// to the end of the run that lies on one device, and returns how many it
// read.
func (f *fsys) readPiece(p []byte, c *disk.Chunk, at uint64, mirror int, what string) (uint64, error) {
	dev, phys, run := f.place(c, at, mirror)
	n := min(uint64(len(p)), run)
	if dev == nil {
		return 0, abi.Errorf(abi.EIO, "btrfs: %s: logical %d: its device is missing", what, at)
	}
	if _, err := dev.ReadAt(p[:n], phys); err != nil {
		return 0, abi.Errorf(abi.EIO, "btrfs: %s: reading %d bytes at %d of %s: %v", what, n, phys, dev.Name(), err)
	}
	return n, nil
}

// mirrors is how many ways there are to read logical at: its copies
// (Chunk.Copies), and in a RAID5/6 chunk the data rebuilt from the rest
// of its row and the P parity (btrfs_num_copies' second mirror; RAID6's
// third, from Q, is not made here).
func (f *fsys) mirrors(at uint64) int {
	c := f.chunks.find(at)
	switch {
	case c == nil:
		return 1
	case c.IsRAID56():
		return c.Copies() + 1
	}
	return c.Copies()
}

// rebuild reads the bytes at logical at of RAID5/6 chunk c, up to the
// end of their 64 KiB piece (len(p) at most), as the XOR of the row's
// other data pieces and its P parity, and returns how many it made.
func (f *fsys) rebuild(p []byte, c *disk.Chunk, at uint64, what string) (uint64, error) {
	peers, in, run := c.RowPeers(at)
	n := min(uint64(len(p)), run)
	clear(p[:n])
	buf := make([]byte, n)
	for _, i := range peers {
		s := c.Stripes[i]
		dev := f.devs[s.Devid]
		if dev == nil {
			return 0, errPeerMissing
		}
		if _, err := dev.ReadAt(buf, int64(s.Offset+in)); err != nil {
			return 0, abi.Errorf(abi.EIO, "btrfs: %s: rebuilding logical %d: reading %d bytes at %d of %s: %v", what, at, n, s.Offset+in, dev.Name(), err)
		}
		for j := range buf {
			p[j] ^= buf[j]
		}
	}
	return n, nil
}

// nodeCache holds the tree blocks read and verified, up to a bound, so
// that a walk does not check the same block's checksum again.
type nodeCache struct {
	mu    sync.Mutex
	nodes map[uint64]*disk.Node
	max   int
}

// maxCacheBytes bounds the cached tree blocks' memory; on a device
// whose page cache the kernel's memory bounds (vfs.CacheSizer), an
// eighth of that bound at most, so that -m bounds the whole.
const maxCacheBytes = 16 << 20

// cacheBlocks is how many tree blocks of nodeSize bytes the mount on
// dev keeps (16 at the least: a path from root to leaf and more).
func cacheBlocks(dev vfs.BlockDevice, nodeSize uint32) int {
	n := int64(maxCacheBytes)
	if cs, ok := dev.(vfs.CacheSizer); ok && cs.CacheBytes() > 0 {
		n = min(n, cs.CacheBytes()/8)
	}
	return max(16, int(n/int64(nodeSize)))
}

// readNode reads the tree block at logical at and checks it (its
// checksum, place, fsid, items: disk.DecodeNode and CheckItems, Linux's
// read-time tree-checker) and that it is what the parent said: its
// level, its generation gen (btrfs_verify_parent_transid; 0: not known)
// and its first key first (hasFirst false: a root, which has none to
// match). A dup chunk's second copy is tried when the first is bad, as
// btrfs_read_extent_buffer tries every mirror. A block no copy of which
// passes is EIO, as Linux's read of it fails (the reason, EUCLEAN's
// damage, kept in the message).
func (f *fsys) readNode(at uint64, level int, gen uint64, first disk.Key, hasFirst bool) (*disk.Node, error) {
	f.cache.mu.Lock()
	n := f.cache.nodes[at]
	f.cache.mu.Unlock()
	if n != nil {
		if err := parentCheck(n, level, gen, first, hasFirst); err != nil {
			return nil, abi.Errorf(abi.EIO, "%v", err)
		}
		return n, nil
	}
	if at%uint64(f.sb.SectorSize) != 0 {
		return nil, abi.Errorf(abi.EIO, "btrfs: tree block at %d unaligned", at)
	}
	var first1 error
	for m := range f.mirrors(at) {
		b := make([]byte, f.sb.NodeSize)
		err := f.readLogical(b, at, m, "tree block")
		if err == nil {
			n, err = disk.DecodeNode(b, at, f.sb.CsumType, f.sb.FsidForBlocks(), f.seeds...)
		}
		if err == nil {
			err = parentCheck(n, level, gen, first, hasFirst)
		}
		if err == nil {
			err = n.CheckItems(f.check)
		}
		if err == nil {
			break
		}
		n = nil
		if first1 == nil {
			first1 = err
		}
	}
	if n == nil {
		return nil, abi.Errorf(abi.EIO, "%v", first1)
	}
	f.cache.mu.Lock()
	if len(f.cache.nodes) >= f.cache.max {
		for k := range f.cache.nodes { // drop one at random
			delete(f.cache.nodes, k)
			break
		}
	}
	f.cache.nodes[at] = n
	f.cache.mu.Unlock()
	return n, nil
}

// parentCheck checks block n against what its parent (or the root's
// item) says of it, as btrfs_verify_level_key and verify_parent_transid
// do: its level (level < 0: any), generation (gen 0: any) and first
// key (hasFirst false: any; an empty block has none and fails).
func parentCheck(n *disk.Node, level int, gen uint64, first disk.Key, hasFirst bool) error {
	if level >= 0 && int(n.Level) != level {
		return abi.Errorf(abi.EUCLEAN, "btrfs: tree block at %d: level %d, %d expected", n.Bytenr, n.Level, level)
	}
	if gen != 0 && n.Generation != gen {
		return abi.Errorf(abi.EIO, "btrfs: parent transid verify failed on logical %d wanted %d found %d", n.Bytenr, gen, n.Generation)
	}
	if hasFirst {
		if n.Nritems == 0 {
			return abi.Errorf(abi.EUCLEAN, "btrfs: tree block at %d: no items, expected first key %v", n.Bytenr, first)
		}
		if k := n.Key(0); k != first {
			return abi.Errorf(abi.EUCLEAN, "btrfs: tree first key mismatch detected, bytenr=%d have %v expect %v", n.Bytenr, k, first)
		}
	}
	return nil
}

// tree is one b-tree: its root block and level, and the items a log
// replay put over it (nil without).
type tree struct {
	f      *fsys
	id     uint64 // the tree's objectid, for messages
	bytenr uint64
	level  uint8
	gen    uint64 // the root block's generation (its root item's; 0: unchecked)
	ov     *overlay
}

// overlay is what a log replay changed in a tree, in memory (the tree on
// disk is never written): items put over the tree's, or deleted (nil
// data), in key order. It is built at mount, before any reader, and
// never changed after.
type overlay struct {
	keys  []disk.Key
	items [][]byte
}

// search returns the index of the first key >= k and whether it is k.
func (o *overlay) search(k disk.Key) (int, bool) {
	i := sort.Search(len(o.keys), func(i int) bool { return o.keys[i].Compare(k) >= 0 })
	return i, i < len(o.keys) && o.keys[i] == k
}

// has reports whether the overlay holds k (put or deleted).
func (o *overlay) has(k disk.Key) bool {
	_, ok := o.search(k)
	return ok
}

// put sets k's item to b (nil: deleted).
func (o *overlay) put(k disk.Key, b []byte) {
	i, ok := o.search(k)
	if ok {
		o.items[i] = b
		return
	}
	o.keys = append(o.keys, disk.Key{})
	copy(o.keys[i+1:], o.keys[i:])
	o.keys[i] = k
	o.items = append(o.items, nil)
	copy(o.items[i+1:], o.items[i:])
	o.items[i] = b
}

// pathEnt is one level of a cursor: a block and the slot in it.
type pathEnt struct {
	n    *disk.Node
	slot int
}

// cursor is a position in a tree (struct btrfs_path): path[0] is the
// leaf. Its slot may be -1 (before the leaf's first item) or Nritems
// (after its last) between moves. Over a tree with an overlay, the
// cursor's item is cur, the lesser of the disk's next item (one the
// overlay does not hold) and the overlay's next one; oi is where the
// overlay's next one is looked for.
type cursor struct {
	t    *tree
	path [disk.MaxLevel]pathEnt
	oi   int
	cur  disk.Item
	on   int8 // with an overlay: -1 before the first item, 0 on cur, 1 past the last
}

// seek puts c on the last item of t whose key is <= k (before the
// first item when none is). The caller's cursor (on its stack: a search
// allocates nothing) is overwritten.
func (t *tree) seek(k disk.Key, c *cursor) error {
	*c = cursor{t: t}
	if err := c.seekDisk(k); err != nil {
		return err
	}
	if t.ov == nil {
		return nil
	}
	// The disk's last item <= k that the overlay does not hold, and the
	// overlay's last item <= k: the cursor is on the greater.
	for {
		it, ok := c.diskItem()
		if !ok || !t.ov.has(it.Key) {
			break
		}
		if err := c.prevDisk(); err != nil {
			return err
		}
	}
	i, found := t.ov.search(k)
	if !found {
		i--
	}
	for i >= 0 && t.ov.items[i] == nil {
		i--
	}
	c.on = -1
	if it, ok := c.diskItem(); ok {
		c.cur, c.on = it, 0
	}
	if i >= 0 && (c.on < 0 || t.ov.keys[i].Compare(c.cur.Key) > 0) {
		c.cur, c.on = disk.Item{Key: t.ov.keys[i], Data: t.ov.items[i]}, 0
	}
	c.oi = max(i, 0)
	return nil
}

// seekDisk puts the disk path on the last item whose key is <= k.
func (c *cursor) seekDisk(k disk.Key) error {
	t := c.t
	n, err := t.f.readNode(t.bytenr, int(t.level), t.gen, disk.Key{}, false)
	if err != nil {
		return t.err(err)
	}
	for lvl := int(t.level); ; lvl-- {
		i := n.Search(k)
		if lvl == 0 {
			c.path[0] = pathEnt{n, i}
			return nil
		}
		i = max(i, 0)
		c.path[lvl] = pathEnt{n, i}
		if n, err = t.f.child(n, i); err != nil {
			return t.err(err)
		}
	}
}

// child reads the block key pointer i of node n points to.
func (f *fsys) child(n *disk.Node, i int) (*disk.Node, error) {
	p := n.Ptr(i)
	return f.readNode(p.Blockptr, int(n.Level)-1, p.Generation, p.Key, true)
}

func (t *tree) err(err error) error {
	return abi.Errorf(abi.ErrnoOf(err), "tree %d: %v", t.id, err)
}

// next moves to the next item: false at the end of the tree.
func (c *cursor) next() (bool, error) {
	if c.t.ov == nil {
		return c.nextDisk()
	}
	if c.on > 0 {
		return false, nil
	}
	// The disk's next item past cur that the overlay does not hold.
	var d disk.Item
	dok := false
	for {
		if c.path[0].slot < 0 {
			if more, err := c.nextDisk(); err != nil || !more {
				if err != nil {
					return false, err
				}
				break
			}
		}
		it, ok := c.diskItem()
		if !ok {
			break
		}
		if (c.on == 0 && it.Key.Compare(c.cur.Key) <= 0) || c.t.ov.has(it.Key) {
			if more, err := c.nextDisk(); err != nil || !more {
				if err != nil {
					return false, err
				}
				break
			}
			continue
		}
		d, dok = it, true
		break
	}
	o := c.t.ov
	for c.oi < len(o.keys) && ((c.on == 0 && o.keys[c.oi].Compare(c.cur.Key) <= 0) || o.items[c.oi] == nil) {
		c.oi++
	}
	switch {
	case c.oi < len(o.keys) && (!dok || o.keys[c.oi].Compare(d.Key) < 0):
		c.cur, c.on = disk.Item{Key: o.keys[c.oi], Data: o.items[c.oi]}, 0
	case dok:
		c.cur, c.on = d, 0
	default:
		c.on = 1
		return false, nil
	}
	return true, nil
}

// prevDisk moves the disk path to the previous item (before the first
// at the start of the tree).
func (c *cursor) prevDisk() error {
	leaf := &c.path[0]
	if leaf.slot > 0 {
		leaf.slot--
		return nil
	}
	lvl := 1
	for ; lvl <= int(c.t.level); lvl++ {
		if c.path[lvl].slot > 0 {
			break
		}
	}
	if lvl > int(c.t.level) {
		leaf.slot = -1
		return nil
	}
	c.path[lvl].slot--
	for ; lvl > 0; lvl-- {
		p := c.path[lvl]
		n, err := c.t.f.child(p.n, p.slot)
		if err != nil {
			return c.t.err(err)
		}
		c.path[lvl-1] = pathEnt{n, int(n.Nritems) - 1}
	}
	return nil
}

// nextDisk moves the disk path to the next item: false at the end.
func (c *cursor) nextDisk() (bool, error) {
	leaf := &c.path[0]
	if leaf.slot+1 < int(leaf.n.Nritems) {
		leaf.slot++
		return true, nil
	}
	// Up to the first level with a next pointer, then down its
	// leftmost path.
	lvl := 1
	for ; lvl <= int(c.t.level); lvl++ {
		if c.path[lvl].slot+1 < int(c.path[lvl].n.Nritems) {
			break
		}
	}
	if lvl > int(c.t.level) {
		leaf.slot = int(leaf.n.Nritems)
		return false, nil
	}
	c.path[lvl].slot++
	for ; lvl > 0; lvl-- {
		p := c.path[lvl]
		n, err := c.t.f.child(p.n, p.slot)
		if err != nil {
			return false, c.t.err(err)
		}
		c.path[lvl-1] = pathEnt{n, 0}
	}
	if c.path[0].n.Nritems == 0 {
		return c.nextDisk()
	}
	return true, nil
}

// item returns the item the cursor is on; ok is false when it is before
// the first or after the last.
func (c *cursor) item() (disk.Item, bool) {
	if c.t.ov != nil {
		return c.cur, c.on == 0
	}
	return c.diskItem()
}

// diskItem is the item the disk path is on.
func (c *cursor) diskItem() (disk.Item, bool) {
	leaf := c.path[0]
	if leaf.slot < 0 || leaf.slot >= int(leaf.n.Nritems) {
		return disk.Item{}, false
	}
	return leaf.n.Item(leaf.slot), true
}

// each calls fn for the items from the first whose key is >= k, in key
// order, until fn returns false or the tree ends.
func (t *tree) each(k disk.Key, fn func(disk.Item) (bool, error)) error {
	var c cursor
	if err := t.seek(k, &c); err != nil {
		return err
	}
	it, ok := c.item()
	if !ok || it.Key.Compare(k) < 0 {
		more, err := c.next()
		if err != nil || !more {
			return err
		}
		it, _ = c.item()
	}
	for {
		more, err := fn(it)
		if err != nil || !more {
			return err
		}
		if ok, err = c.next(); err != nil || !ok {
			return err
		}
		it, _ = c.item()
	}
}

// lookup returns the item with key k exactly, or false.
func (t *tree) lookup(k disk.Key) (disk.Item, bool, error) {
	var c cursor
	if err := t.seek(k, &c); err != nil {
		return disk.Item{}, false, err
	}
	it, ok := c.item()
	if ok && it.Key == k {
		return it, true, nil
	}
	return disk.Item{}, false, nil
}
