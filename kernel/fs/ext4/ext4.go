// Package ext4 is the library kernel's ext4 driver: it mounts ext4, ext3
// and ext2 images, as Linux's ext4 driver does, and serves the VFS's inode
// operations (kernel/vfs/fs.go) from the on-disk structures, reading and,
// on a read-write mount, writing them.
//
// The format is described in the kernel's Documentation/filesystems/ext4/
// and in e2fsprogs lib/ext2fs/ext2_fs.h; each structure is decoded in the
// file named after it (superblock.go, group.go, inode.go, extent.go,
// blockmap.go, dir.go, htree.go, xattr.go, acl.go, symlink.go, file.go) with
// the document section cited beside it.
//
// What is implemented: 1, 2, 4 and 64 KiB blocks; 128 and 256+ byte
// inodes; 32 and 64 bit group descriptors, meta_bg, flex_bg, sparse_super
// and sparse_super2; extent trees and ext2/ext3 block maps with holes and
// unwritten extents; journal replay, by kernel/fs/jbd2, for a filesystem
// that needs recovery, unless mounted with "noload" (journal.go): in
// memory on a read-only mount, onto the disk on a read-write one; linear
// and htree directories (lookups hash the name when the directory is
// indexed; readdir returns entries, "." and ".." included, in the order
// and with the d_off values Linux's getdents64 gives: hash order whenever
// Linux uses it, names sharing a hash in Linux's chain order, block order
// otherwise); fast and slow symlinks; inline data; extended
// attributes in the inode, in a block and in ea_inodes, with POSIX ACLs
// converted to the generic xattr format getxattr(2) returns; bigalloc;
// metadata_csum and gdt_csum verification (superblock, group descriptors,
// inodes, extent blocks, directory leaves and htree nodes, xattr blocks;
// not bitmaps); casefolded directories (casefold.go: names as stored,
// lookups and htree hashes on the casefolded name, as Linux's utf8-12.1).
// Encrypted directories and symlinks read as Linux shows them without the
// key (fscrypt.go: no-key names); encrypted files report ENOKEY at open.
// External journals and fast-commit replay are not implemented. Writing
// is described in txn.go (transactions, committed through the journal in
// ordered mode) and write.go (which images mount read-write, the
// superblock's state while mounted); the writers are alloc.go (bitmaps,
// group descriptors), inode_write.go, extent_write.go, extent_shift.go
// (collapse and insert range), blockmap_write.go, file_write.go,
// dir_write.go, htree_write.go, inline_write.go (inline data written and
// moved out), namei.go, xattr_write.go, xattr_cache.go (identical
// attribute blocks shared), xattr_eainode.go (large values in ea_inodes),
// acl.go (default ACLs inherited) and orphan.go. Written without the key,
// encrypted directories take no new names (ENOKEY) but lose no-key names
// to unlink and rmdir, as on Linux; verity files refuse writes (EPERM).
//
// Positions in directories: a byte offset into the directory for linear
// reads; hash2pos(hash, minor_hash) = (hash>>1)<<32 | minor_hash for hash
// order, ending at 0x7fffffffffffffff, as ext4's 64-bit positions are.
//
// Concurrency: a read-only fsys is immutable after Mount except for its
// inode cache, which has its own lock; inodes are immutable except for
// their lazily built block maps, guarded by a per-inode lock. On a
// read-write mount every read entry point also takes the read side of the
// mount's write lock, which handles hold for writing (txn.go, "Locking").
// Any method may be called from many goroutines at once.
package ext4

import (
	"encoding/binary"
	"hash/crc32"
	"sync"

	disk "github.com/lklimg/lklimg/format/ext4"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/fs/jbd2"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// fsType is the registered "ext4" filesystem type (ext4_fs_type).
type fsType struct{}

// NewType returns the ext4 filesystem type. It mounts ext2, ext3 and ext4.
func NewType() vfs.FilesystemType { return fsType{} }

func (fsType) Name() string { return "ext4" }

// Probe checks the superblock magic at byte 1024+0x38, as blkid does.
func (fsType) Probe(dev vfs.BlockDevice) bool {
	var m [2]byte
	if n, _ := dev.ReadAt(m[:], disk.SuperblockOffset+disk.OffSMagic); n < len(m) {
		return false
	}
	return uint16(m[0])|uint16(m[1])<<8 == disk.Ext4SuperMagic
}

// incompatSupported is what this driver reads. Encrypted inodes are
// mounted as the kernel mounts them without a key: they report ENOKEY.
const incompatSupported = disk.IncompatFiletype | disk.IncompatRecover | disk.IncompatMetaBG |
	disk.IncompatExtents | disk.Incompat64bit | disk.IncompatMMP | disk.IncompatFlexBG |
	disk.IncompatEAInode | disk.IncompatCsumSeed | disk.IncompatLargedir |
	disk.IncompatInlineData | disk.IncompatEncrypt | disk.IncompatCasefold

// fsys is a mounted filesystem (struct ext4_sb_info).
type fsys struct {
	dev            vfs.BlockDevice
	ra             vfs.Readaheader // nil when the device has no readahead
	log            vfs.Logger
	disk.Geometry         // the superblock, descriptors and what they give
	hashSigned     bool   // directory hashes use signed chars (s_flags)
	overheadBlocks uint64 // metadata blocks, as ext4_calculate_overhead counts them
	replayed       bool   // the journal was replayed into an overlay of dev
	noload         bool   // mounted with noload: the journal was not loaded
	posixACL       bool   // SB_POSIXACL: new inodes inherit default ACLs (acl.go)
	// The replay's overlay, the journal it reads and the device under it,
	// kept for a read-write mount to write the replay home (write.go).
	ovl    *jbd2.Overlay
	jinode *journalInode
	base   vfs.BlockDevice

	sysZone    []zoneRange // metadata blocks no file maps (systemzone.go)
	blockPool  sync.Pool   // of *[]byte, block-sized buffers for directory reads
	lookupSlot lookupSlot  // the directory block searched last (dir.go)

	mu     sync.Mutex // guards inodes and unlinked
	inodes icache     // icache.go
	// unlinked holds the inodes whose last link went while the VFS held
	// them (on the orphan list or in the orphan file when there is a
	// journal): freed at their last Evict, or at unmount, they must not
	// leave memory with the weak cache before (Linux's s_orphan list).
	unlinked map[uint32]*inode

	xcache     xattrCache  // attribute blocks to share (xattr_cache.go)
	writeState             // a read-write mount's (txn.go, write.go)
	alloc      allocState  // the allocator's (alloc.go)
	quota      *quotaState // quota files of a read-write mount (quota.go)
}

// Mount reads and checks the superblock and the group descriptors (the
// parts of ext4_fill_super a read-only mount needs).
func (fsType) Mount(dev vfs.BlockDevice, flags uint64, data string, log vfs.Logger) (vfs.Superblock, error) {
	if log == nil {
		log = vfs.DiscardLogger
	}
	name := dev.Name()
	opts, err := parseMountOptions(data)
	if err != nil {
		log.Printf("EXT4-fs (%s): %v", name, err)
		return nil, err
	}
	raw := make([]byte, disk.SuperblockSize)
	if _, err := dev.ReadAt(raw, disk.SuperblockOffset); err != nil {
		log.Printf("EXT4-fs (%s): unable to read superblock", name)
		return nil, abi.Errorf(abi.EIO, "ext4: superblock: %v", err)
	}
	// The superblock checksum is checked before the geometry and the
	// features, as ext4_load_super does; a mismatch is EFSBADCRC
	// (EBADMSG), as every checksum.
	var crcTab *crc32.Table
	le := binary.LittleEndian
	if le.Uint16(raw[disk.OffSMagic:]) == disk.Ext4SuperMagic && le.Uint32(raw[0x4C:]) != disk.RevGoodOld &&
		le.Uint32(raw[0x64:])&disk.RoCompatMetadataCsum != 0 {
		crcTab = crc32.MakeTable(crc32.Castagnoli)
		if got, c := le.Uint32(raw[disk.OffSChecksum:]), disk.Csum32(crcTab, ^uint32(0), raw[:disk.OffSChecksum]); c != got {
			log.Printf("EXT4-fs (%s): VFS: Found ext4 filesystem with invalid superblock checksum.  Run e2fsck?", name)
			return nil, abi.Errorf(abi.EBADMSG, "ext4: superblock: bad checksum %#08x, want %#08x", got, c)
		}
	}
	sb, err := disk.DecodeSuperblock(raw)
	if err != nil {
		log.Printf("EXT4-fs (%s): %v", name, err)
		return nil, err
	}
	if u := sb.SFeatureIncompat &^ incompatSupported; u != 0 {
		// Linux prints the bits in hex; the names say which feature
		// (unknown bits as e2fsprogs spells them, FEATURE_I<bit>).
		log.Printf("EXT4-fs (%s): Couldn't mount because of unsupported optional features (%x)", name, u)
		return nil, abi.Errorf(abi.EINVAL, "ext4: couldn't mount because of unsupported optional features (%x: %s)",
			u, disk.IncompatString(u))
	}
	if err := sb.CheckEncoding(); err != nil {
		log.Printf("EXT4-fs (%s): Encoding requested by superblock is unknown", name)
		return nil, err
	}
	f := &fsys{
		dev:      dev,
		log:      log,
		Geometry: disk.NewGeometry(sb),
		inodes:   make(icache),
		unlinked: make(map[uint32]*inode),
	}
	f.ra, _ = dev.(vfs.Readaheader)
	if sb.SBlocksCount > uint64(dev.Size())>>f.BlockBits {
		log.Printf("EXT4-fs (%s): bad geometry: block count %d exceeds size of device (%d blocks)",
			name, sb.SBlocksCount, uint64(dev.Size())>>f.BlockBits)
		return nil, abi.Errorf(abi.EINVAL, "ext4: bad geometry: block count %d exceeds size of device", sb.SBlocksCount)
	}
	// ext4_inode_info_init: the extra inode space the superblock asks
	// new inodes to keep must fit in an inode.
	if f.InodeSize > disk.GoodOldInodeSize && sb.HasRoCompat(disk.RoCompatExtraIsize) {
		room := f.InodeSize - disk.GoodOldInodeSize
		for _, v := range []struct {
			name string
			n    uint16
		}{{"s_want_extra_isize", sb.SWantExtraIsize}, {"s_min_extra_isize", sb.SMinExtraIsize}} {
			if uint32(v.n) > room {
				log.Printf("EXT4-fs (%s): bad %s: %d", name, v.name, v.n)
				return nil, abi.Errorf(abi.EINVAL, "ext4: bad %s: %d", v.name, v.n)
			}
		}
	}
	// Directory hashes treat names as signed chars unless s_flags says
	// unsigned; with neither flag the kernel takes the CPU's char, signed
	// on x86 (ext4_fill_super).
	f.hashSigned = sb.SFlags&disk.FlagUnsignedHash == 0
	if err := f.loadGroupDescs(); err != nil {
		log.Printf("EXT4-fs (%s): %v", name, err)
		return nil, err
	}
	f.noload = opts.noload
	f.posixACL = opts.acl >= 0
	f.noBarrier = opts.noBarrier
	f.alloc.pack = opts.pack
	if err := f.recover(opts, flags&abi.MS_RDONLY != 0); err != nil {
		log.Printf("EXT4-fs (%s): error loading journal: %v", name, err)
		return nil, err
	}
	if err := f.checkSystemZone(); err != nil {
		return nil, err
	}
	f.overheadBlocks = f.overhead(f.ClusterBits)
	if flags&abi.MS_RDONLY == 0 {
		f.mountWritable()
		if f.rw {
			if err := f.orphanCleanup(); err != nil {
				log.Printf("EXT4-fs (%s): orphan cleanup: %v", name, err)
				return nil, err
			}
		}
	}
	f.logMount(flags)
	return f, nil
}

// logMount writes the messages Linux's ext4 prints on a mount.
func (f *fsys) logMount(flags uint64) {
	sb, name := f.Super, f.dev.Name()
	if !sb.HasIncompat(disk.IncompatExtents) && !sb.HasCompat(disk.CompatHasJournal) {
		f.log.Printf("EXT4-fs (%s): mounting ext2 file system using the ext4 subsystem", name)
	} else if !sb.HasIncompat(disk.IncompatExtents) {
		f.log.Printf("EXT4-fs (%s): mounting ext3 file system using the ext4 subsystem", name)
	}
	if sb.SState&0x2 != 0 {
		f.log.Printf("EXT4-fs (%s): warning: mounting fs with errors, running e2fsck is recommended", name)
	}
	if u := sb.SFeatureRoCompat &^ roCompatKnown(); u != 0 {
		f.log.Printf("EXT4-fs (%s): unsupported ro_compat features (%x) ignored on a read-only mount", name, u)
	}
	f.log.Printf("EXT4-fs (%s): features: %s", name, sb.FeatureString())
	journal := "without journal"
	if sb.HasCompat(disk.CompatHasJournal) && !f.noload {
		journal = "with ordered data mode"
	}
	mode := "r/o"
	if f.rw {
		mode = "r/w"
	}
	// ext4_quota_mode: with the quota feature, quota files are
	// journaled when there is a journal.
	quota := "none"
	if sb.HasRoCompat(disk.RoCompatQuota) {
		quota = "writeback"
		if sb.HasCompat(disk.CompatHasJournal) && !f.noload {
			quota = "journalled"
		}
	}
	f.log.Printf("EXT4-fs (%s): mounted filesystem %s %s %s. Quota mode: %s.", name, sb.UuidString(), mode, journal, quota)
}

func roCompatKnown() uint32 {
	var k uint32
	for _, f := range disk.RoCompatNames {
		k |= f.Bit
	}
	return k
}

// Root returns the root directory, inode 2.
func (f *fsys) Root() (vfs.Inode, error) {
	defer f.rlock()()
	ip, err := f.igetFlags(disk.RootIno, igetSpecial)
	if err != nil {
		return nil, err
	}
	if !ip.isDir() {
		return nil, abi.Errorf(abi.EUCLEAN, "ext4: root inode is not a directory")
	}
	return ip.handOut(), nil
}

// Unmount commits what a read-write mount changed and leaves the
// filesystem clean (write.go), then drops the caches.
func (f *fsys) Unmount() error {
	if f.rw {
		if err := f.releaseOrphans(); err != nil {
			return err
		}
		if err := f.unmountWritable(); err != nil {
			return err
		}
	}
	f.mu.Lock()
	f.inodes = nil
	f.mu.Unlock()
	return nil
}

// Statfs returns what ext4_statfs reports with the default bsddf option:
// the blocks not taken by metadata (superblocks, descriptors, bitmaps, inode
// tables, the journal), the free blocks counted from the group descriptors,
// and as available the free blocks less the root reserve and the kernel's
// own reserve (2% of the blocks, at most 4096 clusters, with extents).
func (f *fsys) Statfs() (abi.Statfs, error) {
	defer f.rlock()()
	sb := f.Super
	var bfree, ffree uint64
	for i := range f.Groups {
		bfree += uint64(f.Groups[i].BgFreeBlocksCount)
		ffree += uint64(f.Groups[i].BgFreeInodesCount)
	}
	clusterShift := uint32(0)
	if sb.HasRoCompat(disk.RoCompatBigalloc) && sb.SLogClusterSize > sb.SLogBlockSize && sb.SLogClusterSize-sb.SLogBlockSize < 32 {
		clusterShift = sb.SLogClusterSize - sb.SLogBlockSize
	}
	bfree <<= clusterShift
	overhead := f.overheadBlocks
	blocks := sb.SBlocksCount
	if overhead < blocks {
		blocks -= overhead
	}
	var resv uint64
	if sb.HasIncompat(disk.IncompatExtents) {
		resv = min((sb.SBlocksCount>>clusterShift)/50, 4096) << clusterShift
	}
	avail := uint64(0)
	if bfree > sb.SRBlocksCount+resv {
		avail = bfree - sb.SRBlocksCount - resv
	}
	u := sb.SUUID
	le := func(b []byte) uint32 { return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24 }
	return abi.Statfs{
		Type:    abi.EXT4_SUPER_MAGIC,
		Bsize:   int64(f.BlockSize),
		Blocks:  blocks,
		Bfree:   bfree,
		Bavail:  avail,
		Files:   uint64(sb.SInodesCount),
		Ffree:   ffree,
		Fsid:    [2]int32{int32(le(u[0:]) ^ le(u[8:])), int32(le(u[4:]) ^ le(u[12:]))},
		Namelen: abi.NAME_MAX,
		Frsize:  int64(f.BlockSize),
		Flags:   f.statfsFlags(),
	}, nil
}

// overhead counts the metadata blocks as ext4_calculate_overhead does, or
// takes s_overhead_clusters when mkfs recorded it.
func (f *fsys) overhead(clusterShift uint32) uint64 {
	sb := f.Super
	if sb.SOverheadClusters != 0 {
		return uint64(sb.SOverheadClusters) << clusterShift
	}
	ngroups := sb.GroupCount()
	o := uint64(sb.SFirstDataBlock)
	descBlocks := (ngroups + uint64(f.DescPerBlock) - 1) / uint64(f.DescPerBlock)
	for g := uint64(0); g < ngroups; g++ {
		// ext4_num_base_meta_blocks: the superblock backup and, without
		// meta_bg, the descriptor table and its reserve; with meta_bg, one
		// descriptor block in the first, second and last group of a meta
		// group.
		metaBG := sb.HasIncompat(disk.IncompatMetaBG)
		if sb.HasSuper(g) {
			o++
			if !metaBG || g/uint64(f.DescPerBlock) < uint64(sb.SFirstMetaBG) {
				gdb := descBlocks
				if metaBG {
					gdb = uint64(sb.SFirstMetaBG)
				}
				o += gdb + uint64(sb.SReservedGdtBlocks)
			}
		}
		if metaBG && g/uint64(f.DescPerBlock) >= uint64(sb.SFirstMetaBG) {
			if r := g % uint64(f.DescPerBlock); r == 0 || r == 1 || r == uint64(f.DescPerBlock)-1 {
				o++
			}
		}
		o += 2 + f.InodeTableBlocks
	}
	if sb.HasCompat(disk.CompatHasJournal) && sb.SJournalInum != 0 {
		if j, err := f.igetFlags(sb.SJournalInum, igetSpecial); err == nil {
			o += uint64(j.size) >> f.BlockBits
		}
	}
	return o
}

// getBlock returns a block-sized buffer from the mount's pool; putBlock
// gives it back once nothing refers to it.
func (f *fsys) getBlock() []byte {
	if p, ok := f.blockPool.Get().(*[]byte); ok {
		return *p
	}
	return make([]byte, f.BlockSize)
}

func (f *fsys) putBlock(b []byte) {
	f.blockPool.Put(&b)
}

// readBlock reads block blk into buf (len(buf) == block size).
func (f *fsys) readBlock(buf []byte, blk uint64) error {
	if blk >= f.Super.SBlocksCount {
		return abi.Errorf(abi.EUCLEAN, "block %d beyond end of filesystem", blk)
	}
	_, err := f.dev.ReadAt(buf, int64(blk)<<f.BlockBits)
	return err
}
