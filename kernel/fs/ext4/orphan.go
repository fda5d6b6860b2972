package ext4

import (
	"bytes"
	"cmp"
	"slices"
	"sync/atomic"

	disk "github.com/lklimg/lklimg/format/ext4"
	"github.com/lklimg/lklimg/kernel/abi"
)

// The orphan list (fs/ext4/orphan.c ext4_orphan_add, ext4_orphan_del;
// Documentation/filesystems/ext4/super.rst s_last_orphan, and inodes.rst
// i_dtime). An inode whose last link goes while it is still in use is
// freed only when the VFS lets it go (Evict); until then a crash must not
// leak it, so with a journal it is put on a list that e2fsck and the next
// mount walk: s_last_orphan holds the first inode's number, and each
// orphan's i_dtime holds the next one's (0 ends the list). The change is
// made in the handle that dropped the last link. Without a journal, as
// Linux, no list is kept: the inode is freed at Evict or at unmount. A
// filesystem with an orphan file keeps its orphans there instead, and
// uses the list only when the file is full (orphanfile.go).
//
// The list lives on disk only (in the transaction's blocks): removing an
// inode from its middle walks it from s_last_orphan, which is short (the
// inodes unlinked while open).

// offSLastOrphan is s_last_orphan in the superblock.
const offSLastOrphan = 0xE8

// offINextOrphan is i_dtime, which holds the next orphan on the list.
const offINextOrphan = 0x14

// superBytes returns the superblock's 1024 bytes in the transaction.
func (h *handle) superBytes() ([]byte, error) {
	f := h.f
	blk := uint64(disk.SuperblockOffset) >> f.BlockBits
	b, err := h.metaBlock(blk)
	if err != nil {
		return nil, err
	}
	return b[disk.SuperblockOffset-int(blk<<f.BlockBits):][:disk.SuperblockSize], nil
}

// lastOrphan reads s_last_orphan as the transaction holds it.
func (f *fsys) lastOrphan() (uint32, error) {
	blk := uint64(disk.SuperblockOffset) >> f.BlockBits
	b := f.getBlock()
	defer f.putBlock(b)
	if err := f.readBlock(b, blk); err != nil {
		return 0, abi.Errorf(abi.EIO, "ext4: superblock: %v", err)
	}
	return le.Uint32(b[disk.SuperblockOffset-int(blk<<f.BlockBits)+offSLastOrphan:]), nil
}

// setLastOrphan sets s_last_orphan and the superblock checksum.
func (h *handle) setLastOrphan(ino uint32) error {
	s, err := h.superBytes()
	if err != nil {
		return err
	}
	le.PutUint32(s[offSLastOrphan:], ino)
	h.f.SetSuperCsum(s)
	return nil
}

// dtime reads i_dtime of inode ino from its table slot in the handle.
func (h *handle) dtime(ino uint32) (uint32, error) {
	raw, err := h.inodeSlot(ino)
	if err != nil {
		return 0, err
	}
	return le.Uint32(raw[offINextOrphan:]), nil
}

// setDtime sets i_dtime of ip in its table slot, then writes the inode
// (which keeps i_dtime, a field it does not decode) to set its checksum.
func (h *handle) setDtime(ip *inode, v uint32) error {
	raw, err := h.inodeSlot(ip.ino)
	if err != nil {
		return err
	}
	le.PutUint32(raw[offINextOrphan:], v)
	return h.writeInode(ip)
}

// journaled reports whether the orphan list is kept (ext4_orphan_add does
// nothing without a journal).
func (f *fsys) journaled() bool { return f.Super.HasCompat(disk.CompatHasJournal) && !f.noload }

// orphanAdd records ip as an orphan (ext4_orphan_add): in a free entry of
// the orphan file when there is one (orphanfile.go), else at the head of
// the orphan list.
func (h *handle) orphanAdd(ip *inode) error {
	f := h.f
	if ip.orphan || ip.orphanSlot != 0 || !f.journaled() {
		return nil
	}
	if ok, err := h.orphanFileAdd(ip); ok || err != nil {
		return err
	}
	head, err := f.lastOrphan()
	if err != nil {
		return h.fail(err)
	}
	if err := h.setDtime(ip, head); err != nil {
		return err
	}
	if err := h.setLastOrphan(ip.ino); err != nil {
		return err
	}
	ip.orphan = true
	return nil
}

// orphanDel takes ip out of the orphan file or off the orphan list
// (ext4_orphan_del).
func (h *handle) orphanDel(ip *inode) error {
	f := h.f
	if ip.orphanSlot != 0 {
		return h.orphanFileDel(ip)
	}
	if !ip.orphan {
		return nil
	}
	next, err := h.dtime(ip.ino)
	if err != nil {
		return h.fail(err)
	}
	cur, err := f.lastOrphan()
	if err != nil {
		return h.fail(err)
	}
	if cur == ip.ino {
		if err := h.setLastOrphan(next); err != nil {
			return err
		}
	} else {
		// Find the orphan before ip; the list cannot be longer than
		// the inode count.
		for n := uint32(0); ; n++ {
			if cur == 0 || n > f.Super.SInodesCount {
				return h.fail(abi.Errorf(abi.EUCLEAN, "ext4: inode %d: not on the orphan list", ip.ino))
			}
			d, err := h.dtime(cur)
			if err != nil {
				return h.fail(err)
			}
			if d == ip.ino {
				break
			}
			cur = d
		}
		prev, err := f.iget(cur)
		if err != nil {
			return h.fail(err)
		}
		if err := h.setDtime(prev, next); err != nil {
			return err
		}
	}
	ip.orphan = false
	return h.setDtime(ip, 0)
}

// reapInode frees an inode with no link that nobody holds: off the orphan
// list, then deleteInode (ext4_evict_inode), then out of the cache.
func (h *handle) reapInode(ip *inode) error {
	if err := h.orphanDel(ip); err != nil {
		return err
	}
	h.f.mu.Lock()
	delete(h.f.unlinked, ip.ino)
	h.f.mu.Unlock()
	return h.deleteInode(ip)
}

// Evict is called when the VFS forgets one reference to the inode
// (vfs.Evicter; super_operations.evict_inode at the last one): an inode
// with no link and no reference left is freed. One with links stays
// cached while anything holds it (icache.go).
func (ip *inode) Evict() error {
	f := ip.f
	if !f.rw {
		return nil
	}
	h, err := f.begin()
	if err != nil {
		return err
	}
	if atomic.AddInt32(&ip.refs, -1) <= 0 {
		atomic.StoreInt32(&ip.refs, 0)
		if ip.links == 0 {
			err = h.reapInode(ip)
		}
	}
	return finish(h, err)
}

// releaseOrphans frees, at unmount, the inodes whose last link went while
// the VFS held them (f.unlinked): the VFS holds none after Unmount, as
// Linux evicts every inode at umount.
func (f *fsys) releaseOrphans() error {
	f.mu.Lock()
	var gone []*inode
	for _, ip := range f.unlinked {
		if ip.links == 0 && ip.mode != 0 && ip.ino >= f.Super.SFirstIno {
			gone = append(gone, ip)
		}
	}
	f.mu.Unlock()
	slices.SortFunc(gone, func(a, b *inode) int { return cmp.Compare(a.ino, b.ino) })
	if len(gone) == 0 {
		return nil
	}
	h, err := f.begin()
	if err != nil {
		return err
	}
	for _, ip := range gone {
		if err = h.reapInode(ip); err != nil {
			break
		}
	}
	return finish(h, err)
}

// orphanCleanup finishes, when a filesystem is mounted read-write, what its
// orphan list and orphan file say a crash left undone
// (ext4_orphan_cleanup): an inode with no link left is deleted, one with
// links (an interrupted truncate) loses its blocks past i_size; then the
// list and the file are empty.
func (f *fsys) orphanCleanup() error {
	head, err := f.lastOrphan()
	if err != nil || head == 0 && !f.ofile.pending() {
		return err
	}
	h, err := f.begin()
	if err != nil {
		return err
	}
	deleted, truncated := 0, 0
	err = func() error {
		for ino, n := head, uint32(0); ino != 0; n++ {
			if n > f.Super.SInodesCount {
				return abi.Errorf(abi.EUCLEAN, "ext4: orphan list loops")
			}
			ip, err := h.orphanInode(ino)
			if err != nil {
				// ext4_orphan_cleanup: the rest of the list is
				// dropped, the mount goes on.
				f.log.Printf("EXT4-fs error (%s): orphan list: %v", f.dev.Name(), err)
				break
			}
			next, err := h.dtime(ino)
			if err != nil {
				return err
			}
			ip.orphan = false
			if err := h.processOrphan(ip, &deleted, &truncated); err != nil {
				return err
			}
			if ip.links != 0 {
				if err := h.setDtime(ip, 0); err != nil {
					return err
				}
			}
			ino = next
		}
		if head != 0 {
			if err := h.setLastOrphan(0); err != nil {
				return err
			}
		}
		return h.orphanFileCleanup(&deleted, &truncated)
	}()
	if err == nil {
		if deleted > 0 {
			f.log.Printf("EXT4-fs (%s): %d orphan inodes deleted", f.dev.Name(), deleted)
		}
		if truncated > 0 {
			f.log.Printf("EXT4-fs (%s): %d truncates cleaned up", f.dev.Name(), truncated)
		}
	}
	return finish(h, err)
}

// processOrphan finishes what an orphan's entry says (ext4_process_orphan):
// an inode with no link is deleted, one with links loses its blocks past
// i_size. The caller clears the entry.
func (h *handle) processOrphan(ip *inode, deleted, truncated *int) error {
	if ip.links == 0 {
		*deleted++
		return h.deleteInode(ip)
	}
	*truncated++
	bs := int64(h.f.BlockSize)
	return h.truncateBlocks(ip, uint64((ip.size+bs-1)/bs))
}

// orphanInode reads an inode of the orphan list. One with no link left is
// refused by iget (a deleted inode referenced): it is decoded from a copy
// of its slot counting one link (checksummed again), and the count put
// back. Its checksum is checked first on the slot as it is.
func (h *handle) orphanInode(ino uint32) (*inode, error) {
	f := h.f
	if ino < f.Super.SFirstIno || ino > f.Super.SInodesCount {
		return nil, abi.Errorf(abi.EUCLEAN, "ext4: orphan list: bad inode number %d", ino)
	}
	// ext4_orphan_get: an inode whose bit is clear is no orphan; e2fsck
	// released it already (e2fsck -E journal_only frees an orphan and
	// leaves its entry in the orphan file), or the entry is damaged.
	// An INODE_UNINIT group has none in use, and its bitmap is left as
	// it is.
	g := (ino - 1) / f.Super.SInodesPerGroup
	used := false
	if !f.HasGroupCsum() || f.Groups[g].BgFlags&disk.BgInodeUninit == 0 {
		bits, err := h.metaBlock(f.Groups[g].BgInodeBitmap)
		if err != nil {
			return nil, err
		}
		used = disk.TestBit(bits, uint64((ino-1)%f.Super.SInodesPerGroup))
	}
	if !used {
		return nil, abi.Errorf(abi.EUCLEAN, "ext4: bad orphan inode %d: not in use", ino)
	}
	raw, err := h.inodeSlot(ino)
	if err != nil {
		return nil, err
	}
	if le.Uint16(raw[disk.OffILinksCount:]) != 0 {
		return f.iget(ino)
	}
	c := bytes.Clone(raw)
	le.PutUint16(c[disk.OffILinksCount:], 1)
	if f.Super.MetadataCsum() {
		seed := &inode{ino: ino, csumSeed: f.InodeCsumSeed(ino, le.Uint32(c[disk.OffIGeneration:]))}
		hasHi := f.InodeSize > disk.GoodOldInodeSize && disk.OffIChecksumHi+2 <= disk.GoodOldInodeSize+f.ExtraIsize(c)
		if err := f.verifyInodeCsum(seed, raw, hasHi); err != nil {
			return nil, err
		}
		f.SetInodeCsum(seed.csumSeed, c, hasHi)
	}
	ip, err := f.decodeInode(ino, c)
	if err != nil {
		return nil, err
	}
	ip.links = 0
	return ip, nil
}
