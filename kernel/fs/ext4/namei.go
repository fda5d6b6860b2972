package ext4

import (
	"errors"
	"sync/atomic"

	disk "github.com/lklimg/lklimg/format/ext4"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// Namespace operations (vfs.DirWriter; fs/ext4/namei.c ext4_create,
// ext4_mkdir, ext4_mknod, ext4_symlink, ext4_link, ext4_unlink, ext4_rmdir,
// ext4_rename). Each runs in one handle: it checks everything that can
// refuse it first (EEXIST, EMLINK, ENOTEMPTY), then changes the entries and
// inodes, and stamps the directories' mtime and ctime and the inodes'
// ctime with ctx.Now. An inode whose last link goes while the VFS holds it
// goes on the orphan list (orphan.go) and is freed at Evict; one nobody
// holds is freed at once.

// linkMax is EXT4_LINK_MAX: the most links an inode has. A directory with
// more subdirectories keeps i_links_count 1 with dir_nlink.
const linkMax = 65000

// handOut counts one more reference of the VFS to ip and returns it as the
// VFS sees it (the iget that Linux's d_splice_alias consumes).
func (ip *inode) handOut() vfs.Inode {
	if ip.f.rw {
		atomic.AddInt32(&ip.refs, 1)
	}
	return ip.vfsInode()
}

// toInode returns the driver's inode behind a vfs.Inode of this
// filesystem, or false.
func (f *fsys) toInode(vi vfs.Inode) (*inode, bool) {
	var ip *inode
	switch x := vi.(type) {
	case dirInode:
		ip = x.inode
	case fileInode:
		ip = x.inode
	case symlinkInode:
		ip = x.inode
	case specialInode:
		ip = x.inode
	}
	return ip, ip != nil && ip.f == f
}

// isDx is is_dx: the directory uses its index.
func (ip *inode) isDx() bool { return ip.isIndexed() }

// dirLinkMax is EXT4_DIR_LINK_MAX: one more subdirectory would overflow the
// link count, and the directory cannot count them as "many" (dir_nlink on
// an indexed directory).
func (ip *inode) dirLinkMax() bool {
	return ip.links >= linkMax && !(ip.f.Super.HasRoCompat(disk.RoCompatDirNlink) && ip.isDx())
}

// incCount is ext4_inc_count: past EXT4_LINK_MAX an indexed directory's
// count stays 1 ("many").
func (ip *inode) incCount() {
	ip.links++
	if ip.isDx() && (ip.links > linkMax || ip.links == 2) {
		ip.links = 1
	}
}

// decCount is ext4_dec_count: a directory at 1 ("many") or 2 keeps it.
func (ip *inode) decCount() {
	if !ip.isDir() || ip.links > 2 {
		ip.links--
	}
}

// touchDir stamps a directory changed by an operation.
func (h *handle) touchDir(dir *inode, now abi.Timespec) error {
	dir.mtime, dir.ctime = now, now
	return h.writeInode(dir)
}

// finish stops h and returns the operation's error, or the handle's.
func finish(h *handle, err error) error {
	if serr := h.stop(); err == nil {
		err = serr
	}
	return err
}

// checkAbsent checks that name is not in dir: EEXIST if it is. The VFS
// has looked the name up already; this guards the directory against a
// second entry of one name. An indexed directory needs no search here: the
// name can only be in the leaf its hash leads to, where adding it looks
// (insertDirent's EEXIST), unless the directory is casefolded, where an
// entry of another case is the same name.
func (dir *inode) checkAbsent(name string) error {
	if dir.isIndexed() && !dir.isCasefolded() {
		return nil
	}
	_, err := dir.findEntry(name)
	switch {
	case err == nil:
		return abi.EEXIST
	case errors.Is(err, abi.ENOENT):
		return nil
	}
	return err
}

// newChild makes a new inode of mode and its entry in dir; init fills the
// inode (its blocks, i_block) before it is written and linked.
func (di dirInode) newChild(ctx vfs.Ctx, name string, mode uint32, init func(h *handle, ip *inode) error) (vfs.Inode, error) {
	dir := di.inode
	h, err := dir.f.begin()
	if err != nil {
		return nil, err
	}
	ip, err := di.newChildLocked(h, ctx, name, mode, init)
	var vi vfs.Inode
	if err == nil {
		// Handed out under the lock: nobody can unlink and free it
		// before the VFS holds it.
		vi = ip.handOut()
	}
	if err = finish(h, err); err != nil {
		if vi != nil {
			atomic.AddInt32(&ip.refs, -1)
		}
		return nil, err
	}
	return vi, nil
}

func (di dirInode) newChildLocked(h *handle, ctx vfs.Ctx, name string, mode uint32, init func(h *handle, ip *inode) error) (*inode, error) {
	dir := di.inode
	if err := dir.checkDirWritable(); err != nil {
		return nil, err
	}
	if err := dir.checkAbsent(name); err != nil {
		return nil, err
	}
	if mode&abi.S_IFMT == abi.S_IFDIR && dir.dirLinkMax() {
		return nil, abi.EMLINK
	}
	mode, acls, err := dir.aclCreate(mode, ctx.Umask)
	if err != nil {
		return nil, err
	}
	ip, err := h.newInode(dir, ctx, mode)
	if err != nil {
		return nil, err
	}
	err = h.setNewACLs(ip, acls, ctx.Now)
	if init != nil && err == nil {
		err = init(h, ip)
	}
	if err == nil {
		err = h.writeInode(ip)
	}
	if err == nil {
		err = h.addDirEntry(dir, name, ip.ino, abi.FtypeFromMode(mode))
	}
	if err != nil {
		// Undo the inode, as ext4's error paths drop its link and iput
		// it; the handle keeps the first error.
		ip.links = 0
		h.deleteInode(ip)
		return nil, err
	}
	if ip.isDir() {
		dir.incCount()
	}
	if err := h.touchDir(dir, ctx.Now); err != nil {
		return nil, err
	}
	return ip, nil
}

// Create makes an empty regular file (ext4_create).
func (di dirInode) Create(ctx vfs.Ctx, name string, mode uint32) (vfs.Inode, error) {
	return di.newChild(ctx, name, abi.S_IFREG|mode&^abi.S_IFMT, nil)
}

// Mkdir makes a directory with "." and ".." in its first block
// (ext4_mkdir, ext4_init_new_dir), or inline on an inline_data filesystem
// (inline_write.go). EMLINK when dir has EXT4_LINK_MAX links
// and cannot count more (no dir_nlink, or not indexed).
func (di dirInode) Mkdir(ctx vfs.Ctx, name string, mode uint32) (vfs.Inode, error) {
	parent := di.inode.ino
	return di.newChild(ctx, name, abi.S_IFDIR|mode&^abi.S_IFMT, func(h *handle, ip *inode) error {
		if ip.mayInline {
			// ext4_init_new_dir: inline when the inode has room.
			if ok, err := h.inlineDirInit(ip, parent); ok || err != nil {
				return err
			}
		}
		pblk, _, err := h.mapBlocks(ip, 0, 1, true)
		ip.dropMap()
		if err != nil {
			return err
		}
		b, err := h.newMetaBlock(pblk)
		if err != nil {
			return err
		}
		h.f.initDirBlock(b, ip.ino, parent)
		ip.size = int64(h.f.BlockSize)
		ip.setDirBlockCsum(b, 0)
		return nil
	})
}

// Mknod makes a device node, FIFO or socket (ext4_mknod). A device number
// is stored as ext4_do_update_inode does: the old 16-bit encoding in
// i_block[0] when major and minor are below 256, else the new encoding in
// i_block[1].
func (di dirInode) Mknod(ctx vfs.Ctx, name string, mode uint32, rdev uint64) (vfs.Inode, error) {
	switch mode & abi.S_IFMT {
	case abi.S_IFCHR, abi.S_IFBLK, abi.S_IFIFO, abi.S_IFSOCK:
	case abi.S_IFREG, 0:
		return di.Create(ctx, name, mode&^abi.S_IFMT)
	default:
		return nil, abi.EINVAL
	}
	return di.newChild(ctx, name, mode, func(h *handle, ip *inode) error {
		ip.iBlock = [disk.IBlockLen]byte{}
		ip.rdev = 0
		if mode&abi.S_IFMT != abi.S_IFCHR && mode&abi.S_IFMT != abi.S_IFBLK {
			return nil
		}
		major, minor := abi.Major(rdev), abi.Minor(rdev)
		ip.rdev = abi.Makedev(major, minor)
		if major < 256 && minor < 256 {
			le.PutUint32(ip.iBlock[0:], major<<8|minor)
		} else {
			le.PutUint32(ip.iBlock[4:], minor&0xff|major<<8|(minor&^0xff)<<12)
		}
		return nil
	})
}

// Symlink makes a symbolic link (ext4_symlink): a target shorter than 60
// bytes is a fast link in i_block (without the extents flag); a longer one
// is written with its NUL into one block (mapped by an extent on an extent
// filesystem). ENAMETOOLONG when the target and its NUL exceed a block.
func (di dirInode) Symlink(ctx vfs.Ctx, name, target string) (vfs.Inode, error) {
	f := di.inode.f
	if len(target) == 0 {
		return nil, abi.ENOENT
	}
	if len(target)+1 > int(f.BlockSize) {
		return nil, abi.ENAMETOOLONG
	}
	return di.newChild(ctx, name, abi.S_IFLNK|0o777, func(h *handle, ip *inode) error {
		ip.size = int64(len(target))
		if len(target)+1 <= disk.IBlockLen {
			ip.flags &^= disk.InodeExtentsFl
			ip.iBlock = [disk.IBlockLen]byte{}
			copy(ip.iBlock[:], target)
			ip.dropMap()
			return nil
		}
		var pblk uint64
		var err error
		if ip.flags&disk.InodeExtentsFl != 0 {
			pblk, _, err = h.mapBlocks(ip, 0, 1, true)
		} else {
			// A block-mapped link: its one block is the first direct
			// pointer. (mapBlocks takes a link without blocks for a
			// fast one, as ext4_inode_is_fast_symlink would.)
			if pblk, err = h.allocBlock(ip, 0); err == nil {
				ip.iBlock = [disk.IBlockLen]byte{}
				le.PutUint32(ip.iBlock[0:], uint32(pblk))
			}
		}
		ip.dropMap()
		if err != nil {
			return err
		}
		b, err := h.newMetaBlock(pblk)
		if err != nil {
			return err
		}
		copy(b, target)
		return nil
	})
}

// Link adds name for old (ext4_link). EMLINK at EXT4_LINK_MAX links,
// ENOENT for an inode whose last link went, EXDEV for another
// filesystem's inode or one outside dir's project tree (projectBarrier),
// EPERM for a directory.
func (di dirInode) Link(ctx vfs.Ctx, name string, old vfs.Inode) error {
	dir := di.inode
	ip, ok := dir.f.toInode(old)
	if !ok {
		return abi.EXDEV
	}
	if ip.isDir() {
		return abi.EPERM
	}
	h, err := dir.f.begin()
	if err != nil {
		return err
	}
	return finish(h, func() error {
		if err := dir.checkDirWritable(); err != nil {
			return err
		}
		if ip.links == 0 {
			return abi.ENOENT
		}
		if ip.links >= linkMax {
			return abi.EMLINK
		}
		if err := dir.checkAbsent(name); err != nil {
			return err
		}
		if dir.projectBarrier(ip) {
			return abi.EXDEV
		}
		if err := h.addDirEntry(dir, name, ip.ino, abi.FtypeFromMode(uint32(ip.mode))); err != nil {
			return err
		}
		ip.links++
		ip.ctime = ctx.Now
		if err := h.writeInode(ip); err != nil {
			return err
		}
		return h.touchDir(dir, ctx.Now)
	}())
}

// projectBarrier reports whether ip may not get a name in dir: dir
// hands its project down (PROJINHERIT_FL) and ip is in another project,
// whose usage would then leak into dir's tree (ext4_link, ext4_rename,
// ext4_cross_rename return EXDEV, so that mv copies instead).
func (dir *inode) projectBarrier(ip *inode) bool {
	return dir.flags&disk.InodeProjinheritFl != 0 && dir.projid != ip.projid
}

// Unlink removes name (ext4_unlink); its inode loses a link and, with
// none left, goes on the orphan list until the VFS evicts it. EISDIR for
// a directory.
func (di dirInode) Unlink(ctx vfs.Ctx, name string) error {
	return di.removeName(ctx, name, false)
}

// Rmdir removes the empty directory name (ext4_rmdir): ENOTEMPTY unless
// it holds only "." and "..", ENOTDIR for another type.
func (di dirInode) Rmdir(ctx vfs.Ctx, name string) error {
	return di.removeName(ctx, name, true)
}

// removeName is Unlink (isDir false) and Rmdir (isDir true).
func (di dirInode) removeName(ctx vfs.Ctx, name string, isDir bool) error {
	dir := di.inode
	h, err := dir.f.begin()
	if err != nil {
		return err
	}
	return finish(h, func() error {
		s, err := dir.findEntry(name)
		if err != nil {
			return err
		}
		ip, err := dir.f.iget(s.ino)
		if err != nil {
			return err
		}
		switch {
		case !isDir && ip.isDir():
			return abi.EISDIR
		case isDir && !ip.isDir():
			return abi.ENOTDIR
		case isDir:
			if empty, err := ip.isEmptyDir(); err != nil || !empty {
				return cmpErr(err, abi.ENOTEMPTY)
			}
		}
		if err := h.removeDirEntry(dir, s); err != nil {
			return err
		}
		if isDir {
			// The directory's own link and its "." go; so does the
			// parent's link from "..". Its blocks go at eviction
			// (i_size 0 marks it gone, as ext4_rmdir does).
			dir.decCount()
			ip.links, ip.size = 0, 0
		} else if ip.links > 0 {
			ip.links--
		}
		if err := h.touchDir(dir, ctx.Now); err != nil {
			return err
		}
		ip.ctime = ctx.Now
		return h.dropLink(ip)
	}())
}

// dropLink writes an inode that lost a link: with none left it is freed
// now when the VFS does not hold it, else put on the orphan list.
func (h *handle) dropLink(ip *inode) error {
	if ip.links > 0 {
		return h.writeInode(ip)
	}
	if atomic.LoadInt32(&ip.refs) <= 0 {
		return h.reapInode(ip)
	}
	if err := h.writeInode(ip); err != nil {
		return err
	}
	h.f.mu.Lock()
	h.f.unlinked[ip.ino] = ip // freed at its last Evict, or at unmount
	h.f.mu.Unlock()
	return h.orphanAdd(ip)
}

// Rename moves oldName to newDir's newName (ext4_rename,
// ext4_cross_rename): see vfs.DirWriter. A directory moved to another
// parent gets its ".." changed and the parents' link counts follow. With
// RENAME_WHITEOUT the old entry is pointed at a new whiteout inode
// (newWhiteout) instead of removed. EXDEV for an inode outside the project
// tree of the directory it would enter (projectBarrier).
func (di dirInode) Rename(ctx vfs.Ctx, oldName string, newDirV vfs.Inode, newName string, flags uint32) error {
	oldDir := di.inode
	f := oldDir.f
	newDir, ok := f.toInode(newDirV)
	if !ok {
		return abi.EXDEV
	}
	if !newDir.isDir() {
		return abi.ENOTDIR
	}
	if flags&^(abi.RENAME_NOREPLACE|abi.RENAME_EXCHANGE|abi.RENAME_WHITEOUT) != 0 ||
		flags&abi.RENAME_EXCHANGE != 0 && flags&(abi.RENAME_NOREPLACE|abi.RENAME_WHITEOUT) != 0 {
		return abi.EINVAL
	}
	h, err := f.begin()
	if err != nil {
		return err
	}
	return finish(h, h.rename(ctx, oldDir, oldName, newDir, newName, flags))
}

func (h *handle) rename(ctx vfs.Ctx, oldDir *inode, oldName string, newDir *inode, newName string, flags uint32) error {
	f := h.f
	if err := oldDir.checkDirWritable(); err != nil {
		return err
	}
	if err := newDir.checkDirWritable(); err != nil {
		return err
	}
	src, err := oldDir.findEntry(oldName)
	if err != nil {
		return err
	}
	old, err := f.iget(src.ino)
	if err != nil {
		return err
	}
	dst, err := newDir.findEntry(newName)
	var target *inode
	switch {
	case err == nil:
		if flags&abi.RENAME_NOREPLACE != 0 {
			return abi.EEXIST
		}
		if target, err = f.iget(dst.ino); err != nil {
			return err
		}
	case errors.Is(err, abi.ENOENT):
		if flags&abi.RENAME_EXCHANGE != 0 {
			return abi.ENOENT
		}
	default:
		return err
	}
	if target == old {
		return nil // two links of one inode: rename(2) does nothing
	}
	cross := oldDir != newDir
	if flags&abi.RENAME_EXCHANGE != 0 {
		return h.exchange(ctx, oldDir, src, old, newDir, dst, target)
	}
	if target != nil && old.isDir() != target.isDir() {
		if old.isDir() {
			return abi.ENOTDIR
		}
		return abi.EISDIR
	}
	if newDir.projectBarrier(old) {
		return abi.EXDEV
	}
	if target != nil {
		if target.isDir() {
			if empty, err := target.isEmptyDir(); err != nil || !empty {
				return cmpErr(err, abi.ENOTEMPTY)
			}
		}
	} else if old.isDir() && cross && newDir.dirLinkMax() {
		return abi.EMLINK
	}

	var whiteout *inode
	if flags&abi.RENAME_WHITEOUT != 0 {
		if whiteout, err = h.newWhiteout(ctx, oldDir); err != nil {
			return err
		}
	}
	ftype := abi.FtypeFromMode(uint32(old.mode))
	if target != nil {
		if err := h.setDirEntry(newDir, dst, old.ino, ftype); err != nil {
			return err
		}
	} else if err := h.addDirEntry(newDir, newName, old.ino, ftype); err != nil {
		return err
	}
	// Adding may have moved entries (a split, a new index): find the old
	// name again, as ext4_rename_delete does when its entry moved.
	if !cross {
		if src, err = oldDir.findEntry(oldName); err != nil {
			return h.fail(err)
		}
	}
	if whiteout != nil {
		err = h.setDirEntry(oldDir, src, whiteout.ino, abi.FtypeFromMode(abi.S_IFCHR))
	} else {
		err = h.removeDirEntry(oldDir, src)
	}
	if err != nil {
		return err
	}
	old.ctime = ctx.Now
	if old.isDir() {
		if cross {
			if err := h.setDotDot(old, newDir.ino); err != nil {
				return err
			}
		}
		oldDir.decCount()
		if target == nil {
			newDir.incCount()
		}
	}
	if err := h.writeInode(old); err != nil {
		return err
	}
	if err := h.touchDir(oldDir, ctx.Now); err != nil {
		return err
	}
	if cross {
		if err := h.touchDir(newDir, ctx.Now); err != nil {
			return err
		}
	}
	if target != nil {
		if target.isDir() {
			target.links = 0
			target.size = 0
		} else {
			target.decCount()
		}
		target.ctime = ctx.Now
		return h.dropLink(target)
	}
	return nil
}

// newWhiteout makes the inode a RENAME_WHITEOUT leaves at the old name
// (ext4_whiteout_for_rename): a character device 0:0 with no permission
// bits, owned as a new inode of dir is (its group if dir is set-group-ID,
// inode_init_owner), with the ACL dir's default ACL gives it. Linux makes
// it before checking the target and drops it on failure; it is made here
// once nothing can refuse the rename, so there is nothing to undo.
func (h *handle) newWhiteout(ctx vfs.Ctx, dir *inode) (*inode, error) {
	if dir.mode&abi.S_ISGID != 0 {
		ctx.Gid = dir.gid
	}
	mode, acls, err := dir.aclCreate(abi.S_IFCHR, ctx.Umask)
	if err != nil {
		return nil, err
	}
	ip, err := h.newInode(dir, ctx, mode)
	if err != nil {
		return nil, err
	}
	return ip, h.setNewACLs(ip, acls, ctx.Now)
}

// exchange swaps two names (RENAME_EXCHANGE, ext4_cross_rename).
func (h *handle) exchange(ctx vfs.Ctx, oldDir *inode, src dirSlot, old *inode, newDir *inode, dst dirSlot, target *inode) error {
	if newDir.projectBarrier(old) || oldDir.projectBarrier(target) {
		return abi.EXDEV
	}
	cross := oldDir != newDir
	if cross && old.isDir() != target.isDir() {
		// The parent that gains a subdirectory must have room for it.
		if old.isDir() && newDir.dirLinkMax() || target.isDir() && oldDir.dirLinkMax() {
			return abi.EMLINK
		}
	}
	if err := h.setDirEntry(newDir, dst, old.ino, abi.FtypeFromMode(uint32(old.mode))); err != nil {
		return err
	}
	if err := h.setDirEntry(oldDir, src, target.ino, abi.FtypeFromMode(uint32(target.mode))); err != nil {
		return err
	}
	if cross {
		if old.isDir() {
			if err := h.setDotDot(old, newDir.ino); err != nil {
				return err
			}
		}
		if target.isDir() {
			if err := h.setDotDot(target, oldDir.ino); err != nil {
				return err
			}
		}
		if old.isDir() != target.isDir() {
			if old.isDir() {
				oldDir.decCount()
				newDir.incCount()
			} else {
				newDir.decCount()
				oldDir.incCount()
			}
		}
	}
	old.ctime, target.ctime = ctx.Now, ctx.Now
	for _, ip := range []*inode{old, target} {
		if err := h.writeInode(ip); err != nil {
			return err
		}
	}
	if err := h.touchDir(oldDir, ctx.Now); err != nil {
		return err
	}
	if cross {
		return h.touchDir(newDir, ctx.Now)
	}
	return nil
}
