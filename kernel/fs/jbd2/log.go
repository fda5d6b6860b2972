package jbd2

import (
	"encoding/binary"
	"fmt"

	disk "github.com/lklimg/lklimg/format/jbd2"
	"github.com/lklimg/lklimg/kernel/abi"
)

// The writing side: a Log commits transactions to the journal as
// fs/jbd2/commit.c lays them out, so that Recover here, the kernel and
// e2fsck replay them.
//
// The filesystem drives it in this order (ext4's txn.go does):
//
//  1. Commit, for each transaction: the log records where it starts in
//     the journal superblock if the log was empty (s_start, s_sequence:
//     the first commit after jbd2_mark_journal_empty updates the log tail
//     before writing, as jbd2_journal_commit_transaction does under
//     JBD2_FLUSHED); writes the transaction's revoke blocks, then the
//     descriptor blocks, each followed by the copies it tags (escaped
//     when they begin with MagicNumber); flushes the device, so that the
//     copies and the filesystem's ordered data written before Commit are
//     durable before the commit block can be; writes the commit block and
//     flushes again (the kernel's REQ_PREFLUSH|REQ_FUA commit write). The
//     filesystem then writes the blocks to their homes, without a flush:
//     until they are checkpointed, the log holds them.
//  2. Checkpoint, when the next transaction would not fit in the log
//     (HasRoom), and at unmount: the filesystem flushes what it wrote
//     home (jbd2_log_do_checkpoint, then the flush of
//     jbd2_cleanup_journal_tail), then calls MarkEmpty: s_start = 0 and
//     s_sequence = the next transaction id, flushed
//     (jbd2_mark_journal_empty).
//
// So the log holds several transactions between checkpoints, as the
// kernel's does, and a commit costs two flushes. A crash at any point
// leaves committed transactions that recovery replays, in order, then
// perhaps a torn one that it ignores: each transaction is applied wholly
// or not at all.
//
// Revoke records: a block logged by a transaction still in the log, then
// freed, may be reused for file data, which is never logged; replaying
// the old copy would overwrite that data. The transaction that frees such
// a block revokes it (jbd2_journal_revoke): recovery skips every copy of
// the block in that transaction and the ones before it. Revoke blocks
// are written first in their transaction, as
// jbd2_journal_write_revoke_records does. The log keeps moving round the
// log area (j_head is not reset when the log empties), wrapping from its
// end to s_first, as the kernel's does.
//
// Not written: fast commits (a journal with the feature is used, its fast
// commit area left alone), async_commit (the commit block is written after
// the flush of the copies), external journals are the caller's business
// (Device may be any block store).

// Device is a journal that can be written: a Journal plus writes and a
// flush. For an internal journal the device is shared with the filesystem,
// so Flush makes every earlier write durable, the filesystem's included.
type Device interface {
	Journal
	// WriteBlock writes p (one block) to logical block n of the journal.
	// It must not keep p.
	WriteBlock(n uint32, p []byte) error
	// Flush makes every write made before it durable.
	Flush() error
}

// Block is one filesystem block of a transaction: its number and the
// contents to log.
type Block struct {
	Nr   uint64
	Data []byte
}

// Log writes transactions to a journal whose log was empty when it was
// opened (journal_t on the writing side). It is not safe for concurrent use: the filesystem
// commits one transaction at a time.
type Log struct {
	dev         Device
	bs          int
	sbBuf       []byte // journal block 0 as on disk, updated in place
	sb          *disk.Superblock
	tf          disk.TagFormat
	seed        uint32 // j_csum_seed
	first, last uint32 // the log area [first, last)
	head        uint32 // j_head: the next log block to write
	seq         uint32 // j_transaction_sequence: the next transaction's id
	empty       bool   // s_start is 0 on disk (JBD2_FLUSHED)
	used        int    // log blocks of the transactions not yet checkpointed
	err         error  // sticky: the journal is aborted after a failed write
	desc, esc   []byte // scratch blocks: a descriptor or commit block; an escaped copy
}

// OpenLog loads the journal superblock of dev for writing, as
// jbd2_journal_load does after a recovery that found nothing to do. The log
// must be empty (s_start == 0): a journal that needs recovery is replayed
// first (Recover), and EUCLEAN is returned here. A journal with s_errno set
// (aborted) gives EUCLEAN too; the superblock's errors are DecodeSuperblock's.
func OpenLog(dev Device, blockSize int) (*Log, error) {
	if blockSize < disk.SuperblockSize || blockSize > 1<<16 || blockSize&(blockSize-1) != 0 {
		return nil, abi.Errorf(abi.EINVAL, "jbd2: bad block size %d", blockSize)
	}
	if dev.Blocks() == 0 {
		return nil, abi.Errorf(abi.EUCLEAN, "jbd2: empty journal")
	}
	l := &Log{dev: dev, bs: blockSize, sbBuf: make([]byte, blockSize),
		desc: make([]byte, blockSize), esc: make([]byte, blockSize)}
	if err := dev.ReadBlock(0, l.sbBuf); err != nil {
		return nil, fmt.Errorf("jbd2: reading journal superblock: %w", err)
	}
	sb, err := disk.DecodeSuperblock(l.sbBuf)
	if err != nil {
		return nil, err
	}
	if sb.BlockType != disk.SuperblockV2 {
		// A v1 superblock has no feature words: v1 journals are from
		// ext3's first days and the kernel upgrades them; not here.
		return nil, abi.Errorf(abi.EINVAL, "jbd2: journal superblock v1 cannot be written")
	}
	if l.first, l.last, err = logArea(sb, dev, blockSize); err != nil {
		return nil, err
	}
	if sb.Start != 0 {
		return nil, abi.Errorf(abi.EUCLEAN, "jbd2: the journal needs recovery (s_start %d)", sb.Start)
	}
	if sb.Errno != 0 {
		return nil, abi.Errorf(abi.EUCLEAN, "jbd2: the journal was aborted with error %d", -sb.Errno)
	}
	l.sb, l.tf = sb, disk.NewTagFormat(sb)
	if sb.CsumV2orV3() {
		l.seed = disk.CsumSeed(sb.UUID)
	}
	// journal_reset: the log starts at s_first; jbd2_journal_recover of
	// a clean log takes s_sequence + 1 as the next transaction's id.
	l.head, l.seq, l.empty = l.first, sb.Sequence+1, true
	return l, nil
}

// SetFeatures sets and clears feature flags of the journal, as
// jbd2_journal_set_features and jbd2_journal_clear_features do when ext4
// loads a journal (set_journal_csum_feature_set): the tag format and the
// checksums follow from the next transaction on. The flags reach the disk
// with the superblock's next write, the first commit's, before any block
// logged with them. EINVAL for a flag this package does not know, or for
// checksums v2 and v3 together or with v1; the Log must be empty.
func (l *Log) SetFeatures(setCompat, setIncompat, clearCompat, clearIncompat uint32) error {
	if l.err != nil {
		return l.err
	}
	if !l.empty {
		return abi.Errorf(abi.EBUSY, "jbd2: features change on a log with transactions")
	}
	sb := *l.sb
	sb.FeatureCompat = sb.FeatureCompat&^clearCompat | setCompat
	sb.FeatureIncompat = sb.FeatureIncompat&^clearIncompat | setIncompat
	switch {
	case sb.FeatureCompat&^disk.FeatureCompatChecksum != 0 || sb.FeatureIncompat&^disk.KnownIncompat != 0:
		return abi.Errorf(abi.EINVAL, "jbd2: unknown features compat %#x incompat %#x", sb.FeatureCompat, sb.FeatureIncompat)
	case sb.Has(disk.FeatureIncompatCsumV2) && sb.Has(disk.FeatureIncompatCsumV3),
		sb.CsumV2orV3() && sb.CsumV1():
		return abi.Errorf(abi.EINVAL, "jbd2: more than one checksum version")
	}
	be := binary.BigEndian
	be.PutUint32(l.sbBuf[0x24:], sb.FeatureCompat)
	be.PutUint32(l.sbBuf[0x28:], sb.FeatureIncompat)
	if sb.CsumV2orV3() {
		sb.ChecksumType = disk.Crc32cChksumType
		l.sbBuf[0x50] = disk.Crc32cChksumType
		l.seed = disk.CsumSeed(sb.UUID)
	}
	*l.sb = sb
	l.tf = disk.NewTagFormat(l.sb)
	return nil
}

// Superblock returns the journal superblock as last written.
func (l *Log) Superblock() *disk.Superblock { return l.sb }

// Sequence returns the id the next transaction gets.
func (l *Log) Sequence() uint32 { return l.seq }

// MaxTransactionBlocks is j_max_transaction_buffers: a quarter of the
// journal (less its fast commit area), the most blocks a transaction
// should hold before it is committed. A transaction may exceed it (up to
// what LogBlocks says fits) but should not be let grow much further.
func (l *Log) MaxTransactionBlocks() int { return int(l.last / 4) }

// tagsPerDescriptor is how many tags one descriptor block holds: the first
// tag carries the 16-byte UUID, the block tail is kept free.
func (l *Log) tagsPerDescriptor() int {
	room := l.bs - disk.HeaderSize - l.tf.Tail - disk.UuidSize
	return room / l.tf.Size
}

// revokesPerBlock is how many revoke records one revoke block holds: after
// its header, with the block tail kept free.
func (l *Log) revokesPerBlock() int {
	return (l.bs - disk.RevokeHeaderSize - l.tf.Tail) / disk.RevokeRecordSize(l.tf.Is64)
}

// LogBlocks returns how many log blocks a transaction of n blocks and r
// revoke records takes: its revoke blocks, its copies, its descriptor
// blocks and its commit block.
func (l *Log) LogBlocks(n, r int) int {
	per, rper := l.tagsPerDescriptor(), l.revokesPerBlock()
	return (r+rper-1)/rper + n + (n+per-1)/per + 1
}

// Fits reports whether a transaction of n blocks and r revoke records fits
// in the log area once the log is empty.
func (l *Log) Fits(n, r int) bool { return l.LogBlocks(n, r) <= int(l.last-l.first) }

// HasRoom reports whether a transaction of n blocks and r revoke records
// fits beside the transactions in the log now; if not, the filesystem
// checkpoints them and calls MarkEmpty before its Commit.
func (l *Log) HasRoom(n, r int) bool {
	return l.used+l.LogBlocks(n, r) <= int(l.last-l.first)
}

// next returns the log block to write next and advances j_head, wrapping
// at the end of the log area.
func (l *Log) next() uint32 {
	n := l.head
	l.head++
	if l.head >= l.last {
		l.head = l.first
	}
	return n
}

// write writes log block n, aborting the journal on failure.
func (l *Log) write(n uint32, p []byte) error {
	if err := l.dev.WriteBlock(n, p); err != nil {
		l.err = fmt.Errorf("jbd2: writing journal block %d: %w", n, err)
		return l.err
	}
	return nil
}

func (l *Log) flush() error {
	if err := l.dev.Flush(); err != nil {
		l.err = fmt.Errorf("jbd2: flush: %w", err)
		return l.err
	}
	return nil
}

// writeSuper sets s_sequence and s_start, with the superblock checksum,
// and writes the superblock (jbd2_write_superblock).
func (l *Log) writeSuper(sequence, start uint32) error {
	be := binary.BigEndian
	be.PutUint32(l.sbBuf[0x18:], sequence)
	be.PutUint32(l.sbBuf[0x1C:], start)
	if l.sb.CsumV2orV3() {
		be.PutUint32(l.sbBuf[disk.SbChecksumOff:], disk.SuperblockCsum(l.sbBuf))
	}
	l.sb.Sequence, l.sb.Start = sequence, start
	l.sb.Checksum = be.Uint32(l.sbBuf[disk.SbChecksumOff:])
	return l.write(0, l.sbBuf)
}

// Commit writes one transaction of blocks, and its revoke records, to the
// log and makes it durable (step 1 of the order above): when it returns
// nil, a crash replays the transaction. revoked are blocks that earlier
// transactions in the log hold and that this one freed. sec and nsec are the commit time (h_commit_sec, nsec). The
// filesystem's ordered data must have been written to the device before
// the call: Commit's first flush makes it durable before the commit block.
//
// An empty transaction writes nothing. ENOSPC if the transaction does not
// fit in the log area, or not beside the transactions not yet checkpointed
// (HasRoom); EINVAL for a block number the tags cannot hold (past 2^32
// without the 64bit feature) or a block of the wrong size; write and flush
// errors abort the Log (every later call fails with the same error).
func (l *Log) Commit(blocks []Block, revoked []uint64, sec uint64, nsec uint32) error {
	if l.err != nil {
		return l.err
	}
	if len(blocks) == 0 && len(revoked) == 0 {
		return nil
	}
	need := l.LogBlocks(len(blocks), len(revoked))
	if !l.Fits(len(blocks), len(revoked)) {
		return abi.Errorf(abi.ENOSPC, "jbd2: transaction of %d blocks needs %d log blocks, the log has %d",
			len(blocks), need, l.last-l.first)
	}
	if !l.HasRoom(len(blocks), len(revoked)) {
		// The kernel would checkpoint here (jbd2_log_do_checkpoint);
		// the caller checkpoints and calls MarkEmpty between commits.
		return abi.Errorf(abi.ENOSPC, "jbd2: log full: %d of %d blocks hold transactions not checkpointed", l.used, l.last-l.first)
	}
	for _, nr := range revoked {
		if !l.tf.Is64 && nr > 1<<32-1 {
			return abi.Errorf(abi.EINVAL, "jbd2: revoke of block %d needs the 64bit journal feature", nr)
		}
	}
	for _, b := range blocks {
		if len(b.Data) != l.bs {
			return abi.Errorf(abi.EINVAL, "jbd2: block %d: %d bytes, block size %d", b.Nr, len(b.Data), l.bs)
		}
		if !l.tf.Is64 && b.Nr > 1<<32-1 {
			return abi.Errorf(abi.EINVAL, "jbd2: block %d needs the 64bit journal feature", b.Nr)
		}
	}
	tid := l.seq
	revokeFeature := len(revoked) > 0 && !l.sb.Has(disk.FeatureIncompatRevoke)
	if revokeFeature {
		// The first revoke record sets the feature for good, as
		// jbd2_journal_revoke does; the superblock carrying it is
		// durable before the commit block.
		l.sb.FeatureIncompat |= disk.FeatureIncompatRevoke
		binary.BigEndian.PutUint32(l.sbBuf[0x28:], l.sb.FeatureIncompat)
	}
	if l.empty {
		// The log tail goes to disk before any block of the log.
		if err := l.writeSuper(tid, l.head); err != nil {
			return err
		}
		l.empty = false
	} else if revokeFeature {
		if err := l.writeSuper(l.sb.Sequence, l.sb.Start); err != nil {
			return err
		}
	}
	if err := l.writeRevokes(tid, revoked); err != nil {
		return err
	}
	crc := ^uint32(0) // checksum v1: crc32_be over descriptors and copies
	per := l.tagsPerDescriptor()
	be := binary.BigEndian
	for i := 0; i < len(blocks); i += per {
		batch := blocks[i:min(i+per, len(blocks))]
		d := l.desc
		clear(d)
		disk.PutHeader(d, disk.DescriptorBlock, tid)
		off := disk.HeaderSize
		for k, b := range batch {
			t := disk.BlockTag{Blocknr: b.Nr}
			if k > 0 {
				t.Flags |= disk.FlagSameUUID
			}
			if k == len(batch)-1 {
				t.Flags |= disk.FlagLastTag
			}
			if be.Uint32(b.Data) == disk.MagicNumber {
				t.Flags |= disk.FlagEscape
			}
			// The tag checksum is of the block as logged, escaped
			// (jbd2_block_tag_csum_set over the log buffer).
			c := l.logged(b, t.Flags)
			if l.tf.CsumV2 || l.tf.CsumV3 {
				t.Checksum = disk.TagCsum(l.seed, tid, c)
			}
			disk.EncodeTag(d[off:], t, l.tf)
			off += l.tf.Size
			if k == 0 {
				copy(d[off:], l.sb.UUID[:])
				off += disk.UuidSize
			}
		}
		if l.tf.Tail > 0 {
			be.PutUint32(d[l.bs-disk.BlockTailSize:], disk.Crc32cHole(l.seed, d, l.bs-disk.BlockTailSize))
		}
		if l.sb.CsumV1() {
			crc = disk.Crc32BE(crc, d)
		}
		if err := l.write(l.next(), d); err != nil {
			return err
		}
		for _, b := range batch {
			flags := uint16(0)
			if be.Uint32(b.Data) == disk.MagicNumber {
				flags = disk.FlagEscape
			}
			c := l.logged(b, flags)
			if l.sb.CsumV1() {
				crc = disk.Crc32BE(crc, c)
			}
			if err := l.write(l.next(), c); err != nil {
				return err
			}
		}
	}
	// The copies, and the ordered data, are durable before the commit
	// block is written.
	if err := l.flush(); err != nil {
		return err
	}
	c := l.desc
	clear(c)
	disk.PutHeader(c, disk.CommitBlock, tid)
	if l.sb.CsumV1() {
		c[0x0C], c[0x0D] = disk.Crc32ChksumType, disk.Crc32ChksumSize
		be.PutUint32(c[disk.CommitChksumOff:], crc)
	}
	be.PutUint64(c[disk.CommitSecOff:], sec)
	be.PutUint32(c[disk.CommitNsecOff:], nsec)
	if l.sb.CsumV2orV3() {
		be.PutUint32(c[disk.CommitChksumOff:], disk.Crc32cHole(l.seed, c, disk.CommitChksumOff))
	}
	if err := l.write(l.next(), c); err != nil {
		return err
	}
	if err := l.flush(); err != nil {
		return err
	}
	l.seq++
	l.used += need
	return nil
}

// writeRevokes writes the revoke blocks of transaction tid (revoke.go has
// the layout): r_count is the bytes in use, header included; under
// checksum v2/v3 the block tail holds the seeded crc32c of the block
// (jbd2_revoke_csum_set). They are not part of the v1 commit checksum,
// which covers descriptors and copies only.
func (l *Log) writeRevokes(tid uint32, revoked []uint64) error {
	rl := disk.RevokeRecordSize(l.tf.Is64)
	per := l.revokesPerBlock()
	be := binary.BigEndian
	for i := 0; i < len(revoked); i += per {
		batch := revoked[i:min(i+per, len(revoked))]
		d := l.desc
		clear(d)
		disk.PutHeader(d, disk.RevokeBlock, tid)
		off := disk.RevokeHeaderSize
		for _, nr := range batch {
			if l.tf.Is64 {
				be.PutUint64(d[off:], nr)
			} else {
				be.PutUint32(d[off:], uint32(nr))
			}
			off += rl
		}
		be.PutUint32(d[disk.RevokeCountOff:], uint32(off))
		if l.tf.Tail > 0 {
			be.PutUint32(d[l.bs-disk.BlockTailSize:], disk.Crc32cHole(l.seed, d, l.bs-disk.BlockTailSize))
		}
		if err := l.write(l.next(), d); err != nil {
			return err
		}
	}
	return nil
}

// logged returns the contents a block is logged with: its data, or with
// FlagEscape a copy whose first 4 bytes (the magic) are zeroed, in the
// Log's scratch block.
func (l *Log) logged(b Block, flags uint16) []byte {
	if flags&disk.FlagEscape == 0 {
		return b.Data
	}
	copy(l.esc, b.Data)
	clear(l.esc[:4])
	return l.esc
}

// MarkEmpty records that every committed transaction is checkpointed: the
// filesystem has written and flushed the blocks home. It writes s_start = 0
// and s_sequence = the next transaction's id, and flushes
// (jbd2_mark_journal_empty). It does nothing if the log is already empty.
func (l *Log) MarkEmpty() error {
	if l.err != nil {
		return l.err
	}
	if l.empty {
		return nil
	}
	if err := l.writeSuper(l.seq, 0); err != nil {
		return err
	}
	if err := l.flush(); err != nil {
		return err
	}
	l.empty, l.used = true, 0
	return nil
}

// Err returns the error that aborted the Log, or nil.
func (l *Log) Err() error { return l.err }

// Checkpoint finishes a recovery on a writable journal, as the kernel's
// read-write mount does: it writes each block the overlay replays to its
// home through home (in ascending order), flushes, then marks the log
// empty (s_start = 0, s_sequence = the transaction after the last one
// found, as jbd2_journal_recover leaves j_transaction_sequence) and
// flushes again. With a nil home nothing is replayed: the log is only
// skipped (jbd2_journal_skip_recovery, for a journal whose filesystem
// does not ask for recovery). A clean journal is left alone. After it,
// OpenLog can write the journal.
func (o *Overlay) Checkpoint(dev Device, home func(fsBlock uint64, p []byte) error) error {
	if o.Clean() {
		return nil
	}
	p := make([]byte, o.blockSize)
	if home != nil {
		for _, b := range o.Blocks() {
			if _, err := o.Read(b, p); err != nil {
				return err
			}
			if err := home(b, p); err != nil {
				return fmt.Errorf("jbd2: replaying block %d: %w", b, err)
			}
		}
		if err := dev.Flush(); err != nil {
			return fmt.Errorf("jbd2: flush: %w", err)
		}
	}
	if err := dev.ReadBlock(0, p); err != nil {
		return fmt.Errorf("jbd2: reading journal superblock: %w", err)
	}
	be := binary.BigEndian
	be.PutUint32(p[0x18:], o.end+1)
	be.PutUint32(p[0x1C:], 0)
	if o.sb.CsumV2orV3() {
		be.PutUint32(p[disk.SbChecksumOff:], disk.SuperblockCsum(p))
	}
	if err := dev.WriteBlock(0, p); err != nil {
		return fmt.Errorf("jbd2: writing journal superblock: %w", err)
	}
	if err := dev.Flush(); err != nil {
		return fmt.Errorf("jbd2: flush: %w", err)
	}
	return nil
}
