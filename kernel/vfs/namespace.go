package vfs

import (
	"errors"

	"github.com/lklimg/lklimg/kernel/abi"
)

// This file holds the changes of the namespace: mkdir, mknod, symlink,
// link, unlink, rmdir and rename (fs/namei.c). Each resolves the parent
// of its path, takes the directory's lookupMu (i_rwsem) so that lookups
// and changes in it are serialised, checks what Linux checks before
// calling the driver, in Linux's order (so that the errno for a call that
// is wrong in two ways is Linux's), and keeps the dentry cache in step
// with what the driver did.

// The kinds of a path's last component (LAST_NORM, LAST_ROOT, LAST_DOT,
// LAST_DOTDOT of struct nameidata).
const (
	lastNorm = iota
	lastRoot
	lastDot
	lastDotDot
)

// lastType classifies the last name WalkParent returns.
func lastType(name string) int {
	switch name {
	case "":
		return lastRoot
	case ".":
		return lastDot
	case "..":
		return lastDotDot
	}
	return lastNorm
}

// newName is a name about to be made (filename_create): its directory,
// with a reference and its lookupMu held, until done is called, and the
// cred of the task making it.
type newName struct {
	v    *VFS
	dir  *Dentry
	name string
	cred Cred
}

func (n *newName) done() {
	n.dir.lookupMu.Unlock()
	n.v.Put(n.dir)
}

// lockNew resolves the parent of path and locks it for making the last
// name (filename_create). wantDir allows a trailing slash (mkdir).
//
// Errors: those of WalkParent; EEXIST if the name exists, is "." or ".."
// or the path is "/"; ENOENT for a trailing slash on a missing name
// without wantDir, or a removed directory; EROFS on a read-only mount.
func (v *VFS) lockNew(start *Dentry, path string, wantDir bool) (*newName, error) {
	dir, name, trailing, err := v.WalkParent(start, path)
	if err != nil {
		return nil, err
	}
	if lastType(name) != lastNorm {
		v.Put(dir)
		return nil, abi.EEXIST
	}
	dir.lookupMu.Lock()
	n := &newName{v: v, dir: dir, name: name}
	c, err := v.lookupChildLocked(dir, name)
	switch {
	case err == nil:
		v.Put(c)
		err = abi.EEXIST
	case !errors.Is(err, abi.ENOENT):
	case trailing && !wantDir:
		// "You had / on the end, you've been asking for a
		// (non-existent) directory", as filename_create says.
		err = abi.ENOENT
	case dir.mnt.ReadOnly():
		err = abi.EROFS
	default:
		err = nil
	}
	if err != nil {
		n.done()
		return nil, err
	}
	return n, nil
}

// makeFunc calls one DirWriter method making an inode.
type makeFunc func(w DirWriter, ctx Ctx, name string, mode uint32) (Inode, error)

// make makes the new name with fn and caches its dentry, returned with a
// reference. The new inode is owned as inode_init_owner owns it: by the
// task's fsuid (n.cred), and its fsgid unless the directory is set-group-ID, when
// it takes the directory's group, and a new directory inherits S_ISGID.
// mode holds the type bits and the permission bits; the task's umask is
// taken from them here unless the filesystem applies it itself
// (PosixACLer; mode_strip_umask), and never from a symlink's.
//
// Errors: ENOENT in a removed directory; eperm if the filesystem cannot
// make names (Linux's errno for a missing operation: EACCES for create,
// EPERM for the rest); what the driver returns (ENOSPC, EMLINK, EIO).
func (n *newName) make(mode uint32, eperm abi.Errno, fn makeFunc) (*Dentry, error) {
	v, dir := n.v, n.dir
	if v.isDead(dir) {
		return nil, abi.ENOENT
	}
	w, ok := dir.inode.(DirWriter)
	if !ok {
		return nil, eperm
	}
	ctx := v.ctx(n.cred)
	pa, err := dir.inode.Getattr()
	if err != nil {
		return nil, err
	}
	if pa.Mode&abi.S_ISGID != 0 {
		ctx.Gid = pa.Gid
		if mode&abi.S_IFMT == abi.S_IFDIR {
			mode |= abi.S_ISGID
		}
	}
	if acl, ok := dir.mnt.sb.(PosixACLer); mode&abi.S_IFMT != abi.S_IFLNK && !(ok && acl.PosixACL()) {
		mode &^= ctx.Umask
	}
	inode, err := fn(w, ctx, n.name, mode)
	if err != nil {
		return nil, err
	}
	return v.addChild(dir, n.name, inode)
}

// makeAt is lockNew then make by the task with cred, for the calls that
// only make a name.
func (v *VFS) makeAt(cred Cred, start *Dentry, path string, mode uint32, eperm abi.Errno, fn makeFunc) error {
	n, err := v.lockNew(start, path, mode&abi.S_IFMT == abi.S_IFDIR)
	if err != nil {
		return err
	}
	n.cred = cred
	defer n.done()
	d, err := n.make(mode, eperm, fn)
	if err != nil {
		return err
	}
	v.Put(d)
	return nil
}

// Mkdirat creates the directory path with permissions mode (mkdirat(2)),
// owned by cred and less its umask (see make). Only the permission bits and S_ISVTX
// of mode count (vfs_prepare_mode); S_ISGID comes from the parent.
//
// Errors: those of lockNew (EEXIST, ENOENT, EROFS) and make (EPERM,
// ENOSPC, EMLINK).
func (v *VFS) Mkdirat(cred Cred, start *Dentry, path string, mode uint32) error {
	return v.makeAt(cred, start, path, abi.S_IFDIR|mode&(0o777|abi.S_ISVTX), abi.EPERM,
		func(w DirWriter, ctx Ctx, name string, mode uint32) (Inode, error) {
			return w.Mkdir(ctx, name, mode)
		})
}

// Mknodat creates the node path of type and permissions mode with device
// number rdev (mknodat(2)), owned by cred and less its umask (see make). A type of 0
// or S_IFREG makes an empty regular file (through Create).
//
// Errors: EPERM for S_IFDIR, EINVAL for an unknown type (may_mknod,
// before the path is looked at); then as Mkdirat.
func (v *VFS) Mknodat(cred Cred, start *Dentry, path string, mode uint32, rdev uint64) error {
	if err := CheckMknodMode(mode); err != nil {
		return err
	}
	switch mode & abi.S_IFMT {
	case 0, abi.S_IFREG:
		return v.makeAt(cred, start, path, abi.S_IFREG|mode&0o7777, abi.EPERM,
			func(w DirWriter, ctx Ctx, name string, mode uint32) (Inode, error) {
				return w.Create(ctx, name, mode)
			})
	}
	return v.makeAt(cred, start, path, mode&(abi.S_IFMT|0o7777), abi.EPERM,
		func(w DirWriter, ctx Ctx, name string, mode uint32) (Inode, error) {
			return w.Mknod(ctx, name, mode, rdev)
		})
}

// CheckMknodMode is may_mknod: EPERM for S_IFDIR, EINVAL for a type that
// is none of 0, S_IFREG, S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK. mknodat(2)
// checks it before the path.
func CheckMknodMode(mode uint32) error {
	switch mode & abi.S_IFMT {
	case 0, abi.S_IFREG, abi.S_IFBLK, abi.S_IFCHR, abi.S_IFIFO, abi.S_IFSOCK:
		return nil
	case abi.S_IFDIR:
		return abi.EPERM
	}
	return abi.EINVAL
}

// CheckSymlinkTarget is getname's check of symlinkat(2)'s target, before
// the path: ENOENT if empty, ENAMETOOLONG from PATH_MAX bytes.
func CheckSymlinkTarget(target string) error {
	if target == "" {
		return abi.ENOENT
	}
	if len(target) >= abi.PATH_MAX {
		return abi.ENAMETOOLONG
	}
	return nil
}

// Symlinkat creates path as a symbolic link to target (symlinkat(2)),
// owned by cred (see make), with permissions 0777 whatever the umask.
//
// Errors: ENOENT for an empty target, ENAMETOOLONG for one of PATH_MAX
// bytes or more (getname's checks); then as Mkdirat.
func (v *VFS) Symlinkat(cred Cred, target string, start *Dentry, path string) error {
	if err := CheckSymlinkTarget(target); err != nil {
		return err
	}
	return v.makeAt(cred, start, path, abi.S_IFLNK|0o777, abi.EPERM,
		func(w DirWriter, ctx Ctx, name string, mode uint32) (Inode, error) {
			return w.Symlink(ctx, name, target)
		})
}

// Linkat makes newPath a new name for the file at oldPath (linkat(2)).
// flags: AT_SYMLINK_FOLLOW follows a final symlink of oldPath (else the
// link itself gets the new name); AT_EMPTY_PATH lets an empty oldPath
// name oldStart itself (an open file, even an O_PATH one).
//
// Errors: EINVAL for other flags; the walk's errors for oldPath (ENOENT
// for an empty one without AT_EMPTY_PATH); those of lockNew for newPath;
// EXDEV across mounts; EPERM for a directory or a filesystem that cannot
// link; ENOENT for a file with no link left (unlinked, still open);
// EMLINK and what the driver returns.
func (v *VFS) Linkat(oldStart *Dentry, oldPath string, newStart *Dentry, newPath string, flags int) error {
	if flags&^(abi.AT_SYMLINK_FOLLOW|abi.AT_EMPTY_PATH) != 0 {
		return abi.EINVAL
	}
	wf := WalkNoFollow
	if flags&abi.AT_SYMLINK_FOLLOW != 0 {
		wf = 0
	}
	if flags&abi.AT_EMPTY_PATH != 0 {
		wf |= WalkEmptyPath
	}
	old, err := v.Walk(oldStart, oldPath, wf)
	if err != nil {
		return err
	}
	defer v.Put(old)
	n, err := v.lockNew(newStart, newPath, false)
	if err != nil {
		return err
	}
	defer n.done()
	if old.mnt != n.dir.mnt {
		return abi.EXDEV
	}
	w, ok := n.dir.inode.(DirWriter)
	if !ok || old.IsDir() {
		return abi.EPERM
	}
	if v.isDead(n.dir) {
		return abi.ENOENT
	}
	attr, err := old.inode.Getattr()
	if err != nil {
		return err
	}
	if attr.Nlink == 0 {
		return abi.ENOENT
	}
	// The new name is not cached: its first lookup hands the inode out
	// again under that name.
	return w.Link(v.ctx(v.cred), n.name, old.inode)
}

// Unlinkat removes path (unlinkat(2)): a non-directory, or with
// AT_REMOVEDIR an empty directory. The name leaves the dentry cache at
// once; the inode is evicted when its last reference goes, so that an open
// file of it stays readable and writable until closed.
//
// Errors: EINVAL for other flags; the walk's errors for the parent; for
// rmdir ENOTEMPTY for "..", EINVAL for ".", EBUSY for "/", ENOTDIR for a
// non-directory; for unlink EISDIR for those and for a directory, ENOTDIR
// for a trailing slash after a non-directory; EROFS on a read-only mount
// (before ENOENT, as mnt_want_write comes before the lookup); ENOENT for a
// missing name; EBUSY for a mountpoint; EPERM if the filesystem cannot
// remove; ENOTEMPTY and what the driver returns.
func (v *VFS) Unlinkat(start *Dentry, path string, flags int) error {
	if flags&^abi.AT_REMOVEDIR != 0 {
		return abi.EINVAL
	}
	rmdir := flags&abi.AT_REMOVEDIR != 0
	dir, name, trailing, err := v.WalkParent(start, path)
	if err != nil {
		return err
	}
	defer v.Put(dir)
	switch t := lastType(name); {
	case rmdir && t == lastDotDot:
		return abi.ENOTEMPTY
	case rmdir && t == lastDot:
		return abi.EINVAL
	case rmdir && t == lastRoot:
		return abi.EBUSY
	case t != lastNorm:
		return abi.EISDIR
	}
	if dir.mnt.ReadOnly() {
		return abi.EROFS
	}
	victim, err := v.removeLocked(dir, name, trailing, rmdir)
	if victim != nil {
		// As do_unlinkat does its final iput after unlocking the
		// directory: freeing an inode may take long.
		v.Put(victim)
	}
	return err
}

// removeLocked is the locked part of Unlinkat: it returns the victim's
// dentry, if found, with a reference to drop after the directory is
// unlocked.
func (v *VFS) removeLocked(dir *Dentry, name string, trailing, rmdir bool) (*Dentry, error) {
	dir.lookupMu.Lock()
	defer dir.lookupMu.Unlock()
	c, err := v.lookupChildLocked(dir, name)
	if err != nil {
		return nil, err
	}
	switch {
	case rmdir && !c.IsDir():
		return c, abi.ENOTDIR
	case !rmdir && c.IsDir():
		return c, abi.EISDIR
	case !rmdir && trailing:
		return c, abi.ENOTDIR
	case v.isMountpoint(c):
		return c, abi.EBUSY
	}
	w, ok := dir.inode.(DirWriter)
	if !ok {
		return c, abi.EPERM
	}
	if rmdir {
		err = w.Rmdir(v.ctx(v.cred), name)
	} else {
		err = w.Unlink(v.ctx(v.cred), name)
	}
	if err != nil {
		return c, err
	}
	v.mu.Lock()
	v.dropLocked(c)
	v.unlock()
	return c, nil
}

// isMountpoint reports whether something is mounted on d.
func (v *VFS) isMountpoint(d *Dentry) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return d.mounted != nil
}

// Renameat2 renames oldPath to newPath (renameat2(2)). flags:
// RENAME_NOREPLACE fails with EEXIST rather than replace newPath;
// RENAME_EXCHANGE swaps the two names, which must both exist;
// RENAME_WHITEOUT leaves a whiteout (a character device 0:0) at oldPath,
// where the driver can make one (EINVAL where not, after the checks
// below, as Linux's simple_rename says), owned by cred as a new inode is. Renaming a name onto another
// name of the same inode does nothing. The dentry cache follows: the
// renamed dentry moves to its new parent and name (its children with it),
// a replaced one is dropped as by unlink.
//
// Errors, in Linux's order: EINVAL for unknown flags, or EXCHANGE with
// another flag; the walks'
// errors for both parents; EXDEV across mounts; EBUSY if either last
// component is ".", ".." or "/" (EEXIST for the new one with NOREPLACE);
// EROFS on a read-only mount; ENOENT for a missing oldPath, or a missing
// newPath with EXCHANGE; EEXIST for an existing newPath with NOREPLACE;
// ENOTDIR for a trailing slash after a non-directory; EINVAL for moving a
// directory under itself; ENOTEMPTY when newPath is an ancestor of
// oldPath; EISDIR/ENOTDIR when replacing a directory by a non-directory or
// the reverse; EBUSY for a mountpoint; EPERM if the filesystem cannot
// rename; ENOTEMPTY for a non-empty directory replaced, EMLINK and what
// the driver returns.
func (v *VFS) Renameat2(cred Cred, oldStart *Dentry, oldPath string, newStart *Dentry, newPath string, flags uint32) error {
	if flags&^(abi.RENAME_NOREPLACE|abi.RENAME_EXCHANGE|abi.RENAME_WHITEOUT) != 0 ||
		flags&abi.RENAME_EXCHANGE != 0 && flags&(abi.RENAME_NOREPLACE|abi.RENAME_WHITEOUT) != 0 {
		return abi.EINVAL
	}
	odir, oname, otrail, err := v.WalkParent(oldStart, oldPath)
	if err != nil {
		return err
	}
	defer v.Put(odir)
	ndir, nname, ntrail, err := v.WalkParent(newStart, newPath)
	if err != nil {
		return err
	}
	defer v.Put(ndir)
	switch {
	case odir.mnt != ndir.mnt:
		return abi.EXDEV
	case lastType(oname) != lastNorm:
		return abi.EBUSY
	case lastType(nname) != lastNorm && flags&abi.RENAME_NOREPLACE != 0:
		return abi.EEXIST
	case lastType(nname) != lastNorm:
		return abi.EBUSY
	case odir.mnt.ReadOnly():
		return abi.EROFS
	}
	// lock_rename: one rename at a time, then both directories.
	v.renameMu.Lock()
	defer v.renameMu.Unlock()
	odir.lookupMu.Lock()
	if ndir != odir {
		ndir.lookupMu.Lock()
	}
	old, repl, err := v.renameLocked(cred, odir, oname, otrail, ndir, nname, ntrail, flags)
	if ndir != odir {
		ndir.lookupMu.Unlock()
	}
	odir.lookupMu.Unlock()
	v.Put(old)
	v.Put(repl)
	return err
}

// renameLocked is the part of Renameat2 done with both directories
// locked. It returns the dentries it looked up, with references to drop
// once the directories are unlocked.
func (v *VFS) renameLocked(cred Cred, odir *Dentry, oname string, otrail bool, ndir *Dentry, nname string, ntrail bool, flags uint32) (old, repl *Dentry, err error) {
	exchange := flags&abi.RENAME_EXCHANGE != 0
	old, err = v.lookupChildLocked(odir, oname)
	if err != nil {
		return nil, nil, err
	}
	repl, err = v.lookupChildLocked(ndir, nname)
	switch {
	case err == nil:
	case !errors.Is(err, abi.ENOENT):
		return old, nil, err
	case exchange:
		return old, nil, abi.ENOENT
	}
	if repl != nil && flags&abi.RENAME_NOREPLACE != 0 {
		return old, repl, abi.EEXIST
	}
	if exchange && !repl.IsDir() && ntrail {
		return old, repl, abi.ENOTDIR
	}
	if !old.IsDir() && (otrail || !exchange && ntrail) {
		return old, repl, abi.ENOTDIR
	}
	v.mu.Lock()
	oldAbove := isAncestorLocked(old, ndir)
	replAbove := repl != nil && isAncestorLocked(repl, odir)
	busy := old.mounted != nil || repl != nil && repl.mounted != nil
	v.mu.Unlock()
	switch {
	case oldAbove:
		// The source should not be an ancestor of the target.
		return old, repl, abi.EINVAL
	case replAbove && exchange:
		return old, repl, abi.EINVAL
	case replAbove:
		// Nor the target an ancestor of the source.
		return old, repl, abi.ENOTEMPTY
	case repl != nil && repl.ino == old.ino:
		return old, repl, nil // vfs_rename: source == target
	case repl != nil && !exchange && old.IsDir() && !repl.IsDir():
		return old, repl, abi.ENOTDIR
	case repl != nil && !exchange && !old.IsDir() && repl.IsDir():
		return old, repl, abi.EISDIR
	case busy:
		return old, repl, abi.EBUSY
	}
	w, ok := odir.inode.(DirWriter)
	if !ok {
		return old, repl, abi.EPERM
	}
	if err := w.Rename(v.ctx(cred), oname, ndir.inode, nname, flags); err != nil {
		return old, repl, err
	}
	v.mu.Lock()
	defer v.unlock()
	if exchange {
		v.moveLocked(repl, odir, oname)
	} else if repl != nil {
		v.dropLocked(repl)
	}
	v.moveLocked(old, ndir, nname)
	return old, repl, nil
}

// isAncestorLocked reports whether a is d or one of d's ancestors in d's
// mount (is_subdir). The caller holds v.mu.
func isAncestorLocked(a, d *Dentry) bool {
	for ; d != nil; d = d.parent {
		if d == a {
			return true
		}
	}
	return false
}

// moveLocked makes d the child name of dir (d_move): out of its old
// parent, replacing what dir had under name. The caller holds v.mu.
func (v *VFS) moveLocked(d, dir *Dentry, name string) {
	p := d.parent
	if p.children[d.key] == d {
		delete(p.children, d.key)
	}
	if dir.children == nil {
		dir.children = make(map[string]*Dentry)
	}
	d.parent, d.name, d.key = dir, name, childKey(dir, name)
	dir.children[d.key] = d
	if dir.lruElem != nil {
		v.lru.Remove(dir.lruElem)
		dir.lruElem = nil
	}
	v.maybeUnusedLocked(p)
}
