// Package isofs is the ISO 9660 driver, as Linux's fs/isofs: it mounts
// the volumes of format/iso9660 read-only and serves the VFS's read
// operations, with Rock Ridge (POSIX attributes, long names, symlinks,
// devices, relocated deep directories), Joliet (Unicode names) and
// zisofs (files decompressed as they are read).
//
// Linux's choices are kept, since what Linux shows is what a user
// expects of an image:
//
//   - Names: Rock Ridge's when the root's "." record has the ER entry
//     that names it (norock turns it off), else Joliet's when there is a
//     Joliet descriptor (nojoliet), else Rock Ridge's NM where a record
//     has one (entries are read without ER too), else the ISO 9660
//     identifier mapped as map=normal does (lower case, ";1" dropped).
//     A disc with both whose primary root is empty is read through
//     Joliet.
//   - Inode numbers come from where the record is: the byte offset of a
//     file's directory record divided by 32 (isofs_get_ino), a
//     directory's from its first block (its "." record, from which its
//     attributes are read too). A file with several names (a hard link)
//     has several inode numbers, each with PX's link count, as on Linux,
//     which does not use RRIP 1.12's serial number.
//   - Directories are read in the order of their records; readdir shows
//     a file of several extents (multi-extent, ISO level 3) once, at its
//     last record, with its first record's inode number; records flagged
//     associated are left out unless showassoc, hidden ones only with
//     hide; relocated directories (RE) are left out where they lie and
//     shown where their CL record stands.
//   - High Sierra discs (the 1986 draft of ISO 9660) are read as Linux
//     reads them: their primary descriptor, records with the flags one
//     byte earlier, no Rock Ridge, names mapped.
//   - Without Rock Ridge every file is r-x for all (mode= and dmode=
//     change that), owned by uid= and gid= (root by default).
//
// Deviations, each for an image Linux would mishandle: a PX mode with no
// file type is EUCLEAN here (Linux makes an inode with no type); the
// XA-skipping retry and the SP offset are decided once, from the root,
// at mount; a ZF block size under 2^9 is refused as one over 2^17 is.
// Not implemented: map=acorn, session= (an image
// file has no table of contents; sbsector= names a session), charsets
// other than UTF-8 for Joliet names.
//
// Locking: a mounted volume never changes. Inodes are made afresh at
// each lookup from the records (through the page cache) and are not
// changed after; the directory indexes and a zisofs file's last block
// have mutexes of their own.
package isofs

import (
	"sync"

	"github.com/lklimg/lklimg/format/iso9660"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// IsofsSuperMagic is f_type of an ISO 9660 filesystem (ISOFS_SUPER_MAGIC).
const IsofsSuperMagic = 0x9660

// fsType is the registered "iso9660" type (iso9660_fs_type).
type fsType struct{}

// NewType returns the iso9660 filesystem type.
func NewType() vfs.FilesystemType { return fsType{} }

func (fsType) Name() string { return "iso9660" }

// Probe looks for "CD001" at sector 16 (byte 32769), as blkid's iso9660
// probe does, or High Sierra's "CDROM" (byte 32777); a hybrid image
// partitioned with an MBR or a GPT has it on its whole disk.
func (fsType) Probe(dev vfs.BlockDevice) bool {
	p := make([]byte, 16)
	n, _ := dev.ReadAt(p, iso9660.FirstDescriptorSector*iso9660.SectorSize)
	return n == len(p) && (iso9660.IsDescriptor(p) || iso9660.IsHSDescriptor(p))
}

// Rock Ridge states (s_rock).
const (
	rockOff   = 0 // norock, or Joliet chosen
	rockOn    = 1 // the root's ER says Rock Ridge
	rockMaybe = 2 // entries are read where found, with no ER seen
)

// fsys is a mounted volume (struct isofs_sb_info).
type fsys struct {
	dev  vfs.BlockDevice
	log  vfs.Logger
	name string
	opts options

	shift  uint  // log2 of the logical block size (s_blocksize_bits)
	bsize  int64 // the logical block size
	nzones uint32

	highSierra bool // records have High Sierra's layout (s_high_sierra)
	rock       int
	rockOffset int // SP's LEN_SKP; -1 when the root had no SP
	joliet     int // Joliet level; 0 when not reading Joliet names
	xaRetry    bool

	root *inode

	imu     sync.Mutex
	indexes map[int64]*dirIndex // by directory data offset (dir.go)
	indexed int                 // names held by indexes
}

// Mount reads the volume descriptors from sector 16 and the root, as
// isofs_fill_super does. The mount is read-only whatever flags say: the
// VFS marks it so (ReadOnly).
func (fsType) Mount(dev vfs.BlockDevice, flags uint64, data string, log vfs.Logger) (vfs.Superblock, error) {
	if log == nil {
		log = vfs.DiscardLogger
	}
	opts, err := parseOptions(data)
	if err != nil {
		log.Printf("ISOFS: %v", err)
		return nil, err
	}
	f := &fsys{dev: dev, log: log, name: dev.Name(), opts: opts, rockOffset: -1, indexes: make(map[int64]*dirIndex)}
	if err := f.fillSuper(); err != nil {
		return nil, err
	}
	return f, nil
}

// ReadOnly tells the VFS the mount is read-only: ISO 9660 is.
func (f *fsys) ReadOnly() bool { return true }

// fillSuper is isofs_fill_super: the descriptors, the block size, Rock
// Ridge or Joliet, the root.
func (f *fsys) fillSuper() error {
	start := int64(0)
	if f.opts.sbsector >= 0 {
		start = f.opts.sbsector
	}
	var pri, sec *iso9660.VolumeDescriptor
	jolietLevel := 0
	p := make([]byte, iso9660.SectorSize)
scan:
	for i := int64(0); i < iso9660.MaxDescriptors; i++ {
		off := (start + iso9660.FirstDescriptorSector + i) * iso9660.SectorSize
		if _, err := f.dev.ReadAt(p, off); err != nil {
			f.log.Printf("ISOFS: bread failed, dev=%s, iso_blknum=%d", f.name, start+iso9660.FirstDescriptorSector+i)
			return abi.Errorf(abi.EIO, "isofs: volume descriptor at sector %d: %v", start+iso9660.FirstDescriptorSector+i, err)
		}
		if iso9660.IsHSDescriptor(p) {
			// High Sierra: its primary descriptor is the one
			// read, without Rock Ridge; any other type of it
			// fails the mount, as on Linux.
			if iso9660.HSType(p) != iso9660.TypePrimary {
				return abi.Errorf(abi.EINVAL, "isofs: High Sierra volume descriptor of type %d at sector %d before the primary", iso9660.HSType(p), start+iso9660.FirstDescriptorSector+i)
			}
			d, err := iso9660.DecodeHSVolumeDescriptor(p)
			if err != nil {
				f.log.Printf("ISOFS: %v", err)
				return err
			}
			pri, f.highSierra, f.opts.rock = d, true, false
			break scan
		}
		if !iso9660.IsDescriptor(p) {
			continue
		}
		switch p[0] {
		case iso9660.TypeTerminator:
			break scan
		case iso9660.TypePrimary:
			if pri == nil {
				d, err := iso9660.DecodeVolumeDescriptor(p)
				if err != nil {
					f.log.Printf("ISOFS: %v", err)
					return err
				}
				pri = d
			}
		case iso9660.TypeSupplementary:
			d, err := iso9660.DecodeVolumeDescriptor(p)
			if err != nil || !d.IsJoliet() {
				continue
			}
			// Linux stops at the Joliet descriptor.
			sec = d
			if f.opts.joliet {
				jolietLevel = d.JolietLevel()
				f.log.Printf("ISO 9660 Extensions: Microsoft Joliet Level %d", jolietLevel)
			}
			break scan
		case iso9660.TypeBootRecord:
			if b, err := iso9660.DecodeBootRecord(p); err == nil && b.IsElTorito() {
				f.log.Printf("ISOFS: El Torito boot catalog at sector %d", b.CatalogSector)
			}
		}
	}
	if jolietLevel != 0 && (pri == nil || !f.opts.rock) {
		pri = sec
	}
	if pri == nil {
		f.log.Printf("ISOFS: Unable to identify CD-ROM format.")
		return abi.Errorf(abi.EINVAL, "isofs: no primary volume descriptor in sectors %d to %d", start+16, start+99)
	}
	shift, err := pri.BlockShift()
	if err != nil {
		f.log.Printf("ISOFS: Bad logical zone size %d", pri.LogicalBlockSize)
		return abi.Errorf(abi.EINVAL, "isofs: %v", err)
	}
	f.shift, f.bsize, f.nzones = shift, 1<<shift, pri.VolumeSpaceSize
	firstDataZone := int64(pri.Root.Extent) + int64(pri.Root.ExtAttrLen)
	jolietZone := firstDataZone
	if jolietLevel != 0 {
		jolietZone = int64(sec.Root.Extent) + int64(sec.Root.ExtAttrLen)
	}
	f.log.Printf("ISOFS: Max size:%d   Log zone size:%d", f.nzones, f.bsize)
	f.log.Printf("ISOFS: First datazone:%d", firstDataZone)
	if f.highSierra {
		f.log.Printf("ISOFS: Disc in High Sierra format.")
	}

	if f.opts.rock {
		f.rock = rockMaybe
	}
	if err := f.readRockRoot(firstDataZone << f.shift); err != nil {
		return err
	}
	if f.rock == rockOn && jolietLevel != 0 && f.rootDirEmpty(firstDataZone<<f.shift) {
		f.log.Printf("ISOFS: primary root directory is empty. Disabling Rock Ridge and switching to Joliet.")
		f.rock = rockOff
	}
	if f.rock == rockOn {
		jolietLevel = 0
	} else if jolietLevel != 0 {
		f.rock = rockOff
		if jolietZone != firstDataZone {
			f.log.Printf("ISOFS: changing to secondary root")
			firstDataZone = jolietZone
		}
	}
	f.joliet = jolietLevel
	if f.opts.check == 'u' {
		if jolietLevel != 0 {
			f.opts.check = 'r'
		} else {
			f.opts.check = 's'
		}
	}
	f.xaRetry = f.rock == rockMaybe && f.rockOffset < 0
	root, err := f.readInode(firstDataZone<<f.shift, false)
	if err != nil {
		f.log.Printf("isofs_fill_super: get root inode failed")
		return err
	}
	if root.mode&abi.S_IFMT != abi.S_IFDIR {
		f.log.Printf("isofs_fill_super: root inode is not a directory. Corrupted media?")
		return abi.Errorf(abi.EINVAL, "isofs: root inode is not a directory")
	}
	f.root = root
	return nil
}

// readRockRoot reads the SUSP entries of the root's "." record at pos, as
// the root's first isofs_iget does: SP gives the skip of every other
// record's area, ER turns Rock Ridge on. When no SP starts the area, it
// is read again 14 bytes on (parse_rock_ridge_inode's RR_REGARD_XA
// retry): genisoimage -XA puts CD-ROM XA's system use information
// first, then SP with a skip of 14, and Linux finds Rock Ridge there.
func (f *fsys) readRockRoot(pos int64) error {
	if f.rock == rockOff {
		return nil
	}
	var buf [2 * 256]byte
	r, err := f.recordAt(pos, buf[:])
	if err != nil {
		return err
	}
	if err := f.readRockRootArea(&r, false); err != nil || f.rockOffset >= 0 || f.rock != rockMaybe {
		return err
	}
	return f.readRockRootArea(&r, true)
}

// readRockRootArea is one pass of readRockRoot, xa as walkSUSP's.
func (f *fsys) readRockRootArea(r *iso9660.DirRecord, xa bool) error {
	return f.walkSUSP(r.SystemUse, xa, func(e iso9660.Entry) (bool, error) {
		switch e.Sig {
		case iso9660.SigSP:
			sp, err := iso9660.DecodeSP(e)
			if err != nil {
				return true, nil
			}
			if f.rockOffset < 0 {
				f.rockOffset = int(sp.Skip)
			}
		case iso9660.SigER:
			er, err := iso9660.DecodeER(e)
			if err != nil {
				return true, nil
			}
			f.rock = rockOn
			f.log.Printf("ISO 9660 Extensions: %s", er.ID)
		}
		return false, nil
	})
}

// decodeRecord decodes the directory record at the start of p, in High
// Sierra's layout on such a disc.
func (f *fsys) decodeRecord(p []byte) (iso9660.DirRecord, error) {
	if f.highSierra {
		return iso9660.DecodeHSDirRecord(p)
	}
	return iso9660.DecodeDirRecord(p)
}

// rootDirEmpty reports whether the directory at pos has fewer than three
// records in its first block (rootdir_empty).
func (f *fsys) rootDirEmpty(pos int64) bool {
	p := make([]byte, f.bsize)
	if _, err := f.dev.ReadAt(p, pos); err != nil {
		return true
	}
	off, files := 0, 0
	for files < 3 && off < len(p) && p[off] != 0 {
		files++
		off += int(p[off])
	}
	return files < 3
}

// Root returns the root directory.
func (f *fsys) Root() (vfs.Inode, error) { return f.root, nil }

// Statfs reports the volume as isofs_statfs does: its blocks, none free,
// no inode counts, NAME_MAX.
func (f *fsys) Statfs() (abi.Statfs, error) {
	return abi.Statfs{
		Type:    IsofsSuperMagic,
		Bsize:   f.bsize,
		Blocks:  uint64(f.nzones),
		Namelen: 255,
		Frsize:  f.bsize,
	}, nil
}

// Unmount has nothing to write back.
func (f *fsys) Unmount() error { return nil }
