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
	mnt   *Mount
	inode Inode
	ino   uint64
	dev   uint64 // Attr.Dev: a btrfs subvolume's own st_dev, else 0
	mode  uint32 // S_IF* type bits: an inode never changes type

	// lookupMu serialises driver lookups of children and every change
	// of the directory's entries (see doc.go), as i_rwsem does.
	lookupMu sync.Mutex

	// Guarded by VFS.mu.
	name     string             // changed by rename (d_move)
	key      string             // name in the parent's children: childKey(parent, name)
	parent   *Dentry            // nil for the root of a mount; changed by rename
	children map[string]*Dentry // by childKey
	refs     int
	mounted  *Mount        // the mount whose mountpoint this is, if any
	lruElem  *list.Element // set while on the unused list
	// dead is set once the dentry is out of its parent's children
	// (d_drop): evicted from the LRU, unlinked, replaced by a rename, or
	// its mount is gone. A dead dentry is never found again; it lives
	// while it has references.
	dead bool
	// evicted is set once the VFS has dropped the driver's inode
	// (Evicter): the dentry is dead and unreferenced, or its mount gone.
	evicted bool
}

// Name returns the dentry's name in its parent ("/" for a mount root); a
// rename changes it.
func (d *Dentry) Name() string {
	d.mnt.v.mu.Lock()
	defer d.mnt.v.mu.Unlock()
	return d.name
}

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
		key:    childKey(parent, name),
		parent: parent,
		mnt:    mnt,
		inode:  inode,
		ino:    inode.Ino(),
		dev:    attr.Dev,
		mode:   attr.Mode & abi.S_IFMT,
	}, nil
}

// NameFolder is implemented by a directory inode whose names match
// regardless of case (a casefolded ext4 directory): as Linux's d_hash and
// d_compare (generic_ci_d_hash, generic_ci_d_compare) make "README" and
// "readme" one dentry there, the cache keys its children by FoldName, so
// that removing a name through one spelling leaves no other cached.
type NameFolder interface {
	FoldName(name string) string
}

// childKey is the key of name in dir's children: the name, or its
// folding in a directory that folds names.
func childKey(dir *Dentry, name string) string {
	if dir != nil {
		if nf, ok := dir.inode.(NameFolder); ok {
			return nf.FoldName(name)
		}
	}
	return name
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
	v.unlock()
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

// putLocked drops a reference. The caller holds v.mu and releases it with
// unlock, which evicts the inodes of dentries that die here. A dead dentry
// losing its last reference (an open file of an unlinked file closing)
// has its inode evicted.
func (v *VFS) putLocked(d *Dentry) {
	if d.refs <= 0 {
		panic("vfs: dentry reference count underflow: " + d.name)
	}
	d.refs--
	d.mnt.refs--
	if d.refs == 0 && d.dead {
		delete(d.mnt.orphans, d)
		v.evictInodeLocked(d)
	}
	v.maybeUnusedLocked(d)
	v.trimLocked()
}

// unlock releases v.mu, then calls Evict on the inodes whose dentries died
// meanwhile: drivers are never called with v.mu held (dput calls iput
// after dropping d_lock, likewise).
func (v *VFS) unlock() {
	evicts := v.evicts
	v.evicts = nil
	v.mu.Unlock()
	v.evict(evicts)
}

// evict calls Evict on each inode, logging failures (evict_inode cannot
// fail in Linux either: a driver that cannot free an inode reports it).
// It returns the first error.
func (v *VFS) evict(inodes []Inode) error {
	var first error
	for _, in := range inodes {
		e, ok := in.(Evicter)
		if !ok {
			continue
		}
		if err := e.Evict(); err != nil {
			v.log.Printf("VFS: evict inode %d: %v", in.Ino(), err)
			if first == nil {
				first = err
			}
		}
	}
	return first
}

// evictInodeLocked queues d's inode for Evict, once: the driver's handout
// of it is dropped for good. The caller holds v.mu.
func (v *VFS) evictInodeLocked(d *Dentry) {
	if d.evicted {
		return
	}
	d.evicted = true
	v.evicts = append(v.evicts, d.inode)
}

// dropLocked takes d out of its parent's children (d_drop, as unlink and
// rename do to the name they remove); its inode is evicted when its last
// reference goes, at once if it has none. The caller holds v.mu.
func (v *VFS) dropLocked(d *Dentry) {
	if d.dead {
		return
	}
	d.dead = true
	if d.lruElem != nil {
		v.lru.Remove(d.lruElem)
		d.lruElem = nil
	}
	if p := d.parent; p != nil && p.children[d.key] == d {
		delete(p.children, d.key)
		v.maybeUnusedLocked(p)
	}
	if d.refs == 0 {
		v.evictInodeLocked(d)
		return
	}
	if d.mnt.orphans == nil {
		d.mnt.orphans = make(map[*Dentry]struct{})
	}
	d.mnt.orphans[d] = struct{}{}
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

// evictLocked frees an unused dentry (d_kill): it leaves its parent and
// its inode is evicted.
func (v *VFS) evictLocked(d *Dentry) {
	v.dropLocked(d)
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
// inode_operations.lookup). It returns ENOTDIR if d cannot be searched,
// ENOENT in a removed directory, and whatever the driver returns (ENOENT
// for a missing name). The caller holds a reference on d and no lock.
func (v *VFS) lookupChild(d *Dentry, name string) (*Dentry, error) {
	if c := v.cachedChild(d, name); c != nil {
		return c, nil
	}
	d.lookupMu.Lock()
	defer d.lookupMu.Unlock()
	return v.lookupChildLocked(d, name)
}

// lookupChildLocked is lookupChild for a caller holding d.lookupMu.
func (v *VFS) lookupChildLocked(d *Dentry, name string) (*Dentry, error) {
	if c := v.cachedChild(d, name); c != nil {
		return c, nil
	}
	lk, ok := d.inode.(Lookuper)
	if !ok || !d.IsDir() {
		return nil, abi.ENOTDIR
	}
	if v.isDead(d) {
		// IS_DEADDIR: a removed directory has no entries.
		return nil, abi.ENOENT
	}
	inode, err := lk.Lookup(name)
	if err != nil {
		return nil, err
	}
	return v.addChild(d, name, inode)
}

// addChild caches inode, just handed out by the driver (Lookup or a
// DirWriter method), as d's child name and returns its dentry with a
// reference. If that fails the inode is evicted at once, so that every
// handout is matched by one Evict: ENOENT if d was removed meanwhile,
// ELOOP for a directory that is d or one of its ancestors. The caller
// holds d.lookupMu.
func (v *VFS) addChild(d *Dentry, name string, inode Inode) (*Dentry, error) {
	c, err := newDentry(name, d, d.mnt, inode)
	if err != nil {
		v.evict([]Inode{inode})
		return nil, err
	}
	v.mu.Lock()
	if d.dead {
		// The directory was removed meanwhile (by a rename replacing
		// it, which holds only the lock of its parent).
		v.mu.Unlock()
		v.evict([]Inode{inode})
		return nil, abi.ENOENT
	}
	if c.mode == abi.S_IFDIR {
		// d_splice_alias: a directory has one dentry, and one
		// among d and its ancestors (a damaged filesystem linking a
		// directory below itself) would make the tree a loop: ELOOP.
		// The same inode is the same number on the same device: a
		// btrfs subvolume's root has its parent volume's root's
		// number (256) on a device of its own.
		for p := d; p != nil; p = p.parent {
			if p.ino == c.ino && p.dev == c.dev {
				v.mu.Unlock()
				v.log.Printf("VFS: Lookup of '%s' in %s %s would have caused loop", name, d.mnt.fstype, d.mnt.source)
				v.evict([]Inode{inode})
				return nil, abi.ELOOP
			}
		}
	}
	if old := d.children[c.key]; old != nil {
		// Cannot happen while d.lookupMu serialises changes; keep the
		// cache consistent anyway.
		v.dropLocked(old)
	}
	if d.children == nil {
		d.children = make(map[string]*Dentry)
	}
	d.children[c.key] = c
	if d.lruElem != nil {
		v.lru.Remove(d.lruElem)
		d.lruElem = nil
	}
	v.getLocked(c)
	v.unlock()
	return c, nil
}

// isDead reports whether d has been removed from the cache.
func (v *VFS) isDead(d *Dentry) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return d.dead
}

// cachedChild returns the cached child called name with a reference, or nil.
func (v *VFS) cachedChild(d *Dentry, name string) *Dentry {
	v.mu.Lock()
	defer v.mu.Unlock()
	if c := d.children[childKey(d, name)]; c != nil {
		v.getLocked(c)
		return c
	}
	return nil
}
