package ext4

import (
	"bytes"
	"slices"
	"sync"

	"github.com/lklimg/lklimg/kernel/abi"
)

// Sharing identical attribute blocks (fs/ext4/xattr.c
// ext4_xattr_block_cache_find, ext4_xattr_block_cache_insert, the
// "inserted:" step of ext4_xattr_block_set; fs/mbcache.c).
//
// Linux keeps, per mount, a cache of the attribute blocks it has read or
// written, keyed by h_hash. When an inode's attributes must go into a
// block, the blocks of the cache with the same h_hash are compared with
// the one about to be written, entry by entry (ext4_xattr_cmp); the
// first equal one is shared: its h_refcount grows by one, up to
// EXT4_XATTR_REFCOUNT_MAX, at which a block is not offered until a
// reference goes. A
// block with h_hash 0 (some entry's e_hash was 0) is never shared. Shared
// blocks are copied on write (writeXattrBlock), and released by
// releaseXattrBlock.
//
// The cache here is the same: the blocks this mount wrote or read for
// getxattr or listxattr (not those a write reads: ext4_xattr_block_find
// does not insert, as the host kernel shows), with room for xattrCacheMax of them (mbcache's 16 per
// bucket of EXT4_XATTR_BLOCK_CACHE_BITS); when it is full it starts
// again empty, which costs only sharing chances, never correctness: every
// candidate is read and compared before it is shared.

// xattrRefcountMax is EXT4_XATTR_REFCOUNT_MAX: the most inodes sharing
// one attribute block.
const xattrRefcountMax = 1024

// xattrCacheMax is how many blocks the cache holds (mbcache's max_entries
// for ext4's 2^10 buckets).
const xattrCacheMax = 16 << 10

// xattrCache maps h_hash to the blocks with that hash that may be shared.
type xattrCache struct {
	mu     sync.Mutex
	byHash map[uint32][]uint64 // guarded by mu
	n      int                 // blocks in byHash; guarded by mu
}

// insert records block blk with hash (ext4_xattr_block_cache_insert); a
// block with hash 0 is not kept. A block at xattrRefcountMax references
// is kept but not offered until it has fewer (mbcache's reusable flag,
// which findSharedXattrBlock reads from h_refcount itself).
func (c *xattrCache) insert(hash uint32, blk uint64) {
	if hash == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if slices.Contains(c.byHash[hash], blk) {
		return
	}
	if c.byHash == nil || c.n >= xattrCacheMax {
		c.byHash, c.n = make(map[uint32][]uint64), 0
	}
	c.byHash[hash] = append(c.byHash[hash], blk)
	c.n++
}

// remove forgets block blk (mb_cache_entry_delete): it was freed or
// changed in place, or no longer reads as an attribute block.
func (c *xattrCache) remove(hash uint32, blk uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	blks := c.byHash[hash]
	if i := slices.Index(blks, blk); i >= 0 {
		c.byHash[hash] = slices.Delete(blks, i, i+1)
		if len(c.byHash[hash]) == 0 {
			delete(c.byHash, hash)
		}
		c.n--
	}
}

// candidates returns the blocks with hash hash, in the order they came.
func (c *xattrCache) candidates(hash uint32) []uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.byHash[hash])
}

// xattrBlockHash is h_hash of a block holding entries with these e_hash
// values (ext4_xattr_rehash): 0 if one of them is 0.
func xattrBlockHash(hashes []uint32) uint32 {
	const blockShift = 16
	var hash uint32
	for _, eh := range hashes {
		if eh == 0 {
			return 0
		}
		hash = hash<<blockShift ^ hash>>(32-blockShift) ^ eh
	}
	return hash
}

// findSharedXattrBlock returns a block of the cache that holds exactly
// items, whose block hash is hash, and may take one more
// reference (ext4_xattr_block_cache_find), or 0. A candidate that no
// longer reads as such a block leaves the cache.
func (h *handle) findSharedXattrBlock(hash uint32, items []xattrItem) (uint64, error) {
	f := h.f
	if hash == 0 {
		return 0, nil
	}
	for _, blk := range f.xcache.candidates(hash) {
		same, err := h.xattrBlockHolds(blk, hash, items)
		if err != nil {
			return 0, err
		}
		if same {
			return blk, nil
		}
	}
	return 0, nil
}

// xattrBlockHolds reads block blk as the running transaction sees it and
// reports whether it is an attribute block with hash and exactly items,
// entry for entry (ext4_xattr_cmp: name, value, no ea_inode; the equal
// h_hash stands for the e_hash values, which the names and values give),
// with room for one more reference. A block that is no longer one
// (freed and reused, damaged) leaves the cache.
func (h *handle) xattrBlockHolds(blk uint64, hash uint32, items []xattrItem) (bool, error) {
	f := h.f
	b, ok := f.txn.blocks[blk]
	if !ok {
		b = f.getBlock()
		defer f.putBlock(b)
		if _, err := f.raw.ReadAt(b, int64(blk)<<f.BlockBits); err != nil {
			return false, h.fail(abi.Errorf(abi.EIO, "ext4: xattr block %d: %v", blk, err))
		}
	}
	ents, err := f.decodeXattrBlock(b, blk)
	if err != nil || le.Uint32(b[12:]) != hash {
		f.xcache.remove(hash, blk)
		return false, nil
	}
	if le.Uint32(b[4:]) >= xattrRefcountMax {
		return false, nil
	}
	if len(ents) != len(items) {
		return false, nil
	}
	for i, e := range ents {
		it := items[i]
		if e.Inum != 0 || e.Index != it.index || e.Name != it.name || !bytes.Equal(e.Value, it.value) {
			return false, nil
		}
	}
	return true, nil
}
