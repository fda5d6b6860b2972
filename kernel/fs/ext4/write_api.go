package ext4

import (
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// STUBS of the allocation and inode layer (alloc.go, inode_write.go,
// extent_write.go, blockmap_write.go), which the directory, xattr and
// symlink code is written against. Each is replaced by its implementation;
// this file then goes. All run inside a handle (txn.go).

// newInode allocates an inode for a new file of mode (S_IF* and
// permissions) near its parent dir, as ext4's __ext4_new_inode does (Orlov
// spreading for directories, the parent's group otherwise), and
// initialises it: owner ctx.Uid/ctx.Gid, all times and crtime ctx.Now, one
// link (two for a directory, whose caller adds the parent's), size 0, the
// extents flag on an extent filesystem (not for devices, FIFOs, sockets
// or fast symlinks), i_extra_isize from s_want_extra_isize, a new
// generation, the checksum seed. It marks the inode used in its bitmap and
// group descriptor (free count, used dirs, itable_unused, checksums),
// writes it to its table and puts it in the inode cache.
func (h *handle) newInode(dir *inode, ctx vfs.Ctx, mode uint32) (*inode, error) {
	return nil, h.fail(abi.ENOSYS)
}

// writeInode encodes ip's fields into its slot of the inode table (the
// transaction's copy), keeping the fields the driver does not decode, and
// sets its checksum (ext4_mark_inode_dirty).
func (h *handle) writeInode(ip *inode) error { return h.fail(abi.ENOSYS) }

// deleteInode frees an inode whose last link went and that nobody uses
// (ext4_evict_inode): its blocks, its xattr block reference, then its bit
// in the inode bitmap, with i_dtime set and the mode kept, as Linux leaves
// a deleted inode.
func (h *handle) deleteInode(ip *inode) error { return h.fail(abi.ENOSYS) }

// mapBlocks maps logical block lblk of ip to disk (ext4_map_blocks): it
// returns the physical block and how many blocks from lblk map
// contiguously (at most n). With create, a hole is filled by allocating up
// to n blocks, contiguous where possible, near the file's other blocks;
// the new blocks' contents are the caller's to write. A hole without
// create returns pblk 0 and the hole's length (at most n).
func (h *handle) mapBlocks(ip *inode, lblk, n uint64, create bool) (pblk, got uint64, err error) {
	return 0, 0, h.fail(abi.ENOSYS)
}

// truncateBlocks frees ip's blocks from logical block from to the end
// (and the extent tree or indirect blocks that no longer map anything),
// updating i_blocks; i_size is the caller's.
func (h *handle) truncateBlocks(ip *inode, from uint64) error { return h.fail(abi.ENOSYS) }

// allocBlock allocates one block near goal for metadata (an xattr block,
// a tree node) and returns it; its contents are the caller's
// (newMetaBlock). ENOSPC when none is free.
func (h *handle) allocBlock(ip *inode, goal uint64) (uint64, error) { return 0, h.fail(abi.ENOSYS) }

// freeBlocks frees n blocks from start, owned by ip (whose i_blocks it
// lowers), that held metadata or data: it clears their bits, forgets them
// from the transaction and keeps them from reuse until commit.
func (h *handle) freeBlocks(ip *inode, start, n uint64) error { return h.fail(abi.ENOSYS) }
