package vfs

import (
	"strings"

	"github.com/lklimg/lklimg/kernel/abi"
)

// Walk flags, a subset of Linux's LOOKUP_* and AT_* semantics.
const (
	// WalkNoFollow leaves a symlink at the end of the path unfollowed
	// (AT_SYMLINK_NOFOLLOW, O_NOFOLLOW, lstat). A trailing slash still
	// follows it, as in Linux.
	WalkNoFollow = 1 << iota
	// WalkEmptyPath lets an empty path name the starting directory
	// itself (AT_EMPTY_PATH).
	WalkEmptyPath
)

// nameidata is the state of one path walk (struct nameidata): the dentry
// reached so far, with a reference, and the symlinks followed.
type nameidata struct {
	v     *VFS
	cur   *Dentry
	links int
}

// Walk resolves path from start (nil or an absolute path means the root of
// the namespace) and returns the dentry it names, with a reference the
// caller must Put (filename_lookup). Mounts are crossed both ways, ".." at
// the root stays there, symlinks are followed in the middle and, unless
// WalkNoFollow, at the end; absolute symlink targets resolve from the root.
//
// Errors: ENOENT for a missing component or an empty path (unless
// WalkEmptyPath); ENOTDIR when a non-directory is used as a directory,
// including before a trailing slash; ELOOP after abi.MAXSYMLINKS symlinks;
// ENAMETOOLONG for a component over NAME_MAX or a path of PATH_MAX or more
// bytes; and what drivers return (EIO, EUCLEAN).
func (v *VFS) Walk(start *Dentry, path string, flags int) (*Dentry, error) {
	if len(path) >= abi.PATH_MAX {
		return nil, abi.ENAMETOOLONG
	}
	if path == "" {
		switch {
		case flags&WalkEmptyPath == 0:
			return nil, abi.ENOENT
		case start == nil:
			return v.Root(), nil
		}
		v.Get(start)
		return start, nil
	}
	nd := nameidata{v: v}
	if start == nil || path[0] == '/' {
		nd.cur = v.Root()
	} else {
		v.Get(start)
		nd.cur = start
	}
	if err := nd.walk(path, flags&WalkNoFollow == 0); err != nil {
		v.Put(nd.cur)
		return nil, err
	}
	return nd.cur, nil
}

// WalkParent resolves all of path but its last component, and returns the
// directory (with a reference) and that last name, which is "" when the
// path names the root (filename_parentat). A trailing slash is kept out of
// the name and reported.
//
// Errors: as Walk; ENOTDIR if the parent is not a directory.
func (v *VFS) WalkParent(start *Dentry, path string) (dir *Dentry, name string, trailingSlash bool, err error) {
	if len(path) >= abi.PATH_MAX {
		return nil, "", false, abi.ENAMETOOLONG
	}
	if path == "" {
		return nil, "", false, abi.ENOENT
	}
	trimmed := strings.TrimRight(path, "/")
	trailingSlash = len(trimmed) < len(path)
	if trimmed == "" {
		return v.Root(), "", trailingSlash, nil
	}
	dirPath, name := ".", trimmed
	if i := strings.LastIndexByte(trimmed, '/'); i >= 0 {
		dirPath, name = trimmed[:i+1], trimmed[i+1:]
	}
	if len(name) > abi.NAME_MAX {
		return nil, "", false, abi.ENAMETOOLONG
	}
	dir, err = v.Walk(start, dirPath, 0)
	if err != nil {
		return nil, "", false, err
	}
	if !dir.IsDir() {
		v.Put(dir)
		return nil, "", false, abi.ENOTDIR
	}
	return dir, name, trailingSlash, nil
}

// walk resolves rest from nd.cur (link_path_walk plus the last component).
func (nd *nameidata) walk(rest string, followLast bool) error {
	v := nd.v
	for {
		rest = strings.TrimLeft(rest, "/")
		if rest == "" {
			return nil
		}
		name := rest
		rest = ""
		if i := strings.IndexByte(name, '/'); i >= 0 {
			name, rest = name[:i], name[i:]
		}
		if len(name) > abi.NAME_MAX {
			return abi.ENAMETOOLONG
		}
		last := strings.TrimLeft(rest, "/") == ""
		trailingSlash := last && rest != ""
		if !nd.cur.IsDir() {
			return abi.ENOTDIR
		}
		switch name {
		case ".":
			continue
		case "..":
			v.mu.Lock()
			p := v.parentLocked(nd.cur)
			v.getLocked(p)
			v.putLocked(nd.cur)
			v.unlock()
			nd.cur = p
			continue
		}
		child, err := v.lookupChild(nd.cur, name)
		if err != nil {
			return err
		}
		v.mu.Lock()
		if top := v.followMountsLocked(child); top != child {
			v.getLocked(top)
			v.putLocked(child)
			child = top
		}
		v.unlock()
		if child.IsSymlink() && (!last || followLast || trailingSlash) {
			nd.links++
			if nd.links > abi.MAXSYMLINKS {
				v.Put(child)
				return abi.ELOOP
			}
			target, err := readlink(child)
			v.Put(child)
			if err != nil {
				return err
			}
			if target == "" {
				return abi.ENOENT
			}
			if len(target)+len(rest) >= abi.PATH_MAX {
				return abi.ENAMETOOLONG
			}
			if target[0] == '/' {
				root := v.Root()
				v.Put(nd.cur)
				nd.cur = root
			}
			rest = target + rest
			continue
		}
		v.Put(nd.cur)
		nd.cur = child
		if trailingSlash && !child.IsDir() {
			return abi.ENOTDIR
		}
	}
}

// readlink returns the target of symlink d, or EINVAL if d is not one.
func readlink(d *Dentry) (string, error) {
	rl, ok := d.inode.(Readlinker)
	if !ok || !d.IsSymlink() {
		return "", abi.EINVAL
	}
	return rl.Readlink()
}
