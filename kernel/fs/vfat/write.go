package vfat

import (
	"github.com/lklimg/lklimg/format/fat"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// A read-write mount (fat_set_state, fat_clusters_flush): the boot
// sector's state byte says the volume is in use from the mount to a clean
// unmount, and FSInfo's hints are written back at each sync.

// startWriting makes the mount writable: the device must take writes,
// and the dirty bit is set and written through (unless it was set, which
// is then left for fsck).
func (f *fsys) startWriting() error {
	w, ok := f.dev.(vfs.BlockWriter)
	if !ok || f.dev.ReadOnly() {
		return abi.Errorf(abi.EROFS, "vfat: %s is read-only", f.name)
	}
	f.wdev = w
	f.wasDirty = f.DirtyOnDisk
	if f.wasDirty {
		return nil
	}
	if err := f.setState(true); err != nil {
		return err
	}
	// On the disk now, as fat_set_state's sync_dirty_buffer has it: left
	// in the cache, a server killed after some of the FAT and data were
	// written back could leave a volume changed but marked clean.
	return f.flushDevice()
}

// setState sets or clears StateDirty in the boot sector (fat_set_state).
func (f *fsys) setState(dirty bool) error {
	var b [1]byte
	off := int64(f.StateOffset)
	if _, err := f.dev.ReadAt(b[:], off); err != nil {
		return abi.Errorf(abi.EIO, "vfat: reading the boot sector: %v", err)
	}
	if dirty {
		b[0] |= fat.StateDirty
	} else {
		b[0] &^= fat.StateDirty
	}
	if _, err := f.wdev.WriteAt(b[:], off); err != nil {
		return abi.Errorf(abi.EIO, "vfat: writing the boot sector: %v", err)
	}
	return nil
}

// Sync writes FSInfo's hints and every dirty page to the device and
// flushes it (not with nobarrier).
func (f *fsys) Sync() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.syncLocked()
}

func (f *fsys) syncLocked() error {
	if err := f.flushFSInfo(); err != nil {
		return err
	}
	return f.flushDevice()
}

// flushDevice writes every dirty page of the device back and flushes its
// cache; with nobarrier it only writes the pages back.
func (f *fsys) flushDevice() error {
	if wb, ok := f.wdev.(vfs.Writebacker); ok && f.opts.noBarrier {
		return wb.Writeback()
	}
	return f.wdev.Sync()
}

// flushFSInfo writes the free count and the next-free hint into FAT32's
// FSInfo sector when they changed (fat_clusters_flush). A sector with bad
// signatures is left alone, as Linux leaves it.
func (f *fsys) flushFSInfo() error {
	if f.Bits != 32 || !f.fsinfoDirty {
		return nil
	}
	p := make([]byte, f.SectorSize)
	off := int64(f.FSInfoSector) * int64(f.SectorSize)
	if _, err := f.dev.ReadAt(p, off); err != nil {
		return abi.Errorf(abi.EIO, "vfat: reading FSInfo: %v", err)
	}
	if _, err := fat.DecodeFSInfo(p); err != nil {
		f.log.Printf("FAT-fs (%s): %v, not updated", f.name, err)
		f.fsinfoDirty = false
		return nil
	}
	free := uint32(fat.FSInfoUnknown)
	if f.freeClusters >= 0 {
		free = uint32(f.freeClusters)
	}
	fat.FSInfo{FreeCount: free, NextFree: f.prevFree}.EncodeHints(p)
	if _, err := f.wdev.WriteAt(p, off); err != nil {
		return abi.Errorf(abi.EIO, "vfat: writing FSInfo: %v", err)
	}
	f.fsinfoDirty = false
	return nil
}

// stopWriting ends a read-write mount: FSInfo, the dirty bit cleared
// (unless the volume came dirty), everything synced.
func (f *fsys) stopWriting() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.flushFSInfo(); err != nil {
		return err
	}
	if !f.wasDirty {
		if err := f.setState(false); err != nil {
			return err
		}
	}
	return f.flushDevice()
}
