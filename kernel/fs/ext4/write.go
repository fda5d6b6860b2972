package ext4

import (
	"strings"

	disk "github.com/lklimg/lklimg/format/ext4"
	jbd2disk "github.com/lklimg/lklimg/format/jbd2"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/fs/jbd2"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// A read-write mount: which images are written, and what mounting and
// unmounting read-write do to the superblock and the journal. The changes
// themselves go through transactions (txn.go).
//
// Mount (ext4_fill_super, ext4_load_journal, ext4_setup_super): a journal
// that needs recovery is replayed onto the disk and emptied; the journal
// is opened for writing, with the features Linux sets; the orphan file is
// read (orphanfile.go); then the superblock gets needs_recovery and, with
// an orphan file, orphan_present (with a journal) or loses EXT4_VALID_FS
// (without), and s_mnt_count goes up, written and flushed before any
// transaction. Unmount (ext4_put_super): the last transaction is
// committed and checkpointed and the journal left empty; then
// needs_recovery and orphan_present are cleared, s_state put back,
// s_mtime and s_wtime stamped. s_kbytes_written counts every byte the
// mount wrote.

// Features the writer keeps valid. An image with another feature mounts
// read-only, naming it, as ext4_fill_super refuses a read-write mount for
// an unknown ro_compat feature.
const (
	compatWritable = disk.CompatDirPrealloc | disk.CompatImagicInodes | disk.CompatHasJournal | disk.CompatExtAttr |
		disk.CompatResizeInode | disk.CompatDirIndex | disk.CompatLazyBG | disk.CompatSparseSuper2 | disk.CompatStableInodes |
		disk.CompatOrphanFile
	roCompatWritable = disk.RoCompatSparseSuper | disk.RoCompatLargeFile | disk.RoCompatHugeFile | disk.RoCompatGdtCsum |
		disk.RoCompatDirNlink | disk.RoCompatExtraIsize | disk.RoCompatMetadataCsum | disk.RoCompatBigalloc | disk.RoCompatOrphanPresent |
		disk.RoCompatQuota | disk.RoCompatProject | disk.RoCompatVerity
	incompatWritable = disk.IncompatFiletype | disk.IncompatRecover | disk.IncompatMetaBG | disk.IncompatExtents |
		disk.Incompat64bit | disk.IncompatFlexBG | disk.IncompatCsumSeed | disk.IncompatLargedir | disk.IncompatInlineData |
		disk.IncompatEncrypt | disk.IncompatCasefold | disk.IncompatEAInode | disk.IncompatMMP
)

// mountWritable makes f a read-write mount when it can be one, and logs
// why not otherwise (the mount then stays read-only: ReadOnly). As
// ext4_fill_super and ext4_load_journal do for a read-write mount: a
// journal that needs recovery is replayed onto the disk (the in-memory
// replay of recover, written home), the journal is loaded for writing,
// then the superblock is marked in use (ext4_setup_super).
func (f *fsys) mountWritable() {
	name := f.dev.Name()
	base := f.dev
	if f.base != nil {
		base = f.base // the device under the replay's overlay
	}
	out, ok := base.(vfs.BlockWriter)
	if !ok || base.ReadOnly() {
		f.log.Printf("EXT4-fs (%s): write access unavailable, mounting read-only", name)
		return
	}
	if why := f.notWritable(); why != "" {
		f.log.Printf("EXT4-fs (%s): %s: mounting read-only", name, why)
		return
	}
	f.raw, f.out = base, countingWriter{out, f}
	readOnly := func(format string, args ...any) {
		f.log.Printf("EXT4-fs (%s): "+format+": mounting read-only", append([]any{name}, args...)...)
		if err := f.mmpRelease(); err != nil {
			f.log.Printf("EXT4-fs (%s): MMP block: %v", name, err)
		}
		f.raw, f.out, f.jlog = nil, nil, nil
	}
	// Before the journal is touched, as ext4_fill_super protects the
	// mount before it loads the journal.
	if f.Super.HasIncompat(disk.IncompatMMP) {
		if err := f.mmpProtect(); err != nil {
			readOnly("%v", err)
			return
		}
	}
	if f.Super.HasCompat(disk.CompatHasJournal) {
		if err := f.loadJournalRW(); err != nil {
			readOnly("error loading journal for writing: %v", err)
			return
		}
	} else {
		f.max = txnBlocksCap(f.dev, f.BlockSize)
	}
	if err := f.loadOrphanFile(); err != nil {
		readOnly("%v", err)
		return
	}
	if err := f.loadQuota(); err != nil {
		readOnly("cannot load quota files: %v", err)
		return
	}
	if err := f.setupSuper(); err != nil {
		readOnly("writing the superblock: %v", err)
		return
	}
	f.dev = txnDevice{f: f, BlockDevice: base}
	f.rw = true
}

// loadJournalRW readies the journal for writing: a replay made in memory
// at mount (recover) is written home and the log emptied (the writes
// jbd2_journal_recover makes on a read-write mount); a log with
// transactions that the superblock does not ask to recover is skipped
// (ext4_load_journal's jbd2_journal_wipe). Then the Log is opened and the
// transaction bound taken from it.
func (f *fsys) loadJournalRW() error {
	name := f.raw.Name()
	j := f.jinode
	if j == nil {
		var err error
		if j, err = f.openJournal(); err != nil {
			return err
		}
	}
	j.dev, j.out = f.raw, f.out
	o := f.ovl
	replay := true
	if o == nil {
		// needs_recovery clear: a log left with transactions is wiped.
		var err error
		if o, err = jbd2.Recover(j, int(f.BlockSize), nil); err != nil && o == nil {
			return err
		}
		replay = false
		if !o.Clean() {
			f.log.Printf("JBD2: ignoring recovery information on journal")
		}
	}
	var home func(uint64, []byte) error
	if replay {
		sbBlk := uint64(disk.SuperblockOffset) >> f.BlockBits
		home = func(blk uint64, p []byte) error {
			if blk >= f.Super.SBlocksCount {
				return abi.Errorf(abi.EUCLEAN, "ext4: journal replays block %d beyond the filesystem", blk)
			}
			if blk == sbBlk {
				// A logged superblock without needs_recovery (debugfs
				// logs such copies; Linux's always have it) would leave
				// a crash before the log is emptied with a journal that
				// Linux wipes unreplayed: the flag stays until then.
				s := p[disk.SuperblockOffset-int(sbBlk<<f.BlockBits):][:disk.SuperblockSize]
				if le.Uint32(s[0x60:])&disk.IncompatRecover == 0 {
					le.PutUint32(s[0x60:], le.Uint32(s[0x60:])|disk.IncompatRecover)
					f.SetSuperCsum(s)
				}
			}
			_, err := f.out.WriteAt(p, int64(blk)<<f.BlockBits)
			return err
		}
	}
	if err := o.Checkpoint(j, home); err != nil {
		return err
	}
	if replay && !o.Clean() {
		f.log.Printf("EXT4-fs (%s): recovery complete: %d blocks written to the disk", name, o.Len())
	}
	f.ovl, f.base, f.replayed = nil, nil, false
	l, err := jbd2.OpenLog(j, int(f.BlockSize))
	if err != nil {
		return err
	}
	// The journal's features as ext4 sets them at every load
	// (set_journal_csum_feature_set, ext4_fill_super): checksum v3 with
	// metadata_csum (which turns journal_checksum on), no checksum
	// otherwise; 64-bit tags on a 64bit filesystem.
	var setIncompat uint32
	if f.Super.MetadataCsum() {
		setIncompat = jbd2disk.FeatureIncompatCsumV3
	}
	if f.Super.HasIncompat(disk.Incompat64bit) {
		setIncompat |= jbd2disk.FeatureIncompat64bit
	}
	if err := l.SetFeatures(0, setIncompat, jbd2disk.FeatureCompatChecksum,
		jbd2disk.FeatureIncompatAsyncCommit|jbd2disk.FeatureIncompatCsumV2|jbd2disk.FeatureIncompatCsumV3); err != nil {
		return err
	}
	f.jlog = l
	f.max = min(l.MaxTransactionBlocks(), txnBlocksCap(f.dev, f.BlockSize))
	return nil
}

// notWritable says why f cannot be written, or "".
func (f *fsys) notWritable() string {
	sb := f.Super
	// The features the writer does not keep, named as dumpe2fs names
	// them, unknown bits included ("ro_compat_0x80000000": a feature
	// of a newer kernel).
	other := disk.Superblock{
		SFeatureCompat:   sb.SFeatureCompat &^ compatWritable,
		SFeatureRoCompat: sb.SFeatureRoCompat &^ roCompatWritable,
		SFeatureIncompat: sb.SFeatureIncompat &^ incompatWritable,
	}
	u := strings.Fields(other.FeatureString())
	switch {
	case len(u) > 0:
		return "write support for feature(s) " + strings.Join(u, ",") + " not available"
	case sb.HasRoCompat(disk.RoCompatBigalloc) && !sb.HasIncompat(disk.IncompatExtents):
		// ext4_fill_super refuses this mount outright; files whose
		// clusters a block map would place are not written here.
		return "bigalloc without extents"
	case f.noload:
		return "noload"
	case sb.SState&0x2 != 0:
		return "filesystem has errors"
	}
	return ""
}

// ReadOnly reports whether the mount refuses writes (vfs.ReadOnlyer).
func (f *fsys) ReadOnly() bool { return !f.rw }

func (f *fsys) statfsFlags() int64 {
	if f.rw {
		return 0x20 // ST_VALID
	}
	return abi.MS_RDONLY | 0x20 // ST_RDONLY | ST_VALID
}

// Sync commits the running transaction (vfs.Syncer).
func (f *fsys) Sync() error {
	if !f.rw {
		return nil
	}
	f.wmu.Lock()
	defer f.wmu.Unlock()
	return f.commitLocked()
}

// unmountWritable commits and leaves the filesystem clean (ext4_put_super):
// the transactions in the log are checkpointed and the journal left empty, then
// the superblock loses needs_recovery and gets back the state it had at
// mount (EXT4_VALID_FS).
func (f *fsys) unmountWritable() error {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	if err := f.commitLocked(); err != nil {
		return err
	}
	if err := f.checkpointLocked(); err != nil {
		f.aborted = err
		return err
	}
	now := f.now()
	err := f.editSuper(func(s []byte) {
		if f.jlog != nil {
			le.PutUint32(s[0x60:], le.Uint32(s[0x60:])&^disk.IncompatRecover)
		}
		le.PutUint32(s[0x64:], le.Uint32(s[0x64:])&^disk.RoCompatOrphanPresent)
		le.PutUint16(s[0x3A:], f.state)
		// The mount time is stamped here rather than at mount, where no
		// time of the caller's clock is known yet (see SetClock).
		putSuperTime(s, 0x2C, 0x275, now.Sec) // s_mtime
		putSuperTime(s, 0x30, 0x274, now.Sec) // s_wtime
	})
	if err != nil {
		f.aborted = err
		return err
	}
	f.rw = false
	// The MMP block last, left clean once everything else is.
	return f.mmpRelease()
}

// setupSuper marks the superblock in use by a read-write mount, as
// ext4_setup_super does, written and flushed before any transaction: with
// a journal needs_recovery is set, so that a crash leaves the journal
// replayed, and orphan_present with an orphan file (orphanfile.go); without one EXT4_VALID_FS is cleared, so that e2fsck checks the
// filesystem after a crash. s_mnt_count goes up (and a zero
// s_max_mnt_count becomes 20). The times are stamped at unmount.
func (f *fsys) setupSuper() error {
	return f.editSuper(func(s []byte) {
		f.state = le.Uint16(s[0x3A:])
		f.kbytes = le.Uint64(s[0x178:])
		if f.jlog != nil {
			le.PutUint32(s[0x60:], le.Uint32(s[0x60:])|disk.IncompatRecover)
			if f.Super.HasCompat(disk.CompatOrphanFile) {
				le.PutUint32(s[0x64:], le.Uint32(s[0x64:])|disk.RoCompatOrphanPresent)
			}
		} else {
			le.PutUint16(s[0x3A:], f.state&^disk.SuperStateValid)
		}
		if int16(le.Uint16(s[0x36:])) == 0 {
			le.PutUint16(s[0x36:], disk.SuperDefaultMaxMounts)
		}
		le.PutUint16(s[0x34:], le.Uint16(s[0x34:])+1)
	})
}

// editSuper changes the superblock on the device outside any transaction
// (ext4_commit_super): it reads it, lets edit change it, sets
// s_kbytes_written and the checksum, writes it and flushes. Only at mount
// and unmount, when no transaction holds the superblock's block.
func (f *fsys) editSuper(edit func(s []byte)) error {
	s := make([]byte, disk.SuperblockSize)
	if _, err := f.raw.ReadAt(s, disk.SuperblockOffset); err != nil {
		return abi.Errorf(abi.EIO, "ext4: superblock: %v", err)
	}
	edit(s)
	le.PutUint64(s[0x178:], f.kbytes+f.written>>10)
	f.SetSuperCsum(s)
	if _, err := f.out.WriteAt(s, disk.SuperblockOffset); err != nil {
		return abi.Errorf(abi.EIO, "ext4: superblock: %v", err)
	}
	if err := f.flush(f.out); err != nil {
		return abi.Errorf(abi.EIO, "ext4: superblock: %v", err)
	}
	return nil
}

// putSuperTime stores a time as the superblock keeps it: the low 32 bits
// at off, the next 8 in the _hi byte at hi (ext4_update_tstamp).
func putSuperTime(s []byte, off, hi int, sec int64) {
	le.PutUint32(s[off:], uint32(sec))
	s[hi] = byte(sec >> 32)
}

// countingWriter counts the bytes written to the device, for
// s_kbytes_written; every write is made with wmu held.
type countingWriter struct {
	vfs.BlockWriter
	f *fsys
}

func (c countingWriter) WriteAt(p []byte, off int64) (int, error) {
	n, err := c.BlockWriter.WriteAt(p, off)
	c.f.written += uint64(n)
	return n, err
}
