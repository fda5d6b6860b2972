package ext4

import (
	"slices"

	disk "github.com/lklimg/lklimg/format/ext4"
	"github.com/lklimg/lklimg/kernel/abi"
)

// The orphan file (COMPAT_ORPHAN_FILE; fs/ext4/orphan.c, e2fsprogs
// lib/ext2fs/orphan.c, Documentation/filesystems/ext4/orphan.rst). Instead
// of chaining orphans through the superblock and i_dtime (orphan.go), whose
// head every orphan operation of the filesystem changes, the inode named
// by s_orphan_file_inum holds a fixed number of blocks of orphan inode
// numbers: an orphan takes a free (zero) entry and gives it back. mke2fs
// sizes the file; Linux never grows it, and falls back to the list when
// every entry is taken (ext4_orphan_add on ENOSPC).
//
// Each block ends with struct ext4_orphan_block_tail: ob_magic, then
// ob_checksum, with metadata_csum the crc32c, from the orphan file inode's
// checksum seed (crc32c of s_csum_seed, its number and generation), of the
// block's number as a little-endian 64-bit value and of the entries (not
// the tail): ext4_orphan_file_block_trigger, which Linux runs as the block
// is committed; we set it as each change is made. The blocks are journaled
// metadata of the transaction like any other.
//
// RO_COMPAT_ORPHAN_PRESENT says the orphan file may hold entries: Linux sets
// it with needs_recovery when a journaled read-write mount starts
// (ext4_setup_super) and clears it at a clean unmount (ext4_put_super), so
// that a kernel that does not know the orphan file leaves an image that
// may have orphans alone. The orphan cleanup of a read-write mount
// processes the list first, then the orphan file's entries
// (ext4_orphan_cleanup).

// orphanFile is the mount's view of the orphan file (struct
// ext4_orphan_info); its fields change only under the write lock.
type orphanFile struct {
	blocks   []uint64 // the physical block of each block of the file
	free     []uint32 // the free entries of each block (ob_free_entries)
	perBlock uint32   // entries in a block (ext4_inodes_per_orphan_block)
	seed     uint32   // the orphan file inode's checksum seed (of_csum_seed)
}

// loadOrphanFile reads the orphan file of a filesystem that has one, as
// ext4_init_orphan_info does: every block of its i_size must be mapped and
// written, with the tail's magic and checksum right; then the free entries
// of each block are counted. EUCLEAN names what is wrong.
func (f *fsys) loadOrphanFile() error {
	sb := f.Super
	if !sb.HasCompat(disk.CompatOrphanFile) {
		return nil
	}
	if ino := sb.SOrphanFileInum; ino < 1 || ino > sb.SInodesCount {
		return abi.Errorf(abi.EUCLEAN, "ext4: orphan file: bad inode number %d", ino)
	}
	ip, err := f.igetFlags(sb.SOrphanFileInum, igetSpecial)
	if err != nil {
		return err
	}
	runs, err := ip.blockRuns()
	if err != nil {
		return err
	}
	// The block count is i_size's, checked against what the block map
	// covers before anything is sized by it.
	n := uint64(ip.size) >> f.BlockBits
	if n > sb.SBlocksCount {
		return abi.Errorf(abi.EUCLEAN, "ext4: orphan file: i_size %d larger than the filesystem", ip.size)
	}
	covered := uint64(0)
	for _, r := range runs {
		if r.lblk != covered || r.unwritten {
			break
		}
		covered += r.n
	}
	if covered < n {
		return abi.Errorf(abi.EUCLEAN, "ext4: orphan file: block %d is not mapped", covered)
	}
	o := orphanFile{
		blocks:   make([]uint64, 0, n),
		free:     make([]uint32, n),
		perBlock: (f.BlockSize - disk.OrphanTailSize) / 4,
		seed:     ip.csumSeed,
	}
	for _, r := range runs {
		for k := uint64(0); k < r.n && uint64(len(o.blocks)) < n; k++ {
			o.blocks = append(o.blocks, r.pblk+k)
		}
	}
	b := f.getBlock()
	defer f.putBlock(b)
	for i, blk := range o.blocks {
		if blk >= sb.SBlocksCount {
			return abi.Errorf(abi.EUCLEAN, "ext4: orphan file block %d: block %d beyond end of filesystem", i, blk)
		}
		if _, err := f.raw.ReadAt(b, int64(blk)<<f.BlockBits); err != nil {
			return abi.Errorf(abi.EIO, "ext4: orphan file block %d: %v", i, err)
		}
		tail := b[f.BlockSize-disk.OrphanTailSize:]
		if le.Uint32(tail) != disk.OrphanBlockMagic {
			return abi.Errorf(abi.EUCLEAN, "ext4: orphan file block %d: bad magic", i)
		}
		if sb.MetadataCsum() && le.Uint32(tail[4:]) != o.csum(f, b, blk) {
			return abi.Errorf(abi.EUCLEAN, "ext4: orphan file block %d: bad checksum", i)
		}
		for j := uint32(0); j < o.perBlock; j++ {
			if le.Uint32(b[4*j:]) == 0 {
				o.free[i]++
			}
		}
	}
	f.ofile = o
	return nil
}

// csum is the orphan block checksum of b, the block at blk.
func (o *orphanFile) csum(f *fsys, b []byte, blk uint64) uint32 {
	return f.OrphanBlockCsum(b, blk, o.seed)
}

// setCsum sets the checksum in b's tail, with metadata_csum.
func (o *orphanFile) setCsum(f *fsys, b []byte, blk uint64) {
	if f.Super.MetadataCsum() {
		le.PutUint32(b[f.BlockSize-disk.OrphanTailSize+4:], o.csum(f, b, blk))
	}
}

// pending reports whether some entry of the orphan file is taken.
func (o *orphanFile) pending() bool {
	return slices.ContainsFunc(o.free, func(n uint32) bool { return n != o.perBlock })
}

// orphanFileAdd gives ip the first free entry of the orphan file
// (ext4_orphan_file_add); false when there is none (or no orphan file),
// for the caller to fall back to the list.
func (h *handle) orphanFileAdd(ip *inode) (bool, error) {
	f := h.f
	o := &f.ofile
	i := slices.IndexFunc(o.free, func(n uint32) bool { return n > 0 })
	if i < 0 {
		return false, nil
	}
	b, err := h.metaBlock(o.blocks[i])
	if err != nil {
		return false, err
	}
	for j := uint32(0); j < o.perBlock; j++ {
		if le.Uint32(b[4*j:]) == 0 {
			le.PutUint32(b[4*j:], ip.ino)
			o.free[i]--
			o.setCsum(f, b, o.blocks[i])
			ip.orphanSlot = uint32(i)*o.perBlock + j + 1
			return true, nil
		}
	}
	return false, h.fail(abi.Errorf(abi.EUCLEAN, "ext4: orphan file block %d: no free entry", i))
}

// orphanFileDel clears ip's entry of the orphan file (ext4_orphan_file_del).
func (h *handle) orphanFileDel(ip *inode) error {
	f := h.f
	o := &f.ofile
	idx := ip.orphanSlot - 1
	ip.orphanSlot = 0
	i, j := idx/o.perBlock, idx%o.perBlock
	if i >= uint32(len(o.blocks)) {
		return h.fail(abi.Errorf(abi.EUCLEAN, "ext4: inode %d: orphan file entry %d out of range", ip.ino, idx))
	}
	b, err := h.metaBlock(o.blocks[i])
	if err != nil {
		return err
	}
	le.PutUint32(b[4*j:], 0)
	o.free[i]++
	o.setCsum(f, b, o.blocks[i])
	return nil
}

// orphanFileCleanup processes the orphan file's entries at a read-write
// mount, after the list (the second loop of ext4_orphan_cleanup): each
// inode is deleted or truncated (processOrphan) and its entry cleared. An
// entry whose inode cannot be read is left, as Linux leaves it.
func (h *handle) orphanFileCleanup(deleted, truncated *int) error {
	f := h.f
	o := &f.ofile
	for i, blk := range o.blocks {
		if o.free[i] == o.perBlock {
			continue
		}
		b, err := h.metaBlock(blk)
		if err != nil {
			return err
		}
		for j := uint32(0); j < o.perBlock; j++ {
			ino := le.Uint32(b[4*j:])
			if ino == 0 {
				continue
			}
			ip, err := h.orphanInode(ino)
			if err != nil {
				f.log.Printf("EXT4-fs (%s): orphan file entry %d: %v", f.dev.Name(), uint32(i)*o.perBlock+j, err)
				continue
			}
			ip.orphanSlot = uint32(i)*o.perBlock + j + 1
			if err := h.processOrphan(ip, deleted, truncated); err != nil {
				return err
			}
			if err := h.orphanFileDel(ip); err != nil {
				return err
			}
		}
	}
	return nil
}
