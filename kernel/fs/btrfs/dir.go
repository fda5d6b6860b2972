package btrfs

import (
	"bytes"
	"math"

	disk "github.com/lklimg/lklimg/format/btrfs"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// Directories (fs/btrfs/dir-item.c, inode.c): each name has a DIR_ITEM
// keyed by its hash, for lookup, and a DIR_INDEX keyed by a sequence
// number, for readdir. A position is the index: "." is 0, ".." 1, and
// the entries' indexes start at 2 (btrfs_real_readdir).

// Lookup finds name by its hash (btrfs_lookup_dentry).
func (ip *inode) Lookup(name string) (vfs.Inode, error) {
	in, err := ip.lookup(name)
	if err != nil {
		return nil, err
	}
	return in, nil
}

func (ip *inode) lookup(name string) (*inode, error) {
	if ip.empty {
		return nil, abi.ENOENT
	}
	sv := ip.sv
	bname := []byte(name)
	it, ok, err := sv.t.lookup(disk.Key{Objectid: ip.ino, Type: disk.DirItemKey, Offset: uint64(disk.NameHash(bname))})
	if err != nil {
		return nil, ip.errf(err)
	}
	if !ok {
		return nil, abi.ENOENT
	}
	items, err := disk.DecodeDirItems(it.Data)
	if err != nil {
		return nil, ip.errf(err)
	}
	for _, d := range items {
		if !bytes.Equal(d.Name, bname) {
			continue
		}
		switch d.Location.Type {
		case disk.InodeItemKey:
			in, err := sv.iget(d.Location.Objectid)
			if err != nil {
				return nil, err
			}
			return in, nil
		case disk.RootItemKey:
			child, err := sv.childSubvol(ip.ino, d.Location.Objectid, bname)
			if err != nil {
				return nil, ip.errf(err)
			}
			if child == nil {
				return emptyDir(ip), nil
			}
			return child.iget(child.rootDirid)
		}
		return nil, ip.errf(abi.Errorf(abi.EUCLEAN, "dir item %q: location %v", name, d.Location))
	}
	return nil, abi.ENOENT
}

// Open is btrfs_opendir's read of the directory: Linux finds its last
// index (btrfs_get_dir_last_index, the search for (ino, DIR_INDEX, -1))
// before any readdir, so that a bad block on the way fails open(2)
// (EIO), not getdents. Other inodes open without a read.
func (ip *inode) Open(flags int) error {
	if !ip.isDir() || ip.empty {
		return nil
	}
	var c cursor
	return ip.sv.t.seek(disk.Key{Objectid: ip.ino, Type: disk.DirIndexKey, Offset: ^uint64(0)}, &c)
}

// ReadDirDots emits ".", ".." and the entries in index order from
// position pos (btrfs_real_readdir). An entry's d_ino is its location's
// objectid: a subvolume's id for a subvolume, as Linux reports it.
func (ip *inode) ReadDirDots(pos int64, emit func(vfs.DirEntry) bool) error {
	if pos < 0 {
		return abi.EINVAL
	}
	// An entry is emitted once the next is found, with that one's
	// index as its position (d_off); the last one's is INT_MAX
	// (LLONG_MAX past it), where btrfs_real_readdir leaves ctx->pos at
	// the end ("..", in an empty directory).
	var pending vfs.DirEntry
	more := true
	if pos == 0 && !emit(vfs.DirEntry{Name: ".", Ino: ip.ino, Type: abi.DT_DIR, Next: 1}) {
		return nil
	}
	if pos <= 1 {
		pending = vfs.DirEntry{Name: "..", Ino: ip.ino, Type: abi.DT_DIR, Next: 2}
	}
	if ip.empty {
		// new_simple_dir's simple_dir_operations (dcache_readdir):
		// ".." at 2.
		if pending.Name != "" {
			emit(pending)
		}
		return nil
	}
	start := disk.Key{Objectid: ip.ino, Type: disk.DirIndexKey, Offset: uint64(max(pos, 2))}
	err := ip.sv.t.each(start, func(it disk.Item) (bool, error) {
		if it.Key.Objectid != ip.ino || it.Key.Type != disk.DirIndexKey {
			return false, nil
		}
		items, err := disk.DecodeDirItems(it.Data)
		if err != nil {
			return false, err
		}
		if len(items) != 1 {
			return false, abi.Errorf(abi.EUCLEAN, "dir index %d holds %d items", it.Key.Offset, len(items))
		}
		if it.Key.Offset >= 1<<63-1 {
			return false, abi.Errorf(abi.EUCLEAN, "dir index %d out of range", it.Key.Offset)
		}
		if pending.Name != "" {
			// getdents64's d_off of an entry is ctx->pos when the
			// next is emitted: that one's index.
			pending.Next = int64(it.Key.Offset)
			if !emit(pending) {
				more = false
				return false, nil
			}
		}
		d := items[0]
		pending = vfs.DirEntry{Name: string(d.Name), Ino: d.Location.Objectid, Type: disk.DType(d.Type), Next: int64(it.Key.Offset + 1)}
		return true, nil
	})
	if err != nil {
		return ip.errf(err)
	}
	if more && pending.Name != "" {
		if pending.Next < math.MaxInt32 {
			pending.Next = math.MaxInt32
		} else {
			pending.Next = math.MaxInt64
		}
		emit(pending)
	}
	return nil
}

// ReadDir is ReadDirDots without "." and "..", its positions less 2:
// the VFS uses ReadDirDots.
func (ip *inode) ReadDir(pos int64, emit func(vfs.DirEntry) bool) error {
	return ip.ReadDirDots(pos+2, func(e vfs.DirEntry) bool {
		if e.Name == "." || e.Name == ".." {
			return true
		}
		e.Next -= 2
		return emit(e)
	})
}
