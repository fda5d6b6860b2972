package ext4

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"sync"
	"sync/atomic"

	disk "github.com/lklimg/lklimg/format/ext4"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// inode is a decoded struct ext4_inode (the parts of struct ext4_inode_info
// the driver uses). On a read-only mount its fields do not change after
// iget; on a read-write mount they change only under the mount's write
// lock (txn.go), and each change is written back to the inode table in
// the same handle (writeInode). The block map is built on first use under
// mapMu; writers that change the map drop it (or update it) in the handle.
type inode struct {
	f          *fsys
	ino        uint32
	mode       uint16
	uid, gid   uint32
	size       int64
	links      uint16
	atime      abi.Timespec
	ctime      abi.Timespec
	mtime      abi.Timespec
	crtime     abi.Timespec
	hasCrtime  bool
	blocks     int64 // in 512-byte units
	flags      uint32
	iBlock     [disk.IBlockLen]byte
	generation uint32
	projid     uint32 // i_projid; 0 without the project feature or when i_extra_isize does not cover it
	fileACL    uint64
	rdev       uint64
	csumSeed   uint32 // crc32c(s_csum_seed, ino, generation)
	// ibody holds the in-inode extended attribute area (after i_extra_isize,
	// starting at its magic), or nil.
	ibody []byte

	mapMu sync.Mutex
	runs  []run // the file's block map, when mapped is set
	// mapped is set once runs is built.
	mapped bool
	// lookupStart is the directory block where the last linear lookup
	// found its name.
	lookupStart atomic.Uint64
	// raEnd is the file offset up to which readahead was requested.
	raEnd atomic.Int64

	// Read-write mounts only, under the write lock:
	// refs counts the times the inode was handed to the VFS (Lookup,
	// Root, the DirWriter methods) less the VFS's Evict calls; an inode
	// with no link is freed when it drops to zero.
	refs int32
	// orphan is set while the inode is on the orphan list (orphan.go).
	orphan bool
	// mayInline is EXT4_STATE_MAY_INLINE_DATA: the inode's data may be
	// (or stay) inline (inline_write.go). Set for an inline inode and for
	// a new file or directory on an inline_data filesystem; cleared when
	// the data move to blocks.
	mayInline bool
	// orphanSlot is 1 + the index of the inode's entry in the orphan
	// file (i_orphan_idx with EXT4_STATE_ORPHAN_FILE), 0 when it has none.
	orphanSlot uint32
}

// How an inode is asked for (ext4_iget_flags): the checks that differ by
// caller (check_igot_inode, __ext4_iget), made on a cached inode too.
type igetFlags int

const (
	igetNormal  igetFlags = iota
	igetSpecial           // EXT4_IGET_SPECIAL: a reserved inode the superblock names (root, journal, quota, orphan file)
	igetEAInode           // EXT4_IGET_EA_INODE: the inode holding an attribute's value
)

// iget returns inode ino, from the cache or the inode table (ext4_iget,
// EXT4_IGET_NORMAL). Errors: ESTALE for an unlinked inode (lookup turns
// it into EUCLEAN); EUCLEAN for an inode __ext4_iget refuses; EBADMSG for
// a bad checksum; EIO from the device.
func (f *fsys) iget(ino uint32) (*inode, error) { return f.igetFlags(ino, igetNormal) }

// igetFlags is __ext4_iget with its flags.
func (f *fsys) igetFlags(ino uint32, flags igetFlags) (*inode, error) {
	f.mu.Lock()
	ip := f.cached(ino)
	f.mu.Unlock()
	if ip == nil {
		var err error
		if ip, err = f.readInode(ino); err != nil {
			// __ext4_iget: an unallocated inode the superblock
			// names is damage, not a stale number.
			if flags == igetSpecial && errors.Is(err, abi.ESTALE) {
				return nil, abi.Errorf(abi.EUCLEAN, "ext4: inode %d: iget: special inode unallocated", ino)
			}
			return nil, err
		}
		f.mu.Lock()
		ip = f.cacheInode(ip, false)
		f.mu.Unlock()
	}
	// check_igot_inode: an ea_inode is reached only through the
	// attribute that names it, and holds no attributes of its own.
	switch ea := ip.flags&disk.InodeEAInodeFl != 0; {
	case flags == igetEAInode && !ea:
		return nil, abi.Errorf(abi.EUCLEAN, "ext4: inode %d: missing EA_INODE flag", ino)
	case flags == igetEAInode && (ip.ibody != nil || ip.fileACL != 0):
		return nil, abi.Errorf(abi.EUCLEAN, "ext4: inode %d: ea_inode with extended attributes", ino)
	case flags != igetEAInode && ea:
		return nil, abi.Errorf(abi.EUCLEAN, "ext4: inode %d: unexpected EA_INODE flag", ino)
	}
	return ip, nil
}

// readInode reads and decodes inode ino from its group's inode table.
func (f *fsys) readInode(ino uint32) (*inode, error) {
	sb := f.Super
	if ino < 1 || ino > sb.SInodesCount {
		return nil, abi.Errorf(abi.EUCLEAN, "ext4: inode %d: invalid inode number", ino)
	}
	g := (ino - 1) / sb.SInodesPerGroup
	idx := (ino - 1) % sb.SInodesPerGroup
	if uint64(g) >= uint64(len(f.Groups)) {
		return nil, abi.Errorf(abi.EUCLEAN, "ext4: inode %d: group %d out of range", ino, g)
	}
	off := int64(f.Groups[g].BgInodeTable)<<f.BlockBits + int64(idx)*int64(f.InodeSize)
	raw := make([]byte, f.InodeSize)
	if _, err := f.dev.ReadAt(raw, off); err != nil {
		return nil, abi.Errorf(abi.EIO, "ext4: inode %d: read: %v", ino, err)
	}
	return f.decodeInode(ino, raw)
}

// decodeInode decodes and checks one on-disk inode of s_inode_size bytes.
func (f *fsys) decodeInode(ino uint32, raw []byte) (*inode, error) {
	if uint32(len(raw)) < f.InodeSize || len(raw) < disk.GoodOldInodeSize {
		return nil, abi.Errorf(abi.EUCLEAN, "ext4: inode %d: short", ino)
	}
	le := binary.LittleEndian
	sb := f.Super
	ip := &inode{
		f:          f,
		ino:        ino,
		mode:       le.Uint16(raw[disk.OffIMode:]),
		uid:        uint32(le.Uint16(raw[disk.OffIUid:])) | uint32(le.Uint16(raw[disk.OffIUidHigh:]))<<16,
		gid:        uint32(le.Uint16(raw[disk.OffIGid:])) | uint32(le.Uint16(raw[disk.OffIGidHigh:]))<<16,
		links:      le.Uint16(raw[disk.OffILinksCount:]),
		flags:      le.Uint32(raw[disk.OffIFlags:]),
		generation: le.Uint32(raw[disk.OffIGeneration:]),
		fileACL:    uint64(le.Uint32(raw[disk.OffIFileACLLo:])),
	}
	copy(ip.iBlock[:], raw[disk.OffIBlock:disk.OffIBlock+disk.IBlockLen])
	if sb.HasIncompat(disk.Incompat64bit) {
		ip.fileACL |= uint64(le.Uint16(raw[disk.OffIFileACLHigh:])) << 32
	}
	// ext4_isize: i_size_high (once i_dir_acl) counts for regular
	// files, and for every inode with largedir.
	size := uint64(le.Uint32(raw[disk.OffISizeLo:]))
	if ip.mode&abi.S_IFMT == abi.S_IFREG || sb.HasIncompat(disk.IncompatLargedir) {
		size |= uint64(le.Uint32(raw[disk.OffISizeHigh:])) << 32
	}
	ip.size = int64(size)

	ip.blocks = f.rawBlocks(raw, ip.flags)

	// The extra fields exist when the inode is larger than 128 bytes and
	// i_extra_isize covers them (EXT4_FITS_IN_INODE).
	extra := uint32(0)
	if f.InodeSize > disk.GoodOldInodeSize {
		extra = uint32(le.Uint16(raw[disk.OffIExtraIsize:]))
		if extra&3 != 0 || disk.GoodOldInodeSize+extra > f.InodeSize {
			return nil, abi.Errorf(abi.EUCLEAN, "ext4: inode %d: bad extra_isize %d (inode size %d)", ino, extra, f.InodeSize)
		}
	}
	fits := func(off, n uint32) bool {
		return f.InodeSize > disk.GoodOldInodeSize && off+n <= disk.GoodOldInodeSize+extra
	}

	if sb.MetadataCsum() {
		var le32 [4]byte
		le.PutUint32(le32[:], ino)
		ip.csumSeed = disk.Csum32(f.CrcTab, f.CsumSeed, le32[:])
		le.PutUint32(le32[:], ip.generation)
		ip.csumSeed = disk.Csum32(f.CrcTab, ip.csumSeed, le32[:])
		if err := f.verifyInodeCsum(ip, raw, fits(disk.OffIChecksumHi, 2)); err != nil {
			return nil, err
		}
	}

	ts := func(off, extraOff uint32) abi.Timespec {
		t := abi.Timespec{Sec: int64(int32(le.Uint32(raw[off:])))}
		if fits(extraOff, 4) {
			x := le.Uint32(raw[extraOff:])
			// Documentation/filesystems/ext4/inodes.rst, "Inode
			// Timestamps": the low two bits extend the seconds past
			// 2038, the upper 30 bits are nanoseconds.
			t.Sec += int64(x&3) << 32
			t.Nsec = int64(x >> 2)
		}
		return t
	}
	ip.atime = ts(disk.OffIAtime, disk.OffIAtimeExtra)
	ip.ctime = ts(disk.OffICtime, disk.OffICtimeExtra)
	ip.mtime = ts(disk.OffIMtime, disk.OffIMtimeExtra)
	if fits(disk.OffICrtime, 4) {
		ip.hasCrtime = true
		ip.crtime = ts(disk.OffICrtime, disk.OffICrtimeExtra)
	}
	if sb.HasRoCompat(disk.RoCompatProject) && fits(disk.OffIProjid, 4) {
		ip.projid = le.Uint32(raw[disk.OffIProjid:])
	}

	// __ext4_iget: an inode without links is deleted or unallocated
	// (only orphan recovery reads such inodes, orphan.go), the boot
	// loader's inode excepted, which a new filesystem leaves blank.
	if ip.links == 0 && ino != disk.BootLoaderIno {
		return nil, abi.Errorf(abi.ESTALE, "ext4: inode %d: deleted inode referenced", ino)
	}
	switch ip.mode & abi.S_IFMT {
	case abi.S_IFREG, abi.S_IFDIR, abi.S_IFLNK:
	case abi.S_IFCHR, abi.S_IFBLK:
		// ext4_iget: the old 16-bit encoding in i_block[0] if set, else
		// the new encoding in i_block[1] (old/new_decode_dev).
		if d := le.Uint32(ip.iBlock[0:]); d != 0 {
			ip.rdev = abi.Makedev((d>>8)&0xff, d&0xff)
		} else {
			d := le.Uint32(ip.iBlock[4:])
			ip.rdev = abi.Makedev((d&0xfff00)>>8, (d&0xff)|((d>>12)&0xfff00))
		}
	case abi.S_IFIFO, abi.S_IFSOCK:
	default:
		return nil, abi.Errorf(abi.EUCLEAN, "ext4: inode %d: bogus i_mode (%o)", ino, ip.mode)
	}

	// In-inode extended attributes start after the extra fields with
	// their magic (Documentation/filesystems/ext4/attributes.rst).
	if f.InodeSize > disk.GoodOldInodeSize {
		start := disk.GoodOldInodeSize + extra
		if start+4 <= f.InodeSize && le.Uint32(raw[start:]) == disk.XattrMagic {
			ip.ibody = raw[start:f.InodeSize]
			// ext4_iget_extra_inode checks the area at iget
			// (xattr_check_inode).
			if err := f.checkXattrs(ip.ibody, 4, 4); err != nil {
				return nil, abi.Errorf(abi.EUCLEAN, "ext4: inode %d: corrupted in-inode xattr: %v", ino, err)
			}
		}
	}
	// ext4_has_inline_data: the flag counts only with a system.data
	// attribute in the inode, which ext4_find_inline_data_nolock looks
	// for at iget (i_inline_off); without one Linux maps the inode's
	// blocks as if the flag were clear (an ext2 block map reads as
	// such; an extent tree was refused above).
	// __ext4_iget refuses both flags on disk, whether or not the
	// inode has a system.data attribute.
	if ip.flags&disk.InodeInlineDataFl != 0 && ip.flags&disk.InodeExtentsFl != 0 {
		return nil, abi.Errorf(abi.EUCLEAN, "ext4: inode %d: inode has both inline data and extents flags", ino)
	}
	if ip.flags&disk.InodeInlineDataFl != 0 {
		if ents, err := ip.ibodyXattrs(); err == nil && !slices.ContainsFunc(ents, disk.IsSystemData) {
			ip.flags &^= disk.InodeInlineDataFl
		}
	}
	ip.mayInline = ip.flags&disk.InodeInlineDataFl != 0
	if err := ip.igetChecks(); err != nil {
		return nil, err
	}
	// __ext4_iget: an unencrypted fast symlink's target fills i_block up
	// to i_size and ends there ("invalid fast symlink length"); only an
	// orphan being released (no links) may have a size of 0 and any
	// data, which its eviction clears.
	if ip.mode&abi.S_IFMT == abi.S_IFLNK && ip.links != 0 && !ip.isEncrypted() && ip.isFastSymlink() {
		if ip.size == 0 || ip.size >= disk.IBlockLen || bytes.IndexByte(ip.iBlock[:ip.size], 0) >= 0 || ip.iBlock[ip.size] != 0 {
			return nil, abi.Errorf(abi.EUCLEAN, "ext4: inode %d: invalid fast symlink length %d", ino, ip.size)
		}
	}
	return ip, nil
}

// igetChecks makes the checks of __ext4_iget on a decoded inode that its
// own fields allow, each EUCLEAN (EFSCORRUPTED) as Linux refuses the inode
// (fs/ext4/inode.c).
func (ip *inode) igetChecks() error {
	f, ino := ip.f, ip.ino
	sb := f.Super
	// "iget: bad i_size value": negative or beyond ext4_get_maxbytes.
	if ip.size < 0 || ip.size > ip.maxBytes() {
		return abi.Errorf(abi.EUCLEAN, "ext4: inode %d: iget: bad i_size value: %d", ino, ip.size)
	}
	// An htree on a filesystem without dir_index would be taken for
	// free space, whose checksums it breaks.
	if !sb.HasCompat(disk.CompatDirIndex) && sb.MetadataCsum() && ip.flags&disk.InodeIndexFl != 0 {
		return abi.Errorf(abi.EUCLEAN, "ext4: inode %d: iget: Dir with htree data on filesystem without dir_index feature", ino)
	}
	if ip.fileACL != 0 && !f.blockValid(ip.fileACL, 1, ino) {
		return abi.Errorf(abi.EUCLEAN, "ext4: inode %d: iget: bad extended attribute block %d", ino, ip.fileACL)
	}
	// The block references in i_block of a file, a directory or a slow
	// symlink without inline data: the extent root
	// (ext4_ext_check_inode) or the direct block pointers
	// (ext4_ind_check_inode; ext4_check_blockref passes over the
	// journal's inode only once the journal is loaded, after this iget).
	if ip.flags&disk.InodeInlineDataFl == 0 && (ip.isReg() || ip.isDir() || ip.isLnk() && !ip.isFastSymlink()) {
		if ip.flags&disk.InodeExtentsFl != 0 {
			if err := ip.checkExtentRoot(); err != nil {
				return err
			}
		} else {
			for i := 0; i < disk.NdirBlocks; i++ {
				if b := uint64(le.Uint32(ip.iBlock[4*i:])); b != 0 && !f.blockValid(b, 1, ino) {
					return abi.Errorf(abi.EUCLEAN, "ext4: inode %d: block %d: invalid block", ino, b)
				}
			}
		}
	}
	// The VFS cannot set these on a symlink: only damage can.
	if ip.isLnk() && ip.flags&(disk.InodeAppendFl|disk.InodeImmutableFl) != 0 {
		return abi.Errorf(abi.EUCLEAN, "ext4: inode %d: iget: immutable or append flags not allowed on symlinks", ino)
	}
	if ip.flags&disk.InodeCasefoldFl != 0 && !sb.HasIncompat(disk.IncompatCasefold) {
		return abi.Errorf(abi.EUCLEAN, "ext4: inode %d: casefold flag without casefold feature", ino)
	}
	return nil
}

// checkXattrs is disk.CheckXattrs with the filesystem's ea_inode feature
// and inode numbers.
func (f *fsys) checkXattrs(area []byte, start, valueBase int) error {
	sb := f.Super
	return disk.CheckXattrs(area, start, valueBase, sb.HasIncompat(disk.IncompatEAInode), sb.SFirstIno, sb.SInodesCount)
}

// rawBlocks decodes i_blocks of an inode slot whose i_flags are flags, in
// 512-byte units: filesystem blocks with EXT4_HUGE_FILE_FL; the high 16
// bits only with huge_file.
func (f *fsys) rawBlocks(raw []byte, flags uint32) int64 {
	blocks := uint64(le.Uint32(raw[disk.OffIBlocksLo:]))
	if f.Super.HasRoCompat(disk.RoCompatHugeFile) {
		blocks |= uint64(le.Uint16(raw[disk.OffIBlocksHigh:])) << 32
		if flags&disk.InodeHugeFileFl != 0 {
			blocks <<= f.BlockBits - 9
		}
	}
	return int64(blocks)
}

// verifyInodeCsum checks the inode checksum (ext4_inode_csum): crc32c of
// the inode with both checksum fields taken as zero, seeded per inode; only
// the low 16 bits are stored when the inode has no room for the high half.
func (f *fsys) verifyInodeCsum(ip *inode, raw []byte, hasHi bool) error {
	le := binary.LittleEndian
	var zero [2]byte
	c := disk.Csum32(f.CrcTab, ip.csumSeed, raw[:disk.OffIChecksumLo])
	c = disk.Csum32(f.CrcTab, c, zero[:])
	c = disk.Csum32(f.CrcTab, c, raw[disk.OffIChecksumLo+2:disk.GoodOldInodeSize])
	stored := uint32(le.Uint16(raw[disk.OffIChecksumLo:]))
	if f.InodeSize > disk.GoodOldInodeSize {
		if hasHi {
			c = disk.Csum32(f.CrcTab, c, raw[disk.GoodOldInodeSize:disk.OffIChecksumHi])
			c = disk.Csum32(f.CrcTab, c, zero[:])
			c = disk.Csum32(f.CrcTab, c, raw[disk.OffIChecksumHi+2:f.InodeSize])
			stored |= uint32(le.Uint16(raw[disk.OffIChecksumHi:])) << 16
		} else {
			c = disk.Csum32(f.CrcTab, c, raw[disk.GoodOldInodeSize:f.InodeSize])
		}
	}
	if !hasHi {
		c &= 0xFFFF
	}
	if c != stored {
		// __ext4_iget: "iget: checksum invalid", EFSBADCRC.
		return abi.Errorf(abi.EFSBADCRC, "ext4: inode %d: bad checksum %#x, want %#x", ip.ino, stored, c)
	}
	return nil
}

func (ip *inode) isDir() bool { return ip.mode&abi.S_IFMT == abi.S_IFDIR }
func (ip *inode) isReg() bool { return ip.mode&abi.S_IFMT == abi.S_IFREG }
func (ip *inode) isLnk() bool { return ip.mode&abi.S_IFMT == abi.S_IFLNK }

// Ino returns the inode number.
func (ip *inode) Ino() uint64 { return uint64(ip.ino) }

// Getattr returns the inode's attributes (ext4_getattr). It fails only
// for an encrypted symlink whose target cannot be read.
func (ip *inode) Getattr() (vfs.Attr, error) {
	defer ip.f.rlock()()
	a := vfs.Attr{
		Ino:      uint64(ip.ino),
		Mode:     uint32(ip.mode),
		Nlink:    uint32(ip.links),
		Uid:      ip.uid,
		Gid:      ip.gid,
		Rdev:     ip.rdev,
		Size:     ip.size,
		Blocks:   ip.blocks,
		Blksize:  ip.f.BlockSize,
		Atime:    ip.atime,
		Mtime:    ip.mtime,
		Ctime:    ip.ctime,
		Btime:    ip.crtime,
		HasBtime: ip.hasCrtime,
	}
	// ext4_file_getattr: an inline regular file reports at least the
	// sectors its data would take, so that tools do not think it sparse.
	if ip.isReg() && ip.flags&disk.InodeInlineDataFl != 0 {
		a.Blocks += (ip.size + 511) >> 9
	}
	// fscrypt_symlink_getattr: an encrypted link's size is that of the
	// target readlink returns (its no-key form), not of its ciphertext;
	// a target that cannot be read fails the getattr (EUCLEAN).
	if ip.isLnk() && ip.isEncrypted() {
		t, err := ip.readlink()
		if err != nil {
			return vfs.Attr{}, err
		}
		a.Size = int64(len(t))
	}
	for _, m := range [...]struct {
		fl   uint32
		attr uint64
	}{
		{disk.InodeAppendFl, abi.STATX_ATTR_APPEND},
		{disk.InodeComprFl, abi.STATX_ATTR_COMPRESSED},
		{disk.InodeEncryptFl, abi.STATX_ATTR_ENCRYPTED},
		{disk.InodeImmutableFl, abi.STATX_ATTR_IMMUTABLE},
		{disk.InodeNodumpFl, abi.STATX_ATTR_NODUMP},
		{disk.InodeVerityFl, abi.STATX_ATTR_VERITY},
	} {
		if ip.flags&m.fl != 0 {
			a.Attributes |= m.attr
		}
	}
	return a, nil
}

// The VFS finds an inode's operations by type assertion, so each file type
// gets its own type carrying only its operations.
type (
	dirInode     struct{ *inode }
	fileInode    struct{ *inode }
	symlinkInode struct{ *inode }
	// specialInode is a device, FIFO or socket: attributes and xattrs.
	specialInode struct{ *inode }
)

// vfsInode wraps ip in the type that offers its file type's operations.
func (ip *inode) vfsInode() vfs.Inode {
	switch ip.mode & abi.S_IFMT {
	case abi.S_IFDIR:
		return dirInode{ip}
	case abi.S_IFREG:
		return fileInode{ip}
	case abi.S_IFLNK:
		return symlinkInode{ip}
	}
	return specialInode{ip}
}
