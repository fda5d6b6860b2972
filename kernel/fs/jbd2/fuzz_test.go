package jbd2

import (
	"encoding/binary"
	"testing"

	disk "github.com/lklimg/lklimg/format/jbd2"
)

// Fuzz targets for every decoder and for Recover; their seeds run in every
// `go test`. Decoders must never panic and never return more than the
// block can hold; Recover must end, with memory bounded by the journal.

// sampleJournal is a small valid journal of three transactions (one with a
// revoke, one torn) with the features of featureSets[i].
func sampleJournal(i int) *memJournal {
	const bs = 1024
	fs := featureSets[i%len(featureSets)]
	s := newSynth(bs, 24, fs.compat, fs.incompat, 1)
	esc := fill(bs, 9)
	binary.BigEndian.PutUint32(esc, disk.MagicNumber)
	s.txn([]uint64{10, 11}, [][]byte{fill(bs, 1), esc}, nil, true)
	s.txn([]uint64{12}, [][]byte{fill(bs, 2)}, []uint64{10}, true)
	s.txn([]uint64{13}, [][]byte{fill(bs, 3)}, nil, false)
	return s.finish(1)
}

func FuzzSuperblock(f *testing.F) {
	for i := range featureSets {
		f.Add(sampleJournal(i).b[:1024])
	}
	v1 := make([]byte, 1024)
	disk.PutHeader(v1, disk.SuperblockV1, 0)
	f.Add(v1)
	f.Add(make([]byte, 1024))
	f.Add([]byte{0xC0, 0x3B, 0x39, 0x98})
	f.Fuzz(func(t *testing.T, b []byte) {
		sb, err := disk.DecodeSuperblock(b)
		if err != nil {
			return
		}
		_ = sb.String()
		_ = disk.NewTagFormat(sb)
	})
}

func FuzzDescriptor(f *testing.F) {
	for i, fs := range featureSets {
		f.Add(sampleJournal(i).b[1024:2048], fs.incompat)
	}
	f.Add([]byte{0xC0, 0x3B, 0x39, 0x98, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0}, uint32(0))
	f.Fuzz(func(t *testing.T, b []byte, incompat uint32) {
		sb := &disk.Superblock{FeatureIncompat: incompat}
		_, tags, err := disk.DecodeDescriptor(sb, b)
		if err != nil {
			return
		}
		if len(tags) > (len(b)-disk.HeaderSize)/8 {
			t.Fatalf("%d tags in %d bytes", len(tags), len(b))
		}
	})
}

func FuzzRevoke(f *testing.F) {
	for i, fs := range featureSets {
		j := sampleJournal(i)
		// transaction 2: descriptor (5), data (6), revoke (7)
		f.Add(j.b[7*1024:8*1024], fs.incompat)
	}
	f.Fuzz(func(t *testing.T, b []byte, incompat uint32) {
		sb := &disk.Superblock{FeatureIncompat: incompat}
		_, recs, err := disk.DecodeRevoke(sb, b)
		if err != nil {
			return
		}
		if len(recs) > len(b)/4 {
			t.Fatalf("%d records in %d bytes", len(recs), len(b))
		}
	})
}

func FuzzCommit(f *testing.F) {
	for i := range featureSets {
		f.Add(sampleJournal(i).b[4*1024 : 5*1024])
	}
	f.Add(make([]byte, disk.CommitSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := disk.DecodeCommit(b)
		if err != nil {
			return
		}
		if len(b) >= 1024 {
			_ = disk.CommitCsumOK(1, b[:1024])
		}
		_ = c.CommitSec
	})
}

// FuzzRecover mutates a valid journal: patch is a list of (offset high,
// offset low, value) triples applied to it.
func FuzzRecover(f *testing.F) {
	for i := range featureSets {
		f.Add(uint8(i), []byte{})
		f.Add(uint8(i), []byte{0x04, 0x20, 0x00})                // descriptor: a tag's block number
		f.Add(uint8(i), []byte{0x00, 0x1F, 0x05})                // s_start
		f.Add(uint8(i), []byte{0x10, 0x3F, 0x77})                // a commit's checksum or time
		f.Add(uint8(i), []byte{0x18, 0x0F, 0xFF, 0, 0x13, 0x02}) // revoke r_count
	}
	f.Fuzz(func(t *testing.T, which uint8, patch []byte) {
		j := sampleJournal(int(which))
		for len(patch) >= 3 {
			off := (int(patch[0])<<8 | int(patch[1])) % len(j.b)
			j.b[off] = patch[2]
			patch = patch[3:]
		}
		ov, err := Recover(j, 1024, nil)
		if ov == nil {
			if err == nil {
				t.Fatal("nil overlay without an error")
			}
			return
		}
		if ov.Len() > int(j.Blocks()) {
			t.Fatalf("overlay of %d blocks from a %d-block journal", ov.Len(), j.Blocks())
		}
		p := make([]byte, 1024)
		for _, b := range ov.Blocks() {
			if ok, err := ov.Read(b, p); !ok || err != nil {
				t.Fatalf("Read(%d) = %v, %v", b, ok, err)
			}
		}
	})
}
