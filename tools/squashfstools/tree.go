package squashfstools

import (
	"fmt"
	"slices"
	"strings"

	"github.com/lklimg/lklimg/archive"
	"github.com/lklimg/lklimg/format/squashfs"
)

// inode is one inode of the image as the source described it: the
// metadata kept per entry (the data is written as it is read; a regular
// file keeps where it went, file).
type inode struct {
	typ        uint16 // basic type, squashfs.TypeDir ...
	mode       uint16
	uid, gid   uint32
	mtime      uint32
	rdev       uint32
	target     string // a symlink's
	xattrs     []archive.Xattr
	file       *fileData // a regular file's data
	children   []*dentry // a directory's, sorted by name when written
	nlink      uint32    // names that lead to it (directories: set when written)
	number     uint32    // its inode number, 0 until assigned
	written    bool
	ref        squashfs.Ref // where it is in the inode table, once written
	implied    bool         // a directory no entry named (yet)
	childIndex map[string]int
}

// dentry is a name in a directory.
type dentry struct {
	name  string
	inode *inode
}

// tree is the image's tree as the stream builds it.
type tree struct {
	root    *inode
	implied uint32 // the mtime of implied directories
}

// newDir returns a directory inode of the implied kind: 0755, root's,
// of the time given (0, or SOURCE_DATE_EPOCH), as tar2sqfs makes the
// directories a tar leaves out.
func newDir(mtime uint32) *inode {
	return &inode{typ: squashfs.TypeDir, mode: 0o755, mtime: mtime, implied: true, childIndex: map[string]int{}}
}

// cleanName returns an entry's name as a path from the root ("" for
// the root), as tar -x takes it (archive.CleanName), each component
// within SquashFS's name length.
func cleanName(name string) (string, error) {
	rel, err := archive.CleanName(name)
	if err != nil {
		return "", err
	}
	for p := range strings.SplitSeq(rel, "/") {
		if len(p) > squashfs.NameLen {
			return "", fmt.Errorf("name %q longer than %d bytes", p, squashfs.NameLen)
		}
	}
	return rel, nil
}

// lookup returns the dentry of rel (clean, not ""), and its directory,
// making missing directories on the way when create is set. A
// component that is not a directory is an error.
func (t *tree) lookup(rel string, create bool) (dir *inode, d *dentry, err error) {
	dir = t.root
	parts := strings.Split(rel, "/")
	for i, p := range parts {
		j, ok := dir.childIndex[p]
		if i == len(parts)-1 {
			if ok {
				return dir, dir.children[j], nil
			}
			return dir, nil, nil
		}
		if !ok {
			if !create {
				return nil, nil, fmt.Errorf("%s: no such directory", strings.Join(parts[:i+1], "/"))
			}
			sub := newDir(t.implied)
			dir.add(&dentry{name: p, inode: sub})
			dir = sub
			continue
		}
		next := dir.children[j].inode
		if next.typ != squashfs.TypeDir {
			return nil, nil, fmt.Errorf("%s: not a directory", strings.Join(parts[:i+1], "/"))
		}
		dir = next
	}
	return dir, nil, nil
}

// add adds a name to a directory.
func (dir *inode) add(d *dentry) {
	dir.childIndex[d.name] = len(dir.children)
	dir.children = append(dir.children, d)
	d.inode.nlink++
}

// attrs sets an inode's attributes from a header.
func (in *inode) attrs(h *archive.Header, clamp func(archive.Time) uint32) {
	in.mode = uint16(h.Mode & 0o7777)
	in.uid, in.gid = h.Uid, h.Gid
	in.mtime = clamp(h.Mtime)
	// In the source's order, as mksquashfs keeps llistxattr's.
	in.xattrs = slices.Clone(h.Xattrs)
	in.implied = false
}

// put places an entry's inode at rel: a new name, or in place of what
// had the name (the later entry replaces the earlier, as tar -x does; a
// directory given again keeps its contents and takes the new
// attributes).
func (t *tree) put(rel string, in *inode) error {
	dir, d, err := t.lookup(rel, true)
	if err != nil {
		return err
	}
	if d == nil {
		dir.add(&dentry{name: rel[strings.LastIndexByte(rel, '/')+1:], inode: in})
		return nil
	}
	d.inode.nlink--
	d.inode = in
	in.nlink++
	return nil
}

// sortChildren sorts every directory's names, as squashfs requires
// (bytewise, strcmp's order), dropping the lookup maps.
func (dir *inode) sortChildren() {
	dir.childIndex = nil
	slices.SortFunc(dir.children, func(a, b *dentry) int { return strings.Compare(a.name, b.name) })
	for _, d := range dir.children {
		if d.inode.typ == squashfs.TypeDir && d.inode.childIndex != nil {
			d.inode.sortChildren()
		}
	}
}
