package vfat

import (
	"sync"

	"github.com/lklimg/lklimg/format/fat"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// inode is a file or directory in memory (struct msdos_inode_info): its
// short directory entry as last read or written, where that entry is
// (ipos), and its cluster chain as runs once read. The root directory
// has no entry: ipos 0, its first cluster from the BPB on FAT32, none on
// FAT12 and FAT16, whose root is the fixed region after the FATs.
// Fields are guarded by fsys.mu.
type inode struct {
	f    *fsys
	ino  uint64
	ipos int64 // byte offset of the short entry on the device; 0 for the root
	de   fat.DirEntry
	dir  bool
	// size is the file's size; a directory's is its chain's length in
	// bytes (fat_calc_dir_size), the fixed root's its entries'.
	size  int64
	nlink uint32
	runs  []run      // the cluster chain, nil until read (chain.go)
	rmu   sync.Mutex // guards runs and idx among the holders of f.mu shared
	idx   *dirIndex  // a directory's index, nil until built (dirindex.go)
	// handouts counts the VFS's references (see vfs.Evicter); the inode
	// stays in fsys.inodes while it is above zero.
	handouts int
	// unlinked is set once the entry is gone: the clusters are freed at
	// the last Evict.
	unlinked bool
}

// start returns the first cluster of the inode's chain (0: none).
func (ip *inode) start() uint32 {
	if ip.ipos == 0 {
		return ip.f.RootCluster
	}
	return ip.de.Cluster(ip.f.Bits)
}

// fixedRoot reports whether ip is the root directory of FAT12 or FAT16,
// which is not a cluster chain.
func (ip *inode) fixedRoot() bool { return ip.ipos == 0 && ip.f.Bits != 32 }

// Ino is the inode number: 1 for the root (MSDOS_ROOT_INO), else one
// derived from the entry's position, so that it is the same at every
// mount and for every reader (Linux hands out iunique numbers instead,
// which depend on the order of lookups).
func (ip *inode) Ino() uint64 { return ip.ino }

// inoOf returns the inode number of the entry at ipos: its index among
// the device's 32-byte slots, which no other entry shares.
func inoOf(ipos int64) uint64 { return uint64(ipos/fat.DirEntrySize) + rootIno + 1 }

// mode returns the permissions and type as fat_make_mode gives them:
// everything, less the mount's dmask or fmask, less the write bits for
// ATTR_RO (on a directory only with rodir), less execute for files not
// named .EXE, .COM or .BAT under showexec.
func (ip *inode) mode() uint32 {
	o := &ip.f.opts
	mode := uint32(0o777)
	if !ip.dir && o.showexec && !isExec(ip.de.Name[8:]) {
		mode = 0o666
	}
	if ip.de.Attr&fat.AttrReadOnly != 0 && (!ip.dir || o.rodir) {
		mode &^= 0o222
	}
	if ip.dir {
		return mode&^o.dmask | abi.S_IFDIR
	}
	return mode&^o.fmask | abi.S_IFREG
}

// isExec reports whether a short name's extension is one showexec makes
// executable (is_exec).
func isExec(ext []byte) bool {
	e := string(ext[:3])
	return e == "EXE" || e == "COM" || e == "BAT"
}

// Getattr reports the entry as fat_fill_inode and fat_getattr do: the
// write time as mtime and ctime (FAT has no change time), the access date
// as atime, the creation time as btime; blocks are whole clusters.
func (ip *inode) Getattr() (vfs.Attr, error) {
	f := ip.f
	f.mu.RLock()
	defer f.mu.RUnlock()
	a := vfs.Attr{
		Ino:     ip.ino,
		Mode:    ip.mode(),
		Nlink:   ip.nlink,
		Uid:     f.opts.uid,
		Gid:     f.opts.gid,
		Size:    ip.size,
		Blksize: f.ClusterSize,
	}
	cs := int64(f.ClusterSize)
	a.Blocks = (ip.size + cs - 1) / cs * cs >> 9
	if ip.ipos != 0 {
		off := f.opts.offsetSeconds()
		a.Mtime.Sec, _ = fat.ToUnix(ip.de.WrtDate, ip.de.WrtTime, 0, off)
		a.Ctime = a.Mtime
		a.Atime.Sec, _ = fat.ToUnix(ip.de.LstAccDate, 0, 0, off)
		a.Btime.Sec, a.Btime.Nsec = fat.ToUnix(ip.de.CrtDate, ip.de.CrtTime, ip.de.CrtTimeTenth, off)
		a.HasBtime = true
		if ip.de.Attr&fat.AttrSystem != 0 && f.opts.sysImmutable {
			a.Attributes |= abi.STATX_ATTR_IMMUTABLE
		}
	}
	return a, nil
}

// newRoot makes the root directory's inode (fat_read_root).
func (f *fsys) newRoot() (*inode, error) {
	root := &inode{f: f, ino: rootIno, dir: true}
	root.de.Attr = fat.AttrDirectory
	if f.Bits == 32 {
		runs, err := root.chain()
		if err != nil {
			return nil, err
		}
		root.size = runsBytes(runs, f.ClusterSize)
	} else {
		root.size = int64(f.RootEntries) * fat.DirEntrySize
	}
	n, err := root.subdirs()
	if err != nil {
		return nil, err
	}
	root.nlink = n + 2
	return root, nil
}

// cachedInode returns the inode in memory for the entry at ipos, or nil
// (fat_iget). The caller holds f.mu exclusively, or shared with f.imu.
func (f *fsys) cachedInode(ipos int64) *inode { return f.inodes[ipos] }

// readInode makes an inode of the short entry de at ipos (fat_fill_inode):
// a directory's size and link count come from its chain and entries. It
// reads the device and takes no lock of the cache: Lookup calls it
// between two holds of f.imu.
func (f *fsys) readInode(ipos int64, de *fat.DirEntry) (*inode, error) {
	ip := &inode{f: f, ipos: ipos, de: *de, dir: de.Attr&fat.AttrDirectory != 0}
	if !ip.dir {
		ip.size = int64(de.FileSize)
		ip.nlink = 1
		return ip, nil
	}
	if ip.start() == 0 || f.Bits == 32 && ip.start() == f.RootCluster {
		// fat_validate_dir.
		return nil, abi.Errorf(abi.EIO, "vfat: corrupted directory (i_pos %d): first cluster %d", ipos, ip.start())
	}
	runs, err := ip.chain()
	if err != nil {
		return nil, err
	}
	ip.size = runsBytes(runs, f.ClusterSize)
	n, err := ip.subdirs()
	if err != nil {
		return nil, err
	}
	if n < 2 {
		return nil, abi.Errorf(abi.EIO, "vfat: corrupted directory (i_pos %d): no \".\" or \"..\"", ipos)
	}
	ip.nlink = n
	return ip, nil
}

// handout counts a reference the VFS takes and keeps ip findable by its
// position. A new inode gets its number here: its position's, unless a
// live inode has it (one that was renamed or unlinked from that position
// keeps its number while held), then a spare one above every position's.
// The caller holds f.mu exclusively, or shared with f.imu.
func (f *fsys) handout(ip *inode) *inode {
	if ip.handouts == 0 && ip.ino == 0 {
		ip.ino = inoOf(ip.ipos)
		if f.inos[ip.ino] {
			f.spare++
			ip.ino = inoOf(f.dev.Size()) + f.spare
		}
		f.inos[ip.ino] = true
	}
	ip.handouts++
	if ip.ipos != 0 && !ip.unlinked {
		f.inodes[ip.ipos] = ip
	}
	return ip
}

// Evict drops a reference of the VFS (vfs.Evicter). At the last one the
// inode leaves the cache, and an unlinked one's clusters are freed
// (fat_evict_inode); clusters fallocate added past the size are given
// back (fat_free_eofblocks).
func (ip *inode) Evict() (err error) {
	f := ip.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if ip.handouts--; ip.handouts > 0 || ip.ipos == 0 {
		return nil
	}
	delete(f.inos, ip.ino)
	if f.inodes[ip.ipos] == ip {
		delete(f.inodes, ip.ipos)
	}
	if f.wdev == nil {
		return nil
	}
	w := f.writer()
	defer func() {
		if ferr := w.flush(); err == nil {
			err = ferr
		}
	}()
	if ip.unlinked {
		if c := ip.start(); c != 0 {
			return f.freeChain(w, c)
		}
		return nil
	}
	if !ip.dir {
		return ip.trimPrealloc(w)
	}
	return nil
}
