package vfat

import (
	"github.com/lklimg/lklimg/format/fat"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// The namespace operations of vfat (namei_vfat.c): create, mkdir,
// unlink, rmdir, rename with RENAME_NOREPLACE and RENAME_EXCHANGE. FAT
// has no links, symlinks or device nodes: those are EPERM, as the VFS
// answers for a directory without the operation. The mode of a new file
// is not kept (the mount's masks give every mode), nor are owners.

// lockW takes f.mu exclusively and returns the FAT writer the operation
// changes entries through; done flushes it and unlocks.
func (f *fsys) lockW() (w *fatReader, done func(*error)) {
	f.mu.Lock()
	w = f.writer()
	return w, func(err *error) {
		if ferr := w.flush(); *err == nil {
			*err = ferr
		}
		f.mu.Unlock()
	}
}

// newInode adds a name for a new file or directory and hands its inode
// out (vfat_add_entry, then fat_build_inode).
func (dir *inode) newInode(w *fatReader, name string, attr uint8, cluster uint32, now abi.Timespec) (*inode, error) {
	f := dir.f
	ents, de, err := dir.buildEntries(name, attr, cluster, now)
	if err != nil {
		return nil, err
	}
	_, ipos, err := dir.addEntries(w, ents)
	if err != nil {
		return nil, err
	}
	ip := &inode{f: f, ipos: ipos, de: de, dir: attr&fat.AttrDirectory != 0, nlink: 1}
	return f.handout(ip), nil
}

// Create makes an empty regular file (vfat_create): attribute ARCH, no
// cluster.
func (dir *inode) Create(ctx vfs.Ctx, name string, mode uint32) (ino vfs.Inode, err error) {
	f := dir.f
	w, done := f.lockW()
	defer done(&err)
	ip, err := dir.newInode(w, name, fat.AttrArchive, 0, ctx.Now)
	if err != nil {
		return nil, err
	}
	if err := dir.touch(ctx.Now, false); err != nil {
		return nil, err
	}
	return ip, nil
}

// Mknod makes a regular file for S_IFREG; FAT holds no other kind: EPERM.
func (dir *inode) Mknod(ctx vfs.Ctx, name string, mode uint32, rdev uint64) (vfs.Inode, error) {
	if mode&abi.S_IFMT == abi.S_IFREG || mode&abi.S_IFMT == 0 {
		return dir.Create(ctx, name, mode)
	}
	return nil, abi.Errorf(abi.EPERM, "vfat: FAT holds no device nodes, FIFOs or sockets")
}

// Symlink is EPERM: FAT holds no symbolic links.
func (dir *inode) Symlink(ctx vfs.Ctx, name, target string) (vfs.Inode, error) {
	return nil, abi.Errorf(abi.EPERM, "vfat: FAT holds no symbolic links")
}

// Link is EPERM: FAT holds no hard links.
func (dir *inode) Link(ctx vfs.Ctx, name string, old vfs.Inode) error {
	return abi.Errorf(abi.EPERM, "vfat: FAT holds no hard links")
}

// Mkdir makes a directory (vfat_mkdir, fat_alloc_new_dir): one zeroed
// cluster holding "." and "..", the latter pointing at the parent's
// first cluster, 0 for the root whatever the FAT type.
func (dir *inode) Mkdir(ctx vfs.Ctx, name string, mode uint32) (ino vfs.Inode, err error) {
	f := dir.f
	w, done := f.lockW()
	defer done(&err)
	if err := f.checkName(name); err != nil {
		return nil, err
	}
	got, err := f.allocClusters(w, 1)
	if err != nil {
		return nil, err
	}
	c := got[0]
	buf := make([]byte, f.ClusterSize)
	dot := fat.DirEntry{Name: dotName, Attr: fat.AttrDirectory}
	dot.SetCluster(f.Bits, c)
	f.stamp(&dot, ctx.Now, true)
	dot.Encode(buf)
	dotdot := dot
	dotdot.Name = dotdotName
	dotdot.SetCluster(f.Bits, dir.logStart())
	dotdot.Encode(buf[fat.DirEntrySize:])
	if _, err := f.wdev.WriteAt(buf, f.ClusterOffset(c)); err != nil {
		return nil, abi.Errorf(abi.EIO, "vfat: writing a new directory at cluster %d: %v", c, err)
	}
	ip, err := dir.newInode(w, name, fat.AttrDirectory, c, ctx.Now)
	if err != nil {
		if ferr := f.freeChain(w, c); ferr != nil {
			return nil, ferr
		}
		return nil, err
	}
	ip.size = int64(f.ClusterSize)
	ip.nlink = 2
	dir.nlink++
	if err := dir.touch(ctx.Now, false); err != nil {
		return nil, err
	}
	return ip, nil
}

var (
	dotName    = [fat.NameLen]byte{'.', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '}
	dotdotName = [fat.NameLen]byte{'.', '.', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '}
)

// logStart is the cluster a child's ".." names: the directory's first
// cluster, 0 for the root (i_logstart).
func (dir *inode) logStart() uint32 {
	if dir.ipos == 0 {
		return 0
	}
	return dir.start()
}

// Unlink removes a file's name (vfat_unlink); its clusters are freed at
// its last Evict.
func (dir *inode) Unlink(ctx vfs.Ctx, name string) error {
	return dir.remove(ctx, name, false)
}

// Rmdir removes an empty directory (vfat_rmdir): ENOTEMPTY when any
// entry but "." and ".." is in use (fat_dir_empty).
func (dir *inode) Rmdir(ctx vfs.Ctx, name string) error {
	return dir.remove(ctx, name, true)
}

// remove is Unlink and Rmdir: the entries marked free, the parent's write
// time and access date stamped (fat_remove_entries).
func (dir *inode) remove(ctx vfs.Ctx, name string, isDir bool) (err error) {
	f := dir.f
	w, done := f.lockW()
	defer done(&err)
	r, err := dir.find(name)
	if err != nil {
		return err
	}
	if isDir {
		if err := f.checkEmpty(r); err != nil {
			return err
		}
	}
	if err := dir.removeRecord(r); err != nil {
		return err
	}
	if err := f.unlinkAt(w, r); err != nil {
		return err
	}
	if isDir && dir.nlink > 2 {
		dir.nlink--
	}
	return dir.touch(ctx.Now, true)
}

// unlinkAt gives up the inode of a removed record: one the VFS holds
// loses its position (which a new name may take) and frees its clusters
// at its last Evict, as an open file stays readable; one nobody holds
// has its clusters freed now.
func (f *fsys) unlinkAt(w *fatReader, r *record) error {
	if ip := f.inodes[r.ipos]; ip != nil {
		ip.unlinked = true
		ip.nlink = 0
		delete(f.inodes, r.ipos)
		return nil
	}
	if c := r.de.Cluster(f.Bits); c != 0 {
		return f.freeChain(w, c)
	}
	return nil
}

// checkEmpty returns ENOTEMPTY unless the directory of record r has no
// entry but "." and "..".
func (f *fsys) checkEmpty(r *record) error {
	d := f.inodes[r.ipos]
	if d == nil {
		var err error
		if d, err = f.readInode(r.ipos, &r.de); err != nil {
			return err
		}
	}
	s, err := d.scanner(0)
	if err != nil {
		return err
	}
	for {
		raw, _, _, ok, err := s.next()
		if err != nil || !ok {
			return err
		}
		if raw[0] == fat.DirEntFree || raw[0] == fat.DirEntEnd || fat.IsLongName(raw) || raw[11]&fat.AttrVolumeID != 0 {
			continue
		}
		if n := [fat.NameLen]byte(raw[:fat.NameLen]); n != dotName && n != dotdotName {
			return abi.ENOTEMPTY
		}
	}
}
