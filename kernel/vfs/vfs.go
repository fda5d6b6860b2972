package vfs

import (
	"container/list"
	"sync"
	"time"

	"github.com/lklimg/lklimg/kernel/abi"
)

// DefaultMaxUnusedDentries bounds the unused dentries kept in the cache
// when Options.MaxUnusedDentries is zero.
const DefaultMaxUnusedDentries = 8192

// Options configures a VFS.
type Options struct {
	// MaxUnusedDentries is how many unused dentries the cache keeps
	// (DefaultMaxUnusedDentries if zero).
	MaxUnusedDentries int
	// Log receives the VFS's messages and is handed to drivers at mount.
	Log Logger
	// Now is the clock of changes (current_time); nil is the host's.
	Now func() abi.Timespec
	// Cred is the booting task's: it owns the directories New makes
	// (/dev, /mnt) and is the Ctx of the changes that make no inode
	// (their owner fields are not used). The calls that make inodes
	// take their caller's Cred.
	Cred Cred
	// OpenDevice opens the device of a block device node, rdev its
	// number and flags open(2)'s (blkdev_open): ENXIO for a number no
	// device has. Nil makes every device node ENXIO.
	OpenDevice func(rdev uint64, flags int) (DeviceFile, error)
}

// VFS is the namespace of the library kernel: its filesystem types, its
// mount table rooted in a ramfs, and the dentry cache (see the package
// documentation for the locking rules).
type VFS struct {
	log       Logger
	maxUnused int
	now       func() abi.Timespec
	cred      Cred
	openDev   func(rdev uint64, flags int) (DeviceFile, error)

	// renameMu serialises renames (s_vfs_rename_mutex), so that the
	// shape of the tree does not change while one checks for loops and
	// holds the locks of two directories.
	renameMu sync.Mutex
	// inodeMu serialises writes, truncations and O_APPEND positioning of
	// one inode (i_rwsem of a regular file), striped by inode number.
	inodeMu [64]sync.Mutex

	typesMu sync.RWMutex
	types   map[string]FilesystemType // by name and alias; guarded by typesMu
	order   []FilesystemType          // registration order, no aliases; guarded by typesMu

	mu       sync.Mutex
	root     *Mount    // the ramfs at "/"; immutable after New
	mounts   []*Mount  // every live mount in mount order; guarded by mu
	lru      list.List // unused dentries, least recently used at the front; guarded by mu
	evicts   []Inode   // inodes to Evict once mu is released (see unlock); guarded by mu
	nextAnon uint32    // next minor of an anonymous device (major 0); guarded by mu
	nextID   int       // next mount ID; guarded by mu
}

// New returns a VFS whose root is a fresh ramfs holding the directories
// /dev and /mnt.
func New(opts Options) (*VFS, error) {
	if opts.MaxUnusedDentries <= 0 {
		opts.MaxUnusedDentries = DefaultMaxUnusedDentries
	}
	if opts.Log == nil {
		opts.Log = DiscardLogger
	}
	if opts.Now == nil {
		opts.Now = hostNow
	}
	v := &VFS{
		log:       opts.Log,
		maxUnused: opts.MaxUnusedDentries,
		now:       opts.Now,
		cred:      opts.Cred,
		openDev:   opts.OpenDevice,
		types:     make(map[string]FilesystemType),
		nextAnon:  1,
		nextID:    1,
	}
	rt := RamfsType()
	sb, err := rt.Mount(nil, 0, "", v.log)
	if err != nil {
		return nil, err
	}
	root, err := v.newMount(sb, rt.Name(), "rootfs", nil, 0, 0)
	if err != nil {
		return nil, err
	}
	v.root = root
	v.mounts = append(v.mounts, root)
	for _, dir := range []string{"/dev", "/mnt"} {
		if err := v.Mkdirat(v.cred, nil, dir, 0o755); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// hostNow is current_time from the host's clock.
func hostNow() abi.Timespec {
	t := time.Now()
	return abi.Timespec{Sec: t.Unix(), Nsec: int64(t.Nanosecond())}
}

// Cred is what the VFS takes from the task that calls it to make an
// inode (struct cred's fsuid and fsgid, fs_struct's umask): the calls
// that make inodes take it as a parameter, as gVisor's VFS takes its
// *auth.Credentials, so that callers on many goroutines (lklfuse's
// requests, each for another user) each own what they make. The rest
// act with root's capabilities whoever calls.
type Cred struct {
	Uid, Gid uint32
	Umask    uint32
}

// ctx returns the context of a write by the task with cred: its owner,
// umask and the time now.
func (v *VFS) ctx(cred Cred) Ctx {
	return Ctx{Uid: cred.Uid, Gid: cred.Gid, Umask: cred.Umask & 0o777, Now: v.now()}
}

// lockInode takes the write lock of d's inode and returns its unlock.
func (v *VFS) lockInode(d *Dentry) func() {
	mu := &v.inodeMu[(d.ino^d.mnt.devt)%uint64(len(v.inodeMu))]
	mu.Lock()
	return mu.Unlock
}

// RegisterFilesystem adds t to the registry (register_filesystem) under its
// Name and the given aliases ("ext2" and "ext3" for the ext4 driver, as
// CONFIG_EXT4_USE_FOR_EXT2 does). It returns EBUSY if a name is taken.
func (v *VFS) RegisterFilesystem(t FilesystemType, aliases ...string) error {
	v.typesMu.Lock()
	defer v.typesMu.Unlock()
	names := append([]string{t.Name()}, aliases...)
	for _, n := range names {
		if _, ok := v.types[n]; ok {
			return abi.Errorf(abi.EBUSY, "filesystem type %q already registered", n)
		}
	}
	for _, n := range names {
		v.types[n] = t
	}
	v.order = append(v.order, t)
	return nil
}

// FilesystemType returns the type registered under name, or ENODEV
// ("unknown filesystem type") as get_fs_type's callers report it.
func (v *VFS) FilesystemType(name string) (FilesystemType, error) {
	v.typesMu.RLock()
	defer v.typesMu.RUnlock()
	if t, ok := v.types[name]; ok {
		return t, nil
	}
	return nil, abi.Errorf(abi.ENODEV, "unknown filesystem type %q", name)
}

// FilesystemTypes returns the registered types in registration order, each
// once whatever its aliases.
func (v *VFS) FilesystemTypes() []FilesystemType {
	v.typesMu.RLock()
	defer v.typesMu.RUnlock()
	return append([]FilesystemType(nil), v.order...)
}

// Probe returns the first registered type whose Probe recognises dev, or
// ENODEV.
func (v *VFS) Probe(dev BlockDevice) (FilesystemType, error) {
	for _, t := range v.FilesystemTypes() {
		if t.Probe(dev) {
			return t, nil
		}
	}
	return nil, abi.Errorf(abi.ENODEV, "%s: unknown filesystem type", dev.Name())
}

// Root returns the root of the namespace with a reference the caller must
// Put.
func (v *VFS) Root() *Dentry {
	v.mu.Lock()
	defer v.mu.Unlock()
	d := v.followMountsLocked(v.root.root)
	v.getLocked(d)
	return d
}
