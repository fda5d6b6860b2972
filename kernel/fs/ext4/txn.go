package ext4

import (
	"encoding/binary"
	"slices"
	"sync"
	"time"

	disk "github.com/lklimg/lklimg/format/ext4"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/fs/jbd2"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// Transactions: how a read-write mount changes the disk.
//
// Every change to the filesystem is made inside a handle (handle_t): begin
// takes the mount's write lock, the operation gets the metadata blocks it
// changes from the handle (metaBlock, newMetaBlock), changes them in place
// and stop ends it. A handle's blocks join the running transaction, kept in
// memory (heap buffers owned by the transaction) until it commits; until
// then the device still holds the old contents, so a crash loses the whole
// transaction, never part of it. Reads on a read-write mount go through
// txnDevice, which shows the transaction's blocks over the device's.
//
// Metadata is every block the format describes (superblock, descriptors,
// bitmaps, inode tables, extent tree blocks, indirect blocks, directory
// blocks, xattr blocks, slow symlink blocks). File data does not go through
// the transaction: writeData puts it in the page cache straight away, and
// commit writes it back before the metadata that points at it (the
// journal's ordered mode). Blocks freed in a transaction are not reused
// before it commits (freeLater), so data written into a reused block can
// never land on a block the old, committed metadata still points at.
//
// commit writes the transaction: with a journal, to the log, then to the
// blocks' places through the page cache, where the log covers them until
// a checkpoint; without one, straight to their places. It runs when the
// transaction holds f.max blocks (the journal's j_max_transaction_buffers,
// a quarter of the journal, at most txnBlocksCap), at Sync and at
// Unmount. A handle may take the transaction past f.max before its stop
// commits it. A transaction that does not fit in the log at all is
// written in place without the journal, with a warning: a crash there
// needs e2fsck. Operations must stay small against the journal, as
// Linux's handle credits keep them.
//
// With a journal, the order of one commit is Linux's ordered mode
// (fs/jbd2/commit.c, checkpoint.c; kernel/fs/jbd2 Log):
//
//  1. when the log has no room for the transaction beside the committed
//     ones it holds, a checkpoint: their blocks, written home at their
//     commits, are flushed, and the log is marked empty (s_start = 0);
//  2. the journal superblock gets the log's tail (s_start) when the log
//     was empty;
//  3. the revoke records (below), the descriptor blocks and the copies
//     of the metadata blocks go to the log;
//  4. flush: file data written by writeData (the page cache's dirty
//     pages) and the log's blocks are durable;
//  5. the commit block, flushed: from here a crash replays the
//     transaction;
//  6. the blocks are written to their places, without a flush.
//
// Unmount checkpoints what the log holds and leaves it empty. So the log
// holds several transactions at a time, as jbd2's does, and a commit costs
// two flushes. A block that a transaction in the log carries and that a
// later one frees gets a revoke record in the freeing transaction
// (freeLater): once reused for file data, which is never logged, a replay
// of the old copy would destroy it.
//
// Without a journal, the blocks are written in place and flushed: a crash
// in between can leave part of a transaction, as with Linux's nojournal
// mode, and the superblock says the filesystem is not clean (s_state
// without EXT4_VALID_FS) while it is mounted read-write, so that e2fsck
// checks it after a crash.
//
// After a failed commit the mount is aborted, as jbd2 aborts the journal:
// every later begin fails with EROFS and Sync and Unmount return the
// error; the image keeps needs_recovery (or s_state without VALID_FS) for
// e2fsck or the next mount.
//
// Locking: wmu is taken for writing by begin and held until stop; every
// read entry point of a read-write mount takes it for reading (rlock), so
// inode fields and the transaction map change only while nobody reads.
// A read-only mount never takes it. wmu is not reentrant: code inside a
// handle must never call a read entry point (the VFS methods Lookup,
// ReadDir, Getattr, ReadAt, Getxattr, ...), only the unlocked helpers they
// use (iget, lookupLinear, readData, xattrs, ...); and an entry point must
// not call another.
//
// Time: the journal's commit times and the superblock's s_mtime and
// s_wtime come from now(): the kernel's clock when given (SetClock), else
// the newest ctx.Now a handle carried (beginCtx), else the host's clock.
// Reproducible builds need one of the first two.

var le = binary.LittleEndian

// maxTxnBlocksCap bounds a transaction's blocks whatever the journal's size
// (4096 blocks are 16 MiB with 4 KiB blocks); txnMemoryShare bounds them by
// the kernel's memory too: a transaction's blocks are copies in memory
// until it commits, where Linux's are the page cache's own buffers, so at
// most 1/txnMemoryShare of the page cache's bound (vfs.CacheSizer), and
// never under minTxnBlocks (a handle's worst case, a rename across
// indexed directories, stays well within one transaction).
const (
	maxTxnBlocksCap = 4096
	txnMemoryShare  = 8
	minTxnBlocks    = 256
)

// txnBlocksCap is the transaction bound of a mount on dev: maxTxnBlocksCap,
// or less when the device's cache is small.
func txnBlocksCap(dev vfs.BlockDevice, blockSize uint32) int {
	n := maxTxnBlocksCap
	if cs, ok := dev.(vfs.CacheSizer); ok {
		n = min(n, max(minTxnBlocks, int(cs.CacheBytes()/txnMemoryShare/int64(blockSize))))
	}
	return n
}

// txn is the running transaction (transaction_t).
type txn struct {
	blocks  map[uint64][]byte // changed metadata blocks by block number
	order   []uint64          // the same, in the order first changed
	freed   []blockRange      // blocks freed here, reusable after commit
	revoked []uint64          // freed blocks the log holds copies of (revoke records)
}

// blockRange is n blocks from start.
type blockRange struct{ start, n uint64 }

// handle is one operation's part of the running transaction (handle_t).
type handle struct {
	f   *fsys
	err error // the first error of the operation; stop returns it
}

// writeState is the part of fsys a read-write mount adds.
type writeState struct {
	rw      bool         // mounted read-write
	wmu     sync.RWMutex // see "Locking" above
	raw     vfs.BlockDevice
	out     vfs.BlockWriter // raw's write side, counting into written
	txn     txn
	max     int  // commit when the transaction holds this many blocks
	sbDirty bool // free counts or state changed: write the superblock at commit
	// noBarrier: flushes write back without flushing the disk's cache
	// (the nobarrier mount option; see flush).
	noBarrier bool

	jlog    *jbd2.Log           // the journal's writer; nil without a journal
	ofile   orphanFile          // the orphan file, when the filesystem has one
	jblocks []jbd2.Block        // commit's list of the transaction's blocks, reused
	logged  map[uint64]struct{} // blocks the log's committed transactions carry (freeLater)
	aborted error               // the commit that failed; the mount refuses changes
	written uint64              // bytes written to the device (s_kbytes_written)
	kbytes  uint64              // s_kbytes_written at mount
	state   uint16              // s_state at mount (sbi->s_mount_state), put back at unmount
	clock   func() abi.Timespec // SetClock's; nil if not set
	lastNow abi.Timespec        // the newest ctx time of a handle (beginCtx)
	eaCache map[uint32][]uint32 // ea_inodes made by this mount, by value hash (xattr_eainode.go)
	mmp     *mmpState           // the MMP block's updates (mmp.go); nil without mmp
}

// SetClock gives the mount the kernel's clock (Config.Now): the superblock's
// write and mount times and the journal's commit times come from it. Without
// it they come from the newest time a handle carried (beginCtx), and if
// there is none from the host's clock; a reproducible build (a fixed
// Config.Now) should set it right after the mount.
func (f *fsys) SetClock(now func() abi.Timespec) {
	f.wmu.Lock()
	f.clock = now
	f.wmu.Unlock()
}

// now is the mount's clock (see SetClock); wmu is held.
func (f *fsys) now() abi.Timespec {
	switch {
	case f.clock != nil:
		return f.clock()
	case f.lastNow != (abi.Timespec{}):
		return f.lastNow
	}
	t := time.Now()
	return abi.Timespec{Sec: t.Unix(), Nsec: int64(t.Nanosecond())}
}

// beginCtx is begin for an operation with a calling task: it also notes
// ctx.Now as the mount's time when no clock is set (see SetClock).
func (f *fsys) beginCtx(ctx vfs.Ctx) (*handle, error) {
	h, err := f.begin()
	if err == nil && ctx.Now != (abi.Timespec{}) {
		f.lastNow = ctx.Now
	}
	return h, err
}

// rlock takes the read side of wmu on a read-write mount and returns the
// function that releases it.
func (f *fsys) rlock() func() {
	if !f.rw {
		return func() {}
	}
	f.wmu.RLock()
	return f.wmu.RUnlock
}

// begin starts an operation that changes the filesystem (ext4_journal_start).
// EROFS on a read-only mount.
func (f *fsys) begin() (*handle, error) {
	if !f.rw {
		return nil, abi.EROFS
	}
	f.wmu.Lock()
	if f.aborted == nil && f.mmp != nil && f.mmp.lost.Load() {
		f.aborted = abi.Errorf(abi.EBUSY, "ext4: the MMP block was taken by another node")
	}
	if f.aborted != nil {
		f.wmu.Unlock()
		return nil, abi.Errorf(abi.EROFS, "ext4: aborted after a failed commit: %v", f.aborted)
	}
	if f.txn.blocks == nil {
		f.txn.blocks = make(map[uint64][]byte)
	}
	return &handle{f: f}, nil
}

// stop ends the operation (ext4_journal_stop): it commits the transaction
// when it is full and returns the operation's first error, or the commit's.
func (h *handle) stop() error {
	f := h.f
	// The operation's quota changes join its transaction.
	if qerr := h.flushQuota(); h.err == nil {
		h.err = qerr
	}
	err := h.err
	if len(f.txn.order) >= f.max {
		if cerr := f.commitLocked(); err == nil {
			err = cerr
		}
	}
	f.wmu.Unlock()
	return err
}

// fail records err as the operation's error (the first one wins) and
// returns it.
func (h *handle) fail(err error) error {
	if h.err == nil {
		h.err = err
	}
	return err
}

// metaBlock returns the transaction's copy of metadata block blk, read
// from the device (through the transaction) the first time, for the caller
// to change in place (jbd2_journal_get_write_access plus
// ext4_handle_dirty_metadata: every block returned is written at commit).
// The buffer stays valid until the handle stops. The caller updates the
// block's checksum itself after its change.
func (h *handle) metaBlock(blk uint64) ([]byte, error) {
	f := h.f
	if b, ok := f.txn.blocks[blk]; ok {
		return b, nil
	}
	if blk >= f.Super.SBlocksCount {
		return nil, h.fail(abi.Errorf(abi.EUCLEAN, "ext4: metadata block %d beyond end of filesystem", blk))
	}
	b := make([]byte, f.BlockSize)
	if _, err := f.raw.ReadAt(b, int64(blk)<<f.BlockBits); err != nil {
		return nil, h.fail(abi.Errorf(abi.EIO, "ext4: block %d: %v", blk, err))
	}
	f.txn.add(blk, b)
	return b, nil
}

// newMetaBlock returns a zeroed transaction buffer for metadata block blk,
// which the caller has just allocated (sb_getblk without a read).
func (h *handle) newMetaBlock(blk uint64) ([]byte, error) {
	f := h.f
	if b, ok := f.txn.blocks[blk]; ok {
		clear(b)
		return b, nil
	}
	if blk >= f.Super.SBlocksCount {
		return nil, h.fail(abi.Errorf(abi.EUCLEAN, "ext4: metadata block %d beyond end of filesystem", blk))
	}
	b := make([]byte, f.BlockSize)
	f.txn.add(blk, b)
	return b, nil
}

func (t *txn) add(blk uint64, b []byte) {
	t.blocks[blk] = b
	t.order = append(t.order, blk)
}

// forget drops metadata block blk from the transaction: it was freed, and
// its contents must not be written (jbd2_journal_forget).
func (h *handle) forget(blk uint64) {
	t := &h.f.txn
	if _, ok := t.blocks[blk]; !ok {
		return
	}
	delete(t.blocks, blk)
	if i := slices.Index(t.order, blk); i >= 0 {
		t.order = slices.Delete(t.order, i, i+1)
	}
}

// freeLater records that blocks [start, start+n) were freed in this
// transaction: the allocator must not hand them out before it commits.
// A block that a transaction still in the log carries is revoked
// (jbd2_journal_revoke), so that a replay cannot write the old copy over
// what the block holds once reused. The allocator never hands out a block
// in the transaction that freed it, so a block is never both revoked and
// logged by one transaction (which would make recovery skip the copy:
// Linux cancels the revoke there, jbd2_journal_cancel_revoke).
func (h *handle) freeLater(start, n uint64) {
	t := &h.f.txn
	t.freed = append(t.freed, blockRange{start, n})
	if logged := h.f.logged; len(logged) > 0 {
		for b := start; b < start+n; b++ {
			if _, ok := logged[b]; ok {
				t.revoked = append(t.revoked, b)
				delete(logged, b)
			}
		}
	}
}

// writeData writes file data p at byte off of the device, through the page
// cache, outside the transaction (ordered mode: commit writes it back
// before the metadata).
func (h *handle) writeData(p []byte, off int64) error {
	if _, err := h.f.out.WriteAt(p, off); err != nil {
		return h.fail(abi.Errorf(abi.ErrnoOf(err), "ext4: data write at %d: %v", off, err))
	}
	return nil
}

// commitLocked writes the running transaction to the device and makes it
// durable (see "commit" above for the order); wmu is held for writing.
// Without a journal: data and metadata are written back in place, then
// flushed. A failure aborts the mount (f.aborted).
func (f *fsys) commitLocked() error {
	if f.aborted != nil {
		return f.aborted
	}
	if err := f.commitTxn(); err != nil {
		f.aborted = err
		f.log.Printf("EXT4-fs error (%s): commit failed, the filesystem is aborted: %v", f.raw.Name(), err)
		return err
	}
	t := &f.txn
	clear(t.blocks)
	t.order = t.order[:0]
	t.freed = t.freed[:0]
	t.revoked = t.revoked[:0]
	f.releaseFreed()
	return nil
}

// checkpointLocked makes the blocks of every committed transaction durable
// at home and empties the log (jbd2_log_do_checkpoint, then
// jbd2_mark_journal_empty): the homes were written at commit, through the
// page cache, so one flush suffices. wmu is held for writing.
func (f *fsys) checkpointLocked() error {
	if f.jlog == nil || len(f.logged) == 0 && f.jlog.Superblock().Start == 0 {
		return nil
	}
	if err := f.flush(f.out); err != nil {
		return abi.Errorf(abi.EIO, "ext4: checkpoint: %v", err)
	}
	if err := f.jlog.MarkEmpty(); err != nil {
		return abi.Errorf(abi.ErrnoOf(err), "ext4: checkpoint: %v", err)
	}
	clear(f.logged)
	return nil
}

func (f *fsys) commitTxn() error {
	if f.sbDirty {
		if err := f.writeSuperCounts(); err != nil {
			return err
		}
	}
	t := &f.txn
	journaled := f.jlog != nil
	if journaled && !f.jlog.Fits(len(t.order), len(t.revoked)) {
		// A handle took the transaction far past f.max: rather than
		// failing the operation, the transaction is written in place as
		// without a journal, once the log is checkpointed; a crash in
		// it needs e2fsck.
		f.log.Printf("EXT4-fs warning (%s): transaction of %d blocks does not fit in the journal: written without it",
			f.raw.Name(), len(t.order))
		if err := f.checkpointLocked(); err != nil {
			return err
		}
		journaled = false
	}
	if journaled {
		if !f.jlog.HasRoom(len(t.order), len(t.revoked)) {
			// The log is full of committed transactions: checkpoint
			// them. Their blocks then need no revoke records.
			if err := f.checkpointLocked(); err != nil {
				return err
			}
			t.revoked = t.revoked[:0]
		}
		f.jblocks = f.jblocks[:0]
		for _, blk := range t.order {
			f.jblocks = append(f.jblocks, jbd2.Block{Nr: blk, Data: t.blocks[blk]})
		}
		now := f.now()
		// Steps 1 to 4; the data written by writeData is in the page
		// cache, and the Log's flush before the commit block writes it.
		if err := f.jlog.Commit(f.jblocks, t.revoked, uint64(now.Sec), uint32(now.Nsec)); err != nil {
			return abi.Errorf(abi.ErrnoOf(err), "ext4: commit: %v", err)
		}
		clear(f.jblocks) // drop the references to the buffers
		if f.logged == nil {
			f.logged = make(map[uint64]struct{})
		}
		for _, blk := range t.order {
			f.logged[blk] = struct{}{}
		}
	}
	// Write the blocks home: with a journal they are checkpointed later
	// (the log holds them until then); without one they are flushed now.
	for _, blk := range t.order {
		if _, err := f.out.WriteAt(t.blocks[blk], int64(blk)<<f.BlockBits); err != nil {
			return abi.Errorf(abi.EIO, "ext4: commit: block %d: %v", blk, err)
		}
	}
	if !journaled {
		if err := f.flush(f.out); err != nil {
			return abi.Errorf(abi.EIO, "ext4: commit: %v", err)
		}
	}
	return nil
}

// flush makes what was written through out durable, as a cache flush
// request (REQ_PREFLUSH) does; on a nobarrier mount it only writes the
// dirty pages back, as Linux then leaves out the flush.
func (f *fsys) flush(out vfs.BlockWriter) error {
	if f.noBarrier {
		if wb, ok := f.raw.(vfs.Writebacker); ok {
			return wb.Writeback()
		}
	}
	return out.Sync()
}

// releaseFreed is called after a commit: blocks freed by the committed
// transaction become allocatable. The allocator (alloc.go) keeps them apart
// until then.
var releaseFreedHook func(f *fsys)

func (f *fsys) releaseFreed() {
	if releaseFreedHook != nil {
		releaseFreedHook(f)
	}
}

// writeSuperCounts puts the free block and inode counts, summed from the
// group descriptors, into the superblock (as ext4_commit_super does from
// its percpu counters), with its checksum. The descriptors count clusters,
// the superblock blocks (EXT4_C2B).
func (f *fsys) writeSuperCounts() error {
	h := &handle{f: f}
	var bfree, ifree uint64
	for i := range f.Groups {
		bfree += uint64(f.Groups[i].BgFreeBlocksCount)
		ifree += uint64(f.Groups[i].BgFreeInodesCount)
	}
	bfree <<= f.ClusterBits
	blk := uint64(disk.SuperblockOffset) >> f.BlockBits
	b, err := h.metaBlock(blk)
	if err != nil {
		return err
	}
	s := b[disk.SuperblockOffset-int(blk<<f.BlockBits):][:disk.SuperblockSize]
	le.PutUint32(s[0x0C:], uint32(bfree))
	if f.Super.HasIncompat(disk.Incompat64bit) {
		le.PutUint32(s[0x158:], uint32(bfree>>32))
	}
	le.PutUint32(s[0x10:], uint32(ifree))
	f.Super.SFreeBlocksCount, f.Super.SFreeInodesCount = bfree, uint32(ifree)
	f.SetSuperCsum(s)
	f.sbDirty = false
	return nil
}

// txnDevice is the device as a read-write mount reads it: the running
// transaction's blocks over raw's. It is used with wmu held (read side by
// readers, write side by the writer), so the map is stable while it reads.
type txnDevice struct {
	f *fsys
	vfs.BlockDevice
}

func (d txnDevice) ReadAt(p []byte, off int64) (int, error) {
	if d.fromTxn(p, off) {
		return len(p), nil
	}
	n, err := d.BlockDevice.ReadAt(p, off)
	t := &d.f.txn
	if len(t.blocks) == 0 || n == 0 {
		return n, err
	}
	bits := d.f.BlockBits
	end := off + int64(n)
	for blk := uint64(off) >> bits; int64(blk<<bits) < end; blk++ {
		b, ok := t.blocks[blk]
		if !ok {
			continue
		}
		bo := int64(blk << bits)
		lo, hi := max(bo, off), min(bo+int64(len(b)), end)
		copy(p[lo-off:hi-off], b[lo-bo:hi-bo])
	}
	return n, err
}

// fromTxn fills p, the whole blocks at off, from the running
// transaction when it holds every one of them: a block the transaction
// made (a new directory block, a new inode table block) is then never read
// from the device only to be overwritten, which for a block not yet in the
// page cache would be a synchronous read of the disk.
func (d txnDevice) fromTxn(p []byte, off int64) bool {
	t := &d.f.txn
	bits := d.f.BlockBits
	bs := int64(1) << bits
	if len(t.blocks) == 0 || len(p) == 0 || off&(bs-1) != 0 || int64(len(p))&(bs-1) != 0 {
		return false
	}
	first := uint64(off) >> bits
	n := uint64(len(p)) >> bits
	for i := uint64(0); i < n; i++ {
		if _, ok := t.blocks[first+i]; !ok {
			return false
		}
	}
	for i := uint64(0); i < n; i++ {
		copy(p[i<<bits:(i+1)<<bits], t.blocks[first+i])
	}
	return true
}

// Readahead passes through to the device when it has readahead.
func (d txnDevice) Readahead(off, n int64) {
	if ra, ok := d.BlockDevice.(vfs.Readaheader); ok {
		ra.Readahead(off, n)
	}
}
