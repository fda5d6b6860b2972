package vfat

import (
	"github.com/lklimg/lklimg/format/fat"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// Rename (namei_vfat.c: vfat_rename2). An inode is its entry, so a rename
// moves the entry: to a new name in the new directory (slots and an alias
// made there, the attributes, times and size carried over), or onto the
// entry of the name it replaces, whose spelling it keeps, as Linux's
// vfat_rename does. A directory moved to another parent has its ".."
// entry pointed at the new one. RENAME_EXCHANGE swaps what two entries
// describe; RENAME_WHITEOUT is EINVAL (FAT holds no device nodes).

// Rename is vfs.DirWriter's.
func (dir *inode) Rename(ctx vfs.Ctx, oldName string, newDirI vfs.Inode, newName string, flags uint32) (err error) {
	f := dir.f
	nd, ok := newDirI.(*inode)
	if !ok || nd.f != f {
		return abi.EXDEV
	}
	if flags&abi.RENAME_WHITEOUT != 0 {
		return abi.Errorf(abi.EINVAL, "vfat: no whiteouts on FAT")
	}
	w, done := f.lockW()
	defer done(&err)
	or, err := dir.find(oldName)
	if err != nil {
		return err
	}
	src, err := f.inodeOf(or)
	if err != nil {
		return err
	}
	nr, err := nd.find(newName)
	switch {
	case err == abi.ENOENT:
		nr = nil
	case err != nil:
		return err
	}
	if flags&abi.RENAME_EXCHANGE != 0 {
		if nr == nil {
			return abi.ENOENT
		}
		return dir.exchange(w, ctx, or, src, nd, nr)
	}
	if nr == nil {
		// A new name in nd: built while the old one still exists, so
		// that its alias differs from it (vfat_add_entry).
		ents, de, err := nd.buildEntries(newName, src.de.Attr, src.start(), ctx.Now)
		if err != nil {
			return err
		}
		moved := src.de
		moved.Name, moved.NTRes = de.Name, de.NTRes
		if !src.dir {
			moved.FileSize = uint32(src.size)
		} else {
			moved.FileSize = 0
		}
		moved.Encode(ents[len(ents)-fat.DirEntrySize:])
		_, ipos, err := nd.addEntries(w, ents)
		if err != nil {
			return err
		}
		if err := dir.removeRecord(or); err != nil {
			return err
		}
		f.move(src, ipos, moved)
		if err := dir.touch(ctx.Now, true); err != nil {
			return err
		}
		if nd != dir {
			if err := nd.touch(ctx.Now, false); err != nil {
				return err
			}
		}
	} else {
		// Over an existing name: the entry is the target's.
		old, err := f.inodeOf(nr)
		if err != nil {
			return err
		}
		if old.dir {
			if err := f.checkEmpty(nr); err != nil {
				return err
			}
		}
		moved := src.de
		moved.Name, moved.NTRes = nr.de.Name, nr.de.NTRes
		if err := dir.removeRecord(or); err != nil {
			return err
		}
		if err := f.unlinkAt(w, nr); err != nil {
			return err
		}
		f.move(src, nr.ipos, moved)
		if err := src.writeInode(); err != nil {
			return err
		}
		if old.dir && nd.nlink > 2 {
			nd.nlink-- // the replaced directory's ".." is gone
		}
		if err := dir.touch(ctx.Now, true); err != nil {
			return err
		}
	}
	if src.dir && nd != dir {
		dir.nlink--
		nd.nlink++
		return src.setDotdot(nd)
	}
	return nil
}

// inodeOf returns the inode of a record: the one the VFS holds, or one
// read for the operation.
func (f *fsys) inodeOf(r *record) (*inode, error) {
	if ip := f.inodes[r.ipos]; ip != nil {
		return ip, nil
	}
	return f.readInode(r.ipos, &r.de)
}

// move puts ip's entry at ipos with de, keeping the inode (and its
// number) for whoever holds it.
func (f *fsys) move(ip *inode, ipos int64, de fat.DirEntry) {
	if f.inodes[ip.ipos] == ip {
		delete(f.inodes, ip.ipos)
		f.inodes[ipos] = ip
	}
	ip.ipos, ip.de = ipos, de
}

// setDotdot points a directory's ".." entry at its new parent's first
// cluster (0 for the root).
func (ip *inode) setDotdot(parent *inode) error {
	s, err := ip.scanner(fat.DirEntrySize)
	if err != nil {
		return err
	}
	raw, _, off, ok, err := s.next()
	if err != nil || !ok {
		return err
	}
	de := fat.DecodeDirEntry(raw)
	if de.Name != dotdotName {
		ip.f.log.Printf("FAT-fs (%s): directory i_pos %d has no \"..\" entry to update", ip.f.name, ip.ipos)
		return nil
	}
	de.SetCluster(ip.f.Bits, parent.logStart())
	var b [fat.DirEntrySize]byte
	de.Encode(b[:])
	if _, err := ip.f.wdev.WriteAt(b[:], off); err != nil {
		return abi.Errorf(abi.EIO, "vfat: writing \"..\" at %d: %v", off, err)
	}
	return nil
}

// exchange swaps what the entries of or (in dir) and nr (in nd) describe
// (vfat_rename_exchange): each name stays where it is and now holds the
// other inode.
func (dir *inode) exchange(w *fatReader, ctx vfs.Ctx, or *record, a *inode, nd *inode, nr *record) error {
	f := dir.f
	b, err := f.inodeOf(nr)
	if err != nil {
		return err
	}
	da, db := b.de, a.de // what each position will hold: the other's
	da.Name, da.NTRes = or.de.Name, or.de.NTRes
	db.Name, db.NTRes = nr.de.Name, nr.de.NTRes
	heldA, heldB := f.inodes[or.ipos] == a, f.inodes[nr.ipos] == b
	delete(f.inodes, or.ipos)
	delete(f.inodes, nr.ipos)
	a.ipos, a.de = nr.ipos, db
	b.ipos, b.de = or.ipos, da
	if heldA {
		f.inodes[a.ipos] = a
	}
	if heldB {
		f.inodes[b.ipos] = b
	}
	if err := a.writeInode(); err != nil {
		return err
	}
	if err := b.writeInode(); err != nil {
		return err
	}
	if nd != dir {
		if a.dir {
			if err := a.setDotdot(nd); err != nil {
				return err
			}
		}
		if b.dir {
			if err := b.setDotdot(dir); err != nil {
				return err
			}
		}
		if a.dir != b.dir {
			if a.dir {
				dir.nlink--
				nd.nlink++
			} else {
				dir.nlink++
				nd.nlink--
			}
		}
		if err := nd.touch(ctx.Now, false); err != nil {
			return err
		}
	}
	return dir.touch(ctx.Now, false)
}
