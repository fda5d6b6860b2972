package e2fsprogs

import (
	"encoding/binary"
	"hash/crc32"
	"io"
	"slices"

	disk "github.com/lklimg/lklimg/format/ext4"
	"github.com/lklimg/lklimg/kernel/abi"
)

// Offsets of struct ext2_super_block fields (lib/ext2fs/ext2_fs.h) the
// writer sets beyond those superblock.go decodes.
const (
	offSRBlocksCount     = 0x08
	offSFreeBlocksCount  = 0x0C
	offSFreeInodesCount  = 0x10
	offSWtime            = 0x30
	offSMaxMntCount      = 0x36
	offSState            = 0x3A
	offSErrors           = 0x3C
	offSLastcheck        = 0x40
	offSRevLevel         = 0x4C
	offSFirstIno         = 0x54
	offSInodeSize        = 0x58
	offSBlockGroupNr     = 0x5A
	offSUUID             = 0x68
	offSReservedGdt      = 0xCE
	offSJournalInum      = 0xE0
	offSHashSeed         = 0xEC
	offSDefHashVersion   = 0xFC
	offSJnlBackupType    = 0xFD
	offSDescSize         = 0xFE
	offSDefaultMountOpts = 0x100
	offSMkfsTime         = 0x108
	offSJnlBlocks        = 0x10C
	offSMinExtraIsize    = 0x15C
	offSFlags            = 0x160
	offSLogGroupsPerFlex = 0x174
	offSChecksumType     = 0x175
	offSKbytesWritten    = 0x178
	offSBackupBGs        = 0x24C
	offSOverheadClusters = 0x248
	offSEncryptAlgos     = 0x254
	offSChecksumSeed     = 0x270
	offSEncoding         = 0x27C
	offSOrphanFileInum   = 0x280
	encryptModeAES256XTS = 1 // EXT4_ENCRYPTION_MODE_AES_256_XTS
	encryptModeAES256CTS = 4 // EXT4_ENCRYPTION_MODE_AES_256_CTS
	stateValid           = 1 // EXT2_VALID_FS
	revDynamic           = 1 // EXT2_DYNAMIC_REV
)

// mkfsOutput is the planned filesystem with the checksum context the
// shared encoders need.
type mkfsOutput struct {
	*mkfsLayout
	f          *disk.Geometry // superblock fields and checksum seed, for the checksums
	freeBlocks []uint32
	freeInodes []uint32
	bbCsum     []uint32
	ibCsum     []uint32
	sbBase     []byte // the primary superblock without its checksum (super)
}

// Mkfs writes an empty filesystem with parameters p onto dev, whose first
// p.Blocks blocks it owns.
func Mkfs(dev io.WriterAt, p MkfsParams) error {
	l, err := planMkfs(p)
	if err != nil {
		return err
	}
	o := &mkfsOutput{mkfsLayout: l}
	o.f = &disk.Geometry{Super: &disk.Superblock{
		SFeatureCompat: l.compat, SFeatureIncompat: l.incompat, SFeatureRoCompat: l.roCompat,
		SUUID: l.p.UUID, SChecksumSeed: disk.Csum32(castagnoli, ^uint32(0), l.p.UUID[:]),
	}, BlockSize: uint32(l.bs), InodeSize: uint32(l.p.InodeSize), DescPerBlock: l.descPerBlock}
	o.f.SetCsumSeed()
	w := &mkfsWriter{dev: dev}
	if !p.Zeroed {
		if err := o.zeroes(w); err != nil {
			return err
		}
	}
	o.summarize()
	if err := o.writeBitmaps(w); err != nil {
		return err
	}
	if err := o.writeInodes(w); err != nil {
		return err
	}
	if err := o.writeBlocks(w); err != nil {
		return err
	}
	if err := o.writeSupers(w); err != nil {
		return err
	}
	return w.flush()
}

// castagnoli is the crc32c table (read only).
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// zeroes clears what mke2fs clears on a device that does not read as
// zeros: the first 4 KiB (zap_sector 0-1, the boot sector, and 2-7),
// the end of the device (old RAID superblocks), the used part of each
// inode table (lazy_itable_init's) and the journal.
func (o *mkfsOutput) zeroes(w *mkfsWriter) error {
	if err := w.zero(0, 4096); err != nil {
		return err
	}
	rsv := 65536 / o.bs
	start := o.blocks &^ (rsv - 1)
	if start > rsv {
		start -= rsv
	}
	if start > 0 {
		if err := w.zero(int64(start*o.bs), int64((o.blocks-start)*o.bs)); err != nil {
			return err
		}
	}
	for g := range o.groups {
		gd := &o.groups[g]
		unused := o.initUnused(uint32(g))
		n := (uint64(o.ipg-unused)*uint64(o.p.InodeSize) + o.bs - 1) / o.bs
		if err := w.zero(int64(gd.inodeTable*o.bs), int64(n*o.bs)); err != nil {
			return err
		}
	}
	for _, r := range o.journalRuns {
		if err := w.zero(int64(r.pblk*o.bs), int64(r.n*o.bs)); err != nil {
			return err
		}
	}
	return nil
}

// initUnused is group g's bg_itable_unused as ext2fs_initialize set it,
// which decides how much of the table write_inode_tables zeroes.
func (o *mkfsOutput) initUnused(g uint32) uint32 {
	if !o.csum {
		return 0
	}
	before := uint64(g) * uint64(o.ipg) // reserved inodes the earlier groups took
	if before >= disk.GoodOldFirstIno {
		return o.ipg
	}
	return o.ipg - min(o.ipg, uint32(disk.GoodOldFirstIno-before))
}

// summarize counts each group's free blocks and inodes (what the
// allocation statistics of libext2fs kept) and sets the flags that
// write_inode_tables sets.
func (o *mkfsOutput) summarize() {
	o.freeBlocks = make([]uint32, o.ngroups)
	o.freeInodes = make([]uint32, o.ngroups)
	o.bbCsum = make([]uint32, o.ngroups)
	o.ibCsum = make([]uint32, o.ngroups)
	for g := uint32(0); g < o.ngroups; g++ {
		o.freeBlocks[g] = uint32(o.groupFree(g) / o.ratio) // clusters
		n := o.ipg
		for ino := range o.inodesUsed {
			if (ino-1)/o.ipg == g {
				n--
			}
		}
		o.freeInodes[g] = n
		if o.p.Zeroed {
			o.groups[g].flags |= disk.BgInodeZeroed
		}
	}
}

// blockBitmap returns group g's block bitmap block, padded as
// write_bitmaps pads it: bytes past the group's bits are 0xff, and the
// last group's bits past the end of the filesystem are set.
func (o *mkfsOutput) blockBitmap(g uint32) []byte {
	b := make([]byte, o.bs)
	for i := range b {
		b[i] = 0xff
	}
	cpg := o.bpg / o.ratio
	nbytes := cpg / 8
	clear(b[:nbytes])
	first := o.groupFirst(g)
	last := o.groupLast(g)
	if o.ratio == 1 {
		for i := uint64(0); i*8 < nbytes; i++ {
			var le8 [8]byte
			binary.LittleEndian.PutUint64(le8[:], o.bmap[g].word(i))
			copy(b[i*8:nbytes], le8[:])
		}
	} else if !o.bmap[g].empty() {
		// One bit a cluster (clusterBitmap marked them whole).
		for c := uint64(0); c*o.ratio <= last-first; c++ {
			if o.used(first + c*o.ratio) {
				b[c/8] |= 1 << (c % 8)
			}
		}
	}
	for i := (last - first + o.ratio) / o.ratio; i < o.bs*8; i++ {
		b[i/8] |= 1 << (i % 8)
	}
	return b
}

// inodeBitmap returns group g's inode bitmap block (0xff past its bits).
func (o *mkfsOutput) inodeBitmap(g uint32) []byte {
	b := make([]byte, o.bs)
	nbytes := uint64(o.ipg+7) / 8
	for i := nbytes; i < o.bs; i++ {
		b[i] = 0xff
	}
	for ino := range o.inodesUsed {
		if (ino-1)/o.ipg == g {
			i := (ino - 1) % o.ipg
			b[i/8] |= 1 << (i % 8)
		}
	}
	return b
}

// writeBitmaps writes the bitmaps of the groups without the uninit flags
// (all of them without group checksums), noting their checksums.
func (o *mkfsOutput) writeBitmaps(w *mkfsWriter) error {
	meta := o.roCompat&disk.RoCompatMetadataCsum != 0
	for g := uint32(0); g < o.ngroups; g++ {
		gd := &o.groups[g]
		if !o.csum || gd.flags&disk.BgBlockUninit == 0 {
			b := o.blockBitmap(g)
			if meta {
				o.bbCsum[g] = disk.Csum32(castagnoli, o.f.CsumSeed, b[:o.bpg/o.ratio/8])
			}
			if err := w.put(int64(gd.blockBitmap*o.bs), b); err != nil {
				return err
			}
		}
		if !o.csum || gd.flags&disk.BgInodeUninit == 0 {
			b := o.inodeBitmap(g)
			if meta {
				o.ibCsum[g] = disk.Csum32(castagnoli, o.f.CsumSeed, b[:(o.ipg+7)/8])
			}
			if err := w.put(int64(gd.inodeBitmap*o.bs), b); err != nil {
				return err
			}
		}
	}
	return nil
}

// encodeInode writes ip into the inode slot raw (zeroed), with its
// checksum.
func (o *mkfsOutput) encodeInode(ip *mkfsInode, raw []byte) {
	le.PutUint16(raw[disk.OffIMode:], ip.mode)
	le.PutUint16(raw[disk.OffIUid:], uint16(ip.uid))
	le.PutUint32(raw[disk.OffISizeLo:], uint32(ip.size))
	le.PutUint16(raw[disk.OffIGid:], uint16(ip.gid))
	le.PutUint16(raw[disk.OffILinksCount:], ip.links)
	le.PutUint32(raw[disk.OffIBlocksLo:], uint32(ip.blocks))
	le.PutUint32(raw[disk.OffIFlags:], ip.flags)
	copy(raw[disk.OffIBlock:disk.OffIBlock+disk.IBlockLen], ip.iblock[:])
	le.PutUint32(raw[disk.OffISizeHigh:], uint32(ip.size>>32))
	le.PutUint16(raw[disk.OffIBlocksHigh:], uint16(ip.blocks>>32))
	le.PutUint16(raw[disk.OffIUidHigh:], uint16(ip.uid>>16))
	le.PutUint16(raw[disk.OffIGidHigh:], uint16(ip.gid>>16))
	large := ip.large && len(raw) > disk.GoodOldInodeSize
	// A time from 2038 on needs the epoch bits of the extra fields,
	// which only a large inode has (mke2fs 1.47.0 writes 32 bits).
	putTime := func(off, extraOff int, sec int64) {
		lo, x := disk.EncodeTime(abi.Timespec{Sec: sec}, large)
		le.PutUint32(raw[off:], lo)
		if large {
			le.PutUint32(raw[extraOff:], x)
		}
	}
	putTime(disk.OffIAtime, disk.OffIAtimeExtra, ip.atime)
	putTime(disk.OffICtime, disk.OffICtimeExtra, ip.ctime)
	putTime(disk.OffIMtime, disk.OffIMtimeExtra, ip.mtime)
	if large {
		le.PutUint16(raw[disk.OffIExtraIsize:], largeInodeExtra)
		putTime(disk.OffICrtime, disk.OffICrtimeExtra, ip.crtime)
		if ip.ibodyMagic && len(raw) >= disk.GoodOldInodeSize+largeInodeExtra+4 {
			le.PutUint32(raw[disk.GoodOldInodeSize+largeInodeExtra:], disk.XattrMagic)
		}
	}
	o.inodeCsum(ip.ino, raw, large)
}

// inodeCsum sets the checksum of inode ino's slot raw; the high half
// only when i_extra_isize covers it.
func (o *mkfsOutput) inodeCsum(ino uint32, raw []byte, hasHi bool) {
	if o.roCompat&disk.RoCompatMetadataCsum == 0 {
		return
	}
	o.f.SetInodeCsum(o.f.InodeCsumSeed(ino, 0), raw, hasHi)
}

// writeInodes writes the inodes mke2fs writes: the reserved ones (zero,
// with their checksums with metadata_csum, as write_reserved_inodes
// leaves them), the bad blocks, root, resize, journal and lost+found
// inodes; for each group holding some, the start of its inode table up
// to the last of them.
func (o *mkfsOutput) writeInodes(w *mkfsWriter) error {
	isz := uint64(o.p.InodeSize)
	last := map[uint32]uint32{} // group -> its last inode written
	note := func(ino uint32) {
		g := (ino - 1) / o.ipg
		last[g] = max(last[g], ino)
	}
	for ino := uint32(1); ino < disk.GoodOldFirstIno; ino++ {
		note(ino)
	}
	for ino := range o.inodeTab {
		note(ino)
	}
	for g, lastIno := range last {
		first := g*o.ipg + 1
		n := (uint64(lastIno-first+1)*isz + o.bs - 1) / o.bs
		buf := make([]byte, n*o.bs)
		for ino := first; ino <= lastIno; ino++ {
			raw := buf[uint64(ino-first)*isz : uint64(ino-first+1)*isz]
			if ip, ok := o.inodeTab[ino]; ok {
				o.encodeInode(ip, raw)
			} else if ino < disk.GoodOldFirstIno {
				o.inodeCsum(ino, raw, false)
			}
		}
		if err := w.put(int64(o.groups[g].inodeTable*o.bs), buf); err != nil {
			return err
		}
	}
	return nil
}

// writeBlocks writes the directory blocks (with their checksum tails),
// the indirect blocks, the journal's extent leaf and its superblock.
func (o *mkfsOutput) writeBlocks(w *mkfsWriter) error {
	meta := o.roCompat&disk.RoCompatMetadataCsum != 0
	for _, ip := range o.inodeTab {
		if ip.mode&0o170000 != 0o40000 {
			continue
		}
		seed := o.f.InodeCsumSeed(ip.ino, 0)
		for _, b := range ip.dataBlocks {
			d := o.dirBlocks[b]
			if meta {
				n := len(d) - disk.DirTailSize
				le.PutUint32(d[n+8:], disk.Csum32(castagnoli, seed, d[:n]))
			}
			if err := w.put(int64(b*o.bs), d); err != nil {
				return err
			}
		}
	}
	for b, d := range o.indBlocks {
		if err := w.put(int64(b*o.bs), d); err != nil {
			return err
		}
	}
	for b, d := range o.extentLeaves {
		if meta {
			maxEntries := int(le.Uint16(d[4:]))
			t := disk.ExtentHeaderSize + maxEntries*disk.ExtentEntrySize
			le.PutUint32(d[t:], disk.Csum32(castagnoli, o.f.InodeCsumSeed(journalIno, 0), d[:t]))
		}
		if err := w.put(int64(b*o.bs), d); err != nil {
			return err
		}
	}
	if o.compat&disk.CompatHasJournal != 0 {
		if err := w.put(int64(o.journalSB*o.bs), o.journalSuper()); err != nil {
			return err
		}
	}
	for b, d := range o.quotaData {
		if err := w.put(int64(b*o.bs), d); err != nil {
			return err
		}
	}
	if o.orphanIno != 0 {
		for _, b := range o.inodeTab[o.orphanIno].dataBlocks {
			if err := w.put(int64(b*o.bs), o.orphanBlock(b)); err != nil {
				return err
			}
		}
	}
	return nil
}

// journalSuper is ext2fs_create_journal_superblock2's block: a v2
// superblock (big-endian, kernel/fs/jbd2) with no features; the kernel
// sets csum v3 and 64bit when it first loads the journal.
func (o *mkfsOutput) journalSuper() []byte {
	b := make([]byte, o.bs)
	be := binary.BigEndian
	be.PutUint32(b[0x0:], 0xC03B3998) // JBD2_MAGIC_NUMBER
	be.PutUint32(b[0x4:], 4)          // JBD2_SUPERBLOCK_V2
	be.PutUint32(b[0xC:], uint32(o.bs))
	be.PutUint32(b[0x10:], o.journalBlocks) // s_maxlen
	be.PutUint32(b[0x14:], 1)               // s_first
	be.PutUint32(b[0x18:], 1)               // s_sequence
	copy(b[0x30:0x40], o.p.UUID[:])
	be.PutUint32(b[0x40:], 1) // s_nr_users
	return b
}

// descTable encodes every group descriptor, with their checksums.
func (o *mkfsOutput) descTable() []byte {
	buf := make([]byte, o.descBlocks*o.bs)
	ds := o.descSize
	for g := uint32(0); g < o.ngroups; g++ {
		gd := &o.groups[g]
		d := disk.GroupDesc{
			BgBlockBitmap: gd.blockBitmap, BgInodeBitmap: gd.inodeBitmap, BgInodeTable: gd.inodeTable,
			BgFreeBlocksCount: o.freeBlocks[g], BgFreeInodesCount: o.freeInodes[g],
			BgUsedDirsCount: gd.usedDirs, BgFlags: gd.flags, BgItableUnused: gd.itableUnused,
			BgBlockBitmapCsum: o.bbCsum[g], BgInodeBitmapCsum: o.ibCsum[g],
		}
		if !o.csum {
			d.BgFlags &^= disk.BgBlockUninit | disk.BgInodeUninit
		}
		raw := buf[uint64(g)*uint64(ds) : uint64(g+1)*uint64(ds)]
		disk.EncodeGroupDesc(raw, &d, ds)
		if o.csum {
			le.PutUint16(raw[disk.OffBgChecksum:], o.f.GroupDescCsum(g, raw))
		}
	}
	return buf
}

// super encodes the superblock as ext2fs_flush writes it for group g:
// the primary valid, the backups with s_state 0 and their group number.
func (o *mkfsOutput) super(g uint32) []byte {
	if o.sbBase == nil {
		o.sbBase = o.superBase()
	}
	s := append([]byte(nil), o.sbBase...)
	if g != 0 {
		le.PutUint16(s[offSState:], 0)
	}
	le.PutUint16(s[offSBlockGroupNr:], uint16(min(g, 0xFFFF)))
	if o.roCompat&disk.RoCompatMetadataCsum != 0 {
		le.PutUint32(s[disk.OffSChecksum:], disk.Csum32(castagnoli, ^uint32(0), s[:disk.OffSChecksum]))
	}
	return s
}

// superBase encodes the primary superblock, but for its checksum.
func (o *mkfsOutput) superBase() []byte {
	s := make([]byte, disk.SuperblockSize)
	p := &o.p
	t := uint32(p.Time)
	var freeBlocks uint64
	var freeInodes uint32
	for i := range o.freeBlocks {
		// fix_cluster_bg_counts: the descriptors count clusters,
		// the superblock blocks.
		freeBlocks += uint64(o.freeBlocks[i]) * o.ratio
		freeInodes += o.freeInodes[i]
	}
	put32 := func(off int, v uint32) { le.PutUint32(s[off:], v) }
	put16 := func(off int, v uint16) { le.PutUint16(s[off:], v) }
	put32(0x0, o.inodes)
	put32(0x4, uint32(o.blocks))
	put32(offSRBlocksCount, uint32(o.rBlocks))
	put32(offSFreeBlocksCount, uint32(freeBlocks))
	put32(offSFreeInodesCount, freeInodes)
	put32(0x14, uint32(o.firstData))
	logBS := uint32(0)
	for 1024<<logBS < o.bs {
		logBS++
	}
	put32(0x18, logBS)
	put32(0x1C, o.logCluster)
	put32(0x20, uint32(o.bpg))
	put32(0x24, uint32(o.bpg/o.ratio))
	put32(0x28, o.ipg)
	put32(offSWtime, t)
	put16(offSMaxMntCount, 0xFFFF) // -1: no mount-count checks
	put16(disk.OffSMagic, disk.Ext4SuperMagic)
	put16(offSState, stateValid)
	put16(offSErrors, errorsContinue)
	put32(offSLastcheck, t)
	put32(offSRevLevel, revDynamic)
	put32(offSFirstIno, disk.GoodOldFirstIno)
	put16(offSInodeSize, p.InodeSize)
	put32(0x5C, o.compat)
	put32(0x60, o.incompat)
	put32(0x64, o.roCompat)
	copy(s[0x68:0x78], p.UUID[:])
	copy(s[0x78:0x88], p.Label)
	put16(offSReservedGdt, uint16(o.rsvGdt))
	if o.compat&disk.CompatHasJournal != 0 {
		put32(offSJournalInum, journalIno)
		s[offSJnlBackupType] = jnlBackupBlocks
		j := o.inodeTab[journalIno]
		copy(s[offSJnlBlocks:], j.iblock[:])
		put32(offSJnlBlocks+15*4, uint32(j.size>>32))
		put32(offSJnlBlocks+16*4, uint32(j.size))
	}
	copy(s[offSHashSeed:offSHashSeed+16], p.HashSeed[:])
	s[offSDefHashVersion] = disk.HashHalfMD4
	put16(offSDescSize, o.sDescSize)
	put32(offSDefaultMountOpts, defMountOpts)
	put32(offSMkfsTime, t)
	if o.incompat&disk.Incompat64bit != 0 {
		put32(0x150, uint32(o.blocks>>32))
		put32(0x154, uint32(o.rBlocks>>32))
		put32(0x158, uint32(freeBlocks>>32))
	}
	put16(offSMinExtraIsize, o.minExtra)
	put16(offSMinExtraIsize+2, o.minExtra)
	// ext2fs_initialize: the directory hash is signed where char is
	// (x86, the platform whose mke2fs this mirrors).
	put32(offSFlags, disk.FlagSignedHash)
	s[offSLogGroupsPerFlex] = o.logFlex
	if o.roCompat&disk.RoCompatMetadataCsum != 0 {
		s[offSChecksumType] = disk.ChecksumTypeCrc32c
	}
	le.PutUint64(s[offSKbytesWritten:], o.kbytesWritten())
	put32(offSOverheadClusters, uint32(o.overhead))
	put32(offSBackupBGs, o.backupBGs[0])
	put32(offSBackupBGs+4, o.backupBGs[1])
	if o.incompat&disk.IncompatCsumSeed != 0 {
		put32(offSChecksumSeed, o.f.Super.SChecksumSeed)
	}
	if o.incompat&disk.IncompatEncrypt != 0 {
		// mke2fs: s_encrypt_algos names the modes of the first
		// fscrypt policies, AES-256-XTS contents and AES-256-CTS names.
		s[offSEncryptAlgos] = encryptModeAES256XTS
		s[offSEncryptAlgos+1] = encryptModeAES256CTS
	}
	if o.incompat&disk.IncompatCasefold != 0 {
		// The only encoding, utf8 (12.1), and s_encoding_flags.
		put16(offSEncoding, disk.EncodingUTF8_12_1)
		put16(offSEncoding+2, p.EncodingFlags)
	}
	put32(offSOrphanFileInum, o.orphanIno)
	put32(disk.OffSUsrQuotaInum, o.quotaIno[disk.QuotaUser])
	put32(disk.OffSGrpQuotaInum, o.quotaIno[disk.QuotaGroup])
	put32(disk.OffSPrjQuotaInum, o.quotaIno[disk.QuotaProject])
	return s
}

// kbytesWritten is s_kbytes_written as mke2fs leaves it: 1 when a
// feature marks the filesystem as ext4 (so that the kernel keeps the
// count), plus what its I/O manager wrote before closing (see
// mkfsIOModel), plus ext2fs_close's allowance for the descriptors it is
// about to write.
func (o *mkfsOutput) kbytesWritten() uint64 {
	const ext4ish = disk.RoCompatHugeFile | disk.RoCompatGdtCsum | disk.RoCompatDirNlink | disk.RoCompatMetadataCsum | disk.RoCompatExtraIsize
	if o.incompat&disk.IncompatFlexBG == 0 && o.roCompat&ext4ish == 0 {
		return 0
	}
	return 1 + o.ioModelBytes()>>10 + (o.descBlocks+1)/(o.bs/1024)
}

// writeSupers writes the superblock and the descriptor table at group 0
// and at each group with a backup (ext2fs_flush2), and the meta_bg
// descriptor blocks.
func (o *mkfsOutput) writeSupers(w *mkfsWriter) error {
	table := o.descTable()
	oldDesc := o.descBlocks
	if o.incompat&disk.IncompatMetaBG != 0 {
		oldDesc = 0
	}
	for g := uint32(0); g < o.ngroups; g++ {
		super, old, newDesc := o.superAndBgd(g)
		if g == 0 {
			// The primary at byte 1024, then the table from the
			// next block (a 4 KiB block 0 keeps its boot sector).
			if err := w.put(disk.SuperblockOffset, o.super(0)); err != nil {
				return err
			}
		} else if super != 0 {
			if err := w.put(int64(super*o.bs), o.super(g)); err != nil {
				return err
			}
		}
		if old != 0 && oldDesc > 0 {
			if err := w.put(int64(old*o.bs), table[:oldDesc*o.bs]); err != nil {
				return err
			}
		}
		if newDesc != 0 {
			mb := uint64(g / o.descPerBlock)
			if err := w.put(int64(newDesc*o.bs), table[mb*o.bs:(mb+1)*o.bs]); err != nil {
				return err
			}
		}
	}
	return nil
}

// mkfsWriter gathers pieces of the image and writes them sorted, merged
// where they touch, in writes of at most mkfsMaxIO bytes.
type mkfsWriter struct {
	dev     io.WriterAt
	pieces  []mkfsPiece
	pending int
	zeros   []byte
}

type mkfsPiece struct {
	off  int64
	data []byte
}

const mkfsMaxIO = 4 << 20

// put queues data for offset off. The caller must not change data after.
func (w *mkfsWriter) put(off int64, data []byte) error {
	w.pieces = append(w.pieces, mkfsPiece{off, data})
	w.pending += len(data)
	if w.pending >= 8*mkfsMaxIO {
		return w.flush()
	}
	return nil
}

// flush writes the queued pieces.
func (w *mkfsWriter) flush() error {
	slices.SortStableFunc(w.pieces, func(a, b mkfsPiece) int {
		switch {
		case a.off < b.off:
			return -1
		case a.off > b.off:
			return 1
		}
		return 0
	})
	ps := w.pieces
	for i := 0; i < len(ps); {
		j, end := i+1, ps[i].off+int64(len(ps[i].data))
		for j < len(ps) && ps[j].off == end && end-ps[i].off+int64(len(ps[j].data)) <= mkfsMaxIO {
			end += int64(len(ps[j].data))
			j++
		}
		buf := ps[i].data
		if j > i+1 {
			buf = make([]byte, 0, end-ps[i].off)
			for _, p := range ps[i:j] {
				buf = append(buf, p.data...)
			}
		}
		if _, err := w.dev.WriteAt(buf, ps[i].off); err != nil {
			return abi.Errorf(abi.EIO, "ext4: mkfs: write at %d: %v", ps[i].off, err)
		}
		i = j
	}
	w.pieces, w.pending = w.pieces[:0], 0
	return nil
}

// zero writes n zero bytes at off, at once (before any queued piece).
func (w *mkfsWriter) zero(off, n int64) error {
	if w.zeros == nil {
		w.zeros = make([]byte, 1<<20)
	}
	for n > 0 {
		k := min(n, int64(len(w.zeros)))
		if _, err := w.dev.WriteAt(w.zeros[:k], off); err != nil {
			return abi.Errorf(abi.EIO, "ext4: mkfs: zero at %d: %v", off, err)
		}
		off += k
		n -= k
	}
	return nil
}
