// Package vfat is the FAT filesystem driver (FAT12, FAT16 and FAT32 with
// VFAT long names), as Linux's fs/fat with the vfat name handling of
// namei_vfat.c: it mounts the volumes of format/fat and serves the VFS's
// inode operations, read-only and read-write.
//
// FAT has no inodes: a file is its directory entry (its short 8.3 entry,
// the long-name slots before it) and its cluster chain in the FAT. As in
// Linux, an in-memory inode stands for the entry at a position i_pos (the
// byte offset of the short entry on the device; the root directory, which
// has no entry, is position 0), found again by that position for as long
// as anything holds it; its attributes are written back into the entry
// when they change. Owners and permissions come from the mount options
// (uid, gid, umask, dmask, fmask), the read-only attribute taking the
// write bits away; there are no links, symlinks, devices or xattrs.
//
// Writes go to the device's page cache as Linux's buffer heads do: the
// FATs (every copy, unless FAT32's ExtFlags says only one is active), the
// FSInfo hints, directory entries and data. There is no journal: the boot
// sector's dirty bit is set while the volume is mounted read-write and
// cleared at a clean unmount, as Linux's fat_set_state does, so that fsck
// knows when to look.
//
// Locking: one reader-writer lock per mount (fsys.mu). Reads (lookups,
// readdir, file reads, getattr) hold it shared; every change holds it
// exclusively. A FAT volume is small and its structures are shared (one
// FAT, directories as files): one lock keeps every change whole.
package vfat

import (
	"sync"

	"github.com/lklimg/lklimg/format/fat"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// MsdosSuperMagic is f_type of a FAT filesystem (MSDOS_SUPER_MAGIC).
const MsdosSuperMagic = 0x4d44

// rootIno is the root directory's inode number (MSDOS_ROOT_INO).
const rootIno = 1

// fsType is the registered "vfat" type (vfat_fs_type), or with msdos the
// "msdos" one (msdos.go).
type fsType struct{ msdos bool }

// NewType returns the vfat filesystem type.
func NewType() vfs.FilesystemType { return fsType{} }

func (t fsType) Name() string {
	if t.msdos {
		return "msdos"
	}
	return "vfat"
}

// Probe reads the boot sector and accepts it as blkid's vfat probe does:
// one of the magic strings or a jump instruction, and a BPB a mount would
// take.
func (fsType) Probe(dev vfs.BlockDevice) bool {
	p := make([]byte, fat.BootSectorSize)
	if n, _ := dev.ReadAt(p, 0); n < len(p) {
		return false
	}
	magic := false
	for _, m := range []struct {
		s   string
		off int
	}{{"MSWIN", 0x52}, {"FAT32   ", 0x52}, {"MSDOS", 0x36}, {"FAT16   ", 0x36}, {"FAT12   ", 0x36}, {"FAT     ", 0x36}} {
		if string(p[m.off:m.off+len(m.s)]) == m.s {
			magic = true
		}
	}
	// Weaker: a jump and the signature, as old floppies have.
	if !magic && (p[0] == 0xEB || p[0] == 0xE9) && fat.HasSignature(p) {
		magic = true
	}
	if !magic {
		return false
	}
	b, err := fat.DecodeBootSector(p)
	if err != nil {
		return false
	}
	l, err := b.Check()
	return err == nil && int64(l.TotalSectors)*int64(l.SectorSize) <= dev.Size()+int64(l.SectorSize)*int64(l.SecPerClus)
}

// fsys is a mounted FAT volume (struct msdos_sb_info).
type fsys struct {
	msdos bool // the msdos type: 8.3 names only (msdos.go)
	dev   vfs.BlockDevice
	wdev  vfs.BlockWriter // nil on a read-only mount
	log   vfs.Logger
	name  string
	fat.Layout
	opts options
	boot *fat.BootSector
	now  func() abi.Timespec

	mu sync.RWMutex
	// imu guards inodes and every inode's handouts among the holders of
	// mu's shared side (lookups); holding mu exclusively is enough.
	imu    sync.Mutex
	inodes map[int64]*inode // by i_pos, while the VFS holds them (inode.go)
	inos   map[uint64]bool  // the numbers of the inodes the VFS holds
	spare  uint64           // spare numbers handed out (handout)
	root   *inode

	// The allocator's state (alloc.go): the free count (-1 unknown) and
	// where the next search starts (prev_free).
	freeClusters int64
	prevFree     uint32
	wfat         *fatReader // the writers' FAT window (writer)
	fsinfoDirty  bool
	wasDirty     bool // the volume was dirty when mounted: leave it so
}

// Mount reads and checks the boot sector (fat_fill_super) and, on FAT32,
// the FSInfo sector.
func (t fsType) Mount(dev vfs.BlockDevice, flags uint64, data string, log vfs.Logger) (vfs.Superblock, error) {
	if log == nil {
		log = vfs.DiscardLogger
	}
	name := dev.Name()
	opts, err := parseOptions(data)
	if err != nil {
		log.Printf("FAT-fs (%s): %v", name, err)
		return nil, err
	}
	p := make([]byte, fat.BootSectorSize)
	if _, err := dev.ReadAt(p, 0); err != nil {
		log.Printf("FAT-fs (%s): unable to read boot sector", name)
		return nil, abi.Errorf(abi.EIO, "vfat: boot sector: %v", err)
	}
	b, err := fat.DecodeBootSector(p)
	if err == nil {
		var l *fat.Layout
		if l, err = b.Check(); err == nil {
			f := &fsys{dev: dev, log: log, name: name, Layout: *l, opts: opts, boot: b, msdos: t.msdos,
				inodes: make(map[int64]*inode), inos: make(map[uint64]bool), freeClusters: -1, prevFree: fat.FirstCluster}
			return f.mount(flags)
		}
	}
	log.Printf("FAT-fs (%s): %v", name, err)
	log.Printf("FAT-fs (%s): Can't find a valid FAT filesystem", name)
	return nil, err
}

// mount ends fat_fill_super: the device's size, FSInfo, the root, and
// for a read-write mount the dirty bit.
func (f *fsys) mount(flags uint64) (vfs.Superblock, error) {
	if f.SectorSize < 512 || int64(f.TotalSectors)*int64(f.SectorSize) > f.dev.Size() {
		// Linux reads past the end and fails there; say so at once.
		f.log.Printf("FAT-fs (%s): volume of %d sectors exceeds the device", f.name, f.TotalSectors)
		return nil, abi.Errorf(abi.EINVAL, "vfat: volume of %d sectors of %d bytes exceeds the device (%d bytes)",
			f.TotalSectors, f.SectorSize, f.dev.Size())
	}
	if f.Bits == 32 {
		f.readFSInfo()
	}
	if f.DirtyOnDisk {
		f.log.Printf("FAT-fs (%s): Volume was not properly unmounted. Some data may be corrupt. Please run fsck.", f.name)
	}
	root, err := f.newRoot()
	if err != nil {
		return nil, err
	}
	f.root = root
	if flags&abi.MS_RDONLY == 0 {
		if err := f.startWriting(); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// readFSInfo takes FAT32's free count and next-free hint where they are
// plausible (fat_fill_super): a bad signature is a warning, not an error.
func (f *fsys) readFSInfo() {
	p := make([]byte, f.SectorSize)
	if _, err := f.dev.ReadAt(p, int64(f.FSInfoSector)*int64(f.SectorSize)); err != nil {
		f.log.Printf("FAT-fs (%s): bread failed, FSINFO block (sector = %d)", f.name, f.FSInfoSector)
		return
	}
	info, err := fat.DecodeFSInfo(p)
	if err != nil {
		f.log.Printf("FAT-fs (%s): %v (sector = %d)", f.name, err, f.FSInfoSector)
		return
	}
	if f.opts.usefree && info.FreeCount <= f.Clusters {
		f.freeClusters = int64(info.FreeCount)
	}
	f.prevFree = info.NextFree % f.MaxCluster
	if f.prevFree < fat.FirstCluster {
		f.prevFree = fat.FirstCluster
	}
}

// Root returns the root directory.
func (f *fsys) Root() (vfs.Inode, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.handout(f.root), nil
}

// Statfs reports the volume as fat_statfs does: blocks are clusters, the
// free ones counted on the FAT once and then kept; no inode counts.
func (f *fsys) Statfs() (abi.Statfs, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	free, err := f.countFree()
	if err != nil {
		return abi.Statfs{}, err
	}
	return abi.Statfs{
		Type:    MsdosSuperMagic,
		Bsize:   int64(f.ClusterSize),
		Blocks:  uint64(f.Clusters),
		Bfree:   uint64(free),
		Bavail:  uint64(free),
		Namelen: fat.MaxLongName * 6, // FAT_LFN_LEN * NLS_MAX_CHARSET_SIZE, whatever the charset
		Frsize:  int64(f.ClusterSize),
	}, nil
}

// Unmount writes back what a read-write mount holds and clears the dirty
// bit; a read-only mount has nothing to do.
func (f *fsys) Unmount() error {
	if f.wdev == nil {
		return nil
	}
	return f.stopWriting()
}

// SetClock gives the driver the kernel's clock for the times it stamps.
func (f *fsys) SetClock(now func() abi.Timespec) { f.now = now }
