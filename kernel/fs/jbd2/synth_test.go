package jbd2

import (
	"encoding/binary"
	"fmt"

	disk "github.com/lklimg/lklimg/format/jbd2"
)

// synth writes small journals in memory for unit and fuzz tests, as the
// kernel's commit code lays them out (fs/jbd2/commit.c): per transaction
// one descriptor block per batch of tags, the data blocks (escaped), revoke
// blocks, then a commit block; checksums as the features ask; the log
// wrapping from the journal's end to s_first.
type synth struct {
	bs       int
	n        uint32
	compat   uint32
	incompat uint32
	uuid     [16]byte
	b        []byte
	seq      uint32
	pos      uint32
	seed     uint32
	time     uint64
}

func newSynth(bs int, n, compat, incompat, start uint32) *synth {
	s := &synth{bs: bs, n: n, compat: compat, incompat: incompat, b: make([]byte, bs*int(n)), seq: 1, pos: start, time: 1000}
	for i := range s.uuid {
		s.uuid[i] = byte(0x40 + i)
	}
	s.seed = disk.CsumSeed(s.uuid)
	return s
}

func (s *synth) block(n uint32) []byte { return s.b[int(n)*s.bs : int(n+1)*s.bs] }

// next returns the next log block and advances, wrapping to s_first (1).
func (s *synth) next() []byte {
	b := s.block(s.pos)
	clear(b)
	s.pos++
	if s.pos >= s.n {
		s.pos = 1
	}
	return b
}

func (s *synth) sb() *disk.Superblock {
	return &disk.Superblock{FeatureCompat: s.compat, FeatureIncompat: s.incompat}
}

func (s *synth) tail(b []byte) {
	if s.sb().CsumV2orV3() {
		binary.BigEndian.PutUint32(b[len(b)-4:], disk.Crc32cHole(s.seed, b, len(b)-4))
	}
}

// txn logs one transaction: blocks[i] gets data[i]; revokes are revoked.
// Without commit the transaction is torn. It returns the journal block of
// each data copy.
func (s *synth) txn(blocks []uint64, data [][]byte, revokes []uint64, commit bool) []uint32 {
	tf := disk.NewTagFormat(s.sb())
	crc := ^uint32(0)
	var where []uint32
	for i := 0; i < len(blocks); {
		desc := s.next()
		disk.PutHeader(desc, disk.DescriptorBlock, s.seq)
		off := disk.HeaderSize
		var batch []int
		var escaped []bool
		for ; i < len(blocks); i++ {
			need := tf.Size
			if len(batch) == 0 {
				need += disk.UuidSize
			}
			if off+need > s.bs-tf.Tail {
				break
			}
			t := desc[off:]
			binary.BigEndian.PutUint32(t[0:], uint32(blocks[i]))
			if tf.Is64 {
				binary.BigEndian.PutUint32(t[8:], uint32(blocks[i]>>32))
			}
			flags := uint16(0)
			if len(batch) > 0 {
				flags |= disk.FlagSameUUID
			}
			d := append([]byte(nil), data[i]...)
			if binary.BigEndian.Uint32(d) == disk.MagicNumber {
				flags |= disk.FlagEscape
				clear(d[:4])
			}
			c := disk.TagCsum(s.seed, s.seq, d) // of the block as logged, escaped
			switch {
			case tf.CsumV3:
				binary.BigEndian.PutUint32(t[12:], c)
			case tf.CsumV2:
				binary.BigEndian.PutUint16(t[4:], uint16(c))
			}
			if i == len(blocks)-1 {
				flags |= disk.FlagLastTag
			}
			binary.BigEndian.PutUint16(t[6:], flags)
			off += tf.Size
			if len(batch) == 0 {
				copy(desc[off:], s.uuid[:])
				off += disk.UuidSize
			}
			batch = append(batch, i)
			escaped = append(escaped, flags&disk.FlagEscape != 0)
		}
		s.tail(desc)
		crc = disk.Crc32BE(crc, desc)
		for x, k := range batch {
			where = append(where, s.pos)
			d := s.next()
			copy(d, data[k])
			if escaped[x] {
				clear(d[:4])
			}
			crc = disk.Crc32BE(crc, d)
		}
	}
	rl := 4
	if tf.Is64 {
		rl = 8
	}
	for i := 0; i < len(revokes); {
		r := s.next()
		disk.PutHeader(r, disk.RevokeBlock, s.seq)
		off := disk.RevokeHeaderSize
		for ; i < len(revokes) && off+rl <= s.bs-tf.Tail; i++ {
			if tf.Is64 {
				binary.BigEndian.PutUint64(r[off:], revokes[i])
			} else {
				binary.BigEndian.PutUint32(r[off:], uint32(revokes[i]))
			}
			off += rl
		}
		binary.BigEndian.PutUint32(r[disk.RevokeCountOff:], uint32(off))
		s.tail(r)
	}
	if commit {
		c := s.next()
		disk.PutHeader(c, disk.CommitBlock, s.seq)
		s.time++
		binary.BigEndian.PutUint64(c[disk.CommitSecOff:], s.time)
		if s.compat&disk.FeatureCompatChecksum != 0 {
			c[0x0C], c[0x0D] = disk.Crc32ChksumType, disk.Crc32ChksumSize
			binary.BigEndian.PutUint32(c[disk.CommitChksumOff:], crc)
		}
		if s.sb().CsumV2orV3() {
			binary.BigEndian.PutUint32(c[disk.CommitChksumOff:], disk.Crc32cHole(s.seed, c, disk.CommitChksumOff))
		}
	}
	s.seq++
	return where
}

// finish writes the superblock (log from start, first transaction 1).
func (s *synth) finish(start uint32) *memJournal {
	b := s.block(0)
	clear(b)
	disk.PutHeader(b, disk.SuperblockV2, 0)
	be := binary.BigEndian
	be.PutUint32(b[0x0C:], uint32(s.bs))
	be.PutUint32(b[0x10:], s.n)
	be.PutUint32(b[0x14:], 1)
	be.PutUint32(b[0x18:], 1)
	be.PutUint32(b[0x1C:], start)
	be.PutUint32(b[0x24:], s.compat)
	be.PutUint32(b[0x28:], s.incompat)
	copy(b[0x30:], s.uuid[:])
	be.PutUint32(b[0x40:], 1)
	if s.sb().CsumV2orV3() {
		b[0x50] = disk.Crc32cChksumType
		be.PutUint32(b[disk.SbChecksumOff:], disk.SuperblockCsum(b))
	}
	return &memJournal{b: append([]byte(nil), s.b...), bs: s.bs}
}

// memJournal is a Journal in memory.
type memJournal struct {
	b  []byte
	bs int
}

func (m *memJournal) ReadBlock(n uint32, p []byte) error {
	off := int(n) * m.bs
	if off+len(p) > len(m.b) || len(p) != m.bs {
		return fmt.Errorf("block %d out of range", n)
	}
	copy(p, m.b[off:])
	return nil
}

func (m *memJournal) Blocks() uint32 { return uint32(len(m.b) / m.bs) }
