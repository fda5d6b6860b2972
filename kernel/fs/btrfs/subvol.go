package btrfs

import (
	"bytes"

	disk "github.com/lklimg/lklimg/format/btrfs"
	"github.com/lklimg/lklimg/kernel/abi"
)

// Subvolumes (fs/btrfs/disk-io.c btrfs_get_fs_root, inode.c
// fixup_tree_root_location): each is a tree of its own, named by a
// ROOT_ITEM in the tree of roots, with its own inode numbers from 256,
// linked into a directory of its parent by a DIR_ITEM whose location is
// the ROOT_ITEM's key and a ROOT_REF.

// subvol is an open subvolume (struct btrfs_root).
type subvol struct {
	f         *fsys
	id        uint64
	t         tree
	rootDirid uint64
	// dev is the st_dev its inodes report (root->anon_dev); 0 for the
	// mounted one, which reports the mount's.
	dev uint64
}

// anonMinorBase is where the minors of the subvolumes' anonymous
// devices start: above those the VFS gives its own mounts, so that a
// subvolume's st_dev names no mount. Each is the subvolume's id in the
// low bits.
const anonMinorBase = 1 << 19

// sbDev is the st_dev of the directories Linux makes up for subvolumes
// a snapshot lacks: the superblock's own anonymous device, which no
// subvolume's is (no subvolume has id 0).
func sbDev() uint64 { return abi.Makedev(0, anonMinorBase) }

// subvol opens the subvolume id (btrfs_get_fs_root): its ROOT_ITEM, the
// first with that objectid whatever its offset (a snapshot's is its
// transid). ENOENT when there is none.
func (f *fsys) subvol(id uint64) (*subvol, error) {
	f.submu.Lock()
	sv := f.subvols[id]
	f.submu.Unlock()
	if sv != nil {
		return sv, nil
	}
	if id != disk.FsTreeObjectid && (id < disk.FirstFreeObjectid || id > disk.LastFreeObjectid) {
		return nil, abi.Errorf(abi.EINVAL, "btrfs: %d is not a subvolume id", id)
	}
	var ri disk.RootItem
	found := false
	err := f.rootTree.each(disk.Key{Objectid: id, Type: disk.RootItemKey}, func(it disk.Item) (bool, error) {
		if it.Key.Objectid != id || it.Key.Type != disk.RootItemKey {
			return false, nil
		}
		var err error
		ri, err = disk.DecodeRootItem(it.Data)
		found = err == nil
		return false, err
	})
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, abi.Errorf(abi.ENOENT, "btrfs: no subvolume %d", id)
	}
	dirid := ri.RootDirid
	if dirid == 0 {
		dirid = disk.FirstFreeObjectid
	}
	sv = &subvol{
		f:         f,
		id:        id,
		t:         tree{f: f, id: id, bytenr: ri.Bytenr, level: ri.Level, gen: ri.Generation},
		rootDirid: dirid,
		dev:       abi.Makedev(0, uint32(anonMinorBase|id&(anonMinorBase-1))),
	}
	// btrfs_init_fs_root looks for the highest inode number in use
	// (btrfs_init_root_free_objectid): the path down to the tree's last
	// leaf is read, and a bad block on it fails the subvolume's opening.
	var c cursor
	if err := sv.t.seek(disk.Key{Objectid: disk.LastFreeObjectid, Type: 0xff, Offset: ^uint64(0)}, &c); err != nil {
		return nil, err
	}
	f.submu.Lock()
	if old := f.subvols[id]; old != nil {
		sv = old
	} else {
		f.subvols[id] = sv
	}
	f.submu.Unlock()
	return sv, nil
}

// childSubvol returns the subvolume a dir item of directory dir in sv
// names, with the name name, or nil when the tree of roots has no
// ROOT_REF for it there: a snapshot's copy of the link to a subvolume
// it does not hold (btrfs_lookup_dentry shows that as an empty
// directory).
func (sv *subvol) childSubvol(dir uint64, id uint64, name []byte) (*subvol, error) {
	it, ok, err := sv.f.rootTree.lookup(disk.Key{Objectid: sv.id, Type: disk.RootRefKey, Offset: id})
	if err != nil || !ok {
		return nil, err
	}
	ref, err := disk.DecodeRootRef(it.Data)
	if err != nil {
		return nil, err
	}
	if ref.Dirid != dir || !bytes.Equal(ref.Name, name) {
		return nil, nil
	}
	return sv.f.subvol(id)
}
