// Package erofs is the EROFS driver (read-only, as Linux's fs/erofs): it
// mounts the images of format/erofs and serves the VFS's read
// operations: lookups by binary search over the sorted directories,
// readdir in the on-disk order ("." and ".." included, where the image
// has them), file data of every layout (flat, tail-packed inline,
// chunk-based with holes, compressed with full or compact lcluster
// indexes, big pclusters, tail-packed compressed tails, fragments of the
// packed inode), symlinks, devices and xattrs (inline, shared, long
// prefixes).
//
// The 48-bit layout is read (48-bit block addresses, 64-bit root nid,
// compressed extent records, directories without their "." entry), and
// the metabox: inodes whose nid has bit 63 set lie, with all their
// metadata, in the data of the metabox inode (compressed or not).
//
// Not read (EOPNOTSUPP at mount): images spread over extra devices.
//
// Compressed data: LZ4, MicroLZMA, DEFLATE and Zstandard pclusters are
// decoded, and uncompressed "plain" ones (shifted or interlaced). A
// pcluster's extent is decoded whole into a
// buffer the mount keeps (one, the last decoded), so that a file read in
// pieces decodes each extent once.
//
// Inodes are not cached: each lookup decodes the on-disk inode again
// (one read through the block device's page cache); the VFS's dentry
// cache holds those in use. Nothing is written, ever.
package erofs

import (
	"sync"

	"github.com/klauspost/compress/zstd"

	disk "github.com/lklimg/lklimg/format/erofs"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// fsType is the registered "erofs" type (erofs_fs_type).
type fsType struct{}

// NewType returns the erofs filesystem type.
func NewType() vfs.FilesystemType { return fsType{} }

func (fsType) Name() string { return "erofs" }

// Probe accepts a device with the EROFS magic at byte 1024 and a block
// size Linux mounts, as blkid's erofs probe looks at the magic and the
// block size bits.
func (fsType) Probe(dev vfs.BlockDevice) bool {
	var p [disk.SuperBlockSize]byte
	if n, _ := dev.ReadAt(p[:], disk.SuperOffset); n < len(p) {
		return false
	}
	sb, err := disk.DecodeSuperBlock(p[:])
	return err == nil && sb.BlkSzBits >= disk.MinBlkSzBits && sb.BlkSzBits <= disk.MaxBlkSzBits
}

// fsys is a mounted EROFS image (struct erofs_sb_info).
type fsys struct {
	dev     vfs.BlockDevice
	log     vfs.Logger
	name    string
	sb      *disk.SuperBlock
	opts    options
	bsize   int64
	blkbits uint
	// prefixes are the long xattr name prefixes (xattr_prefix_count).
	prefixes []string
	// packed is the packed inode (packed_nid), which holds fragments
	// and long xattr prefixes; nil without one.
	packed *inode

	// devs are the extra devices' slots: a library kernel mounts an
	// image on one disk, read as Linux reads one mounted without device=
	// options (erofs_scan_devices' flatdev): each extra device from its
	// unified address on the primary one.
	devs []disk.DeviceSlot

	// metabox is the metabox inode (metabox_nid), whose data holds the
	// inodes of nids with disk.NidMetaboxBit; nil without one.
	metabox *inode

	// zfile is the last decoded extent of a file's data, zmeta the
	// metabox's (read while a file's extent is decoded, when the
	// file's indexes lie in the metabox), zpacked the packed inode's.
	zfile, zmeta, zpacked zcache
	zstdMu                sync.Mutex
	zstd                  *zstd.Decoder // made on first use, under zstdMu
}

// zcache is the last decoded extent and the lock compressed reads take
// while they decode and copy.
type zcache struct {
	mu sync.Mutex
	zextent
}

// Mount reads and checks the superblock (erofs_read_superblock and
// erofs_fill_super): the checksum when the image has one, the features,
// and the root directory. A mount asked read-write is read-only all the
// same (ReadOnly), as Linux's erofs_fc_fill_super sets SB_RDONLY.
func (fsType) Mount(dev vfs.BlockDevice, flags uint64, data string, log vfs.Logger) (vfs.Superblock, error) {
	if log == nil {
		log = vfs.DiscardLogger
	}
	f := &fsys{dev: dev, log: log, name: dev.Name()}
	fail := func(err error) (vfs.Superblock, error) {
		log.Printf("erofs (device %s): %v", f.name, err)
		return nil, err
	}
	var err error
	if f.opts, err = parseOptions(data); err != nil {
		return fail(err)
	}
	p := make([]byte, 4096)
	if n, err := dev.ReadAt(p, 0); n < disk.SuperOffset+disk.SuperBlockSize {
		return fail(abi.Errorf(abi.EIO, "erofs: cannot read erofs superblock: %v", err))
	} else {
		p = p[:n]
	}
	sb, err := disk.DecodeSuperBlock(p[disk.SuperOffset:])
	if err != nil {
		return fail(err)
	}
	if err := sb.Check(); err != nil {
		return fail(err)
	}
	if sb.FeatureCompat&disk.FeatureCompatSbChksum != 0 {
		n := sb.ChecksumLen()
		if disk.SuperOffset+n > len(p) {
			return fail(abi.Errorf(abi.EIO, "erofs: superblock cut at %d bytes", len(p)))
		}
		if crc := disk.SuperChecksum(p[disk.SuperOffset : disk.SuperOffset+n]); crc != sb.Checksum {
			return fail(abi.Errorf(abi.EUCLEAN, "erofs: invalid checksum 0x%08x, 0x%08x expected", crc, sb.Checksum))
		}
	}
	f.sb = sb
	f.blkbits = uint(sb.BlkSzBits)
	f.bsize = 1 << f.blkbits
	if sb.ExtraDevices != 0 {
		if err := f.loadDevices(); err != nil {
			return fail(err)
		}
	}
	// Linux reads the packed inode only with the FRAGMENTS feature, and
	// the metabox inode after it (erofs_fc_fill_super).
	if sb.FeatureIncompat&disk.FeatureIncompatFragments != 0 && sb.PackedNid != 0 {
		if f.packed, err = f.iget(sb.PackedNid); err != nil {
			return fail(err)
		}
	}
	if sb.FeatureIncompat&disk.FeatureIncompatMetabox != 0 {
		if f.metabox, err = f.iget(sb.MetaboxNid); err != nil {
			return fail(err)
		}
	}
	if sb.FeatureIncompat&disk.FeatureIncompatXattrPrefixes != 0 && sb.XattrPrefixCount > 0 {
		if err := f.loadPrefixes(); err != nil {
			return fail(err)
		}
	}
	root, err := f.iget(sb.Root())
	if err != nil {
		return fail(err)
	}
	if uint32(root.di.Mode)&abi.S_IFMT != abi.S_IFDIR {
		return fail(abi.Errorf(abi.EINVAL, "erofs: rootino(nid %d) is not a directory(i_mode %o)", sb.Root(), root.di.Mode))
	}
	log.Printf("erofs (device %s): mounted with root inode @ nid %d.", f.name, sb.Root())
	return f, nil
}

// ReadOnly tells the VFS the mount is read-only whatever was asked:
// EROFS has no write path (erofs_fc_fill_super sets SB_RDONLY).
func (f *fsys) ReadOnly() bool { return true }

// Root returns the root directory.
func (f *fsys) Root() (vfs.Inode, error) { return f.iget(f.sb.Root()) }

// Statfs reports the image as erofs_statfs does: every block used (the
// extra devices' too), no free block; f_files as ULLONG_MAX and f_ffree
// the rest after inos.
func (f *fsys) Statfs() (abi.Statfs, error) {
	blocks := f.sb.PrimaryBlocks()
	for _, d := range f.devs {
		blocks += d.Blocks
	}
	return abi.Statfs{
		Type:    disk.SuperMagicV1,
		Bsize:   f.bsize,
		Blocks:  blocks,
		Files:   ^uint64(0),
		Ffree:   ^uint64(0) - f.sb.Inos,
		Namelen: disk.NameLen,
		Frsize:  f.bsize,
	}, nil
}

// Unmount has nothing to release but the decoded extent.
func (f *fsys) Unmount() error {
	for _, c := range []*zcache{&f.zfile, &f.zmeta, &f.zpacked} {
		c.mu.Lock()
		c.zextent = zextent{}
		c.mu.Unlock()
	}
	f.zstdMu.Lock()
	if f.zstd != nil {
		f.zstd.Close()
		f.zstd = nil
	}
	f.zstdMu.Unlock()
	return nil
}

// loadDevices reads the extra devices' slots (erofs_scan_devices).
func (f *fsys) loadDevices() error {
	pos := int64(f.sb.DevtSlotOff) * disk.DeviceSlotSize
	for i := 0; i < int(f.sb.ExtraDevices); i++ {
		var b [disk.DeviceSlotSize]byte
		if err := f.readMeta(b[:], pos, "device slot"); err != nil {
			return err
		}
		d, _ := disk.DecodeDeviceSlot(b[:], f.sb.FeatureIncompat&disk.FeatureIncompat48Bit != 0)
		f.devs = append(f.devs, d)
		pos += disk.DeviceSlotSize
	}
	return nil
}

// readMetaIn reads metadata at off: of the metabox inode's data when
// mbox is set (an inode in the metabox: its metadata, erofs_read_metabuf
// with in_mbox), else of the device.
func (f *fsys) readMetaIn(mbox bool, p []byte, off int64, what string) error {
	if !mbox {
		return f.readMeta(p, off, what)
	}
	mb := f.metabox
	if mb == nil {
		return abi.Errorf(abi.EUCLEAN, "erofs: %s in the metabox, which the image has not", what)
	}
	if off < 0 || off > int64(mb.di.Size) || int64(len(p)) > int64(mb.di.Size)-off {
		return abi.Errorf(abi.EUCLEAN, "erofs: %s at %d+%d beyond the metabox (%d bytes)", what, off, len(p), mb.di.Size)
	}
	_, err := mb.readData(p, off)
	return err
}

// readMeta reads n bytes of metadata at byte off of the device: EIO
// (with what was read) when the device cannot give them.
func (f *fsys) readMeta(p []byte, off int64, what string) error {
	if off < 0 || off > f.dev.Size() || int64(len(p)) > f.dev.Size()-off {
		return abi.Errorf(abi.EUCLEAN, "erofs: %s at %d+%d beyond the device (%d bytes)", what, off, len(p), f.dev.Size())
	}
	if _, err := f.dev.ReadAt(p, off); err != nil {
		return abi.Errorf(abi.EIO, "erofs: reading %s at %d: %v", what, off, err)
	}
	return nil
}
