package ext4

import (
	"encoding/binary"
	"hash/crc32"
	"strings"

	disk "github.com/lklimg/lklimg/format/ext4"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/fs/jbd2"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// The journal, ext4's side of it (fs/ext4/super.c ext4_load_journal,
// ext4_get_journal_inode). The journal engine, recovery included, is
// kernel/fs/jbd2; ext4 only finds the journal, hands jbd2 a way to read it,
// and decides what a recovery result means for the mount.
//
// When the superblock has needs_recovery (and the mount is not noload),
// Linux replays the journal before reading anything else. Here the replay
// is first done in memory: jbd2.Recover returns an overlay that maps each
// replayed filesystem block to the journal block holding its newest copy,
// and every later read of the device goes through it. A read-only mount
// stops there and never writes the image; a read-write mount then writes
// the overlay's blocks home and empties the log (write.go, loadJournalRW)
// before its first transaction, and writes the journal through
// journalInode, the jbd2.Device of the internal journal.

// mountOptions are the mount data options the read-only driver knows
// (Documentation/admin-guide/ext4.rst, "Mount options").
type mountOptions struct {
	// noload: do not load the journal, and so do not replay it even when
	// the filesystem needs recovery (the filesystem is read as the device
	// holds it, possibly inconsistent).
	noload bool
	// noBarrier (nobarrier, barrier=0): commits write their blocks back
	// but never flush the disk's cache, so nothing is durable before the
	// host writes it out; for a build that is thrown away if interrupted.
	noBarrier bool
	// pack ("alloc=pack", this driver's own): every new inode and block
	// goes to the lowest free one, so that a filesystem filled from
	// empty uses only its first groups and can then be cut to size
	// (Minimize). See alloc.go.
	pack bool
	// acl is -1 for "noacl" (POSIX ACLs off, as kernels before 6.x
	// allowed), else 0 or +1 ("acl"): on.
	acl int8
}

// parseMountOptions parses the comma-separated mount data string. Options
// a read-only mount cannot honour differently are accepted and ignored, as
// the kernel accepts them on ro mounts; unknown ones fail with EINVAL, as
// ext4_parse_param does ("Unrecognized mount option").
func parseMountOptions(data string) (mountOptions, error) {
	var o mountOptions
	for _, opt := range strings.Split(data, ",") {
		name, _, _ := strings.Cut(opt, "=")
		switch name {
		case "":
		case "noload", "norecovery":
			o.noload = true
		case "nobarrier":
			o.noBarrier = true
		case "barrier":
			// barrier, barrier=1 (the default) or barrier=0.
			o.noBarrier = opt == "barrier=0"
		case "alloc":
			// Only "pack": the default policy has no name to ask for.
			if _, v, _ := strings.Cut(opt, "="); v != "pack" {
				return o, abi.Errorf(abi.EINVAL, "ext4: bad value for mount option %q", opt)
			}
			o.pack = true
		case "acl":
			o.acl = 1
		case "noacl":
			o.acl = -1
		case "ro", "rw", "defaults", "noatime", "relatime", "strictatime", "nodiratime",
			"errors", "data", "user_xattr", "nouser_xattr", "commit", "journal_checksum", "nojournal_checksum":
			// No effect on a read-only mount without writes.
		default:
			return o, abi.Errorf(abi.EINVAL, "ext4: unrecognized mount option %q", opt)
		}
	}
	return o, nil
}

// journalInode reads the internal journal through the journal inode's block
// map from the device as it is on disk, before any replay: the inode that
// describes the journal is never itself taken from the journal
// (ext4_get_journal_inode reads it before jbd2_journal_load). It
// implements jbd2.Journal.
//
// On a read-write mount it is also the jbd2.Device the journal is written
// through (out, the device's write side, set by loadJournalRW).
type journalInode struct {
	f      *fsys
	dev    vfs.BlockDevice // the device without the overlay
	out    vfs.BlockWriter // dev's write side on a read-write mount
	runs   []run
	blocks uint32
}

// bmap maps journal block n to its disk block (jbd2_journal_bmap): ENXIO
// past the journal, EUCLEAN for a hole in the journal inode.
func (j *journalInode) bmap(n uint32) (uint64, error) {
	if n >= j.blocks {
		return 0, abi.Errorf(abi.ENXIO, "ext4: journal block %d beyond the journal's %d", n, j.blocks)
	}
	i := findRun(j.runs, uint64(n))
	if i == len(j.runs) || j.runs[i].lblk > uint64(n) {
		return 0, abi.Errorf(abi.EUCLEAN, "ext4: journal block %d is a hole in the journal inode", n)
	}
	pblk := j.runs[i].pblk + uint64(n) - j.runs[i].lblk
	if pblk >= j.f.Super.SBlocksCount {
		return 0, abi.Errorf(abi.EUCLEAN, "ext4: journal block %d maps to block %d beyond the filesystem", n, pblk)
	}
	return pblk, nil
}

// ReadBlock reads journal block n; errors are bmap's, or EIO.
func (j *journalInode) ReadBlock(n uint32, p []byte) error {
	pblk, err := j.bmap(n)
	if err != nil {
		return err
	}
	if _, err := j.dev.ReadAt(p, int64(pblk)<<j.f.BlockBits); err != nil {
		return abi.Errorf(abi.EIO, "ext4: journal block %d (block %d): %v", n, pblk, err)
	}
	return nil
}

// WriteBlock writes journal block n (jbd2.Device); EROFS on a read-only
// mount.
func (j *journalInode) WriteBlock(n uint32, p []byte) error {
	if j.out == nil {
		return abi.EROFS
	}
	pblk, err := j.bmap(n)
	if err != nil {
		return err
	}
	if _, err := j.out.WriteAt(p, int64(pblk)<<j.f.BlockBits); err != nil {
		return abi.Errorf(abi.EIO, "ext4: journal block %d (block %d): %v", n, pblk, err)
	}
	return nil
}

// Flush makes every write to the device durable (jbd2.Device): the
// journal shares the filesystem's device.
func (j *journalInode) Flush() error {
	if j.out == nil {
		return abi.EROFS
	}
	return j.f.flush(j.out)
}

// Blocks is the journal's length: i_size in blocks, as jbd2_journal_init_inode
// takes it.
func (j *journalInode) Blocks() uint32 { return j.blocks }

// openJournal returns the internal journal of f (s_journal_inum), checked
// as ext4_get_journal_inode checks it.
func (f *fsys) openJournal() (*journalInode, error) {
	sb := f.Super
	if sb.SJournalInum == 0 {
		// s_journal_inum 0 means the journal is on another device
		// (s_journal_uuid, s_journal_dev), which the kernel has not:
		// ext4_get_journal_blkdev cannot open the device number
		// (bdev_file_open_by_dev: ENXIO).
		d := sb.SJournalDev // new_decode_dev
		major, minor := (d&0xfff00)>>8, d&0xff|(d>>12)&0xfff00
		f.log.Printf("EXT4-fs (%s): failed to open journal device unknown-block(%d,%d) %d", f.dev.Name(), major, minor, -int(abi.ENXIO))
		return nil, abi.Errorf(abi.ENXIO, "ext4: external journal on device %d:%d not found", major, minor)
	}
	jip, err := f.igetFlags(sb.SJournalInum, igetSpecial)
	if err != nil {
		return nil, abi.Errorf(abi.ErrnoOf(err), "ext4: journal inode %d: %v", sb.SJournalInum, err)
	}
	if !jip.isReg() || jip.links == 0 {
		return nil, abi.Errorf(abi.EUCLEAN, "ext4: journal inode %d is not a regular file", sb.SJournalInum)
	}
	runs, err := jip.blockRuns()
	if err != nil {
		return nil, abi.Errorf(abi.ErrnoOf(err), "ext4: journal inode %d: %v", sb.SJournalInum, err)
	}
	n := uint64(jip.size) >> f.BlockBits
	if n > 1<<32-1 {
		n = 1<<32 - 1
	}
	return &journalInode{f: f, dev: f.dev, runs: runs, blocks: uint32(n)}, nil
}

// recover replays the journal when the filesystem needs recovery, then
// reads the superblock and group descriptors again through the replayed
// blocks, as ext4_load_journal does before the rest of the mount (there
// the replay rewrites the buffers the superblock and descriptors live in).
//
// As in Linux, any recovery error fails the mount: jbd2_journal_load
// returns EFSCORRUPTED for a transaction whose commit block is bad and an
// error for a data block with a bad checksum, and ext4 says "error loading
// journal". With noload the journal is not read at all; the kernel then
// warns that the filesystem is read without its journal.
func (f *fsys) recover(opts mountOptions, rdonly bool) error {
	sb, name := f.Super, f.dev.Name()
	if !sb.HasCompat(disk.CompatHasJournal) {
		return nil
	}
	if !sb.HasIncompat(disk.IncompatRecover) {
		// A journal that needs no recovery is loaded all the same
		// (ext4_load_journal wipes it): a superblock load_superblock
		// refuses fails the mount ("Could not load journal inode").
		// An external journal is not reached.
		if opts.noload || sb.SJournalInum == 0 {
			return nil
		}
		j, err := f.openJournal()
		if err != nil {
			return err
		}
		if err := jbd2.CheckSuperblock(j, int(f.BlockSize)); err != nil {
			f.log.Printf("EXT4-fs (%s): Could not load journal inode: %v", name, err)
			return abi.Errorf(abi.ErrnoOf(err), "ext4: journal inode %d: %v", sb.SJournalInum, err)
		}
		return nil
	}
	if opts.noload {
		f.log.Printf("EXT4-fs (%s): INFO: recovery required on readonly filesystem", name)
		f.log.Printf("EXT4-fs (%s): warning: needs_recovery set, mounting with noload: the journal is not replayed, "+
			"recent changes are missing and the filesystem may look inconsistent", name)
		return nil
	}
	if rdonly {
		f.log.Printf("EXT4-fs (%s): INFO: recovery required on readonly filesystem", name)
	}
	j, err := f.openJournal()
	if err != nil {
		return err
	}
	o, err := jbd2.Recover(j, int(f.BlockSize), func(format string, args ...any) {
		f.log.Printf("JBD2 (%s): "+format, append([]any{name}, args...)...)
	})
	if err != nil {
		return err
	}
	if rdonly && o.FastCommitIgnored() && fastCommitsToReplay(j, o, f.CrcTab, int(f.BlockSize), f.InodeSize) {
		// ext4_fc_replay's changes take journal handles, which a
		// read-only filesystem refuses (ext4_journal_check_start).
		f.log.Printf("JBD2: journal recovery failed")
		return abi.Errorf(abi.EROFS, "ext4: fast commits to replay on a read-only mount")
	}
	f.ovl, f.jinode, f.base = o, j, f.dev
	if o.Clean() {
		return nil
	}
	start, end := o.Transactions()
	f.log.Printf("EXT4-fs (%s): recovery complete (in memory: %d blocks from transactions %d-%d)",
		name, o.Len(), start, end-1)
	if o.Len() == 0 {
		return nil
	}
	d := o.Device(f.dev)
	raw := make([]byte, disk.SuperblockSize)
	if _, err := d.ReadAt(raw, disk.SuperblockOffset); err != nil {
		return abi.Errorf(abi.EIO, "ext4: superblock after replay: %v", err)
	}
	nsb, err := disk.DecodeSuperblock(raw)
	if err != nil {
		return abi.Errorf(abi.ErrnoOf(err), "ext4: superblock after replay: %v", err)
	}
	if nsb.BlockSize() != f.BlockSize || uint32(nsb.SInodeSize) != f.InodeSize || nsb.DescSize() != sb.DescSize() ||
		nsb.GroupCount() != sb.GroupCount() || nsb.SInodesPerGroup != sb.SInodesPerGroup ||
		nsb.SBlocksCount != sb.SBlocksCount || nsb.SInodesCount != sb.SInodesCount {
		return abi.Errorf(abi.EUCLEAN, "ext4: the journal changes the filesystem's geometry")
	}
	f.dev = d
	f.Super = nsb
	f.SetCsumSeed() // from the replayed superblock, as Linux reads it after the replay
	f.replayed = true
	f.mu.Lock()
	f.inodes = make(icache)
	f.mu.Unlock()
	return f.loadGroupDescs()
}

// Fast commit tags (fs/ext4/fast_commit.h, struct ext4_fc_tl: le16 tag,
// le16 length, then the value).
const (
	fcTagAddRange = 1
	fcTagDelRange = 2
	fcTagCreat    = 3
	fcTagLink     = 4
	fcTagUnlink   = 5
	fcTagInode    = 6
	fcTagPad      = 7
	fcTagTail     = 8
	fcTagHead     = 9
	fcTagBaseLen  = 4
)

// fastCommitsToReplay is the scan pass of the fast commit area
// (fc_do_one_pass calling ext4_fc_replay_scan): it reports whether the
// area, from j_fc_first (one past the log area's end), holds tags of the
// transaction after the last one recovered (a head of that tid, then
// tags whose crc32c a tail of that tid confirms), which the replay pass
// would apply. The filesystem's csum table is the crc32c one.
func fastCommitsToReplay(j jbd2.Journal, o *jbd2.Overlay, crcTab *crc32.Table, bs int, inodeSize uint32) bool {
	sb := o.Superblock()
	_, expected := o.Transactions()
	if crcTab == nil {
		crcTab = crc32.MakeTable(crc32.Castagnoli)
	}
	le := binary.LittleEndian
	b := make([]byte, bs)
	var crc uint32
	tags, replay := 0, 0
	for n := sb.Maxlen - sb.NumFCBlocks() + 1; n < sb.Maxlen; n++ {
		if j.ReadBlock(n, b) != nil {
			break
		}
		if tags == 0 && le.Uint16(b) != fcTagHead {
			// "Check if we can stop early".
			break
		}
		for off := 0; off+fcTagBaseLen <= bs; {
			tag, l := le.Uint16(b[off:]), int(le.Uint16(b[off+2:]))
			val := off + fcTagBaseLen
			if l > bs-val || !fcValueLenValid(tag, l, inodeSize) {
				return replay > 0
			}
			switch tag {
			case fcTagAddRange, fcTagDelRange, fcTagLink, fcTagUnlink, fcTagCreat, fcTagInode, fcTagPad:
				tags++
				crc = disk.Csum32(crcTab, crc, b[off:val+l])
			case fcTagTail:
				tags++
				crc = disk.Csum32(crcTab, crc, b[off:val+4]) // up to fc_crc
				if le.Uint32(b[val:]) != expected || le.Uint32(b[val+4:]) != crc {
					return replay > 0
				}
				replay, crc = tags, 0
			case fcTagHead:
				// An unknown feature or another transaction ends
				// the scan.
				if le.Uint32(b[val:]) != 0 || le.Uint32(b[val+4:]) != expected {
					return replay > 0
				}
				tags++
				crc = disk.Csum32(crcTab, crc, b[off:val+l])
			default:
				return replay > 0
			}
			off = val + l
		}
	}
	return replay > 0
}

// fcValueLenValid is ext4_fc_value_len_isvalid.
func fcValueLenValid(tag uint16, l int, inodeSize uint32) bool {
	switch tag {
	case fcTagAddRange:
		return l == 16 // fc_ino, struct ext4_extent
	case fcTagDelRange:
		return l == 12 // fc_ino, fc_lblk, fc_len
	case fcTagCreat, fcTagLink, fcTagUnlink:
		return l > 8 && l <= 8+255 // fc_parent_ino, fc_ino, a name of up to EXT4_NAME_LEN
	case fcTagInode:
		return l > 4 && l <= 4+int(inodeSize) // fc_ino, the raw inode
	case fcTagTail:
		return l >= 8 // fc_tid, fc_crc, then padding to the block's end
	case fcTagHead:
		return l == 8 // fc_features, fc_tid
	}
	return true
}
