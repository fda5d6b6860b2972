package jbd2

import (
	"fmt"
	"slices"

	disk "github.com/lklimg/lklimg/format/jbd2"
	"github.com/lklimg/lklimg/kernel/abi"
)

// Journal is the journal as its filesystem reaches it: the journal inode's
// logical blocks for an internal journal (ext4 maps them through the
// inode's extent tree or block map), or the blocks of an external journal
// device. Block 0 holds the journal superblock.
//
// ReadBlock must be safe for concurrent use if the Overlay is read
// concurrently.
type Journal interface {
	// ReadBlock reads logical block n of the journal into p, whose length
	// is the journal's block size.
	ReadBlock(n uint32, p []byte) error
	// Blocks returns the journal's length in blocks.
	Blocks() uint32
}

// entry is where the newest surviving copy of a filesystem block lies.
type entry struct {
	jblock  uint32 // journal block holding the copy
	tid     uint32 // transaction that logged it
	escaped bool   // FlagEscape: restore MagicNumber in its first 4 bytes
}

// Overlay is the result of a replay kept in memory: for each filesystem
// block the log replays, the journal block that holds its newest copy. It
// plays the part of the buffers jbd2_journal_recover dirties on the
// filesystem device; reading a filesystem block through it gives what the
// device would hold after the replay.
//
// An Overlay is immutable: Lookup and Read may be called concurrently
// (Read if the Journal's ReadBlock may). A nil *Overlay is an empty one.
type Overlay struct {
	j            Journal
	sb           *disk.Superblock
	blockSize    int
	m            map[uint64]entry
	start, end   uint32 // transactions [start, end) were replayed
	failedCommit uint32 // j_failed_commit, valid if hasFailed
	hasFailed    bool
	fastCommit   bool // fast commit blocks were left unreplayed
}

// Superblock returns the decoded journal superblock.
func (o *Overlay) Superblock() *disk.Superblock {
	if o == nil {
		return nil
	}
	return o.sb
}

// Clean reports whether the journal needed no recovery (s_start == 0, the
// journal was cleanly unmounted); the overlay is then empty.
func (o *Overlay) Clean() bool { return o == nil || o.sb.Start == 0 }

// Len returns the number of filesystem blocks the overlay replaces.
func (o *Overlay) Len() int {
	if o == nil {
		return 0
	}
	return len(o.m)
}

// Transactions returns the ids of the replayed transactions: start up to,
// not including, end (modulo 2^32). start == end if none was.
func (o *Overlay) Transactions() (start, end uint32) {
	if o == nil {
		return 0, 0
	}
	return o.start, o.end
}

// FailedCommit returns the id of the transaction whose commit block failed
// its checksum, where replay stopped (j_failed_commit), if any.
func (o *Overlay) FailedCommit() (tid uint32, ok bool) {
	if o == nil {
		return 0, false
	}
	return o.failedCommit, o.hasFailed
}

// FastCommitIgnored reports whether the journal has fast commits, which
// were not replayed.
func (o *Overlay) FastCommitIgnored() bool { return o != nil && o.fastCommit }

// Blocks returns the filesystem blocks the overlay replaces, in ascending
// order.
func (o *Overlay) Blocks() []uint64 {
	if o == nil {
		return nil
	}
	bs := make([]uint64, 0, len(o.m))
	for b := range o.m {
		bs = append(bs, b)
	}
	slices.Sort(bs)
	return bs
}

// Lookup returns the journal block that holds the replayed contents of
// filesystem block fsBlock, and whether that copy is escaped (its first 4
// bytes must read as MagicNumber, big-endian). ok is false if the log does
// not replay fsBlock: the device's copy is current.
func (o *Overlay) Lookup(fsBlock uint64) (journalBlock uint32, escaped bool, ok bool) {
	if o == nil {
		return 0, false, false
	}
	e, ok := o.m[fsBlock]
	return e.jblock, e.escaped, ok
}

// Read reads the replayed contents of filesystem block fsBlock into p,
// which must be one block long, and returns true; or returns false,
// leaving p alone, if the log does not replay that block. Errors are the
// Journal's, or EINVAL for a p of the wrong size.
func (o *Overlay) Read(fsBlock uint64, p []byte) (bool, error) {
	jb, escaped, ok := o.Lookup(fsBlock)
	if !ok {
		return false, nil
	}
	if len(p) != o.blockSize {
		return false, abi.Errorf(abi.EINVAL, "jbd2: read of %d bytes, block size %d", len(p), o.blockSize)
	}
	if err := o.j.ReadBlock(jb, p); err != nil {
		return false, fmt.Errorf("jbd2: journal block %d (copy of block %d): %w", jb, fsBlock, err)
	}
	if escaped {
		p[0], p[1], p[2], p[3] = 0xC0, 0x3B, 0x39, 0x98 // MagicNumber, big-endian
	}
	return true, nil
}

// passType is recovery.c's enum passtype.
type passType int

const (
	passScan   passType = iota // find the end of the log
	passRevoke                 // apply revoke records
	passReplay                 // collect the blocks to replay
)

// recovery is struct recovery_info plus the journal_t fields recovery
// reads, for one Recover call.
type recovery struct {
	j    Journal
	sb   *disk.Superblock
	tf   disk.TagFormat
	seed uint32 // j_csum_seed
	logf func(string, ...any)

	maxlen, first, last uint32 // jread limit; the log area [first, last)

	buf, data []byte // one journal block each
	tags      []disk.BlockTag
	recs      []uint64

	startTID, endTID uint32 // info->start_transaction, end_transaction
	endSet           bool
	failedCommit     uint32
	hasFailed        bool

	m           map[uint64]entry  // newest copy with a good checksum
	bad         map[uint64]uint32 // newest copy with a bad checksum
	nrReplays   int
	revokeHits  int
	nrRevokes   int
	replayError error // the first "recover what we can" error
}

// Recover reads the journal's superblock and, if the log is not clean,
// replays it in memory as fs/jbd2/recovery.c jbd2_journal_recover does,
// returning the overlay of replayed blocks. blockSize is the filesystem's
// block size, which the journal's must equal. log (may be nil) receives
// what the kernel would print.
//
// Recovery makes the passes of recovery.c do_one_pass, with the same
// decisions:
//
//  1. Scan: from s_start and transaction s_sequence, walk the log
//     (wrapping from the end of the log area to s_first): a block that
//     lacks the magic, or carries another sequence number, or an unknown
//     type, ends the log; each commit block ends a transaction. A commit
//     block whose checksum (v1, v2 or v3) fails ends the log before its
//     transaction (with async_commit the scan goes on but replay still
//     stops there); if its commit time is older than the previous
//     commit's it is taken for a stale block and ends the log quietly,
//     otherwise the failure is reported as FailedCommit. A descriptor or
//     revoke block that fails its checksum is only suspect during the
//     scan: if its transaction's commit block is newer than the previous
//     one, recovery fails (EUCLEAN), otherwise the log ends there. A
//     revoke block whose r_count runs past the block fails the scan
//     (EINVAL), even in a transaction whose commit block never came:
//     scan_revoke_records counts the records in PASS_SCAN.
//  2. Replay: for each tag of each descriptor in the transactions found,
//     the block's location becomes the overlay's entry for its
//     filesystem block, later copies replacing earlier ones. A copy whose
//     tag checksum (v2/v3) fails is skipped, and reported at the end
//     unless a revoke covers it, as is a copy that cannot be read.
//  3. Revoke: each revoke record of transaction R removes the entry of
//     its block if the entry's copy was logged in R or earlier.
//
// The kernel applies revokes before replaying, keeping every revoke
// record in a hash table; collecting the copies first and filtering them
// gives the same blocks, and bounds memory by the number of tags rather
// than by the number of revoke records. Every pass stops after it has
// walked as many blocks as the log area holds, so a corrupt journal cannot
// loop (the kernel has no such bound).
//
// Errors: on success the error is nil. A corrupt or unsupported superblock,
// a read error in the log's metadata blocks, a bad revoke block, or a
// suspect descriptor or revoke block (see above) give a nil Overlay and an
// error: the kernel fails recovery there before writing any block. When
// the kernel "recovers what it can but reports failure" - a data copy
// with a bad checksum or unreadable, a failed commit - Recover returns the
// overlay of what it recovered together with an EUCLEAN or EIO error: the
// kernel then refuses the mount, while e2fsck keeps the replayed blocks
// and goes on to check the filesystem. Checksum failures are EBADMSG (the
// kernel's EFSBADCRC); a superblock that does not fit the journal is
// EINVAL, as journal_get_superblock refuses it.
func Recover(j Journal, blockSize int, log func(string, ...any)) (*Overlay, error) {
	if log == nil {
		log = func(string, ...any) {}
	}
	sb, buf, err := loadSuperblock(j, blockSize)
	if err != nil {
		return nil, err
	}
	r := &recovery{j: j, sb: sb, tf: disk.NewTagFormat(sb), logf: log, buf: buf, data: make([]byte, blockSize)}
	if err := r.geometry(blockSize); err != nil {
		return nil, err
	}
	o := &Overlay{j: j, sb: sb, blockSize: blockSize}
	if sb.Start == 0 {
		// recovery.c: s_start is zero if and only if the journal was
		// cleanly unmounted.
		o.start, o.end = sb.Sequence, sb.Sequence
		return o, nil
	}
	if sb.Errno != 0 {
		log("jbd2: journal was aborted with error %d", -sb.Errno)
	}
	if sb.CsumV2orV3() {
		r.seed = disk.CsumSeed(sb.UUID)
	}
	r.m = make(map[uint64]entry)
	r.bad = make(map[uint64]uint32)

	if err := r.pass(passScan); err != nil {
		return nil, err
	}
	if err := r.pass(passReplay); err != nil {
		return nil, err
	}
	if err := r.pass(passRevoke); err != nil {
		return nil, err
	}
	o.m, o.start, o.end = r.m, r.startTID, r.endTID
	o.failedCommit, o.hasFailed = r.failedCommit, r.hasFailed
	if sb.Has(disk.FeatureIncompatFastCommit) {
		o.fastCommit = true
		log("jbd2: fast commit replay not supported: fast commit blocks ignored")
	}
	log("jbd2: recovery complete: transactions %d to %d, %d blocks replayed, %d of %d revoke records hit",
		r.startTID, r.endTID-1, len(r.m), r.revokeHits, r.nrRevokes)

	switch {
	case r.replayError != nil:
		return o, r.replayError
	case len(r.bad) > 0:
		bad := make([]uint64, 0, len(r.bad))
		for b := range r.bad {
			bad = append(bad, b)
		}
		slices.Sort(bad)
		for i, b := range bad {
			if i == 8 {
				log("jbd2: ... and %d more blocks with bad checksums", len(bad)-i)
				break
			}
			log("jbd2: invalid checksum recovering data block %d in log", b)
		}
		return o, abi.Errorf(abi.EFSBADCRC, "jbd2: %d logged blocks failed their checksums (first: block %d); replayed the rest", len(bad), bad[0])
	case r.hasFailed:
		log("jbd2: journal transaction %d is corrupt", r.failedCommit)
		return o, abi.Errorf(abi.EUCLEAN, "jbd2: journal transaction %d is corrupt; replayed transactions %d to %d", r.failedCommit, r.startTID, r.endTID-1)
	}
	return o, nil
}

// loadSuperblock reads and decodes the journal's superblock (block 0)
// into a block-sized buffer it returns with it.
func loadSuperblock(j Journal, blockSize int) (*disk.Superblock, []byte, error) {
	if blockSize < disk.SuperblockSize || blockSize > 1<<16 || blockSize&(blockSize-1) != 0 {
		return nil, nil, abi.Errorf(abi.EINVAL, "jbd2: bad block size %d", blockSize)
	}
	if j.Blocks() == 0 {
		return nil, nil, abi.Errorf(abi.EUCLEAN, "jbd2: empty journal")
	}
	buf := make([]byte, blockSize)
	if err := j.ReadBlock(0, buf); err != nil {
		return nil, nil, fmt.Errorf("jbd2: reading journal superblock: %w", err)
	}
	sb, err := disk.DecodeSuperblock(buf)
	return sb, buf, err
}

// CheckSuperblock reads the journal's superblock and checks it as the
// kernel's load_superblock does whenever it loads a journal, one that
// needs no recovery too (ext4_load_journal then wipes it): its fields
// and checksum (DecodeSuperblock), and that it fits the journal and the
// filesystem's block size.
func CheckSuperblock(j Journal, blockSize int) error {
	sb, _, err := loadSuperblock(j, blockSize)
	if err != nil {
		return err
	}
	_, _, err = logArea(sb, j, blockSize)
	return err
}

// geometry checks the superblock against the journal's size and block
// size, as e2fsck_journal_load and the kernel's journal_load do, and sets
// the log area: [s_first, s_maxlen), or up to the fast commit area.
func (r *recovery) geometry(blockSize int) error {
	var err error
	r.maxlen = r.sb.Maxlen
	r.first, r.last, err = logArea(r.sb, r.j, blockSize)
	return err
}

// logArea checks the superblock against the journal's size and block size
// and returns the log area [first, last): [s_first, s_maxlen), or up to
// the fast commit area. Recovery and the writer (Log) use the same area.
// A superblock that does not fit is EINVAL, as journal_get_superblock and
// journal_load refuse it.
func logArea(sb *disk.Superblock, j Journal, blockSize int) (first, last uint32, err error) {
	if sb.Blocksize != uint32(blockSize) {
		return 0, 0, abi.Errorf(abi.EINVAL, "jbd2: journal block size %d, filesystem block size %d", sb.Blocksize, blockSize)
	}
	if sb.Maxlen > j.Blocks() {
		return 0, 0, abi.Errorf(abi.EINVAL, "jbd2: journal too short: s_maxlen %d, %d blocks", sb.Maxlen, j.Blocks())
	}
	if sb.First == 0 || sb.First >= sb.Maxlen {
		return 0, 0, abi.Errorf(abi.EINVAL, "jbd2: bad log start s_first %d (s_maxlen %d)", sb.First, sb.Maxlen)
	}
	first, last = sb.First, sb.Maxlen
	if sb.Has(disk.FeatureIncompatFastCommit) {
		n := sb.NumFCBlocks()
		if sb.Maxlen < n || sb.Maxlen-n < disk.MinFCBlocks {
			return 0, 0, abi.Errorf(abi.EINVAL, "jbd2: incorrect fast commit blocks: %d of %d", n, sb.Maxlen)
		}
		last = sb.Maxlen - n
	}
	if first >= last {
		return 0, 0, abi.Errorf(abi.EINVAL, "jbd2: empty log area [%d, %d)", first, last)
	}
	return first, last, nil
}

// jread reads journal block n (recovery.c jread): past s_maxlen the
// superblock is corrupt.
func (r *recovery) jread(n uint64, p []byte) error {
	if n >= uint64(r.maxlen) {
		return abi.Errorf(abi.EUCLEAN, "jbd2: log block %d beyond the journal's %d blocks: corrupted journal superblock", n, r.maxlen)
	}
	if err := r.j.ReadBlock(uint32(n), p); err != nil {
		return fmt.Errorf("jbd2: reading log block %d: %w", n, err)
	}
	return nil
}

// wrap is recovery.c's wrap(): a block past the log area's end wraps to its
// start. It subtracts once, as the kernel does; a block still out of range
// fails in jread.
func (r *recovery) wrap(n uint64) uint64 {
	if n >= uint64(r.last) {
		n -= uint64(r.last - r.first)
	}
	return n
}

// tidGT and tidGEQ compare transaction ids modulo 2^32 (tid_gt, tid_geq).
func tidGT(x, y uint32) bool  { return int32(x-y) > 0 }
func tidGEQ(x, y uint32) bool { return int32(x-y) >= 0 }

// tagCsumOK is jbd2_block_tag_csum_verify.
func (r *recovery) tagCsumOK(t disk.BlockTag, sequence uint32, data []byte) bool {
	switch {
	case r.tf.CsumV3:
		return t.Checksum == disk.TagCsum(r.seed, sequence, data)
	case r.tf.CsumV2:
		return t.Checksum == disk.TagCsum(r.seed, sequence, data)&0xFFFF
	}
	return true
}

// pass is recovery.c do_one_pass. The comments name the kernel's labels.
func (r *recovery) pass(p passType) error {
	next := r.sb.Sequence // next_commit_ID
	blk := uint64(r.sb.Start)
	ring := uint64(r.last - r.first)
	var walked uint64
	crcSum := ^uint32(0) // checksum v1 of the current transaction
	needCheckCommitTime := false
	var lastCommitTime uint64
	var success error
	if p == passScan {
		r.startTID = next
	}
	// advance consumes one log block and returns its number.
	advance := func() uint64 {
		b := blk
		blk = r.wrap(blk + 1)
		walked++
		return b
	}

loop:
	for {
		if p != passScan && tidGEQ(next, r.endTID) {
			break
		}
		if walked >= ring {
			r.logf("jbd2: log of transaction %d runs past the whole log area: end of log", next)
			break
		}
		at := advance()
		if err := r.jread(at, r.buf); err != nil {
			return err // failed
		}
		h, _ := disk.DecodeHeader(r.buf)
		if h.Magic != disk.MagicNumber || h.Sequence != next {
			break
		}
		switch h.BlockType {
		case disk.DescriptorBlock:
			if r.tf.Tail > 0 && !disk.BlockTailOK(r.seed, r.buf) {
				// The scan may see stale blocks of an older log; the
				// commit time decides later. Past the scan it is fatal.
				if p != passScan {
					return abi.Errorf(abi.EFSBADCRC, "jbd2: invalid checksum recovering descriptor block %d in log", at)
				}
				needCheckCommitTime = true
			}
			r.tags = disk.DecodeTags(r.tags[:0], r.buf, r.tf)
			if p != passReplay {
				if p == passScan && r.sb.CsumV1() && !needCheckCommitTime && !r.endSet {
					// calc_chksums
					crcSum = disk.Crc32BE(crcSum, r.buf)
					for range r.tags {
						io := advance()
						if err := r.jread(io, r.data); err != nil {
							r.logf("jbd2: %v", err)
							break loop
						}
						crcSum = disk.Crc32BE(crcSum, r.data)
					}
					continue
				}
				n := uint64(len(r.tags))
				blk = r.wrap(blk + n)
				walked += n
				continue
			}
			for _, t := range r.tags {
				io := advance()
				if err := r.jread(io, r.data); err != nil {
					// Recover what we can, report failure at the end.
					r.logf("jbd2: I/O error recovering block %d in log: %v", io, err)
					if success == nil {
						success = err
					}
					continue
				}
				if !r.tagCsumOK(t, h.Sequence, r.data) {
					if old, ok := r.bad[t.Blocknr]; !ok || tidGT(next, old) {
						r.bad[t.Blocknr] = next
					}
					continue
				}
				r.m[t.Blocknr] = entry{jblock: uint32(io), tid: next, escaped: t.Flags&disk.FlagEscape != 0}
				r.nrReplays++
			}
			continue

		case disk.CommitBlock:
			c, err := disk.DecodeCommit(r.buf)
			if err != nil {
				return err
			}
			if needCheckCommitTime {
				// A descriptor or revoke block of this transaction
				// failed its checksum. A commit newer than the last
				// means the log itself is corrupt; an older one, a
				// stale block: the log ends before it.
				if c.CommitSec >= lastCommitTime {
					return abi.Errorf(abi.EFSBADCRC, "jbd2: invalid checksum found in transaction %d", next)
				}
				r.logf("jbd2: invalid checksum ignored in transaction %d, likely stale data", next)
				break loop // ignore_crc_mismatch
			}
			bad := false
			if p == passScan && r.sb.CsumV1() {
				if r.endSet {
					r.failedCommit, r.hasFailed = r.endTID, true
					break loop
				}
				ok := (crcSum == c.Chksum && c.ChksumType == disk.Crc32ChksumType && c.ChksumSize == disk.Crc32ChksumSize) ||
					(c.ChksumType == 0 && c.ChksumSize == 0 && c.Chksum == 0)
				if ok {
					crcSum = ^uint32(0)
				} else {
					bad = true
				}
			}
			if !bad && p == passScan && r.sb.CsumV2orV3() && !disk.CommitCsumOK(r.seed, r.buf) {
				bad = true
			}
			if bad { // chksum_error
				if c.CommitSec < lastCommitTime {
					r.logf("jbd2: invalid checksum ignored in transaction %d, likely stale data", next)
					break loop // ignore_crc_mismatch
				}
				r.endTID, r.endSet = next, true
				if !r.sb.Has(disk.FeatureIncompatAsyncCommit) {
					r.failedCommit, r.hasFailed = next, true
					break loop
				}
			}
			if p == passScan {
				lastCommitTime = c.CommitSec
			}
			next++
			continue

		case disk.RevokeBlock:
			if p == passScan && r.tf.Tail > 0 && !disk.BlockTailOK(r.seed, r.buf) {
				needCheckCommitTime = true
			}
			if p == passReplay {
				continue
			}
			// scan_revoke_records runs in the scan pass too (to
			// size the revoke table): a bad r_count fails the
			// recovery there (EINVAL), in a transaction without
			// its commit block as well.
			recs, err := disk.DecodeRevokeRecords(r.recs[:0], r.buf, r.tf.Is64, r.tf.Tail)
			r.recs = recs
			if err != nil {
				return fmt.Errorf("jbd2: log block %d: %w", at, err)
			}
			if p != passRevoke {
				continue
			}
			for _, b := range recs {
				r.revoke(b, next)
			}
			continue

		default:
			break loop // unrecognised block type: end of the log
		}
	}

	// done
	if p == passScan {
		if !r.endSet {
			r.endTID, r.endSet = next, true
		}
	} else if r.endTID != next {
		r.logf("jbd2: recovery pass %d ended at transaction %d, expected %d", p, next, r.endTID)
		if success == nil {
			success = abi.Errorf(abi.EIO, "jbd2: recovery pass %d ended at transaction %d, expected %d", p, next, r.endTID)
		}
	}
	if p == passReplay && success != nil {
		r.replayError = success
		return nil
	}
	return success
}

// revoke applies the revoke record for block b in transaction tid
// (jbd2_journal_set_revoke then jbd2_journal_test_revoke): the copies of b
// logged in tid or earlier do not replay.
func (r *recovery) revoke(b uint64, tid uint32) {
	r.nrRevokes++
	if e, ok := r.m[b]; ok && !tidGT(e.tid, tid) {
		delete(r.m, b)
		r.revokeHits++
	}
	if t, ok := r.bad[b]; ok && !tidGT(t, tid) {
		delete(r.bad, b)
	}
}
