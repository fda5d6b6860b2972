package ext4

import (
	"encoding/binary"
	"sort"

	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// Journal replay in memory (Documentation/filesystems/ext4/journal.rst;
// include/linux/jbd2.h; fs/jbd2/recovery.c). When the filesystem needs
// recovery, Linux replays the journal before it reads anything; a
// read-only mount here does the same in memory, never writing the image:
// the replayed blocks overlay the device for every later read.
//
// The journal is the inode s_journal_inum; its blocks are big-endian. Block
// 0 is journal_superblock_t; the log runs from s_start for transactions
// numbered from s_sequence. A transaction is descriptor blocks (each a list
// of tags naming the final location of the data block that follows), revoke
// blocks, and a commit block. Replay has three passes, as recovery.c: find
// the last complete transaction, collect revocations, then copy each
// logged block not revoked by a later transaction.
const (
	jbd2Magic          = 0xC03B3998
	jbd2Descriptor     = 1
	jbd2Commit         = 2
	jbd2SuperblockV1   = 3
	jbd2SuperblockV2   = 4
	jbd2Revoke         = 5
	jbd2HeaderSize     = 12
	jbd2Incompat64bit  = 0x2
	jbd2IncompatCsumV2 = 0x8
	jbd2IncompatCsumV3 = 0x10
	jbd2IncompatRevoke = 0x1
	jbd2FlagEscape     = 0x1
	jbd2FlagSameUUID   = 0x2
	jbd2FlagLastTag    = 0x8
	jbd2RevokeHdrSize  = 16
	jbd2TailSize       = 4 // jbd2_journal_block_tail with csum v2/v3
)

// journalSuperblock holds the fields of journal_superblock_t replay uses.
type journalSuperblock struct {
	sBlocksize       uint32
	sMaxlen          uint32
	sFirst           uint32
	sSequence        uint32
	sStart           uint32
	sFeatureIncompat uint32
}

func decodeJournalSuperblock(b []byte) (journalSuperblock, error) {
	be := binary.BigEndian
	if len(b) < 0x30 || be.Uint32(b[0:]) != jbd2Magic {
		return journalSuperblock{}, abi.Errorf(abi.EUCLEAN, "journal superblock: bad magic")
	}
	t := be.Uint32(b[4:])
	if t != jbd2SuperblockV1 && t != jbd2SuperblockV2 {
		return journalSuperblock{}, abi.Errorf(abi.EUCLEAN, "journal superblock: bad block type %d", t)
	}
	j := journalSuperblock{
		sBlocksize: be.Uint32(b[0xC:]),
		sMaxlen:    be.Uint32(b[0x10:]),
		sFirst:     be.Uint32(b[0x14:]),
		sSequence:  be.Uint32(b[0x18:]),
		sStart:     be.Uint32(b[0x1C:]),
	}
	if t == jbd2SuperblockV2 {
		j.sFeatureIncompat = be.Uint32(b[0x28:])
	}
	return j, nil
}

// tagBytes is journal_tag_bytes: the size of one descriptor tag.
func (j *journalSuperblock) tagBytes() int {
	if j.sFeatureIncompat&jbd2IncompatCsumV3 != 0 {
		return 16
	}
	n := 12
	if j.sFeatureIncompat&jbd2IncompatCsumV2 != 0 {
		n += 2
	}
	if j.sFeatureIncompat&jbd2Incompat64bit == 0 {
		n -= 4
	}
	return n
}

// journalTag is one decoded descriptor tag.
type journalTag struct {
	blocknr uint64
	flags   uint32
}

// decodeTags decodes the tags of a descriptor block.
func (j *journalSuperblock) decodeTags(b []byte) []journalTag {
	be := binary.BigEndian
	end := len(b)
	if j.sFeatureIncompat&(jbd2IncompatCsumV2|jbd2IncompatCsumV3) != 0 {
		end -= jbd2TailSize
	}
	tb := j.tagBytes()
	var tags []journalTag
	for off := jbd2HeaderSize; off+tb <= end; {
		t := journalTag{blocknr: uint64(be.Uint32(b[off:]))}
		if j.sFeatureIncompat&jbd2IncompatCsumV3 != 0 {
			t.flags = be.Uint32(b[off+4:])
			if j.sFeatureIncompat&jbd2Incompat64bit != 0 {
				t.blocknr |= uint64(be.Uint32(b[off+8:])) << 32
			}
		} else {
			t.flags = uint32(be.Uint16(b[off+6:]))
			if j.sFeatureIncompat&jbd2Incompat64bit != 0 {
				t.blocknr |= uint64(be.Uint32(b[off+8:])) << 32
			}
		}
		tags = append(tags, t)
		off += tb
		if t.flags&jbd2FlagSameUUID == 0 {
			off += 16
		}
		if t.flags&jbd2FlagLastTag != 0 {
			break
		}
	}
	return tags
}

// replayDev is the device with the replayed blocks laid over it.
type replayDev struct {
	vfs.BlockDevice
	bits   uint32
	blocks map[uint64][]byte
	sorted []uint64
}

// ReadAt reads from the device, then copies in the replayed blocks the
// range overlaps.
func (d *replayDev) ReadAt(p []byte, off int64) (int, error) {
	n, err := d.BlockDevice.ReadAt(p, off)
	if len(p) == 0 {
		return n, err
	}
	first := uint64(off) >> d.bits
	last := uint64(off+int64(len(p))-1) >> d.bits
	for i := sort.Search(len(d.sorted), func(i int) bool { return d.sorted[i] >= first }); i < len(d.sorted) && d.sorted[i] <= last; i++ {
		blk := d.sorted[i]
		start := int64(blk << d.bits)
		data := d.blocks[blk]
		if start < off {
			data = data[off-start:]
			start = off
		}
		copy(p[start-off:], data)
	}
	return n, err
}

// replayJournal replays the internal journal into an overlay of f.dev. It
// returns the overlay, or nil if there is nothing to replay.
func (f *fsys) replayJournal() (*replayDev, error) {
	sb := f.sb
	if !sb.hasCompat(compatHasJournal) || !sb.hasIncompat(incompatRecover) {
		return nil, nil
	}
	if sb.sJournalInum == 0 {
		return nil, abi.Errorf(abi.EOPNOTSUPP, "ext4: external journal not supported")
	}
	jip, err := f.iget(sb.sJournalInum)
	if err != nil {
		return nil, abi.Errorf(abi.ErrnoOf(err), "ext4: journal inode: %v", err)
	}
	runs, err := jip.blockRuns()
	if err != nil {
		return nil, err
	}
	bs := f.blockSize
	nblocks := uint64(jip.size) >> f.blockBits
	// read reads journal block n through the journal inode's map.
	read := func(n uint64, buf []byte) error {
		if n >= nblocks {
			return abi.Errorf(abi.EUCLEAN, "ext4: journal block %d beyond the journal", n)
		}
		i := findRun(runs, n)
		if i == len(runs) || runs[i].lblk > n {
			return abi.Errorf(abi.EUCLEAN, "ext4: journal block %d is a hole", n)
		}
		return f.readBlock(buf, runs[i].pblk+n-runs[i].lblk)
	}
	buf := make([]byte, bs)
	if err := read(0, buf); err != nil {
		return nil, err
	}
	j, err := decodeJournalSuperblock(buf)
	if err != nil {
		return nil, abi.Errorf(abi.EUCLEAN, "ext4: %v", err)
	}
	if j.sStart == 0 {
		return nil, nil // clean journal
	}
	if j.sBlocksize != bs || uint64(j.sMaxlen) > nblocks || j.sFirst == 0 || j.sFirst >= j.sMaxlen ||
		j.sStart < j.sFirst || j.sStart >= j.sMaxlen {
		return nil, abi.Errorf(abi.EUCLEAN, "ext4: journal superblock: bad geometry")
	}
	wrap := func(n uint64) uint64 {
		if n >= uint64(j.sMaxlen) {
			n -= uint64(j.sMaxlen - j.sFirst)
		}
		return n
	}
	be := binary.BigEndian
	logLen := uint64(j.sMaxlen - j.sFirst)

	// walk calls fn for each block of each complete transaction from
	// s_start: the block, its journal position and the transaction
	// number; stopAt is the first transaction not to visit (0: all that
	// are complete, found in pass 1). It returns the end transaction.
	walk := func(stopAt uint32, fn func(kind uint32, blk []byte, pos uint64, seq uint32) error) (uint32, error) {
		next := uint64(j.sStart)
		seq := j.sSequence
		steps := uint64(0)
		for {
			if stopAt != 0 && seq == stopAt {
				return seq, nil
			}
			if steps++; steps > logLen+1 {
				return seq, nil // went round the whole log
			}
			if err := read(next, buf); err != nil {
				return seq, err
			}
			if be.Uint32(buf[0:]) != jbd2Magic || be.Uint32(buf[8:]) != seq {
				return seq, nil
			}
			kind := be.Uint32(buf[4:])
			pos := next
			next = wrap(next + 1)
			switch kind {
			case jbd2Descriptor:
				tags := j.decodeTags(buf)
				if fn != nil {
					if err := fn(kind, buf, pos, seq); err != nil {
						return seq, err
					}
				}
				next = wrap(next + uint64(len(tags)))
				steps += uint64(len(tags))
			case jbd2Commit:
				seq++
			case jbd2Revoke:
				if fn != nil {
					if err := fn(kind, buf, pos, seq); err != nil {
						return seq, err
					}
				}
			default:
				return seq, nil
			}
		}
	}
	// Pass 1 (PASS_SCAN): the first transaction without a commit.
	end, err := walk(0, nil)
	if err != nil {
		return nil, err
	}
	// Pass 2 (PASS_REVOKE): the latest transaction revoking each block.
	revoked := map[uint64]uint32{}
	recSize := 4
	if j.sFeatureIncompat&jbd2Incompat64bit != 0 {
		recSize = 8
	}
	if _, err := walk(end, func(kind uint32, b []byte, _ uint64, seq uint32) error {
		if kind != jbd2Revoke {
			return nil
		}
		count := int(be.Uint32(b[12:]))
		if count > len(b) {
			return abi.Errorf(abi.EUCLEAN, "ext4: journal revoke block: bad count %d", count)
		}
		for off := jbd2RevokeHdrSize; off+recSize <= count; off += recSize {
			var blk uint64
			if recSize == 8 {
				blk = be.Uint64(b[off:])
			} else {
				blk = uint64(be.Uint32(b[off:]))
			}
			if s, ok := revoked[blk]; !ok || int32(seq-s) > 0 {
				revoked[blk] = seq
			}
		}
		return nil
	}); err != nil {
		return nil, err
	}
	// Pass 3 (PASS_REPLAY): the logged blocks, later ones winning.
	d := &replayDev{BlockDevice: f.dev, bits: f.blockBits, blocks: map[uint64][]byte{}}
	data := make([]byte, bs)
	if _, err := walk(end, func(kind uint32, b []byte, pos uint64, seq uint32) error {
		if kind != jbd2Descriptor {
			return nil
		}
		tags := j.decodeTags(append([]byte(nil), b...))
		for k, t := range tags {
			if s, ok := revoked[t.blocknr]; ok && int32(seq-s) <= 0 {
				continue
			}
			if t.blocknr >= sb.sBlocksCount {
				return abi.Errorf(abi.EUCLEAN, "ext4: journal: tag for block %d beyond the filesystem", t.blocknr)
			}
			if err := read(wrap(pos+1+uint64(k)), data); err != nil {
				return err
			}
			blk := append([]byte(nil), data...)
			if t.flags&jbd2FlagEscape != 0 {
				be.PutUint32(blk, jbd2Magic)
			}
			d.blocks[t.blocknr] = blk
		}
		return nil
	}); err != nil {
		return nil, err
	}
	for b := range d.blocks {
		d.sorted = append(d.sorted, b)
	}
	sort.Slice(d.sorted, func(a, b int) bool { return d.sorted[a] < d.sorted[b] })
	f.log.Printf("EXT4-fs (%s): recovery complete (in memory: %d blocks from transactions %d-%d)",
		f.dev.Name(), len(d.sorted), j.sSequence, end-1)
	return d, nil
}
