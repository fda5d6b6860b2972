package ext4

import (
	"runtime"
	"weak"
)

// The inode cache (Linux's icache): one *inode per inode number for as
// long as anything holds it: the VFS's dentries and open files, a
// handle at work, the driver's own fields (the journal's and quota
// files' inodes). Its entries are weak pointers: an inode nobody holds
// any more is collected with the garbage, and its entry with it
// (runtime.AddCleanup), so the cache costs what is in use, whatever the
// number of inodes a mount reads or makes, and two objects for one inode
// cannot exist while either is held, whatever the VFS's counts say. On a
// read-write mount every change to an inode is in the inode table (or
// the running transaction's copy of it) by the end of its handle
// (writeInode), so an inode collected and read again is the same.
// Guarded by fsys.mu; a nil icache (after Unmount) caches nothing.
type icache map[uint32]weak.Pointer[inode]

// cached returns the live inode ino, or nil. The caller holds f.mu.
func (f *fsys) cached(ino uint32) *inode {
	if w, ok := f.inodes[ino]; ok {
		return w.Value()
	}
	return nil
}

// cacheInode makes ip the cached inode of its number, unless a live one
// is there already and ip is not new (an inode just allocated replaces
// whatever a freed one left): the one cached is returned. The caller
// holds f.mu.
func (f *fsys) cacheInode(ip *inode, new bool) *inode {
	if f.inodes == nil {
		return ip
	}
	if old := f.cached(ip.ino); old != nil && !new {
		return old
	}
	w := weak.Make(ip)
	f.inodes[ip.ino] = w
	runtime.AddCleanup(ip, f.uncache, inodeRef{ip.ino, w})
	return ip
}

// inodeRef names a cache entry for its cleanup.
type inodeRef struct {
	ino uint32
	w   weak.Pointer[inode]
}

// uncache drops the entry of a collected inode, unless another inode has
// taken its number's place since.
func (f *fsys) uncache(r inodeRef) {
	f.mu.Lock()
	if w, ok := f.inodes[r.ino]; ok && w == r.w {
		delete(f.inodes, r.ino)
	}
	f.mu.Unlock()
}

// forget drops ip from the cache (a freed inode), if it is the one there.
// The caller holds f.mu.
func (f *fsys) forget(ip *inode) {
	if f.cached(ip.ino) == ip {
		delete(f.inodes, ip.ino)
	}
}
