package vfs

import (
	"github.com/lklimg/lklimg/kernel/abi"
)

// Mount is struct mount (and the struct vfsmount inside it): a mounted
// Superblock, its root Dentry and where it is attached.
type Mount struct {
	// Immutable after creation.
	v      *VFS
	sb     Superblock
	fstype string
	source string      // "/dev/vda1", or "rootfs"
	dev    BlockDevice // nil for the ramfs
	devt   uint64      // st_dev of its files
	id     int         // mnt_id: unique among the VFS's mounts, never reused
	flags  uint64      // MS_*
	root   *Dentry
	holder *mountHolder // its claim on dev (a Claimer); nil if none

	// Guarded by VFS.mu.
	parent     *Mount  // nil for the root of the namespace
	mountpoint *Dentry // in parent; holds a reference while mounted
	refs       int     // references on dentries of this mount
	submounts  int
	detached   bool
	// orphans are dead dentries with references: unlinked files still
	// open, removed directories still in use. Umount evicts them.
	orphans map[*Dentry]struct{}
}

// Root returns the root dentry of the mount.
func (m *Mount) Root() *Dentry { return m.root }

// Superblock returns the mounted filesystem.
func (m *Mount) Superblock() Superblock { return m.sb }

// ID returns the mount's ID (mnt_id, as /proc/self/mountinfo and
// name_to_handle_at(2) give it): unique among the VFS's mounts, counted
// from 1 for the root, and not reused after an unmount, unlike Linux's,
// which an IDA recycles.
func (m *Mount) ID() int { return m.id }

// Type returns the filesystem type's name ("ext4").
func (m *Mount) Type() string { return m.fstype }

// Source returns what was mounted ("/dev/vda1").
func (m *Mount) Source() string { return m.source }

// Device returns the block device mounted, nil for a ramfs.
func (m *Mount) Device() BlockDevice { return m.dev }

// Dev returns the device number its files report as st_dev.
func (m *Mount) Dev() uint64 { return m.devt }

// Flags returns the MS_* flags it was mounted with.
func (m *Mount) Flags() uint64 { return m.flags }

// ReadOnly reports whether the mount refuses writes (MS_RDONLY): it was
// asked for, the device is read-only, or the driver refused to write.
func (m *Mount) ReadOnly() bool { return m.flags&abi.MS_RDONLY != 0 }

// newMount builds a Mount over sb with its root dentry. devt 0 asks for an
// anonymous device number (major 0, as get_anon_bdev gives).
func (v *VFS) newMount(sb Superblock, fstype, source string, dev BlockDevice, devt, flags uint64) (*Mount, error) {
	rootInode, err := sb.Root()
	if err != nil {
		return nil, err
	}
	m := &Mount{v: v, sb: sb, fstype: fstype, source: source, dev: dev, devt: devt, flags: flags}
	root, err := newDentry("/", nil, m, rootInode)
	if err != nil {
		v.evict([]Inode{rootInode})
		return nil, err
	}
	if !root.IsDir() {
		v.evict([]Inode{rootInode})
		return nil, abi.Errorf(abi.EUCLEAN, "%s: root inode %d is not a directory", source, root.ino)
	}
	m.root = root
	v.mu.Lock()
	defer v.mu.Unlock()
	m.id = v.nextID
	v.nextID++
	if devt == 0 {
		m.devt = abi.Makedev(0, v.nextAnon)
		v.nextAnon++
	}
	return m, nil
}

// MountInfo describes a mount for Mount.
type MountInfo struct {
	Type   FilesystemType
	Source string      // "/dev/vda1"
	Device BlockDevice // may be nil for a filesystem without a device
	Dev    uint64      // st_dev for its files; 0 picks an anonymous one
	Flags  uint64      // MS_*
	Data   string      // the option string
	// Others are the kernel's other block devices, for a
	// MultiDeviceType to find the filesystem's other members among.
	Others []BlockDevice
}

// Mount mounts a filesystem of type mi.Type from mi.Device on the directory
// target (do_new_mount + graft_tree). The caller holds a reference on
// target, found by a walk that followed mounts to the top.
//
// A device that is a Claimer is held by the mount from before the
// driver's Mount until after its Unmount, as get_tree_bdev opens it with
// the superblock as holder.
//
// Errors: ENOTDIR if target is not a directory; EBUSY if the device is
// already mounted, is held by another (an O_EXCL open of it, a mount or
// O_EXCL open of its disk or of one of its partitions), or target became
// a mountpoint meanwhile; whatever the driver's Mount returns (EINVAL,
// EUCLEAN, ...).
func (v *VFS) Mount(target *Dentry, mi MountInfo) (*Mount, error) {
	if !target.IsDir() {
		return nil, abi.ENOTDIR
	}
	if mi.Device != nil && v.deviceMounted(mi.Device) != nil {
		return nil, abi.Errorf(abi.EBUSY, "%s is already mounted", mi.Source)
	}
	holder, err := claimDevice(mi.Device)
	if err != nil {
		return nil, abi.Errorf(abi.EBUSY, "%s is busy: %v", mi.Source, err)
	}
	m, err := v.mountClaimed(target, mi)
	if err != nil {
		holder.unclaim()
		return nil, err
	}
	m.holder = holder
	return m, nil
}

// mountHolder is a mount's claim on its device.
type mountHolder struct{ dev Claimer }

// claimDevice claims dev for a mount, if it is a Claimer; the holder is
// nil otherwise (and unclaim does nothing).
func claimDevice(dev BlockDevice) (*mountHolder, error) {
	c, ok := dev.(Claimer)
	if !ok {
		return nil, nil
	}
	h := &mountHolder{dev: c}
	if err := c.Claim(h); err != nil {
		return nil, err
	}
	return h, nil
}

// unclaim ends the claim (bdev_fput of the superblock's device file).
func (h *mountHolder) unclaim() {
	if h != nil {
		h.dev.Unclaim(h)
	}
}

// mountClaimed is Mount once the device is held.
func (v *VFS) mountClaimed(target *Dentry, mi MountInfo) (*Mount, error) {
	var sb Superblock
	var err error
	if mt, ok := mi.Type.(MultiDeviceType); ok {
		sb, err = mt.MountDevices(mi.Device, mi.Others, mi.Flags, mi.Data, v.log)
	} else {
		sb, err = mi.Type.Mount(mi.Device, mi.Flags, mi.Data, v.log)
	}
	if err != nil {
		return nil, err
	}
	if mi.Device != nil && mi.Device.ReadOnly() {
		mi.Flags |= abi.MS_RDONLY
	}
	if ro, ok := sb.(ReadOnlyer); ok && ro.ReadOnly() {
		// The driver refused to write (it logged why): SB_RDONLY.
		mi.Flags |= abi.MS_RDONLY
	}
	if c, ok := sb.(Clocker); ok {
		c.SetClock(v.now)
	}
	m, err := v.newMount(sb, mi.Type.Name(), mi.Source, mi.Device, mi.Dev, mi.Flags)
	if err != nil {
		sb.Unmount()
		return nil, err
	}
	v.mu.Lock()
	busy := target.mounted != nil || target.dead || target.mnt.detached
	if !busy && mi.Device != nil {
		busy = v.deviceMountedLocked(mi.Device) != nil
	}
	if busy {
		evicts := m.evictAllLocked()
		v.unlock()
		v.release(m, evicts)
		return nil, abi.Errorf(abi.EBUSY, "%s: mount raced with another", mi.Source)
	}
	m.parent = target.mnt
	m.mountpoint = target
	v.getLocked(target)
	target.mounted = m
	target.mnt.submounts++
	v.mounts = append(v.mounts, m)
	v.mu.Unlock()
	return m, nil
}

// deviceMounted returns the mount of dev, or nil.
func (v *VFS) deviceMounted(dev BlockDevice) *Mount {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.deviceMountedLocked(dev)
}

func (v *VFS) deviceMountedLocked(dev BlockDevice) *Mount {
	for _, m := range v.mounts {
		if m.dev != nil && m.dev.Name() == dev.Name() {
			return m
		}
	}
	return nil
}

// Umount detaches the mount whose root is d and unmounts its superblock
// (umount2 without MNT_DETACH): every inode of it the cache holds is
// evicted, a writable filesystem is synced (Syncer), then Unmount is
// called. The caller holds one reference on d, from the walk that found
// it; it stays valid to Put afterwards.
//
// Errors: EINVAL if d is not the root of a mount, or is the root of the
// namespace; EBUSY if files are open on the mount, a walk is in it, or
// another filesystem is mounted under it. The errors of Evict, Sync and
// Unmount, if any, are returned after the mount is gone.
func (v *VFS) Umount(d *Dentry) error {
	v.mu.Lock()
	m := d.mnt
	if m.root != d || m.parent == nil || m.detached {
		v.mu.Unlock()
		return abi.Errorf(abi.EINVAL, "not a mountpoint")
	}
	if m.refs > 1 || m.submounts > 0 {
		v.mu.Unlock()
		return abi.Errorf(abi.EBUSY, "%s: target is busy", m.source)
	}
	evicts := v.detachLocked(m)
	v.unlock()
	return v.release(m, evicts)
}

// release finishes a mount taken out of the namespace: it evicts the
// inodes its dentries held, syncs it if writable, and unmounts its
// superblock, returning the first error.
func (v *VFS) release(m *Mount, evicts []Inode) error {
	err := v.evict(evicts)
	if s, ok := m.sb.(Syncer); ok && !m.ReadOnly() {
		if serr := s.Sync(); serr != nil && err == nil {
			err = serr
		}
	}
	if uerr := m.sb.Unmount(); uerr != nil && err == nil {
		err = uerr
	}
	m.holder.unclaim()
	return err
}

// detachLocked removes m from the namespace and drops its dentries. It
// returns the inodes to evict, the root's included, whatever references
// remain on the dentries: nothing of the filesystem is used afterwards.
func (v *VFS) detachLocked(m *Mount) []Inode {
	m.detached = true
	mp := m.mountpoint
	mp.mounted = nil
	m.parent.submounts--
	v.putLocked(mp)
	for i, x := range v.mounts {
		if x == m {
			v.mounts = append(v.mounts[:i], v.mounts[i+1:]...)
			break
		}
	}
	return m.evictAllLocked()
}

// evictAllLocked marks every cached dentry of m dead and evicted and
// returns their inodes which were not evicted yet (those of unlinked
// files still open among them). The caller holds v.mu.
func (m *Mount) evictAllLocked() []Inode {
	v := m.v
	var inodes []Inode
	var drop func(d *Dentry)
	drop = func(d *Dentry) {
		for _, c := range d.children {
			drop(c)
		}
		if d.lruElem != nil {
			v.lru.Remove(d.lruElem)
			d.lruElem = nil
		}
		d.children = nil
		d.dead = true
		if !d.evicted {
			d.evicted = true
			inodes = append(inodes, d.inode)
		}
	}
	drop(m.root)
	for d := range m.orphans {
		if !d.evicted {
			d.evicted = true
			inodes = append(inodes, d.inode)
		}
	}
	m.orphans = nil
	return inodes
}

// Mounts returns the mounts of the namespace, the root first, each after
// the mount it is attached to.
func (v *VFS) Mounts() []*Mount {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]*Mount(nil), v.mounts...)
}

// UmountAll unmounts every mount but the root, children first, whether or
// not files are open on them: the last step of halting the kernel, when
// the caller has closed every file. It returns the first error.
func (v *VFS) UmountAll() error {
	var first error
	for {
		v.mu.Lock()
		var m *Mount
		for i := len(v.mounts) - 1; i > 0; i-- {
			if v.mounts[i].submounts == 0 {
				m = v.mounts[i]
				break
			}
		}
		if m == nil {
			v.mu.Unlock()
			return first
		}
		evicts := v.detachLocked(m)
		v.unlock()
		if err := v.release(m, evicts); err != nil && first == nil {
			first = err
		}
	}
}

// followMountsLocked returns the root of the topmost mount on d, or d
// (follow_mount). The caller holds v.mu.
func (v *VFS) followMountsLocked(d *Dentry) *Dentry {
	for d.mounted != nil {
		d = d.mounted.root
	}
	return d
}

// followMounts returns the root of the topmost mount on d, or d, with
// the caller's reference on d moved to it.
func (v *VFS) followMounts(d *Dentry) *Dentry {
	v.mu.Lock()
	defer v.unlock()
	if top := v.followMountsLocked(d); top != d {
		v.getLocked(top)
		v.putLocked(d)
		return top
	}
	return d
}

// parentLocked returns the parent of d in the namespace (follow_dotdot):
// from the root of a mount it first climbs to the mountpoint; the root of
// the namespace is its own parent. The caller holds v.mu.
func (v *VFS) parentLocked(d *Dentry) *Dentry {
	for d == d.mnt.root && d.mnt.parent != nil {
		d = d.mnt.mountpoint
	}
	if d.parent == nil {
		return d
	}
	return v.followMountsLocked(d.parent)
}

// Parent returns the parent of d in the namespace, with a reference, as
// ".." resolves it. It is the ".." getdents64 reports.
func (v *VFS) Parent(d *Dentry) *Dentry {
	v.mu.Lock()
	defer v.mu.Unlock()
	p := v.parentLocked(d)
	v.getLocked(p)
	return p
}

// PathOf returns the absolute path of d in the namespace (d_path).
func (v *VFS) PathOf(d *Dentry) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	var parts []string
	for {
		for d == d.mnt.root && d.mnt.parent != nil {
			d = d.mnt.mountpoint
		}
		if d.parent == nil {
			break
		}
		parts = append(parts, d.name)
		d = d.parent
	}
	s := ""
	for i := len(parts) - 1; i >= 0; i-- {
		s += "/" + parts[i]
	}
	if s == "" {
		s = "/"
	}
	return s
}
