// Package btrfs is the btrfs driver, read-only: it mounts the images of
// format/btrfs, on one device or several (every profile: single, dup,
// raid0, raid1, raid1c3/4, raid10, raid5/6; the other devices found among
// the kernel's by their superblocks, as the devices udev's scan
// registered in Linux, a seed filesystem's among them for one sprouted
// from it), and serves the VFS's read operations: the default subvolume, or the one
// subvol=PATH or subvolid=N names; subvolumes and snapshots inside it
// as directories with their own st_dev, as Linux shows them (a nested
// subvolume a snapshot does not hold as an empty directory of inode 2);
// lookups by the name's hash (DIR_ITEM), readdir in index order
// (DIR_INDEX); file data from inline, regular and prealloc extents,
// compressed with zlib, LZO or zstd, holes (implicit with NO_HOLES or
// explicit) and shared extents alike; symlinks, devices, hard links
// (several INODE_REFs) and xattrs (POSIX ACLs among them).
//
// The superblock, every tree block and file data have their checksums
// verified (crc32c, xxhash64, sha256 or blake2b; data against the
// checksum tree, EIO where it differs); a mirrored chunk's next copy
// (dup, raid1, raid1c3/4, raid10) is read when a tree block's or a
// data sector's first is bad or on a device missing (-o degraded); a
// RAID5/6 piece is rebuilt from the rest of its row and the P parity
// then (RAID6's Q is not used: two pieces of a row lost are EIO). The log tree (the changes
// fsynced after the last commit) is replayed in memory as Linux's mount
// replays it (treelog.go says what it refuses, EOPNOTSUPP), unless the mount asks rescue=nologreplay (or its old name norecovery),
// which shows the last commit; rescue=ignoredatacsums reads data
// unchecked.
//
// Every tree block read is checked as Linux's read-time tree-checker
// checks it, items and all, and against its parent's generation and
// first key: a block Linux would refuse is EIO here too, its good items
// with it. At mount the global trees' root blocks and the block groups
// (the extent tree up to the last one) are read as open_ctree reads
// them, and the dev extents verified, unless rescue=ignorebadroots.
//
// Refused at mount: a device missing (ENOENT, unless -o degraded; a
// superblock's num_devices that differs from the chunk tree's DEV_ITEMs
// is mended, as in Linux); the incompat features Linux 6.18 does not
// know without CONFIG_BTRFS_EXPERIMENTAL (extent tree v2, the RAID
// stripe tree, the remap tree: EINVAL, as Linux). The zoned layout is
// read where its superblock is where it always is (emulated zones on a
// file: mkfs.btrfs -O zoned on an image). Sector sizes above 4 KiB, which Linux mounts only where
// the page is as large, are read. A mount asked read-write is read-only
// all the same (ReadOnly).
package btrfs

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/klauspost/compress/zstd"

	disk "github.com/lklimg/lklimg/format/btrfs"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// fsType is the registered "btrfs" type (btrfs_fs_type).
type fsType struct{}

// NewType returns the btrfs filesystem type.
func NewType() vfs.FilesystemType { return fsType{} }

func (fsType) Name() string { return "btrfs" }

// Probe accepts a device with the magic "_BHRfS_M" in the superblock at
// 64 KiB, as blkid's btrfs probe looks at it.
func (fsType) Probe(dev vfs.BlockDevice) bool {
	var p [8]byte
	if n, _ := dev.ReadAt(p[:], disk.SuperInfoOffset+disk.MagicOffset); n < len(p) {
		return false
	}
	return string(p[:]) == "_BHRfS_M"
}

// fsys is a mounted btrfs (struct btrfs_fs_info).
type fsys struct {
	dev vfs.BlockDevice
	// devs are the filesystem's devices by devid (dev among them), found
	// by their superblocks; devBytes their total_bytes, the chunk
	// tree's DEV_ITEMs'.
	devs  map[uint64]vfs.BlockDevice
	uuids map[uint64][16]byte
	fsids map[uint64][disk.FsidSize]byte
	// seeds are the fsids of the seed filesystems found, whose tree
	// blocks a sprouted filesystem's trees may hold.
	seeds    [][disk.FsidSize]byte
	devBytes map[uint64]uint64
	// degraded (-o degraded) lets devices be missing.
	degraded bool
	log      vfs.Logger
	name     string
	sb       *disk.SuperBlock
	check    disk.CheckContext // the tree-checker's view of sb
	chunks   chunkMap
	cache    nodeCache
	// rootTree is the tree of trees (ROOT_ITEMs, ROOT_REFs, the
	// default subvolume's dir item).
	rootTree tree
	// csumTree is the data checksum tree, nil without one.
	csumTree *tree
	// top is the mounted subvolume: its inodes report the mount's
	// st_dev.
	top *subvol

	submu   sync.Mutex
	subvols map[uint64]*subvol

	// zmu guards the last decoded compressed extent and the zstd
	// decoder made on first use.
	zmu    sync.Mutex
	zcache zextent
	zstd   *zstd.Decoder

	// logSums are the data checksums a log replay brought back, by
	// the logical address of their sector: over the checksum tree's.
	logSums map[uint64][]byte

	// bufs are the buffers sends verify data in (sendBuf bytes).
	bufs sync.Pool
}

// options are the mount options that change what is shown: which
// subvolume is the root, whether the log tree is replayed, whether data
// checksums are verified.
type options struct {
	subvol      string
	subvolid    uint64
	hasSubvolid bool
	// nologreplay (rescue=nologreplay, norecovery): the last committed
	// state, the log tree left alone.
	nologreplay bool
	// ignoredatacsums (rescue=ignoredatacsums): data read unchecked.
	ignoredatacsums bool
	// ignorebadroots (rescue=ignorebadroots): the global trees' roots
	// and the block groups are not read at mount.
	ignorebadroots bool
	// ignoresuperflags (rescue=ignoresuperflags): unknown superblock
	// flags are let through.
	ignoresuperflags bool
	// degraded: devices may be missing; what they held is read from
	// the copies on the others, or fails (EIO).
	degraded bool
}

// rescueOptions are the values of rescue= (Documentation/filesystems/
// btrfs.rst, super.c's rescue parameter), each naming what it turns on;
// all but usebackuproot require a read-only mount, and "all" is all of
// them but usebackuproot. Linux 6.18 takes one value per rescue= option.
var rescueOptions = map[string]string{
	"usebackuproot": "usebackuproot", "nologreplay": "nologreplay",
	"ignorebadroots": "ignorebadroots", "ibadroots": "ignorebadroots",
	"ignoredatacsums": "ignoredatacsums", "idatacsums": "ignoredatacsums",
	"ignoremetacsums": "ignoremetacsums", "imetacsums": "ignoremetacsums",
	"ignoresuperflags": "ignoresuperflags", "isuperflags": "ignoresuperflags",
	"all": "all",
}

// knownOptions are btrfs's other options (Documentation/filesystems/
// btrfs.rst, btrfs_fs_parameters): they tune writing, allocation or
// recovery, and change nothing a reader shows.
var knownOptions = map[string]bool{
	"acl": true, "noacl": true, "autodefrag": true, "noautodefrag": true,
	"barrier": true, "nobarrier": true, "check_int": true, "clear_cache": true,
	"commit": true, "compress": true, "compress-force": true, "datacow": true,
	"nodatacow": true, "datasum": true, "nodatasum": true,
	"device": true, "discard": true, "nodiscard": true, "enospc_debug": true,
	"noenospc_debug": true, "fatal_errors": true, "flushoncommit": true,
	"noflushoncommit": true, "fragment": true, "max_inline": true,
	"metadata_ratio": true, "rescan_uuid_tree": true, "skip_balance": true, "space_cache": true,
	"nospace_cache": true, "ssd": true, "ssd_spread": true, "nossd": true,
	"nossd_spread": true, "thread_pool": true, "treelog": true,
	"notreelog": true, "usebackuproot": true, "user_subvol_rm_allowed": true,
	"ref_verify": true, "inode_cache": true, "noinode_cache": true,
}

// parseOptions parses the mount data; flags are the mount's (the rescue
// options need MS_RDONLY, as btrfs_check_options wants: EINVAL).
func parseOptions(data string, flags uint64) (options, error) {
	var o options
	var rescue []string
	for _, opt := range strings.Split(data, ",") {
		name, val, hasVal := strings.Cut(opt, "=")
		switch name {
		case "", "ro", "rw", "defaults", "noatime", "relatime", "strictatime", "nodiratime", "lazytime", "nolazytime":
		case "degraded":
			o.degraded = true
		case "norecovery":
			// The old name of rescue=nologreplay, still taken.
			rescue = append(rescue, "nologreplay")
		case "rescue":
			what, ok := rescueOptions[val]
			if !ok {
				return o, abi.Errorf(abi.EINVAL, "btrfs: Bad value for 'rescue'")
			}
			rescue = append(rescue, what)
		case "subvol":
			if !hasVal || val == "" {
				return o, abi.Errorf(abi.EINVAL, "btrfs: Bad value for 'subvol'")
			}
			o.subvol = val
		case "subvolid":
			id, err := strconv.ParseUint(val, 0, 64)
			if err != nil {
				return o, abi.Errorf(abi.EINVAL, "btrfs: Bad value for 'subvolid'")
			}
			// subvolid=0 is the default subvolume, as no option.
			o.subvolid, o.hasSubvolid = id, id != 0
		default:
			if !knownOptions[name] {
				return o, abi.Errorf(abi.EINVAL, "btrfs: Unknown parameter '%s'", name)
			}
		}
	}
	for _, what := range rescue {
		if flags&abi.MS_RDONLY == 0 && what != "usebackuproot" {
			if what == "all" {
				what = "nologreplay" // the first Linux checks
			}
			return o, abi.Errorf(abi.EINVAL, "btrfs: %s must be used with ro mount option", what)
		}
		o.nologreplay = o.nologreplay || what == "nologreplay" || what == "all"
		o.ignoredatacsums = o.ignoredatacsums || what == "ignoredatacsums" || what == "all"
		o.ignorebadroots = o.ignorebadroots || what == "ignorebadroots" || what == "all"
		o.ignoresuperflags = o.ignoresuperflags || what == "ignoresuperflags" || what == "all"
	}
	return o, nil
}

// Mount mounts a filesystem on dev alone (MountDevices with no other
// devices).
func (t fsType) Mount(dev vfs.BlockDevice, flags uint64, data string, log vfs.Logger) (vfs.Superblock, error) {
	return t.MountDevices(dev, nil, flags, data, log)
}

// MountDevices reads and checks the superblock (btrfs_validate_super
// and its checksum), finds the filesystem's other devices among others,
// reads the chunk array and chunk tree, the tree of roots, then opens the
// subvolume asked for.
func (fsType) MountDevices(dev vfs.BlockDevice, others []vfs.BlockDevice, flags uint64, data string, log vfs.Logger) (vfs.Superblock, error) {
	if log == nil {
		log = vfs.DiscardLogger
	}
	f := &fsys{dev: dev, log: log, name: dev.Name(), subvols: map[uint64]*subvol{}}
	f.bufs.New = func() any { b := make([]byte, sendBuf); return &b }
	fail := func(err error) (vfs.Superblock, error) {
		log.Printf("BTRFS error (device %s): %v", f.name, err)
		return nil, err
	}
	opts, err := parseOptions(data, flags)
	if err != nil {
		return fail(err)
	}
	sb, err := readSuper(dev)
	if err != nil {
		return fail(err)
	}
	if sb.Flags&disk.SuperFlagChangingFsidV2 != 0 {
		// Refused when the device is scanned (device_list_add), before
		// any mount option is looked at.
		return fail(abi.Errorf(abi.EAGAIN, "btrfs: device %s has incomplete metadata_uuid change, please use btrfstune to complete", f.name))
	}
	if bad := sb.Flags &^ disk.SuperFlagSupp; bad != 0 && !opts.ignoresuperflags {
		return fail(abi.Errorf(abi.EINVAL, "btrfs: unrecognized or unsupported super flag %#x", bad))
	}
	if bad := sb.IncompatFlags &^ disk.IncompatSupp; bad != 0 {
		// btrfs_check_features: what Linux does not know is EINVAL.
		return fail(abi.Errorf(abi.EINVAL, "btrfs: cannot mount because of unknown incompat features (%#x)", bad))
	}
	f.sb = sb
	f.check = disk.NewCheckContext(sb)
	f.cache = nodeCache{nodes: map[uint64]*disk.Node{}, max: cacheBlocks(dev, sb.NodeSize)}
	f.degraded = opts.degraded
	f.findDevices(others)
	if err := f.readChunks(); err != nil {
		return fail(err)
	}
	devs, err := f.devItems()
	if err != nil {
		return fail(err)
	}
	if uint64(len(devs)) != sb.NumDevices {
		// Linux counts the devices by the chunk tree's DEV_ITEMs and
		// mends a superblock's num_devices that differs
		// (btrfs_read_chunk_tree).
		log.Printf("BTRFS warning (device %s): super block num_devices %d mismatch with DEV_ITEM count %d", f.name, sb.NumDevices, len(devs))
	}
	f.rootTree = tree{f: f, id: disk.RootTreeObjectid, bytenr: sb.Root, level: sb.RootLevel, gen: sb.Generation}
	if !opts.ignoredatacsums {
		if err := f.openCsumTree(); err != nil {
			return fail(err)
		}
	}
	if !opts.ignorebadroots {
		if err := f.readGlobalRoots(); err != nil {
			return fail(err)
		}
		if err := f.readBlockGroups(); err != nil {
			return fail(err)
		}
		if err := f.verifyDevExtents(); err != nil {
			return fail(err)
		}
	}
	if sb.LogRoot != 0 {
		if opts.nologreplay {
			log.Printf("BTRFS info (device %s): disabling log replay at mount time", f.name)
		} else if err := f.replayLog(); err != nil {
			return fail(err)
		}
	}
	id, err := f.pickSubvol(opts)
	if err != nil {
		return fail(err)
	}
	if f.top, err = f.subvol(id); err != nil {
		return fail(err)
	}
	f.top.dev = 0 // the mount's own st_dev
	if _, err := f.top.iget(f.top.rootDirid); err != nil {
		return fail(err)
	}
	log.Printf("BTRFS info (device %s): using %s checksum algorithm; mounted subvolume %d read-only",
		f.name, disk.CsumName(sb.CsumType), id)
	return f, nil
}

// readChunks loads the bootstrap chunks of the superblock, then every
// chunk of the chunk tree (btrfs_read_sys_array, btrfs_read_chunk_tree).
func (f *fsys) readChunks() error {
	sys, err := disk.DecodeSysChunkArray(f.sb.SysChunkArray, f.sb.SectorSize)
	if err != nil {
		return err
	}
	for _, c := range sys {
		if err := f.checkChunk(c); err != nil {
			return err
		}
		if err := f.chunks.add(c); err != nil {
			return err
		}
	}
	ct := tree{f: f, id: disk.ChunkTreeObjectid, bytenr: f.sb.ChunkRoot, level: f.sb.ChunkRootLevel, gen: f.sb.ChunkRootGeneration}
	start := disk.Key{Objectid: disk.FirstChunkTreeObjectid, Type: disk.ChunkItemKey}
	var found []disk.Chunk
	err = ct.each(start, func(it disk.Item) (bool, error) {
		if it.Key.Objectid != disk.FirstChunkTreeObjectid || it.Key.Type != disk.ChunkItemKey {
			return it.Key.Objectid <= disk.FirstChunkTreeObjectid, nil
		}
		c, _, err := disk.DecodeChunk(it.Key.Offset, it.Data, f.sb.SectorSize)
		if err != nil {
			return false, err
		}
		if err := f.checkChunk(c); err != nil {
			return false, err
		}
		found = append(found, c)
		return true, nil
	})
	if err != nil {
		return err
	}
	for _, c := range found {
		if err := f.chunks.add(c); err != nil {
			return err
		}
	}
	return nil
}

// readSuper reads dev's superblock and checks its checksum.
func readSuper(dev vfs.BlockDevice) (*disk.SuperBlock, error) {
	b := make([]byte, disk.SuperInfoSize)
	if n, err := dev.ReadAt(b, disk.SuperInfoOffset); n < len(b) {
		return nil, abi.Errorf(abi.EINVAL, "btrfs: cannot read the superblock: %v", err)
	}
	sb, err := disk.DecodeSuperBlock(b)
	if err != nil {
		return nil, err
	}
	if err := disk.VerifySuper(sb.CsumType, b); err != nil {
		return nil, err
	}
	return sb, nil
}

// findDevices keeps the mounted device and those of others whose
// superblock is good and names this filesystem (its fsid) under another
// devid, as the devices scanned into the filesystem's fs_devices
// (device_list_add); a devid found twice keeps the copy of the newer
// generation. A seed filesystem's devices (SEEDING) are kept too, under
// devids this one's do not take: a sprouted filesystem's DEV_ITEMs name
// them by their fsid (open_seed_devices), which devItems checks.
func (f *fsys) findDevices(others []vfs.BlockDevice) {
	f.devs = map[uint64]vfs.BlockDevice{f.sb.DevItem.Devid: f.dev}
	f.uuids = map[uint64][16]byte{f.sb.DevItem.Devid: f.sb.DevItem.UUID}
	f.fsids = map[uint64][disk.FsidSize]byte{f.sb.DevItem.Devid: f.sb.FsidForBlocks()}
	type found struct {
		own bool
		gen uint64
	}
	seen := map[uint64]found{f.sb.DevItem.Devid: {true, ^uint64(0)}}
	for _, d := range others {
		if !(fsType{}).Probe(d) {
			continue
		}
		sb, err := readSuper(d)
		if err != nil {
			continue
		}
		own := sb.Fsid == f.sb.Fsid
		if !own && sb.Flags&disk.SuperFlagSeeding == 0 {
			continue
		}
		id := sb.DevItem.Devid
		if s, ok := seen[id]; ok && (s.own && !own || s.own == own && s.gen >= sb.Generation) {
			continue
		}
		seen[id] = found{own, sb.Generation}
		if !own && !slices.Contains(f.seeds, sb.FsidForBlocks()) {
			f.seeds = append(f.seeds, sb.FsidForBlocks())
		}
		f.devs[id], f.uuids[id], f.fsids[id] = d, sb.DevItem.UUID, sb.FsidForBlocks()
		f.log.Printf("BTRFS: device fsid %s devid %d transid %d %s", disk.UUIDString(sb.Fsid), id, sb.Generation, d.Name())
	}
}

// missing checks that the device of devid was found, or may be missing
// (-o degraded); ENOENT as Linux's mount fails without it otherwise
// (btrfs_report_missing_device).
func (f *fsys) missing(devid uint64) error {
	if f.devs[devid] != nil {
		return nil
	}
	if f.degraded {
		f.log.Printf("BTRFS warning (device %s): devid %d missing", f.name, devid)
		return nil
	}
	return abi.Errorf(abi.ENOENT, "btrfs: devid %d is missing", devid)
}

// devItems returns the devids of the chunk tree's DEV_ITEMs (key
// (DEV_ITEMS, DEV_ITEM, devid)), as btrfs_read_chunk_tree reads them
// (read_one_dev): each must be a device found, by devid and uuid
// (ENOENT: a device missing). Their total_bytes go in f.devBytes.
func (f *fsys) devItems() ([]uint64, error) {
	ct := tree{f: f, id: disk.ChunkTreeObjectid, bytenr: f.sb.ChunkRoot, level: f.sb.ChunkRootLevel, gen: f.sb.ChunkRootGeneration}
	var devs []uint64
	f.devBytes = map[uint64]uint64{}
	err := ct.each(disk.Key{Objectid: disk.DevItemsObjectid, Type: disk.DevItemKey}, func(it disk.Item) (bool, error) {
		if it.Key.Objectid != disk.DevItemsObjectid || it.Key.Type != disk.DevItemKey {
			return false, nil
		}
		if len(it.Data) < disk.DevItemSize {
			return false, abi.Errorf(abi.EUCLEAN, "btrfs: dev item %d of %d bytes", it.Key.Offset, len(it.Data))
		}
		d := disk.DecodeDevItem(it.Data)
		if f.devs[d.Devid] != nil && (f.uuids[d.Devid] != d.UUID || f.fsids[d.Devid] != d.Fsid) {
			// Another device under this devid (btrfs_find_device
			// matches by devid, uuid and fsid): not this one's.
			delete(f.devs, d.Devid)
		}
		if err := f.missing(d.Devid); err != nil {
			return false, abi.Errorf(abi.ENOENT, "btrfs: devid %d uuid %s is missing", d.Devid, disk.UUIDString(d.UUID))
		}
		devs = append(devs, d.Devid)
		f.devBytes[d.Devid] = d.TotalBytes
		return true, nil
	})
	return devs, err
}

// ReadOnly tells the VFS the mount is read-only whatever was asked:
// this driver has no write path.
func (f *fsys) ReadOnly() bool { return true }

// Root returns the mounted subvolume's root directory.
func (f *fsys) Root() (vfs.Inode, error) { return f.top.iget(f.top.rootDirid) }

// Statfs reports the figures btrfs_statfs does where they come from the
// disk alone: blocks of sectorsize, f_blocks the device's total_bytes
// divided by the data profile's copies (2 for dup); no inode counts
// (f_files 0). f_bfree and f_bavail are what bytes_used leaves: Linux's
// also take off its space reservations of the moment, which no image
// holds.
func (f *fsys) Statfs() (abi.Statfs, error) {
	bits := uint(0)
	for 1<<bits < f.sb.SectorSize {
		bits++
	}
	factor := uint64(1)
	for _, c := range f.chunks {
		if c.Type&disk.BlockGroupData != 0 {
			factor = max(factor, uint64(c.Copies()))
		}
	}
	free := uint64(0)
	if f.sb.TotalBytes > f.sb.BytesUsed {
		free = (f.sb.TotalBytes - f.sb.BytesUsed) / factor >> bits
	}
	return abi.Statfs{
		Type:    disk.SuperMagic,
		Bsize:   int64(f.sb.SectorSize),
		Blocks:  f.sb.TotalBytes / factor >> bits,
		Bfree:   free,
		Bavail:  free,
		Namelen: disk.NameLen,
		Frsize:  int64(f.sb.SectorSize),
	}, nil
}

// Unmount drops the caches.
func (f *fsys) Unmount() error {
	f.zmu.Lock()
	f.zcache = zextent{}
	if f.zstd != nil {
		f.zstd.Close()
		f.zstd = nil
	}
	f.zmu.Unlock()
	f.cache.mu.Lock()
	f.cache.nodes = map[uint64]*disk.Node{}
	f.cache.mu.Unlock()
	return nil
}

// pickSubvol returns the id of the subvolume to mount: subvolid=N, or
// the one subvol=PATH names from the top level (both: they must agree),
// or the default one (the root tree's "default" dir item, set by btrfs
// subvolume set-default), or the top level (5).
func (f *fsys) pickSubvol(o options) (uint64, error) {
	if o.subvol != "" {
		id, err := f.resolveSubvol(o.subvol)
		if err != nil {
			return 0, err
		}
		if o.hasSubvolid && id != o.subvolid {
			return 0, abi.Errorf(abi.EINVAL, "btrfs: subvol '%s' does not match subvolid %d", o.subvol, o.subvolid)
		}
		return id, nil
	}
	if o.hasSubvolid {
		return o.subvolid, nil
	}
	name := []byte("default")
	it, ok, err := f.rootTree.lookup(disk.Key{Objectid: disk.RootTreeDirObjectid, Type: disk.DirItemKey, Offset: uint64(disk.NameHash(name))})
	if err != nil || !ok {
		return disk.FsTreeObjectid, err
	}
	items, err := disk.DecodeDirItems(it.Data)
	if err != nil {
		return 0, err
	}
	for _, d := range items {
		if bytes.Equal(d.Name, name) {
			return d.Location.Objectid, nil
		}
	}
	return disk.FsTreeObjectid, nil
}

// resolveSubvol walks path from the top-level subvolume, crossing
// subvolumes, to a subvolume's root (mount_subvol): EINVAL when it ends
// at a directory that is not one, ENOENT when a name is missing.
func (f *fsys) resolveSubvol(path string) (uint64, error) {
	sv, err := f.subvol(disk.FsTreeObjectid)
	if err != nil {
		return 0, err
	}
	dir, err := sv.iget(sv.rootDirid)
	if err != nil {
		return 0, err
	}
	for _, name := range strings.Split(path, "/") {
		if name == "" || name == "." {
			continue
		}
		if !dir.isDir() {
			return 0, abi.ENOTDIR
		}
		next, err := dir.lookup(name)
		if err != nil {
			return 0, abi.Errorf(abi.ErrnoOf(err), "btrfs: subvol '%s': %s: %v", path, name, err)
		}
		dir = next
	}
	if dir.ino != dir.sv.rootDirid || dir.empty {
		return 0, abi.Errorf(abi.EINVAL, "btrfs: '%s' is not a valid subvolume", path)
	}
	return dir.sv.id, nil
}
