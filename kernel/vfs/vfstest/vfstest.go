// Package vfstest is an in-memory filesystem driver for tests of the VFS
// and the syscall layer: it implements every interface of the driver
// contract (kernel/vfs/fs.go) over a tree of Nodes built by the test, and a
// fake block device to mount it from.
package vfstest

import (
	"bytes"
	"io"
	"sort"
	"sync/atomic"

	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// Node is a file of the fake filesystem. The tree must not change once
// mounted.
type Node struct {
	Mode     uint32 // S_IF* type and permissions
	Data     []byte // a regular file's contents
	Target   string // a symlink's target
	Rdev     uint64
	Xattrs   map[string][]byte
	Children map[string]*Node // a directory's entries
	Mtime    abi.Timespec
	Btime    *abi.Timespec // birth time, if the fs reports one
	// Sparse makes all-zero 4096-byte blocks of Data holes for
	// SEEK_DATA and SEEK_HOLE.
	Sparse bool
	// OpenErr, when set, is what every open of the file returns
	// (vfs.Opener), such as ENOKEY for an encrypted file.
	OpenErr error
	// GetattrErr, when set, is what Getattr returns, as for an inode
	// whose attributes are damaged.
	GetattrErr error
	// Run, for a directory, makes its entries share positions in runs
	// of Run entries, as ext4's hash collision chains do; with Stuck it
	// emits its first entry for ever at one position, as a broken
	// driver would.
	Run   int
	Stuck bool
	// Ino, when set, is the node's inode number instead of one counted
	// from 2 (the root's): two nodes given one number are one inode to
	// the VFS, as a damaged filesystem's directory linked twice. Dev is
	// Attr.Dev, an inode's own device (a btrfs subvolume's).
	Ino uint64
	Dev uint64

	ino uint64
}

// Dir returns a directory node.
func Dir(children map[string]*Node) *Node {
	if children == nil {
		children = map[string]*Node{}
	}
	return &Node{Mode: abi.S_IFDIR | 0o755, Children: children}
}

// File returns a regular file node.
func File(data string) *Node { return &Node{Mode: abi.S_IFREG | 0o644, Data: []byte(data)} }

// Symlink returns a symlink node.
func Symlink(target string) *Node { return &Node{Mode: abi.S_IFLNK | 0o777, Target: target} }

// Device is a fake block device with a name.
type Device struct {
	DevName string
	Bytes   int64
	RO      bool
}

func (d *Device) Name() string   { return d.DevName }
func (d *Device) Size() int64    { return d.Bytes }
func (d *Device) ReadOnly() bool { return d.RO }

// ReadAt reads zeros.
func (d *Device) ReadAt(p []byte, off int64) (int, error) {
	if off >= d.Bytes {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), d.Bytes-off))
	clear(p[:n])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Mem is a read-only block device over bytes: an image in memory, for
// drivers' damage tests and fuzz targets.
type Mem []byte

func (d Mem) Name() string   { return "mem" }
func (d Mem) Size() int64    { return int64(len(d)) }
func (d Mem) ReadOnly() bool { return true }

// ReadAt reads the bytes at off, as io.ReaderAt does.
func (d Mem) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= int64(len(d)) {
		return 0, io.EOF
	}
	n := copy(p, d[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Type is a fake filesystem type: a device holds the tree Images has under
// its name. NoXattrs makes its inodes lack the Xattrer interface.
type Type struct {
	TypeName string
	Images   map[string]*Node
	NoXattrs bool

	// Mounted counts live superblocks, Unmounts the Unmount calls.
	Mounted  atomic.Int64
	Unmounts atomic.Int64
	// Handouts counts the inodes handed to the VFS (Root, Lookup),
	// Evicts the Evict calls: they must balance once every mount is gone.
	// EvictAfterUnmount counts Evict calls on an unmounted superblock.
	Handouts          atomic.Int64
	Evicts            atomic.Int64
	EvictAfterUnmount atomic.Int64
	// Syncs counts the Sync calls (vfs.Syncer).
	Syncs atomic.Int64
}

func (t *Type) Name() string { return t.TypeName }

// Probe recognises a device whose name is in Images.
func (t *Type) Probe(dev vfs.BlockDevice) bool { return dev != nil && t.Images[dev.Name()] != nil }

// Mount returns EINVAL for a device not in Images.
func (t *Type) Mount(dev vfs.BlockDevice, flags uint64, data string, log vfs.Logger) (vfs.Superblock, error) {
	if !t.Probe(dev) {
		return nil, abi.Errorf(abi.EINVAL, "%s: no %s filesystem", dev.Name(), t.TypeName)
	}
	root := t.Images[dev.Name()]
	next := uint64(2)
	var number func(n *Node)
	number = func(n *Node) {
		if n.ino == 0 && n.Ino != 0 {
			n.ino = n.Ino
		} else if n.ino == 0 {
			n.ino = next
			next++
		}
		names := make([]string, 0, len(n.Children))
		for name := range n.Children {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			number(n.Children[name])
		}
	}
	number(root)
	log.Printf("%s: mounted %s filesystem", dev.Name(), t.TypeName)
	t.Mounted.Add(1)
	return &super{t: t, root: root}, nil
}

type super struct {
	t         *Type
	root      *Node
	unmounted atomic.Bool
}

func (s *super) Root() (vfs.Inode, error) { return s.inode(s.root), nil }

func (s *super) Statfs() (abi.Statfs, error) {
	return abi.Statfs{Type: 0x7e57, Bsize: 4096, Namelen: 255}, nil
}

// Sync counts the call: the tree has nothing to write.
func (s *super) Sync() error {
	s.t.Syncs.Add(1)
	return nil
}

func (s *super) Unmount() error {
	s.unmounted.Store(true)
	s.t.Mounted.Add(-1)
	s.t.Unmounts.Add(1)
	return nil
}

// inode hands out the inode of n.
func (s *super) inode(n *Node) vfs.Inode {
	s.t.Handouts.Add(1)
	in := &inode{n: n, s: s}
	if s.t.NoXattrs {
		return in
	}
	return &xinode{in}
}

type inode struct {
	n *Node
	s *super
}

type xinode struct{ *inode }

func (in *inode) Ino() uint64 { return in.n.ino }

// Evict counts the VFS dropping a handout.
func (in *inode) Evict() error {
	in.s.t.Evicts.Add(1)
	if in.s.unmounted.Load() {
		in.s.t.EvictAfterUnmount.Add(1)
	}
	return nil
}

func (in *inode) Getattr() (vfs.Attr, error) {
	n := in.n
	if n.GetattrErr != nil {
		return vfs.Attr{}, n.GetattrErr
	}
	a := vfs.Attr{
		Ino: n.ino, Dev: n.Dev, Mode: n.Mode, Nlink: 1, Rdev: n.Rdev, Blksize: 4096,
		Mtime: n.Mtime, Atime: n.Mtime, Ctime: n.Mtime,
	}
	switch n.Mode & abi.S_IFMT {
	case abi.S_IFREG:
		a.Size = int64(len(n.Data))
	case abi.S_IFLNK:
		a.Size = int64(len(n.Target))
	case abi.S_IFDIR:
		a.Size = 4096
		a.Nlink = 2
		for _, c := range n.Children {
			if c.Mode&abi.S_IFMT == abi.S_IFDIR {
				a.Nlink++
			}
		}
	}
	a.Blocks = (a.Size + 511) / 512
	if n.Btime != nil {
		a.Btime, a.HasBtime = *n.Btime, true
	}
	return a, nil
}

// Open returns the node's OpenErr.
func (in *inode) Open(flags int) error { return in.n.OpenErr }

func (in *inode) Lookup(name string) (vfs.Inode, error) {
	if in.n.Mode&abi.S_IFMT != abi.S_IFDIR {
		return nil, abi.ENOTDIR
	}
	c, ok := in.n.Children[name]
	if !ok {
		return nil, abi.ENOENT
	}
	return in.s.inode(c), nil
}

func (in *inode) ReadDir(pos int64, emit func(vfs.DirEntry) bool) error {
	names := make([]string, 0, len(in.n.Children))
	for name := range in.n.Children {
		names = append(names, name)
	}
	sort.Strings(names)
	if in.n.Stuck && len(names) > 0 {
		c := in.n.Children[names[0]]
		for emit(vfs.DirEntry{Name: names[0], Ino: c.ino, Type: abi.DTFromMode(c.Mode), Next: pos}) {
		}
		return nil
	}
	// Positions are 10*(index+1): not consecutive, as ext4's byte
	// offsets are not. With runs, entry i is at 10*(i/Run) and a run
	// is read whole from its first member.
	run := int64(max(in.n.Run, 1))
	first := pos / 10
	if run > 1 {
		first = (pos + 9) / 10 * run
	}
	for i := first; i >= 0 && i < int64(len(names)); i++ {
		c := in.n.Children[names[i]]
		next := (i + 1) / run * 10
		if i+1 == int64(len(names)) {
			next = (i/run + 1) * 10
		}
		if !emit(vfs.DirEntry{Name: names[i], Ino: c.ino, Type: abi.DTFromMode(c.Mode), Next: next}) {
			break
		}
	}
	return nil
}

func (in *inode) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(in.n.Data)) {
		return 0, io.EOF
	}
	n := copy(p, in.n.Data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (in *inode) block(off int64) bool {
	end := min(off/4096*4096+4096, int64(len(in.n.Data)))
	return !bytes.Equal(in.n.Data[off/4096*4096:end], make([]byte, end-off/4096*4096))
}

func (in *inode) SeekData(off int64) (int64, error) {
	for ; off < int64(len(in.n.Data)); off = off/4096*4096 + 4096 {
		if !in.n.Sparse || in.block(off) {
			return off, nil
		}
	}
	return 0, abi.ENXIO
}

func (in *inode) SeekHole(off int64) (int64, error) {
	for ; off < int64(len(in.n.Data)); off = off/4096*4096 + 4096 {
		if in.n.Sparse && !in.block(off) {
			return off, nil
		}
	}
	return int64(len(in.n.Data)), nil
}

func (in *inode) Readlink() (string, error) {
	if in.n.Mode&abi.S_IFMT != abi.S_IFLNK {
		return "", abi.EINVAL
	}
	return in.n.Target, nil
}

func (in *xinode) Getxattr(name string) ([]byte, error) {
	v, ok := in.n.Xattrs[name]
	if !ok {
		return nil, abi.ENODATA
	}
	return append([]byte(nil), v...), nil
}

func (in *xinode) Listxattr() ([]string, error) {
	var names []string
	for k := range in.n.Xattrs {
		names = append(names, k)
	}
	sort.Strings(names)
	return names, nil
}
