package erofsutils

import (
	"fmt"
	"strings"

	"github.com/lklimg/lklimg/archive"
	disk "github.com/lklimg/lklimg/format/erofs"
	"github.com/lklimg/lklimg/kernel/abi"
)

// inode is one file of the image, what erofs-utils' struct erofs_inode
// holds: a hard link's names share one.
type inode struct {
	mode     uint32 // S_IFMT and permission bits
	uid, gid uint32
	mtime    archive.Time
	nlink    uint32
	size     uint64
	rdev     uint32 // a device's, in i_u's form
	xattrs   []xattr
	// children are a directory's entries by name; parent its "..".
	children map[string]*inode
	parent   *inode
	// target is a symlink's.
	target string

	// The file's data once written: its full blocks from blkaddr
	// (nblocks of them), and the tail, inline or (plain) in a block
	// of its own after them.
	blkaddr uint32
	nblocks uint32
	tail    []byte
	plain   bool
	// dirTail is an inline directory's last block's bytes.
	dirTail int
	// comp is a compressed file's map (compress.go), nil otherwise.
	comp *zfile

	// isize is the inode's size as the input gave it, before any hard
	// link to it: what the inline tail was planned with.
	isize int

	// Layout (layout.go).
	extended bool
	xbody    []byte // the inline xattr body
	nid      uint64
	ino      uint32
	meta     int // bytes in the metadata area: inode, xattrs, inline data
}

// xattr is one extended attribute split as erofs stores it.
type xattr struct {
	index  uint8
	suffix string
	value  string
}

// isDir reports whether the inode is a directory.
func (in *inode) isDir() bool { return in.mode&abi.S_IFMT == abi.S_IFDIR }

// fileType is the dirent's EROFS_FT_* of the inode.
func (in *inode) fileType() uint8 {
	switch in.mode & abi.S_IFMT {
	case abi.S_IFREG:
		return disk.FTRegFile
	case abi.S_IFDIR:
		return disk.FTDir
	case abi.S_IFCHR:
		return disk.FTChrdev
	case abi.S_IFBLK:
		return disk.FTBlkdev
	case abi.S_IFIFO:
		return disk.FTFifo
	case abi.S_IFSOCK:
		return disk.FTSock
	case abi.S_IFLNK:
		return disk.FTSymlink
	}
	return disk.FTUnknown
}

// tree is the image's namespace as the input builds it.
type tree struct {
	root *inode
	p    *Params
}

func newTree(p *Params) *tree {
	r := &inode{mode: abi.S_IFDIR | 0o755, mtime: p.BuildTime, nlink: 2}
	r.children = map[string]*inode{}
	r.parent = r
	return &tree{root: r, p: p}
}

// splitPath cleans a tar name into its components: "." and empty ones
// dropped, ".." taking one back; ok is false for a name that escapes the
// root. No component: the root itself.
func splitPath(name string) (parts []string, ok bool) {
	for _, c := range strings.Split(name, "/") {
		switch c {
		case "", ".":
		case "..":
			if len(parts) == 0 {
				return nil, false
			}
			parts = parts[:len(parts)-1]
		default:
			parts = append(parts, c)
		}
	}
	return parts, true
}

// lookupParent returns the directory the path's last component goes in,
// making the directories implied on the way (0755 root:root, the build
// time, as mkfs.erofs --tar makes them).
func (t *tree) lookupParent(parts []string) (*inode, error) {
	d := t.root
	for _, c := range parts[:len(parts)-1] {
		next := d.children[c]
		if next == nil {
			next = &inode{mode: abi.S_IFDIR | 0o755, mtime: t.p.BuildTime, nlink: 2,
				children: map[string]*inode{}, parent: d}
			d.children[c] = next
			d.nlink++
		} else if !next.isDir() {
			return nil, abi.Errorf(abi.ENOTDIR, "%s: not a directory", c)
		}
		d = next
	}
	return d, nil
}

// lookup returns the inode a path names, or nil.
func (t *tree) lookup(parts []string) *inode {
	d := t.root
	for _, c := range parts {
		if d.children == nil {
			return nil
		}
		d = d.children[c]
		if d == nil {
			return nil
		}
	}
	return d
}

// attrs sets an inode's attributes from a header: the time clamped to
// the build time when asked (SOURCE_DATE_EPOCH), the xattrs split, those
// erofs cannot name reported and left out.
func (t *tree) attrs(in *inode, h *archive.Header) {
	in.mode = in.mode&abi.S_IFMT | h.Mode&0o7777
	in.uid, in.gid = h.Uid, h.Gid
	in.mtime = h.Mtime
	if t.p.AllRoot {
		in.uid, in.gid = 0, 0
	}
	if t.p.FixedMtime {
		in.mtime = t.p.BuildTime
	}
	if bt := t.p.BuildTime; t.p.ClampMtime && (in.mtime.Sec > bt.Sec || in.mtime.Sec == bt.Sec && in.mtime.Nsec > bt.Nsec) {
		in.mtime = bt
	}
	in.xattrs = in.xattrs[:0]
	if t.p.XattrTolerance < 0 {
		return
	}
	for _, x := range h.Xattrs {
		idx, suffix, ok := disk.SplitXattrName(x.Name)
		if !ok || len(x.Value) > 0xffff {
			t.p.report(fmt.Errorf("%s: xattr %s: erofs cannot store it: left out", h.Name, x.Name))
			continue
		}
		in.xattrs = append(in.xattrs, xattr{index: idx, suffix: suffix, value: string(x.Value)})
	}
}

// unlink takes the name's inode out of its directory (an entry given
// again replaces it, as tar -x unlinks first).
func unlink(dir *inode, name string) {
	old := dir.children[name]
	if old == nil {
		return
	}
	delete(dir.children, name)
	if old.isDir() {
		dir.nlink--
	}
	old.nlink--
}
