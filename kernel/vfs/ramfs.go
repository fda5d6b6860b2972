package vfs

import (
	"sort"
	"sync"

	"github.com/lklimg/lklimg/kernel/abi"
)

// The ramfs is the root filesystem of the namespace (Linux's rootfs before
// an initramfs is unpacked): directories and device nodes held in memory,
// enough to hold /dev, /mnt and the mountpoints under them. It has no
// regular files, symlinks or xattrs. Nothing is ever removed from it.

// ramfsType is the ramfs's struct file_system_type. It is not registered:
// the VFS mounts it itself at "/".
type ramfsType struct{}

func (ramfsType) Name() string               { return "ramfs" }
func (ramfsType) Probe(dev BlockDevice) bool { return false }
func (ramfsType) Mount(dev BlockDevice, flags uint64, data string, log Logger) (Superblock, error) {
	sb := &ramfsSuper{nextIno: 1}
	sb.root = sb.newInode(abi.S_IFDIR|0o755, 0)
	return sb, nil
}

// ramfsSuper is a mounted ramfs; mu guards nextIno and every inode's
// children.
type ramfsSuper struct {
	mu      sync.Mutex
	nextIno uint64
	root    *ramfsInode
}

func (sb *ramfsSuper) newInode(mode uint32, rdev uint64) *ramfsInode {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	return sb.newInodeLocked(mode, rdev)
}

func (sb *ramfsSuper) newInodeLocked(mode uint32, rdev uint64) *ramfsInode {
	in := &ramfsInode{sb: sb, ino: sb.nextIno, mode: mode, rdev: rdev}
	sb.nextIno++
	if mode&abi.S_IFMT == abi.S_IFDIR {
		in.children = make(map[string]*ramfsInode)
	}
	return in
}

func (sb *ramfsSuper) Root() (Inode, error) { return sb.root, nil }

func (sb *ramfsSuper) Statfs() (abi.Statfs, error) {
	return abi.Statfs{Type: abi.RAMFS_MAGIC, Bsize: 4096, Frsize: 4096, Namelen: abi.NAME_MAX}, nil
}

func (sb *ramfsSuper) Unmount() error { return nil }

// ramfsInode is a directory or a device node of the ramfs. Its fields are
// immutable but children, guarded by sb.mu.
type ramfsInode struct {
	sb       *ramfsSuper
	ino      uint64
	mode     uint32
	rdev     uint64
	children map[string]*ramfsInode
}

func (in *ramfsInode) Ino() uint64 { return in.ino }

func (in *ramfsInode) Getattr() (Attr, error) {
	nlink := uint32(1)
	if in.children != nil {
		in.sb.mu.Lock()
		nlink = 2
		for _, c := range in.children {
			if c.children != nil {
				nlink++
			}
		}
		in.sb.mu.Unlock()
	}
	return Attr{Ino: in.ino, Mode: in.mode, Nlink: nlink, Rdev: in.rdev, Blksize: 4096}, nil
}

// Lookup returns ENOENT for a missing name and ENOTDIR on a device node.
func (in *ramfsInode) Lookup(name string) (Inode, error) {
	if in.children == nil {
		return nil, abi.ENOTDIR
	}
	in.sb.mu.Lock()
	defer in.sb.mu.Unlock()
	if c, ok := in.children[name]; ok {
		return c, nil
	}
	return nil, abi.ENOENT
}

// ReadDir yields the entries in name order; the position is the index in
// that order.
func (in *ramfsInode) ReadDir(pos int64, emit func(DirEntry) bool) error {
	if in.children == nil {
		return abi.ENOTDIR
	}
	in.sb.mu.Lock()
	names := make([]string, 0, len(in.children))
	for n := range in.children {
		names = append(names, n)
	}
	sort.Strings(names)
	ents := make([]DirEntry, 0, len(names))
	for i, n := range names {
		c := in.children[n]
		ents = append(ents, DirEntry{Name: n, Ino: c.ino, Type: abi.DTFromMode(c.mode), Next: int64(i + 1)})
	}
	in.sb.mu.Unlock()
	for i := pos; i >= 0 && i < int64(len(ents)); i++ {
		if !emit(ents[i]) {
			break
		}
	}
	return nil
}

// Mkdir returns EEXIST if the name is taken.
func (in *ramfsInode) Mkdir(name string, mode uint32) (Inode, error) {
	return in.add(name, abi.S_IFDIR|mode&0o7777, 0)
}

// Mknod returns EEXIST if the name is taken.
func (in *ramfsInode) Mknod(name string, mode uint32, rdev uint64) (Inode, error) {
	return in.add(name, mode, rdev)
}

func (in *ramfsInode) add(name string, mode uint32, rdev uint64) (Inode, error) {
	if in.children == nil {
		return nil, abi.ENOTDIR
	}
	in.sb.mu.Lock()
	defer in.sb.mu.Unlock()
	if _, ok := in.children[name]; ok {
		return nil, abi.EEXIST
	}
	c := in.sb.newInodeLocked(mode, rdev)
	in.children[name] = c
	return c, nil
}
