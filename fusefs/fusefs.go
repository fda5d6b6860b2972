//go:build linux || darwin

// Package fusefs serves a directory of the library kernel as a FUSE
// filesystem of the host (through github.com/hanwen/go-fuse/v2), as LKL's
// lklfuse does: every request becomes one or a few of the kernel's
// syscalls, made as the process that sent it (kernel.Cred), so that the
// host sees what Linux shows of the image and a write through the mount is
// a write of the kernel's ext4 driver, journaled like any other.
//
// The FUSE node of an inode is found again by its path from the root of
// the served directory: go-fuse keeps the tree of the names the host has
// looked up (and moves a name when a rename succeeds), and each request
// walks that path in the kernel, whose dentry cache makes the walk cheap.
// An inode is known to go-fuse by its number and generation (its
// StableAttr), so a number ext4 reuses for a new file after the old one
// was deleted is a new node, and the hard links of one inode are one node.
// Open files and directories are the kernel's file descriptors, one per
// FUSE handle; reads, writes and getdents go through them.
//
// Permissions are the host's to check: the mount is made with
// default_permissions and POSIX ACL support, so the host kernel applies
// the modes, owners and ACLs this server reports, as it does for a local
// filesystem, and the library kernel (which holds every capability)
// does what was allowed. Owners of new inodes, the umask and the
// inheritance of default ACLs are the kernel's (inode_init_owner and
// posix_acl_create through kernel.Kernel.As).
package fusefs

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
)

// Options says what to serve and how.
type Options struct {
	// Kernel is the booted kernel and Dir the directory of it to serve,
	// usually the mount point of an image's filesystem.
	// Root makes Dir the kernel's working directory (Chdir), as LKL's
	// lklfuse chroots into its mount: the server's paths are relative
	// to it. Chdir elsewhere before unmounting it.
	Kernel *kernel.Kernel
	Dir    string
	// AttrTimeout and EntryTimeout are how long the host may keep
	// attributes and names without asking again; the image changes
	// only through this server, which tells the host what each change
	// did, so the host's caches stay true. Zero makes the host ask
	// each time.
	AttrTimeout, EntryTimeout time.Duration
	// Debug logs every request and reply (go-fuse's debug output) to
	// the standard error.
	Debug bool
	// NoOpen serves regular files without FUSE_OPEN, for read-only
	// mounts: the host's first open of a file for reading is answered
	// ENOSYS, after which the host sends no OPEN, RELEASE or FLUSH for
	// files (fc->no_open, Linux 3.14) and each read names the file by
	// its node, which the server opens by its path in the kernel for
	// that read. Reading a small file then takes a lookup and a read
	// where it took four requests.
	NoOpen bool
	// MaxNodes bounds the nodes the server keeps (see prune.go): the
	// host is told to drop the name of every node older than the last
	// MaxNodes made. 0 is DefaultMaxNodes; negative is no bound.
	MaxNodes int
}

// DefaultMaxNodes is how many of the last nodes made a server keeps by
// default: about 9 MiB of go-fuse's nodes, twice the corpus rootfs's
// entries.
const DefaultMaxNodes = 16384

// server is what every node shares.
type server struct {
	k      *kernel.Kernel
	root   *node
	nodes  *pruner
	noOpen bool // Options.NoOpen
	// rootDev is the served directory's st_dev: see ino.
	rootDev uint64

	// open is the handles the host holds (guarded by openMu): the
	// kernel descriptors CloseAll closes once the host is gone.
	openMu sync.Mutex
	open   map[*handle]struct{}

	// names is held shared by every request that walks a path of
	// go-fuse's tree in the kernel, and exclusively by a rename
	// (umaskFS.Rename) from the kernel's renameat2 to go-fuse's move of
	// the name in its tree: no request walks a path between the two,
	// where the kernel has the new name and the tree the old (ENOENT).
	names sync.RWMutex
}

// ino is the inode number the host is told for an inode of st_dev dev:
// its own where dev is the served directory's, else with dev mixed into
// the high bits. A FUSE mount has one st_dev, and go-fuse knows an
// inode by its number: the inodes of a btrfs subvolume (a device of its
// own, numbers from 256 again) must not pass for hard links of the
// top's.
func (s *server) ino(ino, dev uint64) uint64 {
	if dev == s.rootDev {
		return ino
	}
	return ino ^ dev<<40
}

// Root returns the root node of the served tree and the go-fuse options
// the mount needs, for fs.NewNodeFS.
func Root(o Options) (fs.InodeEmbedder, *fs.Options, error) {
	// Requests name inodes relative to the served directory (ENOTDIR
	// if it is not one).
	if err := o.Kernel.Chdir(o.Dir); err != nil {
		return nil, nil, err
	}
	var st abi.Stat
	if err := o.Kernel.Fstatat(abi.AT_FDCWD, ".", &st, 0); err != nil {
		return nil, nil, err
	}
	maxNodes := o.MaxNodes
	if maxNodes == 0 {
		maxNodes = DefaultMaxNodes
	}
	srv := &server{k: o.Kernel, nodes: newPruner(maxNodes), noOpen: o.NoOpen, open: map[*handle]struct{}{}, rootDev: st.Dev}
	srv.root = &node{srv: srv}
	attr, entry := o.AttrTimeout, o.EntryTimeout
	gen, err := srv.generation(".")
	if err != nil {
		return nil, nil, err
	}
	opts := &fs.Options{
		AttrTimeout:    &attr,
		EntryTimeout:   &entry,
		RootStableAttr: &fs.StableAttr{Ino: st.Ino, Gen: uint64(gen)},
		// Modes are the image's, 0 included (go-fuse would make a
		// mode of 0 into 0644).
		NullPermissions: true,
		MountOptions: fuse.MountOptions{
			// The host checks permissions against what we
			// report, ACLs included (FUSE_POSIX_ACL).
			EnableAcl: true,
			Options:   []string{"default_permissions"},
			// The umask reaches the kernel, which applies it or
			// the parent's default ACL (FUSE_DONT_MASK); see
			// umaskFS.
			ExtraCapabilities: fuse.CAP_DONT_MASK,
			// A symlink's target never changes: the host may
			// keep it.
			EnableSymlinkCaching: true,
			// Linux's default request size. go-fuse keeps a
			// buffer of MaxWrite per request in flight: at 1 MiB
			// the buffers alone pushed the server's heap to its
			// limit and the collector ran back to back (a tar of
			// the corpus through the mount took 4.4 s, not 1.7 s).
			MaxWrite: 128 << 10,
			// Replies carry data from the server's memory: splicing
			// them through a pipe only adds syscalls (a tar through
			// the mount took 15% longer).
			DisableSplice: true,
			Debug:         o.Debug,
		},
	}
	return srv.root, opts, nil
}

// newHandle returns the handle of the kernel descriptor fd, which the
// host now holds.
func (s *server) newHandle(fd int) *handle {
	h := &handle{srv: s, fd: fd}
	s.openMu.Lock()
	s.open[h] = struct{}{}
	s.openMu.Unlock()
	return h
}

// close closes h's kernel descriptor, once: the host's release, or
// CloseAll's.
func (h *handle) close() error {
	s := h.srv
	s.openMu.Lock()
	_, ok := s.open[h]
	delete(s.open, h)
	s.openMu.Unlock()
	if !ok {
		return nil
	}
	return s.k.Close(h.fd)
}

// CloseAll closes the kernel descriptors of the handles the host has not
// released, for the end of the serving: a host that unmounts may drop
// the RELEASE of a file closed just before, and the kernel's mount would
// stay busy. Call it once the server's loop has ended (fuse.Server.Wait).
func CloseAll(root fs.InodeEmbedder) {
	n, ok := root.(*node)
	if !ok {
		return
	}
	s := n.srv
	s.openMu.Lock()
	var hs []*handle
	for h := range s.open {
		hs = append(hs, h)
	}
	s.openMu.Unlock()
	for _, h := range hs {
		h.close()
	}
}

// Nodes returns how many nodes the tree of root (from Root) holds, the
// root not counted: what go-fuse keeps of the inodes the host knows.
func Nodes(root fs.InodeEmbedder) int {
	var count func(*fs.Inode) int
	count = func(ino *fs.Inode) int {
		n := 0
		for _, c := range ino.Children() {
			n += 1 + count(c)
		}
		return n
	}
	return count(root.EmbeddedInode())
}

// generation returns the i_generation of the inode at path (a final
// symlink not followed), from the file handle name_to_handle_at gives:
// FILEID_INO32_GEN holds the 32-bit inode number, then the generation
// (little-endian, the ABI's order). A filesystem without handles has
// generation 0.
func (s *server) generation(path string) (uint32, error) {
	fh, _, err := s.k.NameToHandleAt(abi.AT_FDCWD, path, 0)
	if errors.Is(err, abi.EOPNOTSUPP) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if fh.Type == abi.FILEID_INO32_GEN && len(fh.Bytes) >= 8 {
		return binary.LittleEndian.Uint32(fh.Bytes[4:]), nil
	}
	return 0, nil
}

// as returns the kernel as the task that sent the request of ctx, with
// umask: its fsuid and fsgid own what it makes.
func (s *server) as(ctx context.Context, umask uint32) *kernel.Kernel {
	c, ok := fuse.FromContext(ctx)
	if !ok {
		return s.k
	}
	return s.k.As(kernel.Cred{Uid: c.Uid, Gid: c.Gid, Umask: umask})
}

// errno turns a kernel error into the errno of the reply. The kernel's
// numbers are Linux's, which are the host's on Linux (hostErrno).
func errno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	return hostErrno(abi.ErrnoOf(err))
}
