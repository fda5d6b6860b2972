package vfs

import (
	"container/list"
	"sync"

	"github.com/lklimg/lklimg/kernel/abi"
)

// Dentry is struct dentry: one name in a directory of a mounted filesystem,
// bound to its Inode. Dentries are created by path walk and cached; see the
// package documentation for when they are freed.
type Dentry struct {
	// Immutable after creation.
	name   string
	parent *Dentry // nil for the root of a mount
	mnt    *Mount
	inode  Inode
	ino    uint64
	mode   uint32 // S_IF* type bits: an inode never changes type

	// lookupMu serialises driver lookups of children (see doc.go).
	lookupMu sync.Mutex

	// Guarded by VFS.mu.
	children map[string]*Dentry
	refs     int
	mounted  *Mount        // the mount whose mountpoint this is, if any
	lruElem  *list.Element // set while on the unused list
	dead     bool          // evicted, or its mount is gone
}

// Name returns the dentry's name in its parent ("/" for a mount root).
func (d *Dentry) Name() string { return d.name }

// Inode returns the inode the dentry names.
func (d *Dentry) Inode() Inode { return d.inode }

// Ino returns the inode number.
func (d *Dentry) Ino() uint64 { return d.ino }

// Mode returns the S_IF* file type bits of the inode.
func (d *Dentry) Mode() uint32 { return d.mode }

// IsDir reports whether the dentry is a directory.
func (d *Dentry) IsDir() bool { return d.mode == abi.S_IFDIR }

// IsSymlink reports whether the dentry is a symbolic link.
func (d *Dentry) IsSymlink() bool { return d.mode == abi.S_IFLNK }

// Mount returns the mount the dentry belongs to.
func (d *Dentry) Mount() *Mount { return d.mnt }

// newDentry builds a dentry for inode, reading its type.
func newDentry(name string, parent *Dentry, mnt *Mount, inode Inode) (*Dentry, error) {
	attr, err := inode.Getattr()
	if err != nil {
		return nil, err
	}
	return &Dentry{
		name:   name,
		parent: parent,
		mnt:    mnt,
		inode:  inode,
		ino:    inode.Ino(),
		mode:   attr.Mode & abi.S_IFMT,
	}, nil
}

// Get takes a reference on d (dget).
func (v *VFS) Get(d *Dentry) {
	v.mu.Lock()
	v.getLocked(d)
	v.mu.Unlock()
}

// Put drops a reference taken by Get, a walk or Root (dput). An unused
// dentry goes on the LRU, which is trimmed to its bound.
func (v *VFS) Put(d *Dentry) {
	if d == nil {
		return
	}
	v.mu.Lock()
	v.putLocked(d)
	v.mu.Unlock()
}

// getLocked takes a reference. The caller holds v.mu.
func (v *VFS) getLocked(d *Dentry) {
	if d.refs == 0 && d.lruElem != nil {
		v.lru.Remove(d.lruElem)
		d.lruElem = nil
	}
	d.refs++
	d.mnt.refs++
}

// putLocked drops a reference. The caller holds v.mu.
func (v *VFS) putLocked(d *Dentry) {
	if d.refs <= 0 {
		panic("vfs: dentry reference count underflow: " + d.name)
	}
	d.refs--
	d.mnt.refs--
	v.maybeUnusedLocked(d)
	v.trimLocked()
}

// evictable reports whether d can be freed: cached under a parent and
// pinned by nothing. The caller holds v.mu.
func (d *Dentry) evictable() bool {
	return d.parent != nil && !d.dead && d.refs == 0 && len(d.children) == 0 && d.mounted == nil
}

// maybeUnusedLocked puts d on the LRU if it has become unused.
func (v *VFS) maybeUnusedLocked(d *Dentry) {
	if d.lruElem == nil && d.evictable() {
		d.lruElem = v.lru.PushBack(d)
	}
}

// trimLocked frees least recently used dentries until at most maxUnused
// remain. Freeing a child may make its parent unused; it joins the list.
func (v *VFS) trimLocked() {
	for v.lru.Len() > v.maxUnused {
		e := v.lru.Front()
		d := e.Value.(*Dentry)
		v.lru.Remove(e)
		d.lruElem = nil
		v.evictLocked(d)
	}
}

// evictLocked unlinks an unused dentry from its parent (d_kill).
func (v *VFS) evictLocked(d *Dentry) {
	d.dead = true
	p := d.parent
	if p == nil {
		return
	}
	if p.children[d.name] == d {
		delete(p.children, d.name)
	}
	v.maybeUnusedLocked(p)
}

// UnusedDentries returns the number of dentries on the LRU.
func (v *VFS) UnusedDentries() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.lru.Len()
}

// CachedDentries returns the number of dentries in the cache, pinned or
// not, under every mount.
func (v *VFS) CachedDentries() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := 0
	var count func(d *Dentry)
	count = func(d *Dentry) {
		n++
		for _, c := range d.children {
			count(c)
		}
	}
	for _, m := range v.mounts {
		count(m.root)
	}
	return n
}

// lookupChild returns the child called name of directory d, with a
// reference, from the cache or from the driver (d_lookup, then
// inode_operations.lookup). It returns ENOTDIR if d cannot be searched and
// whatever the driver returns (ENOENT for a missing name). The caller holds
// a reference on d and no lock.
func (v *VFS) lookupChild(d *Dentry, name string) (*Dentry, error) {
	if c := v.cachedChild(d, name); c != nil {
		return c, nil
	}
	lk, ok := d.inode.(Lookuper)
	if !ok || !d.IsDir() {
		return nil, abi.ENOTDIR
	}
	d.lookupMu.Lock()
	defer d.lookupMu.Unlock()
	if c := v.cachedChild(d, name); c != nil {
		return c, nil
	}
	inode, err := lk.Lookup(name)
	if err != nil {
		return nil, err
	}
	c, err := newDentry(name, d, d.mnt, inode)
	if err != nil {
		return nil, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if d.dead {
		// The directory was freed under us: it cannot be, since the
		// caller holds a reference; this guards the invariant.
		return nil, abi.ENOENT
	}
	if d.children == nil {
		d.children = make(map[string]*Dentry)
	}
	d.children[name] = c
	if d.lruElem != nil {
		v.lru.Remove(d.lruElem)
		d.lruElem = nil
	}
	v.getLocked(c)
	return c, nil
}

// cachedChild returns the cached child called name with a reference, or nil.
func (v *VFS) cachedChild(d *Dentry, name string) *Dentry {
	v.mu.Lock()
	defer v.mu.Unlock()
	if c := d.children[name]; c != nil {
		v.getLocked(c)
		return c
	}
	return nil
}
